"""Incremental decoding and verification of S3 ``aws-chunked`` request bodies.

:class:`ChunkedDecoder` is the streaming twin of :func:`execrole.wire.sigv4.decode_aws_chunked`:
the body is fed in pieces of any size, payload bytes come out as soon as they arrive, and memory
stays bounded by the piece in hand (plus at most :data:`MAX_HEADER` bytes of a partial chunk
header and :data:`MAX_TRAILER` bytes of trailing headers), so a 5 GiB upload is verified while it
streams. Fed any body, whole or in any split, it accepts exactly what ``decode_aws_chunked``
accepts and refuses with the same :class:`~execrole.wire.sigv4.AuthError` (code, message,
members), except where the stricter rules below apply.

The three S3 streaming modes (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html,
.../sigv4-streaming-trailers.html), chosen by ``x-amz-content-sha256``:

======================================================  ========  =========
mode                                                    signed    trailer
======================================================  ========  =========
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``                  True      False
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``          True      True
``STREAMING-UNSIGNED-PAYLOAD-TRAILER``                  False     True
======================================================  ========  =========

Signed: every chunk carries ``;chunk-signature=``, chained from the seed signature (the
Authorization header's), and signed trailers end with ``x-amz-trailer-signature``. A chunk's
signature can only be checked once the whole chunk has passed, so **the bytes ``feed`` returns are
not yet authenticated: store them provisionally and keep nothing until ``finish`` returns**.

Stricter than ``decode_aws_chunked`` (which cannot know the request's headers):

* ``trailer=False``: trailing headers after the final chunk are refused (MalformedTrailerError).
* ``x_amz_trailer`` (the request's ``x-amz-trailer`` header, ``""`` when absent): the trailing
  checksum headers must be exactly the ones declared, else MalformedTrailerError -- what S3 does
  when "the body trailer does not match the x-amz-trailer header" or "the x-amz-trailer is not
  set but the body contains a trailer" (https://github.com/scality/Arsenal/pull/2596, recorded
  against AWS; https://github.com/versity/versitygw/issues/1691). Only the declared checksums are
  computed. Left as None, any trailer S3 knows is accepted and every checksum algorithm is
  computed while streaming -- including CRC32C and CRC64NVME, which are pure Python here
  (roughly 10 MiB/s): pass the header for large bodies.
* A chunk header longer than :data:`MAX_HEADER` bytes is IncompleteBody; trailing headers longer
  than :data:`MAX_TRAILER` bytes are MalformedTrailerError (or the error of a faulty line before
  the limit). An honest client sends about 100 and 300 bytes respectively.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from typing import Protocol

from execrole.wire.sigv4 import (
    _CHECKSUMS,
    _CRC32C_TABLE,
    _CRC64NVME_TABLE,
    EMPTY_SHA256,
    MAX_CHUNK_HEADER,
    MIN_CHUNK,
    S3_MSG_BAD_DIGEST,
    S3_MSG_CHUNK_SIZE,
    S3_MSG_TRAILER_VALUE,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    AuthError,
    SignedRequest,
    _incomplete,
    _malformed_trailer,
    _read_trailers,
    _signature_mismatch,
    _utf8,
    parse_chunk_header,
)

__all__ = ["MAX_HEADER", "MAX_TRAILER", "MODES", "ChunkedDecoder"]

# A chunk header is at most 16 hex digits + ";chunk-signature=" + 64 hex digits (97 bytes).
MAX_HEADER = MAX_CHUNK_HEADER
# Trailing headers: at most five checksums and a signature (~330 bytes); nginx's default limit.
MAX_TRAILER = 8192

# x-amz-content-sha256 value -> (signed, trailer)
MODES: dict[str, tuple[bool, bool]] = {
    STREAMING_SIGNED: (True, False),
    STREAMING_SIGNED_TRAILER: (True, True),
    STREAMING_UNSIGNED_TRAILER: (False, True),
}

_CHUNK_STRING = "AWS4-HMAC-SHA256-PAYLOAD"

# States of the decoder.
_HEADER = 0  # reading a chunk header line
_DATA = 1  # inside a chunk's data
_DATA_END = 2  # expecting the CRLF after a chunk's data
_TRAILER = 3  # after the final chunk: trailing header lines up to an empty line
_DONE = 4  # the empty line ending the body has been read


class _Digest(Protocol):
    def update(self, data: memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    """zlib's CRC-32 (the x-amz-checksum-crc32 algorithm), incrementally."""

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: memoryview, /) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(4, "big")


class _ReflectedCrc:
    """A reflected table-driven CRC with all-ones initial value and final XOR (CRC-32C,
    CRC-64/NVME), incrementally, over sigv4's tables."""

    def __init__(self, table: list[int], width: int) -> None:
        self._table = table
        self._width = width
        self._mask = (1 << (8 * width)) - 1
        self._crc = self._mask

    def update(self, data: memoryview, /) -> None:
        crc = self._crc
        table = self._table
        for b in data:
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def digest(self) -> bytes:
        return (self._crc ^ self._mask).to_bytes(self._width, "big")


def _new_digest(name: str) -> _Digest:
    if name == "x-amz-checksum-crc32":
        return _Crc32()
    if name == "x-amz-checksum-crc32c":
        return _ReflectedCrc(_CRC32C_TABLE, 4)
    if name == "x-amz-checksum-crc64nvme":
        return _ReflectedCrc(_CRC64NVME_TABLE, 8)
    if name == "x-amz-checksum-sha1":
        return hashlib.sha1(usedforsecurity=False)
    if name == "x-amz-checksum-sha256":
        return hashlib.sha256()
    raise KeyError(name)


def _parse_declared(x_amz_trailer: str) -> frozenset[str]:
    return frozenset(name.strip().lower() for name in x_amz_trailer.split(",") if name.strip())


class ChunkedDecoder:
    """Decodes one ``aws-chunked`` body fed in pieces; see the module documentation.

    ``seed_signature`` and ``signing_key`` (:func:`execrole.wire.sigv4.signing_key`) are needed
    when ``signed``; ``amz_date`` is the request time as signed (``YYYYMMDDTHHMMSSZ``) and
    ``scope`` the credential scope (``date/region/s3/aws4_request``)."""

    def __init__(
        self,
        seed_signature: str | None,
        signing_key: bytes | None,
        amz_date: str,
        scope: str,
        *,
        signed: bool,
        trailer: bool,
        x_amz_trailer: str | None = None,
    ) -> None:
        if signed and (seed_signature is None or signing_key is None):
            raise ValueError("a signed aws-chunked body needs the seed signature and signing key")
        self._signed = signed
        self._trailer = trailer
        self._key = signing_key or b""
        self._amz_date = amz_date
        self._scope = scope
        self._previous = seed_signature or ""
        self._declared = (
            None if x_amz_trailer is None or not trailer else _parse_declared(x_amz_trailer)
        )
        if not trailer:
            names: list[str] = []
        elif self._declared is None:
            names = list(_CHECKSUMS)
        else:
            names = [name for name in _CHECKSUMS if name in self._declared]
        self._digests: dict[str, _Digest] = {name: _new_digest(name) for name in names}
        self._state = _HEADER
        self._buffer = bytearray()  # partial header line, or the trailing section
        self._scanned = 0  # how far the trailing section has been split into lines
        self._index = 0  # chunks seen
        self._last_size: int | None = None
        self._size = 0  # size of the current chunk
        self._remaining = 0
        self._provided: str | None = None
        self._chunk_hash: hashlib._Hash | None = None
        self._crlf = 0  # bytes of the CRLF after a chunk's data seen so far
        self._decoded = 0
        self._error: AuthError | None = None
        self._trailers: dict[str, str] | None = None

    @classmethod
    def for_request(
        cls,
        req: SignedRequest,
        signing_key: bytes | None,
        *,
        x_amz_trailer: str | None = None,
    ) -> ChunkedDecoder:
        """The decoder for a request whose signature :func:`execrole.wire.sigv4.verify` has
        accepted: the mode from its ``x-amz-content-sha256``, the seed from its signature."""
        try:
            signed, trailer = MODES[req.payload_hash]
        except KeyError:
            raise ValueError(f"not an aws-chunked payload: {req.payload_hash!r}") from None
        return cls(
            req.signature,
            signing_key,
            req.timestamp,
            req.credential.scope,
            signed=signed,
            trailer=trailer,
            x_amz_trailer=x_amz_trailer,
        )

    @property
    def decoded_size(self) -> int:
        """Payload bytes decoded so far (to compare with ``x-amz-decoded-content-length``)."""
        return self._decoded

    @property
    def complete(self) -> bool:
        """True once the body's closing empty line has been read."""
        return self._state == _DONE

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Consume the next piece of the body; return the payload bytes it completes (not yet
        authenticated: see the module documentation). Raises :class:`AuthError` as soon as the
        body is known to be bad; after that every call raises the same error."""
        if self._error is not None:
            raise self._error
        if self._trailers is not None and data:
            raise RuntimeError("feed() after finish()")
        try:
            return self._feed(bytes(data))
        except AuthError as err:
            self._error = err
            raise

    def _feed(self, data: bytes) -> bytes:
        view = memoryview(data)
        out: list[memoryview] = []
        pos = 0
        n = len(data)
        while pos < n:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, n - pos)
                piece = view[pos : pos + take]
                self._consume(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._end_of_chunk()
            elif state == _HEADER:
                pos = self._read_header(data, pos)
            elif state == _DATA_END:
                if data[pos] != b"\r\n"[self._crlf]:
                    raise _incomplete()
                pos += 1
                self._crlf += 1
                if self._crlf == 2:
                    self._state = _HEADER
            else:  # _TRAILER or _DONE
                pos = self._read_trailer_section(data, pos)
        self._decoded += sum(len(piece) for piece in out)
        return b"".join(out)

    def _consume(self, piece: memoryview) -> None:
        if self._chunk_hash is not None:
            self._chunk_hash.update(piece)
        for digest in self._digests.values():
            digest.update(piece)

    def _read_header(self, data: bytes, pos: int) -> int:
        """Read (part of) a chunk header line from ``data[pos:]``; return the new position."""
        buf = self._buffer
        if buf.endswith(b"\r") and data[pos] == 0x0A:  # a CRLF split between two pieces
            line = bytes(buf[:-1])
            buf.clear()
            self._start_chunk(line)
            return pos + 1
        window = min(len(data), pos + MAX_HEADER + 2 - len(buf))
        end = data.find(b"\r\n", pos, window)
        if end < 0:
            buf += data[pos:window]
            if len(buf) - buf.endswith(b"\r") > MAX_HEADER:
                raise _incomplete()
            return window
        line = bytes(buf) + data[pos:end]
        buf.clear()
        self._start_chunk(line)
        return end + 2

    def _start_chunk(self, header: bytes) -> None:
        # The same reading, in the same order, as sigv4.decode_aws_chunked_with_trailers.
        size, provided = parse_chunk_header(header, self._signed)
        self._index += 1
        if size > 0 and self._last_size is not None and self._last_size < MIN_CHUNK:
            raise AuthError(
                "InvalidChunkSizeError",
                S3_MSG_CHUNK_SIZE,
                400,
                details=(("Chunk", str(self._index - 1)), ("BadChunkSize", str(self._last_size))),
            )
        self._size = size
        self._remaining = size
        self._provided = provided
        self._chunk_hash = hashlib.sha256() if self._signed else None
        if size == 0:
            self._end_of_chunk()
        else:
            self._state = _DATA

    def _end_of_chunk(self) -> None:
        provided = self._provided
        if self._signed and provided is not None and self._chunk_hash is not None:
            to_sign = "\n".join(
                [
                    _CHUNK_STRING,
                    self._amz_date,
                    self._scope,
                    self._previous,
                    EMPTY_SHA256,
                    self._chunk_hash.hexdigest(),
                ]
            )
            expected = hmac.new(self._key, _utf8(to_sign), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected.encode("ascii"), _utf8(provided)):
                raise _signature_mismatch(to_sign, provided)
            self._previous = provided
        self._chunk_hash = None
        if self._size == 0:
            self._state = _TRAILER
        else:
            self._state = _DATA_END
            self._crlf = 0
            self._last_size = self._size

    def _read_trailer_section(self, data: bytes, pos: int) -> int:
        """Buffer the trailing header lines (bounded); refuse anything after the empty line that
        ends them, with the error the whole-body decoder gives for the same bytes."""
        buf = self._buffer
        room = MAX_TRAILER + 1 - len(buf)
        take = min(len(data) - pos, room)
        buf += data[pos : pos + take]
        while self._state == _TRAILER:
            end = buf.find(b"\r\n", self._scanned)
            if end < 0:
                break
            line = buf[self._scanned : end]
            self._scanned = end + 2
            if not line.strip():
                self._state = _DONE
        if self._state == _DONE and len(buf) > self._scanned:
            self._parse_trailers()  # raises what the whole-body decoder says of these bytes
            raise _incomplete()
        if len(buf) > MAX_TRAILER:
            try:
                self._parse_trailers()
            except AuthError as err:
                if err.code != "IncompleteBody":
                    raise  # a faulty line before the limit is reported as such
            raise _malformed_trailer()
        return pos + take

    def _parse_trailers(self) -> dict[str, str]:
        return _read_trailers(
            bytes(self._buffer),
            0,
            self._signed,
            self._key,
            self._amz_date,
            self._scope,
            self._previous,
        )

    # -- finishing ----------------------------------------------------------------------------

    def finish(self) -> dict[str, str]:
        """Check the body ended properly and return its trailing headers (``name: value``,
        names in lower case, without ``x-amz-trailer-signature``), after verifying the trailer
        signature (signed modes) and every ``x-amz-checksum-*`` against the payload."""
        if self._error is not None:
            raise self._error
        if self._trailers is None:
            try:
                self._trailers = self._finish()
            except AuthError as err:
                self._error = err
                raise
        return dict(self._trailers)

    def _finish(self) -> dict[str, str]:
        if self._state == _TRAILER:
            self._parse_trailers()  # a faulty line is reported as such, else IncompleteBody
        if self._state != _DONE:
            raise _incomplete()
        trailers = self._parse_trailers()
        if not self._trailer and b":" in self._buffer:
            raise _malformed_trailer()
        if self._declared is not None and set(trailers) != self._declared:
            raise _malformed_trailer()
        for name, value in trailers.items():
            self._check_checksum(name, value)
        return trailers

    def _check_checksum(self, name: str, value: str) -> None:
        # As sigv4._check_trailing_checksums, against the digest computed while streaming.
        algorithm, _ = _CHECKSUMS[name]
        computed = self._digests[name].digest()
        try:
            claimed = base64.b64decode(value.encode("ascii"), validate=True)
        except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
            claimed = b""
        if len(claimed) != len(computed):
            raise AuthError("InvalidRequest", S3_MSG_TRAILER_VALUE.format(name=name), 400)
        if not hmac.compare_digest(claimed, computed):
            raise AuthError("BadDigest", S3_MSG_BAD_DIGEST.format(algorithm=algorithm), 400)
