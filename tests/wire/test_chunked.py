"""The incremental aws-chunked decoder (execrole.wire.chunked) against AWS's examples, real
botocore bodies and the whole-body decoder it must agree with.

Evidence:

- AWS's published examples (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
  "Example: PUT Object", seed 4f232c43...; .../sigv4-streaming-trailers.html, seed 106e2a8a...,
  with a CRC32C trailer): fed whole, one byte at a time, split at every point of the framing and
  at random points, the payload and trailers equal ``sigv4.decode_aws_chunked``'s.
- A reference encoder written from sigv4-streaming.html reproduces the published chunk
  signatures, so bodies it makes (and the 300 MiB stream) are what a real signer sends.
- Bodies botocore really sends for ``put_object`` (captured before they reach the wire).
- Agreement with ``sigv4.decode_aws_chunked_with_trailers`` on arbitrary and mutated bodies in
  arbitrary splits (hypothesis): same payload and trailers, or the same AuthError (code,
  message, status, members). The error texts are sigv4's constants, whose sources it cites.
- The stricter trailer rules (x-amz-trailer, trailer=False) follow what S3 was recorded doing in
  https://github.com/scality/Arsenal/pull/2596 and https://github.com/versity/versitygw/issues/1691.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import random
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from execrole.wire import sigv4
from execrole.wire.chunked import MAX_HEADER, MAX_TRAILER, ChunkedDecoder
from execrole.wire.sigv4 import AuthError

SRC = Path(__file__).resolve().parents[2] / "src"
HERE = Path(__file__).resolve().parent

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_KEY = sigv4.signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_SIGNATURES = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
TRAILER_LINES = (
    b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
)
DOC_PAYLOAD = b"a" * 66560


def doc_body(signatures: list[str], trailer: bytes = b"") -> bytes:
    """The published body: 64 KiB and 1 KiB of 'a', then the final chunk."""
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={signatures[1]}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={signatures[2]}\r\n".encode()
        + trailer
        + b"\r\n"
    )


DOC_BODY = doc_body(DOC_SIGNATURES)
TRAILER_BODY = doc_body(TRAILER_SIGNATURES, TRAILER_LINES)


def doc_decoder(**kwargs: Any) -> ChunkedDecoder:
    return ChunkedDecoder(
        DOC_SEED, DOC_KEY, DOC_DATE, DOC_SCOPE, signed=True, trailer=False, **kwargs
    )


def trailer_decoder(**kwargs: Any) -> ChunkedDecoder:
    return ChunkedDecoder(
        TRAILER_SEED, DOC_KEY, DOC_DATE, DOC_SCOPE, signed=True, trailer=True, **kwargs
    )


def decode(decoder: ChunkedDecoder, pieces: Iterable[bytes]) -> tuple[bytes, dict[str, str]]:
    out = bytearray()
    for piece in pieces:
        out += decoder.feed(piece)
    trailers = decoder.finish()
    return bytes(out), trailers


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(body)}), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def framing_points(body: bytes, radius: int = 3) -> list[int]:
    """Every split point in or next to the framing (chunk headers, CRLFs, trailers) and a
    stride through the chunk data, where one split point is as good as the next."""
    points: set[int] = set()
    pos = 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        points.update(range(max(0, pos - radius), end + 2 + radius + 1))
        data_end = end + 2 + size
        points.update(range(end + 2, data_end, 509))
        if size == 0:
            points.update(range(end, len(body) + 1))
            break
        points.update(range(data_end - radius, data_end + 2 + radius + 1))
        pos = data_end + 2
    return sorted(p for p in points if 0 <= p <= len(body))


def refused(call: Any, code: str, message: str | None = None) -> AuthError:
    with pytest.raises(AuthError) as info:
        call()
    assert info.value.code == code, (info.value.code, info.value.message)
    if message is not None:
        assert info.value.message == message
    return info.value


# ---------------------------------------------------------------------------------------------
# AWS's published examples
# ---------------------------------------------------------------------------------------------


def test_doc_example_whole() -> None:
    assert len(DOC_BODY) == 66824  # the documented Content-Length
    expected = sigv4.decode_aws_chunked(DOC_BODY, DOC_SEED, DOC_KEY, DOC_DATE, DOC_SCOPE)
    decoder = doc_decoder()
    assert decode(decoder, [DOC_BODY]) == (expected, {}) == (DOC_PAYLOAD, {})
    assert decoder.complete and decoder.decoded_size == 66560


def test_doc_example_one_byte_at_a_time() -> None:
    decoder = doc_decoder()
    pieces = [DOC_BODY[i : i + 1] for i in range(len(DOC_BODY))]
    assert decode(decoder, pieces) == (DOC_PAYLOAD, {})


def test_doc_example_every_framing_split() -> None:
    points = framing_points(DOC_BODY)
    assert len(points) > 300
    for point in points:
        assert decode(doc_decoder(), split_at(DOC_BODY, [point])) == (DOC_PAYLOAD, {}), point


@settings(max_examples=120, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(DOC_BODY) - 1), max_size=40))
def test_doc_example_random_splits(cuts: list[int]) -> None:
    assert decode(doc_decoder(), split_at(DOC_BODY, cuts)) == (DOC_PAYLOAD, {})


def test_doc_trailer_example_in_every_split() -> None:
    """sigv4-streaming-trailers.html: a CRC32C trailer signed with x-amz-trailer-signature."""
    expected = sigv4.decode_aws_chunked_with_trailers(
        TRAILER_BODY, TRAILER_SEED, DOC_KEY, DOC_DATE, DOC_SCOPE
    )
    assert expected == (DOC_PAYLOAD, {"x-amz-checksum-crc32c": "sOO8/Q=="})
    declared = "x-amz-checksum-crc32c"
    assert decode(trailer_decoder(x_amz_trailer=declared), [TRAILER_BODY]) == expected
    assert decode(trailer_decoder(), [TRAILER_BODY]) == expected  # every checksum computed
    one_by_one = [TRAILER_BODY[i : i + 1] for i in range(len(TRAILER_BODY))]
    assert decode(trailer_decoder(x_amz_trailer=declared), one_by_one) == expected
    tail = len(TRAILER_BODY) - len(TRAILER_LINES) - 60
    for point in range(tail, len(TRAILER_BODY)):
        pieces = split_at(TRAILER_BODY, [point, point - 1000])
        assert decode(trailer_decoder(x_amz_trailer=declared), pieces) == expected, point


def test_doc_trailer_signature_tampered() -> None:
    bad = TRAILER_BODY.replace(b"d81f82fc", b"d81f82fd")
    decoder = trailer_decoder(x_amz_trailer="x-amz-checksum-crc32c")
    assert decoder.feed(bad) == DOC_PAYLOAD
    err = refused(decoder.finish, "SignatureDoesNotMatch", sigv4.S3_MSG_MISMATCH)
    whole = refused(
        lambda: sigv4.decode_aws_chunked(bad, TRAILER_SEED, DOC_KEY, DOC_DATE, DOC_SCOPE),
        "SignatureDoesNotMatch",
    )
    assert err.details == whole.details
    assert (err.detail("StringToSign") or "").startswith("AWS4-HMAC-SHA256-TRAILER\n")


# ---------------------------------------------------------------------------------------------
# A reference encoder, from sigv4-streaming.html, checked against the published signatures
# ---------------------------------------------------------------------------------------------

EMPTY = hashlib.sha256(b"").hexdigest()


def iter_signed_body(
    chunks: Iterable[bytes],
    seed: str,
    key: bytes,
    stamp: str,
    scope: str,
    trailers: Iterable[tuple[str, str]] = (),
) -> Iterator[bytes]:
    """The aws-chunked encoding of ``chunks``, piece by piece: each chunk is
    ``hex(size);chunk-signature=sig CRLF data CRLF`` with sig = HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD"
    LF stamp LF scope LF previous-sig LF hash("") LF hash(data)); a final empty chunk; then
    trailers signed with "AWS4-HMAC-SHA256-TRAILER" over their "name:value\\n" lines."""
    previous = seed

    def sign(data: bytes) -> str:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                stamp,
                scope,
                previous,
                EMPTY,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    for data in chunks:
        if not data:
            continue
        previous = sign(data)
        yield f"{len(data):x};chunk-signature={previous}\r\n".encode()
        yield data
        yield b"\r\n"
    previous = sign(b"")
    yield f"0;chunk-signature={previous}\r\n".encode()
    lines = list(trailers)
    if lines:
        canonical = "".join(f"{name}:{value}\n" for name, value in lines)
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                stamp,
                scope,
                previous,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        yield "".join(f"{name}:{value}\r\n" for name, value in lines).encode()
        yield f"x-amz-trailer-signature:{signature}\r\n".encode()
    yield b"\r\n"


def signed_body(chunks: list[bytes], trailers: list[tuple[str, str]] | None = None) -> bytes:
    return b"".join(iter_signed_body(chunks, SEED, KEY, STAMP, SCOPE, trailers or []))


def unsigned_body(chunks: list[bytes], trailers: list[tuple[str, str]] | None = None) -> bytes:
    out = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks if c) + b"0\r\n"
    out += b"".join(f"{n}:{v}\r\n".encode() for n, v in trailers or [])
    return out + b"\r\n"


SEED = "0123456789abcdef" * 4
KEY = sigv4.signing_key("execrole/secret", "20240102", "us-east-1", "s3")
STAMP = "20240102T030405Z"
SCOPE = "20240102/us-east-1/s3/aws4_request"


def decoder(
    *, signed: bool = True, trailer: bool = False, x_amz_trailer: str | None = None
) -> ChunkedDecoder:
    return ChunkedDecoder(
        SEED if signed else None,
        KEY if signed else None,
        STAMP,
        SCOPE,
        signed=signed,
        trailer=trailer,
        x_amz_trailer=x_amz_trailer,
    )


def test_reference_encoder_reproduces_the_published_bodies() -> None:
    chunks = [b"a" * 65536, b"a" * 1024]
    assert b"".join(iter_signed_body(chunks, DOC_SEED, DOC_KEY, DOC_DATE, DOC_SCOPE)) == DOC_BODY
    trailer = b"".join(
        iter_signed_body(
            chunks,
            TRAILER_SEED,
            DOC_KEY,
            DOC_DATE,
            DOC_SCOPE,
            [("x-amz-checksum-crc32c", "sOO8/Q==")],
        )
    )
    assert trailer == TRAILER_BODY


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def all_checksums(data: bytes) -> dict[str, str]:
    return {
        "x-amz-checksum-crc32": b64(zlib.crc32(data).to_bytes(4, "big")),
        "x-amz-checksum-crc32c": b64(sigv4._crc32c(data)),
        "x-amz-checksum-crc64nvme": b64(sigv4._crc64nvme(data)),
        "x-amz-checksum-sha1": b64(hashlib.sha1(data).digest()),
        "x-amz-checksum-sha256": b64(hashlib.sha256(data).digest()),
    }


@pytest.mark.parametrize("name", sorted(all_checksums(b"")))
@pytest.mark.parametrize("signed", [True, False])
def test_each_trailing_checksum(name: str, signed: bool) -> None:
    """Every x-amz-checksum-* S3 takes, computed while streaming, in both trailer modes."""
    rng = random.Random(name)
    chunks = [rng.randbytes(9000), rng.randbytes(8192), rng.randbytes(77)]
    data = b"".join(chunks)
    value = all_checksums(data)[name]
    body = (signed_body if signed else unsigned_body)(chunks, [(name, value)])
    pieces = split_at(body, [rng.randrange(len(body)) for _ in range(30)])
    for declared in (name, None, " " + name.upper() + " "):
        got = decode(decoder(signed=signed, trailer=True, x_amz_trailer=declared), pieces)
        assert got == (data, {name: value})
    bad = all_checksums(data + b"!")[name]
    bad_body = (signed_body if signed else unsigned_body)(chunks, [(name, bad)])
    algorithm = sigv4._CHECKSUMS[name][0]
    refused(
        lambda: decode(decoder(signed=signed, trailer=True, x_amz_trailer=name), [bad_body]),
        "BadDigest",
        f"The {algorithm} you specified did not match the calculated checksum.",
    )


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=10))
def test_incremental_crcs_match_sigv4(data: bytes, cuts: list[int]) -> None:
    from execrole.wire.chunked import _new_digest

    for name, expected in all_checksums(data).items():
        digest = _new_digest(name)
        for piece in split_at(data, cuts) if data else []:
            digest.update(memoryview(piece))
        assert b64(digest.digest()) == expected, name


def test_crc_check_values() -> None:
    """CRC-32C and CRC-64/NVME check values of "123456789" (the CRC catalogue)."""
    from execrole.wire.chunked import _new_digest

    for name, check in (
        ("x-amz-checksum-crc32c", "e3069283"),
        ("x-amz-checksum-crc64nvme", "ae8b14860a799888"),
        ("x-amz-checksum-crc32", "cbf43926"),
    ):
        digest = _new_digest(name)
        digest.update(memoryview(b"1234"))
        digest.update(memoryview(b"56789"))
        assert digest.digest().hex() == check


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------

CHUNKS = [b"a" * 8192, b"b" * 8192, b"c" * 100]


def test_tampered_chunk_fails_at_that_chunk() -> None:
    body = signed_body(CHUNKS)
    tampered = body.replace(b"b" * 10, b"B" * 10, 1)
    whole = refused(
        lambda: sigv4.decode_aws_chunked(tampered, SEED, KEY, STAMP, SCOPE),
        "SignatureDoesNotMatch",
    )
    d = decoder()
    second_header = tampered.index(b"2000;", 10)
    d.feed(tampered[:second_header])  # the first chunk is fine
    err = refused(lambda: d.feed(tampered[second_header:]), "SignatureDoesNotMatch")
    assert err.message == sigv4.S3_MSG_MISMATCH and err.status == 403
    assert err.details == whole.details
    assert (err.detail("StringToSign") or "").startswith("AWS4-HMAC-SHA256-PAYLOAD\n" + STAMP)
    # Poisoned: every later call repeats the refusal.
    again = refused(lambda: d.feed(b""), "SignatureDoesNotMatch")
    assert again is err
    assert refused(d.finish, "SignatureDoesNotMatch") is err


def test_wrong_seed_swapped_chunks_and_wrong_key() -> None:
    body = signed_body(CHUNKS)
    other = ChunkedDecoder("0" * 64, KEY, STAMP, SCOPE, signed=True, trailer=False)
    refused(lambda: other.feed(body), "SignatureDoesNotMatch")
    wrong_key = ChunkedDecoder(SEED, b"k" * 32, STAMP, SCOPE, signed=True, trailer=False)
    refused(lambda: wrong_key.feed(body), "SignatureDoesNotMatch")
    first = body.index(b"2000;")
    second = body.index(b"2000;", first + 1)
    third = body.index(b"64;")
    swapped = body[second:third] + body[first:second] + body[third:]
    refused(lambda: decoder().feed(swapped), "SignatureDoesNotMatch")


def test_framing_faults() -> None:
    body = signed_body(CHUNKS)
    incomplete = ("IncompleteBody", "The request body terminated unexpectedly")
    for cut in (len(body) - 2, len(body) - 1, 5000, 8300, 10):
        d = decoder()
        d.feed(body[:cut])
        assert not d.complete
        refused(d.finish, *incomplete)
    refused(lambda: decoder().feed(body + b"extra"), *incomplete)
    refused(lambda: decoder().feed(b"zz;chunk-signature=00\r\n"), *incomplete)
    refused(lambda: decoder().feed(b"7;chunk-signatur=00\r\n"), *incomplete)
    refused(lambda: decoder(signed=False, trailer=True).feed(b"7;chunk-signature\r\n"), *incomplete)
    # Data not followed by CRLF.
    broken = body.replace(b"a" * 8192 + b"\r\n", b"a" * 8192 + b"\r-", 1)
    refused(lambda: decoder().feed(broken), *incomplete)
    # A chunk without its signature is refused when signatures are required ...
    refused(lambda: decoder().feed(b"7\r\npayload\r\n"), *incomplete)
    # ... and its signature is not needed (nor checked) without.
    plain = b"7;chunk-signature=nonsense\r\npayload\r\n0\r\n\r\n"
    assert decode(decoder(signed=False, trailer=True), [plain]) == (b"payload", {})


def test_small_chunk_before_the_last() -> None:
    """InvalidChunkSizeError with Chunk and BadChunkSize members, as sigv4 reports it."""
    body = signed_body([b"a" * 100, b"b" * 8192])
    err = refused(
        lambda: decoder().feed(body),
        "InvalidChunkSizeError",
        "Only the last chunk is allowed to have a size less than 8192 bytes",
    )
    assert err.status == 400 and err.details == (("Chunk", "1"), ("BadChunkSize", "100"))


def test_header_and_trailer_are_bounded() -> None:
    """A peer cannot make the decoder buffer without limit."""
    d = decoder()
    refused(lambda: d.feed(b"1" * (MAX_HEADER + 10)), "IncompleteBody")
    d = decoder()
    for _ in range(MAX_HEADER // 100):
        d.feed(b"1" * 100)
    refused(lambda: d.feed(b"1" * 200), "IncompleteBody")
    # The longest header accepted ends exactly at the limit, CRLF split across pieces.
    header = b"10;chunk-signature=" + b" " * (MAX_HEADER - 19 - 64) + SEED.encode()
    assert len(header) == MAX_HEADER
    d = decoder(signed=False, trailer=True)
    d.feed(header + b"\r")
    assert d.feed(b"\n" + b"x" * 16 + b"\r\n0\r\n\r\n") == b"x" * 16
    d.finish()
    # Trailing headers: too long is MalformedTrailerError, unless a faulty line came first.
    prefix = unsigned_body([b"data"])[:-2]
    d = decoder(signed=False, trailer=True)
    refused(lambda: d.feed(prefix + b"x" * (MAX_TRAILER + 1)), "MalformedTrailerError")
    d = decoder(signed=False, trailer=True)
    refused(lambda: d.feed(prefix + b"\r\nextra" + b"x" * MAX_TRAILER), "IncompleteBody")
    d = decoder(signed=False, trailer=True)
    refused(lambda: d.feed(prefix + b"no colon\r\n" + b"x" * MAX_TRAILER), "MalformedTrailerError")
    d = decoder(signed=False, trailer=True)
    refused(
        lambda: d.feed(prefix + b"x-amz-checksum-crc32:" + b" " * MAX_TRAILER + b"\r\n"),
        "MalformedTrailerError",
    )


def test_trailer_rules() -> None:
    data = b"payload"
    crc = all_checksums(data)["x-amz-checksum-crc32"]
    sha = all_checksums(data)["x-amz-checksum-sha256"]
    with_crc = unsigned_body([data], [("x-amz-checksum-crc32", crc)])
    malformed = (
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform to our "
        "published schema.",
    )

    def run(body: bytes, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        return decode(decoder(signed=False, trailer=True, **kwargs), [body])

    assert run(with_crc) == (data, {"x-amz-checksum-crc32": crc})
    assert run(with_crc, x_amz_trailer="x-amz-checksum-crc32") == (
        data,
        {"x-amz-checksum-crc32": crc},
    )
    # The trailer must be the one declared in x-amz-trailer ...
    refused(lambda: run(with_crc, x_amz_trailer="x-amz-checksum-sha256"), *malformed)
    # ... a trailer with no x-amz-trailer header is refused ...
    refused(lambda: run(with_crc, x_amz_trailer=""), *malformed)
    assert run(unsigned_body([data]), x_amz_trailer="") == (data, {})
    # ... and so is a declared trailer that never comes.
    refused(lambda: run(unsigned_body([data]), x_amz_trailer="x-amz-checksum-crc32"), *malformed)
    both = unsigned_body([data], [("x-amz-checksum-crc32", crc), ("x-amz-checksum-sha256", sha)])
    declared = "x-amz-checksum-sha256,x-amz-checksum-crc32"
    assert run(both, x_amz_trailer=declared)[1] == {
        "x-amz-checksum-crc32": crc,
        "x-amz-checksum-sha256": sha,
    }
    # Unknown trailers and values that are not digests: as sigv4 says them.
    refused(lambda: run(unsigned_body([data], [("x-invalid-checksum-crc32", crc)])), *malformed)
    refused(
        lambda: run(unsigned_body([data], [("x-amz-checksum-sha1", "qvTGHdzF6KLavt4PO0gs2a6p")])),
        "InvalidRequest",
        "Value for x-amz-checksum-sha1 trailing header is invalid.",
    )
    refused(
        lambda: run(unsigned_body([data], [("x-amz-checksum-crc32", "not base64!")])),
        "InvalidRequest",
        "Value for x-amz-checksum-crc32 trailing header is invalid.",
    )
    # STREAMING-AWS4-HMAC-SHA256-PAYLOAD carries no trailer.
    signed_with_trailer = signed_body(CHUNKS, [("x-amz-checksum-crc32", crc)])
    refused(lambda: decode(decoder(trailer=False), [signed_with_trailer]), *malformed)
    # A signed trailer needs its signature.
    no_signature = signed_body([data])[:-2] + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    refused(lambda: decode(decoder(trailer=True), [no_signature]), *malformed)
    # The Java SDK declares x-amz-trailer but sends the checksum as a header with a trailer-less
    # signed body (https://github.com/pgsty/silo/pull/143): without trailer mode it is ignored.
    body = signed_body(CHUNKS)
    assert decode(decoder(x_amz_trailer="x-amz-checksum-crc32"), [body])[0] == b"".join(CHUNKS)


def test_lifecycle_and_construction() -> None:
    d = decoder()
    body = signed_body(CHUNKS)
    assert d.feed(body) == b"".join(CHUNKS) and d.complete
    assert d.finish() == {} and d.finish() == {}
    assert d.feed(b"") == b""
    with pytest.raises(RuntimeError):
        d.feed(b"more")
    with pytest.raises(ValueError):
        ChunkedDecoder(None, KEY, STAMP, SCOPE, signed=True, trailer=False)
    with pytest.raises(ValueError):
        ChunkedDecoder(SEED, None, STAMP, SCOPE, signed=True, trailer=False)
    # Feeding after the end is refused as the whole-body decoder refuses extra bytes.
    d = decoder()
    d.feed(body)
    refused(lambda: d.feed(b"x"), "IncompleteBody")


# ---------------------------------------------------------------------------------------------
# Agreement with the whole-body decoder, whatever the body and however it is split
# ---------------------------------------------------------------------------------------------


def outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except AuthError as err:
        return ("error", err.code, err.message, err.status, err.details)


def compare(body: bytes, cuts: list[int], signed: bool, seed: str = SEED) -> None:
    whole = outcome(
        lambda: sigv4.decode_aws_chunked_with_trailers(
            body, seed, KEY, STAMP, SCOPE, verify_signatures=signed
        )
    )
    d = ChunkedDecoder(seed, KEY, STAMP, SCOPE, signed=signed, trailer=True)
    streamed = outcome(lambda: decode(d, split_at(body, cuts)))
    assert streamed == whole


@st.composite
def framed_bodies(draw: st.DrawFn) -> bytes:
    """Bodies that look like aws-chunked framing, right or subtly wrong at every step: size
    spellings, extensions, data lengths, CRLFs, trailer lines (good and bad checksum values,
    unknown names, missing colons, signatures) and what ends the body."""
    pieces: list[bytes] = []
    payload = b""
    extensions = [
        b"",
        b";chunk-signature=" + b"0" * 64,
        b";chunk-signature",
        b";x=1",
        b"; chunk-signature = ab ",
    ]
    for _ in range(draw(st.integers(0, 3))):
        data = draw(st.binary(max_size=12))
        size = draw(st.sampled_from([len(data)] * 8 + [len(data) + 1, max(0, len(data) - 1)]))
        spelled = draw(
            st.sampled_from([f"{size:x}"] * 8 + [f"{size:X}", f"{size:08x}", f" {size:x}", ""])
        )
        pieces.append(spelled.encode() + draw(st.sampled_from(extensions)) + b"\r\n" + data)
        pieces.append(draw(st.sampled_from([b"\r\n"] * 10 + [b"\n", b"", b"\r"])))
        payload += data
    pieces.append(b"0" + draw(st.sampled_from(extensions)) + b"\r\n")
    checksums = all_checksums(payload)
    names = [*sorted(checksums), "x-amz-trailer-signature", "x-other", "X-Amz-Checksum-CRC32"]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(names))
        value = draw(
            st.sampled_from(
                [checksums.get(name.lower(), "AAAA"), "AAAAAA==", "!!", "", "0" * 64, " HeT+cQ== "]
            )
        )
        pieces.append(f"{name}{draw(st.sampled_from([':', ':', ' : ', '']))}{value}\r\n".encode())
    pieces.append(draw(st.sampled_from([b"\r\n"] * 8 + [b" \r\n", b"", b"\r\nextra", b"\n"])))
    return b"".join(pieces)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=framed_bodies() | st.binary(max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
    signed=st.booleans(),
)
@example(body=b"7;chunk-signature\r\npayload\r\n0\r\n\r\n", cuts=[3], signed=False)
def test_agrees_with_whole_body_decoder_on_any_bytes(
    body: bytes, cuts: list[int], signed: bool
) -> None:
    compare(body, cuts, signed)


@st.composite
def valid_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A well-formed body (signed or not, chunk sizes around the 8 KiB minimum, trailers or
    not), then perhaps damaged: a byte changed, removed or inserted."""
    signed = draw(st.booleans())
    rng = random.Random(draw(st.integers(0, 2**32)))
    sizes = draw(st.lists(st.sampled_from([8191, 8192, 8193, 9000, 1, 0, 100]), max_size=4))
    chunks = [rng.randbytes(n) for n in sizes]
    data = b"".join(chunks)
    names = draw(st.lists(st.sampled_from(sorted(all_checksums(b""))), unique=True, max_size=2))
    checks = all_checksums(data)
    trailers = [(n, checks[n]) for n in names]
    body = (signed_body if signed else unsigned_body)(chunks, trailers)
    damage = draw(st.sampled_from(["none", "flip", "drop", "insert"]))
    if damage != "none":
        at = draw(st.integers(0, len(body) - 1))
        if damage == "flip":
            body = body[:at] + bytes([body[at] ^ (1 << draw(st.integers(0, 7)))]) + body[at + 1 :]
        elif damage == "drop":
            body = body[:at] + body[at + 1 :]
        else:
            body = body[:at] + draw(st.sampled_from([b"\r", b"\n", b"0", b"x"])) + body[at:]
    return body, signed


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=valid_bodies(), cuts=st.lists(st.integers(min_value=0, max_value=40000), max_size=8))
def test_agrees_with_whole_body_decoder_on_real_and_damaged_bodies(
    case: tuple[bytes, bool], cuts: list[int]
) -> None:
    body, signed = case
    compare(body, cuts, signed)


# ---------------------------------------------------------------------------------------------
# What boto3 really sends
# ---------------------------------------------------------------------------------------------

ACCESS = "AKIAEXAMPLEEXECROLE1"
SECRET = "execrole/secret+key/EXAMPLE0000000000000000"


class Captured:
    """boto3 client calls whose requests are kept just before they would reach the wire."""

    def __init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id=ACCESS, aws_secret_access_key=SECRET, region_name="us-east-1"
        )
        self.client = session.client(
            "s3",
            endpoint_url="https://s3.us-east-1.amazonaws.com",
            config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
        )
        self.sent: list[tuple[str, str, dict[str, str], bytes]] = []
        self.client.meta.events.register("before-send", self._hook)

    def _hook(self, request: Any, **_: Any) -> AWSResponse:
        body = request.body
        raw = body.read() if hasattr(body, "read") else (body or b"")
        headers = {
            k: v.decode("latin-1") if isinstance(v, bytes) else v
            for k, v in request.headers.items()
        }
        self.sent.append((request.method, request.url, headers, raw))

        class Raw:
            def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
                return iter([b""])

        return AWSResponse(request.url, 599, {}, Raw())

    def put(self, **params: Any) -> tuple[str, str, dict[str, str], bytes]:
        self.sent.clear()
        with contextlib.suppress(Exception):  # the fake response is an error; the request counts
            self.client.put_object(**params)
        return self.sent[0]


@pytest.fixture(scope="module")
def captured() -> Captured:
    return Captured()


@pytest.mark.parametrize("algorithm", [None, "CRC32", "SHA1", "SHA256"])
def test_boto3_put_object_body(captured: Captured, algorithm: str | None) -> None:
    """boto3's PutObject over HTTPS: STREAMING-UNSIGNED-PAYLOAD-TRAILER, 1 MiB chunks and the
    checksum trailer it declares in x-amz-trailer (CRC32 unless asked otherwise)."""
    data = random.Random(7).randbytes((5 << 20) // 2)  # 2.5 MiB: three chunks
    params: dict[str, Any] = {"Bucket": "execrole-bucket", "Key": "dir/ü b.bin", "Body": data}
    if algorithm:
        params["ChecksumAlgorithm"] = algorithm
    method, url, headers, body = captured.put(**params)
    parts = urlsplit(url)
    headers.setdefault("Host", parts.netloc)
    req = sigv4.parse_signature(method, parts.path, parts.query, headers, s3=True)
    assert req is not None
    sigv4.verify(req, SECRET, method, parts.path, parts.query, headers, body, req.amz_date, s3=True)
    assert req.payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["content-encoding"] == "aws-chunked"
    declared = lower["x-amz-trailer"]
    assert declared == f"x-amz-checksum-{(algorithm or 'CRC32').lower()}"

    d = ChunkedDecoder.for_request(req, None, x_amz_trailer=declared)
    rng = random.Random(algorithm)
    pieces = split_at(body, [rng.randrange(len(body)) for _ in range(50)])
    payload, trailers = decode(d, pieces)
    assert payload == data and d.decoded_size == int(lower["x-amz-decoded-content-length"])
    assert trailers == {declared: all_checksums(data)[declared]}
    assert (payload, trailers) == sigv4.decode_aws_chunked_with_trailers(
        body, "", b"", req.timestamp, req.credential.scope, verify_signatures=False
    )
    # A byte changed in flight is caught by the checksum.
    tampered = body.replace(data[1000:1010], bytes(10), 1)
    d = ChunkedDecoder.for_request(req, None, x_amz_trailer=declared)
    d.feed(tampered)
    refused(d.finish, "BadDigest")


def test_for_request_refuses_plain_payloads() -> None:
    req = sigv4.SignedRequest(
        credential=sigv4.Credential("AKID", "20240102", "us-east-1", "s3", "aws4_request"),
        signed_headers=("host",),
        signature=SEED,
        amz_date=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        session_token=None,
        presigned=False,
        expires=None,
        payload_hash="UNSIGNED-PAYLOAD",
    )
    with pytest.raises(ValueError):
        ChunkedDecoder.for_request(req, KEY)
    signed = replace(req, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    d = ChunkedDecoder.for_request(signed, KEY)
    assert decode(d, [signed_body(CHUNKS)]) == (b"".join(CHUNKS), {})


# ---------------------------------------------------------------------------------------------
# 300 MiB, streamed, in a subprocess that measures its own peak RSS
# ---------------------------------------------------------------------------------------------

STREAM_300_MIB = """
    import os
    _pid = os.fork()  # measure in a forked child: an exec'd process inherits pytest's peak RSS
    if _pid:
        os._exit(os.waitstatus_to_exitcode(os.waitpid(_pid, 0)[1]))

    import base64, hashlib, json, random, resource, sys, zlib
    sys.path.insert(0, sys.argv[1])
    from test_chunked import KEY, SCOPE, SEED, STAMP, iter_signed_body
    from execrole.wire.chunked import ChunkedDecoder

    def peak_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    MIB = 1 << 20
    TOTAL = 300 * MIB
    block = os.urandom(MIB)
    source = {"sha": hashlib.sha256(), "crc": 0}

    def chunks():
        # 64 KiB + 17 bytes per chunk (not aligned with the reads below), 300 MiB in all.
        size, sent, i = 65553, 0, 0
        while sent < TOTAL:
            n = min(size, TOTAL - sent)
            start = (i * 7919) % (MIB - n)
            data = block[start : start + n]
            source["sha"].update(data)
            source["crc"] = zlib.crc32(data, source["crc"])
            sent += n
            i += 1
            yield data

    def trailers():
        yield ("x-amz-checksum-crc32", base64.b64encode(source["crc"].to_bytes(4, "big")).decode())

    class LazyTrailers:
        def __iter__(self):
            return trailers()

    def reads(pieces):
        # Regroup the encoder's output into reads of random sizes up to 1 MiB, as a socket would.
        rng = random.Random(1)
        pending, size, want = [], 0, rng.randint(1, MIB)
        for piece in pieces:
            pending.append(piece)
            size += len(piece)
            while size >= want:
                joined = b"".join(pending)
                yield joined[:want]
                rest = joined[want:]
                pending, size, want = [rest], len(rest), rng.randint(1, MIB)
        if size:
            yield b"".join(pending)

    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak RSS := current RSS (Linux)
    except OSError:
        pass
    before = peak_kib()
    decoder = ChunkedDecoder(
        SEED, KEY, STAMP, SCOPE, signed=True, trailer=True, x_amz_trailer="x-amz-checksum-crc32"
    )
    out = hashlib.sha256()
    wire = 0
    for piece in reads(iter_signed_body(chunks(), SEED, KEY, STAMP, SCOPE, LazyTrailers())):
        wire += len(piece)
        out.update(decoder.feed(piece))
    trailers_seen = decoder.finish()
    after = peak_kib()
    held = bytearray(64 * MIB)
    for i in range(0, len(held), 4096):
        held[i] = 1
    control = peak_kib() - after
    print(json.dumps({
        "decoded": decoder.decoded_size, "wire_bytes": wire,
        "sha_ok": out.hexdigest() == source["sha"].hexdigest(),
        "trailers": trailers_seen, "baseline_kib": before, "growth_kib": after - before,
        "control_64mib_growth_kib": control,
    }), flush=True)
    os._exit(0)
"""


def test_300_mib_signed_stream_with_flat_memory() -> None:
    """300 MiB, signed chunks and a signed CRC32 trailer, fed in reads of up to 1 MiB: decoded
    and verified with the peak RSS growing by a few MiB (the reads in hand), not 300."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(STREAM_300_MIB), str(HERE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print("\n300 MiB aws-chunked decode:", report)
    assert report["decoded"] == 300 << 20 and report["sha_ok"]
    assert list(report["trailers"]) == ["x-amz-checksum-crc32"]
    assert report["growth_kib"] < 32 * 1024, report
    assert report["control_64mib_growth_kib"] > 60 * 1024, report
