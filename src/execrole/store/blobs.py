"""Content-addressed blob storage for object bodies: streamed in, atomic, deduplicated.

Layout under ``root``::

    tmp/                         bodies being written (one temp file per BlobWriter)
    objects/ab/cdef...           committed blobs, named by the sha256 of their content
                                 (first two hex digits as a fan-out directory, the other 62 as
                                 the file name)

A body is written to a temp file in ``tmp/`` (same filesystem as ``objects/``) while sha256,
md5 and any requested checksums are computed incrementally; nothing is held in memory but the
chunk in hand. :meth:`BlobWriter.commit` fsyncs the file, renames it into ``objects/`` (an
atomic step) and fsyncs the directory, so a blob is either absent or complete and durable.
Nothing appears under ``objects/`` before ``commit`` is called, and once ``commit`` returns the
blob survives a crash. A writer left without ``commit`` (an exception, :meth:`BlobWriter.abort`)
removes its temp file; a crash leaves the temp file behind for :meth:`BlobStore.sweep_temp`.

Committed blobs are immutable (mode 0444). Writing content that is already stored keeps the one
file (deduplication) and refreshes its mtime, which :meth:`BlobStore.gc` uses as its grace clock.

Checksums are computed the way S3 reports them
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html): the
ETag of a single-part object is the hex md5 of its content; ``x-amz-checksum-*`` values are the
base64 of the big-endian digest. :func:`etag_multipart` gives the ETag of a multipart upload:
the md5 of the concatenated binary part md5s, ``-`` and the number of parts.

CRC32C is deliberately not offered: Python's standard library has no CRC32C, and a table-driven
pure-Python CRC32C runs at roughly 10-16 MiB/s on this machine (md5 ~700 MiB/s, sha256 ~1.6
GiB/s), which would make a 5 GiB upload take over five minutes. A caller that needs CRC32C must
bring a native implementation.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import re
import tempfile
import threading
import time
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = [
    "DEFAULT_CHUNK",
    "Blob",
    "BlobNotFoundError",
    "BlobStore",
    "BlobWriter",
    "byte_span",
    "etag_multipart",
]

DEFAULT_CHUNK = 1 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FANOUT = re.compile(r"[0-9a-f]{2}")
_TEMP_SUFFIX = ".part"
_READ_ONLY = 0o444
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class BlobNotFoundError(FileNotFoundError):
    """No blob with this sha256 is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256}")
        self.sha256 = sha256


@dataclass(frozen=True)
class Blob:
    """A committed blob: its content address, md5 and size, and the optional checksums that
    were asked for (base64 of the big-endian digest, as S3's ``ChecksumCRC32``/``ChecksumSHA1``
    members and ``x-amz-checksum-*`` headers carry them)."""

    sha256: str  # hex, the content address
    md5: str  # hex
    size: int
    checksum_crc32: str | None = None
    checksum_sha1: str | None = None

    @property
    def etag(self) -> str:
        """S3's ETag of a single-part upload of this content (unquoted hex md5)."""
        return self.md5

    @property
    def md5_digest(self) -> bytes:
        """The binary md5, what :func:`etag_multipart` takes for each part."""
        return bytes.fromhex(self.md5)

    @property
    def content_md5(self) -> str:
        """The md5 as the ``Content-MD5`` header carries it (base64)."""
        return base64.b64encode(self.md5_digest).decode("ascii")

    @property
    def checksum_sha256(self) -> str:
        """The sha256 as ``x-amz-checksum-sha256`` carries it (base64)."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")


def etag_multipart(part_md5s: Sequence[bytes]) -> str:
    """The ETag S3 gives an object completed from parts: hex(md5(md5(part1) + ... + md5(partN)))
    followed by ``-N``, where each md5 is the binary (16-byte) digest of one part's content."""
    if not part_md5s:
        raise ValueError("a multipart upload has at least one part")
    combined = hashlib.md5(usedforsecurity=False)
    for digest in part_md5s:
        if len(digest) != 16:
            raise ValueError(f"a part md5 is 16 bytes, not {len(digest)}")
        combined.update(digest)
    return f"{combined.hexdigest()}-{len(part_md5s)}"


def byte_span(size: int, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """The ``[first, stop)`` offsets that ``content[start:end]`` selects in a blob of ``size``
    bytes: Python slice semantics, so negative values count from the end, bounds are clipped to
    the content and an empty selection has ``first == stop``."""
    first, stop, _ = slice(start, end).indices(size)
    return first, max(first, stop)


def _check_address(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a sha256 content address: {sha256!r}")
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _RangeReader(io.RawIOBase):
    """The bytes ``[start, end)`` of an open file, as a seekable raw stream whose offsets are
    relative to ``start``."""

    def __init__(self, raw: io.FileIO, start: int, end: int) -> None:
        super().__init__()
        self._raw = raw
        self._start = start
        self._end = end
        self._pos = start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._end - self._pos)
        if want <= 0:
            return 0
        self._raw.seek(self._pos)
        got = self._raw.readinto(view[:want]) or 0
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        if whence == io.SEEK_SET:
            target = self._start + offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._end + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if target < self._start:
            raise ValueError("negative seek position")
        self._pos = target
        return target - self._start

    def tell(self) -> int:
        return self._pos - self._start

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class BlobWriter:
    """Streams one body into a temp file of its :class:`BlobStore`; see :meth:`commit`.

    Use it as a context manager: leaving the block without a successful ``commit`` removes the
    temp file."""

    def __init__(self, store: BlobStore, *, crc32: bool = False, sha1: bool = False) -> None:
        self._store = store
        fd, self._path = store._new_temp()
        self._file: io.BufferedWriter | None = open(fd, "wb")  # noqa: SIM115 - commit/abort close it
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False) if sha1 else None
        self._crc32: int | None = 0 if crc32 else None
        self._size = 0
        self._blob: Blob | None = None

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    @property
    def temp_path(self) -> Path:
        """Where the body is being written (inside the store's ``tmp/``)."""
        return self._path

    def _open_file(self) -> io.BufferedWriter:
        if self._file is None:
            state = "committed" if self._blob is not None else "aborted"
            raise ValueError(f"blob writer already {state}")
        return self._file

    def write(self, chunk: ReadableBuffer) -> None:
        """Append ``chunk`` to the body."""
        f = self._open_file()
        view = memoryview(chunk).cast("B")
        f.write(view)
        self._sha256.update(view)
        self._md5.update(view)
        if self._sha1 is not None:
            self._sha1.update(view)
        if self._crc32 is not None:
            self._crc32 = zlib.crc32(view, self._crc32)
        self._size += len(view)

    def commit(self) -> Blob:
        """Make the body a durable, visible blob and return it.

        The temp file is flushed and fsynced, renamed to ``objects/<sha[:2]>/<sha[2:]>`` and the
        directory fsynced. If the same content is already stored, the temp file is dropped and
        the existing blob kept. On any failure the temp file is removed and the error raised."""
        f = self._open_file()
        try:
            f.flush()
            os.fsync(f.fileno())
            f.close()
            self._file = None
            blob = Blob(
                sha256=self._sha256.hexdigest(),
                md5=self._md5.hexdigest(),
                size=self._size,
                checksum_crc32=(
                    None
                    if self._crc32 is None
                    else base64.b64encode(self._crc32.to_bytes(4, "big")).decode("ascii")
                ),
                checksum_sha1=(
                    None
                    if self._sha1 is None
                    else base64.b64encode(self._sha1.digest()).decode("ascii")
                ),
            )
            os.chmod(self._path, _READ_ONLY)
            self._store._install(self._path, blob)
        except BaseException:
            self._discard()
            raise
        self._blob = blob
        self._store._forget_temp(self._path)
        return blob

    def abort(self) -> None:
        """Throw the body away (idempotent; does nothing after a successful commit)."""
        if self._blob is None:
            self._discard()

    def _discard(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        self._store._forget_temp(self._path)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class BlobStore:
    """Blobs under ``root``, addressed by the sha256 of their content (see the module doc)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        for directory in (self.root, self.objects, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.root)
        # Serialises what changes objects/ within this process (install, delete, gc), so a
        # deduplicating commit and a gc of the same blob cannot interleave.
        self._lock = threading.Lock()
        self._live: set[Path] = set()  # temp files of this store's open writers

    # -- writing ------------------------------------------------------------------------------

    def writer(self, *, crc32: bool = False, sha1: bool = False) -> BlobWriter:
        """A new :class:`BlobWriter`; ``crc32``/``sha1`` also compute those checksums."""
        return BlobWriter(self, crc32=crc32, sha1=sha1)

    def put(self, data: ReadableBuffer, *, crc32: bool = False, sha1: bool = False) -> Blob:
        """Store a body held in memory (small bodies; stream big ones through :meth:`writer`)."""
        with self.writer(crc32=crc32, sha1=sha1) as w:
            w.write(data)
            return w.commit()

    def concat(
        self,
        blobs: Sequence[str],
        *,
        crc32: bool = False,
        sha1: bool = False,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> Blob:
        """A new blob holding the given blobs' contents one after another, streamed chunk by
        chunk (how a multipart upload's parts become the object). Its md5 is the whole content's;
        the multipart ETag is :func:`etag_multipart` of the parts' md5s."""
        for sha in blobs:
            if not self.exists(sha):
                raise BlobNotFoundError(sha)
        with self.writer(crc32=crc32, sha1=sha1) as w:
            for sha in blobs:
                for chunk in self.iter_range(sha, chunk_size=chunk_size):
                    w.write(chunk)
            return w.commit()

    def _new_temp(self) -> tuple[int, Path]:
        with self._lock:
            fd, name = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=_TEMP_SUFFIX, dir=self.tmp)
            path = Path(name)
            self._live.add(path)
        return fd, path

    def _forget_temp(self, path: Path) -> None:
        with self._lock:
            self._live.discard(path)

    def _install(self, temp: Path, blob: Blob) -> None:
        target = self.path(blob.sha256)
        shard = target.parent
        with self._lock:
            try:
                shard.mkdir()
            except FileExistsError:
                pass
            else:
                _fsync_dir(self.objects)
            try:
                existing = os.stat(target)
            except FileNotFoundError:
                existing = None
            if existing is not None and existing.st_size == blob.size:
                # Same content already durable: keep it, mark it as freshly used for gc.
                os.utime(target)
                temp.unlink()
                return
            os.replace(temp, target)
            _fsync_dir(shard)

    # -- reading ------------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives (whether or not it exists)."""
        _check_address(sha256)
        return self.objects / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return os.stat(self.path(sha256)).st_size
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None

    def _open_raw(self, sha256: str) -> io.FileIO:
        try:
            return io.FileIO(self.path(sha256), "r")
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> BinaryIO:
        """A seekable binary stream of ``content[start:end]`` (slice semantics: ``end`` is
        exclusive, negative values count from the end, bounds are clipped; see
        :func:`byte_span`). An HTTP ``Range: bytes=a-b`` is ``open(sha, a, b + 1)`` and
        ``bytes=-n`` is ``open(sha, -n)``. The stream keeps reading the content even if the
        blob is deleted meanwhile."""
        raw = self._open_raw(sha256)
        try:
            first, stop = byte_span(os.fstat(raw.fileno()).st_size, start, end)
            return io.BufferedReader(_RangeReader(raw, first, stop))
        except BaseException:
            raw.close()
            raise

    def iter_range(
        self,
        sha256: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> Iterator[bytes]:
        """``content[start:end]`` (as :meth:`open`) in pieces of at most ``chunk_size`` bytes.
        The blob is opened now, so a missing blob raises here rather than on first use."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        raw = self._open_raw(sha256)
        try:
            first, stop = byte_span(os.fstat(raw.fileno()).st_size, start, end)
        except BaseException:
            raw.close()
            raise
        return self._chunks(raw, first, stop, chunk_size)

    @staticmethod
    def _chunks(raw: io.FileIO, first: int, stop: int, chunk_size: int) -> Iterator[bytes]:
        with raw:
            pos = first
            fd = raw.fileno()
            while pos < stop:
                data = os.pread(fd, min(chunk_size, stop - pos), pos)
                if not data:  # the file shrank: impossible for an immutable blob
                    raise OSError(f"blob ended at {pos}, expected {stop} bytes")
                pos += len(data)
                yield data

    # -- removing -----------------------------------------------------------------------------

    def delete(self, sha256: str) -> bool:
        """Remove a blob; True if it existed. Deleting a missing blob is not an error."""
        target = self.path(sha256)
        with self._lock:
            try:
                target.unlink()
            except FileNotFoundError:
                return False
            _fsync_dir(target.parent)
        return True

    def sweep_temp(self, older_than_s: float) -> int:
        """Remove temp files not modified for ``older_than_s`` seconds (left behind by a crash or
        a killed process); return how many. Temp files of this store's own open writers are
        never removed; other processes' are, so choose an age longer than any upload may stall
        (or sweep before the server starts accepting uploads)."""
        now = time.time()
        removed = 0
        with self._lock, os.scandir(self.tmp) as entries:
            for entry in entries:
                path = Path(entry.path)
                if path in self._live or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    age = now - entry.stat(follow_symlinks=False).st_mtime
                    if age >= older_than_s:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            _fsync_dir(self.tmp)
        return removed

    def gc(self, referenced: Collection[str], *, min_age_s: float = 0.0) -> list[str]:
        """Remove every blob not in ``referenced`` whose mtime is at least ``min_age_s`` seconds
        old; return the removed addresses, sorted.

        ``referenced`` is a snapshot taken by the caller (the metadata's live addresses). A blob
        committed after that snapshot but not yet recorded would look unreferenced: when uploads
        can run during gc, pass a ``min_age_s`` longer than the gap between a commit and the
        metadata write that records it (deduplicated commits refresh the mtime too)."""
        keep = set(referenced)
        now = time.time()
        removed: list[str] = []
        for shard in sorted(self.objects.iterdir()):
            if not shard.is_dir() or not _FANOUT.fullmatch(shard.name):
                continue
            dropped = False
            for entry in sorted(shard.iterdir()):
                sha = shard.name + entry.name
                if not _SHA256_HEX.fullmatch(sha) or sha in keep:
                    continue
                with self._lock:
                    try:
                        if now - entry.stat().st_mtime < min_age_s:
                            continue
                        entry.unlink()
                    except FileNotFoundError:
                        continue
                removed.append(sha)
                dropped = True
            if dropped:
                _fsync_dir(shard)
        return removed

    def __iter__(self) -> Iterator[str]:
        """The addresses of all stored blobs."""
        for shard in sorted(self.objects.iterdir()):
            if shard.is_dir() and _FANOUT.fullmatch(shard.name):
                for entry in sorted(shard.iterdir()):
                    sha = shard.name + entry.name
                    if _SHA256_HEX.fullmatch(sha):
                        yield sha


def release_unreferenced(blobs: BlobStore, db: Any, dropped: Iterable[tuple[str, float]],
                         referenced_sql: str) -> None:
    """Delete blobs that lost their last reference. `dropped` pairs a blob with when its
    reference was dropped; a blob whose mtime is newer was stored again since (the store
    refreshes the mtime of deduplicated content), so a writer may be about to record it: it
    stays for a later garbage collection. `referenced_sql` selects a row while any table
    still refers to the blob (it takes the sha256 for each "?" it has)."""
    latest: dict[str, float] = {}
    for sha, since in dropped:
        latest[sha] = max(since, latest.get(sha, since))
    placeholders = referenced_sql.count("?")
    for sha, since in latest.items():
        with db.transaction() as conn:
            if conn.execute(referenced_sql, (sha,) * placeholders).fetchone():
                continue
            try:
                mtime = blobs.path(sha).stat().st_mtime
            except FileNotFoundError:
                continue
            if mtime < since:
                blobs.delete(sha)
