"""The content-addressed blob store (execrole.store.blobs).

What is pinned, and where the expectation comes from:

- Digests are hashlib's/zlib's over the whole content, whatever the chunking (hypothesis).
- S3's ETag of a single-part object is the hex md5 of its content; of a multipart upload, the
  md5 of the concatenated binary part md5s, "-", the part count
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, "ETag";
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html);
  checksums are base64 of the big-endian digest (x-amz-checksum-*). Expected values below are
  computed from those definitions, plus literal known answers.
- Atomicity and durability: nothing under objects/ before commit; a process killed mid-write or
  mid-commit (os._exit) leaves no visible blob, only a temp file that sweep_temp removes; a blob
  whose commit returned survives the process.
- Streaming: a 200 MiB write (and reading it back, and concat) grows a fresh process's peak RSS
  by far less than 50 MiB (resource.getrusage in a subprocess).
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execrole.store.blobs import (
    Blob,
    BlobNotFoundError,
    BlobStore,
    byte_span,
    etag_multipart,
)

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def visible(store: BlobStore) -> list[Path]:
    """Every file under objects/."""
    return sorted(p for p in store.objects.rglob("*") if p.is_file())


def temps(store: BlobStore) -> list[Path]:
    return sorted(store.tmp.iterdir())


def expected_blob(data: bytes) -> Blob:
    return Blob(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))


# ---------------------------------------------------------------------------------------------
# Round trips, digests, layout
# ---------------------------------------------------------------------------------------------


def test_round_trip_and_layout(store: BlobStore) -> None:
    data = b"hello, blob\n" * 1000
    with store.writer() as w:
        w.write(data[:5])
        w.write(memoryview(data)[5:7000])
        w.write(bytearray(data[7000:]))
        assert w.size == len(data)
        blob = w.commit()
    assert blob == expected_blob(data)
    path = store.objects / blob.sha256[:2] / blob.sha256[2:]
    assert visible(store) == [path] and store.path(blob.sha256) == path
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o444  # immutable once committed
    assert temps(store) == []
    assert store.exists(blob.sha256) and store.size(blob.sha256) == len(data)
    assert b"".join(store.iter_range(blob.sha256)) == data
    with store.open(blob.sha256) as f:
        assert f.read() == data
    assert list(store) == [blob.sha256]


def test_known_answers(store: BlobStore) -> None:
    """Literal digests of "hello world" (sha256/md5/sha1/crc32 known values) and the empty body."""
    blob = store.put(b"hello world", crc32=True, sha1=True)
    assert blob.sha256 == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    assert blob.md5 == blob.etag == "5eb63bbbe01eeed093cb22bb8f5acdc3"
    assert blob.content_md5 == "XrY7u+Ae7tCTyyK7j1rNww=="
    assert blob.checksum_sha256 == "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
    assert blob.checksum_sha1 == "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
    assert blob.checksum_crc32 == "DUoRhQ=="  # 0x0d4a1185
    empty = store.put(b"")
    assert empty.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert empty.etag == "d41d8cd98f00b204e9800998ecf8427e" and empty.size == 0
    assert store.open(empty.sha256).read() == b"" and list(store.iter_range(empty.sha256)) == []
    # Checksums not asked for are not computed.
    assert empty.checksum_crc32 is None and empty.checksum_sha1 is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
)
def test_any_chunking_gives_the_same_blob(
    store: BlobStore, pieces: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(pieces)
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    with store.writer(crc32=True, sha1=True) as w:
        for a, b in itertools.pairwise(bounds):
            w.write(data[a:b])
        blob = w.commit()
    assert (blob.sha256, blob.md5, blob.size) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        len(data),
    )
    assert blob.checksum_sha1 == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert blob.checksum_crc32 == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert store.open(blob.sha256).read() == data
    assert temps(store) == []


def test_dedup(store: BlobStore) -> None:
    data = os.urandom(10_000)
    first = store.put(data)
    path = store.path(first.sha256)
    inode = path.stat().st_ino
    os.utime(path, (1, 1))
    with store.writer() as w:
        for i in range(0, len(data), 777):
            w.write(data[i : i + 777])
        second = w.commit()
    assert second == first
    assert visible(store) == [path] and temps(store) == []
    assert path.stat().st_ino == inode  # the stored file was kept, not rewritten
    assert path.stat().st_mtime > 1  # and marked as freshly used (gc's grace clock)
    other = store.put(data + b"!")
    assert other.sha256 != first.sha256 and len(visible(store)) == 2


def test_truncated_blob_is_repaired_by_a_commit_of_the_content(store: BlobStore) -> None:
    """A blob file whose size disagrees with its address (damaged outside the store) is
    replaced rather than trusted when the content is committed again."""
    data = b"x" * 5000
    blob = store.put(data)
    path = store.path(blob.sha256)
    path.chmod(0o644)
    path.write_bytes(data[:10])
    assert store.put(data) == blob
    assert path.read_bytes() == data


# ---------------------------------------------------------------------------------------------
# Range reads
# ---------------------------------------------------------------------------------------------

RANGE_DATA = bytes(range(256)) * 40 + b"tail"  # 10244 bytes


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, 0),
        (0, 1),
        (10243, None),  # the last byte
        (10243, 10244),
        (10244, None),  # just past the end: empty
        (10244, 20000),
        (50000, None),
        (5, 3),  # end before start: empty
        (0, 10**12),  # clipped to the content
        (-4, None),  # suffix, as Range: bytes=-4
        (-20000, 3),
        (100, -100),
        (4095, 4097),  # across a 4 KiB page boundary
    ],
)
def test_range_edges(store: BlobStore, start: int, end: int | None) -> None:
    blob = store.put(RANGE_DATA)
    expected = RANGE_DATA[start:end]
    with store.open(blob.sha256, start, end) as f:
        assert f.read() == expected
    assert b"".join(store.iter_range(blob.sha256, start, end, chunk_size=1000)) == expected
    first, stop = byte_span(len(RANGE_DATA), start, end)
    assert RANGE_DATA[first:stop] == expected


@pytest.fixture(scope="module")
def range_store(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    store = BlobStore(tmp_path_factory.mktemp("ranges"))
    store.put(RANGE_DATA)
    return store


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(min_value=-10300, max_value=10300),
    end=st.none() | st.integers(min_value=-10300, max_value=10300),
    chunk=st.integers(min_value=1, max_value=5000),
)
def test_ranges_are_slices(range_store: BlobStore, start: int, end: int | None, chunk: int) -> None:
    sha = hashlib.sha256(RANGE_DATA).hexdigest()
    pieces = list(range_store.iter_range(sha, start, end, chunk_size=chunk))
    assert b"".join(pieces) == RANGE_DATA[start:end]
    assert all(0 < len(p) <= chunk for p in pieces)
    with range_store.open(sha, start, end) as f:
        assert f.read() == RANGE_DATA[start:end]


def test_range_stream_is_seekable_and_bounded(store: BlobStore) -> None:
    blob = store.put(RANGE_DATA)
    f = store.open(blob.sha256, 100, 200)
    assert isinstance(f, io.BufferedReader)  # a BinaryIO with readinto, peek, ...
    assert f.seekable() and f.readable() and not f.writable()
    assert f.read(10) == RANGE_DATA[100:110] and f.tell() == 10
    f.seek(-5, io.SEEK_END)
    assert f.read() == RANGE_DATA[195:200] and f.read() == b""
    f.seek(0)
    buf = bytearray(150)
    assert f.readinto(buf) == 100 and bytes(buf[:100]) == RANGE_DATA[100:200]
    f.seek(1000)  # past the range: reads nothing, never bytes outside it
    assert f.read() == b""
    with pytest.raises(ValueError):
        f.seek(-1)
    f.close()
    assert f.closed


def test_open_stream_outlives_delete(store: BlobStore) -> None:
    blob = store.put(RANGE_DATA)
    f = store.open(blob.sha256)
    chunks = store.iter_range(blob.sha256, chunk_size=4096)
    assert store.delete(blob.sha256)
    assert f.read() == RANGE_DATA and b"".join(chunks) == RANGE_DATA
    f.close()


def test_missing_and_malformed_addresses(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(missing)
    for call in (
        lambda: store.open(missing),
        lambda: store.iter_range(missing),
        lambda: store.size(missing),
        lambda: store.concat([missing]),
    ):
        with pytest.raises(BlobNotFoundError) as info:
            call()
        assert info.value.sha256 == missing
        assert isinstance(info.value, FileNotFoundError)
    for bad in ("", "../" * 10 + "etc/passwd", missing.upper(), missing[:-1], missing + "0"):
        with pytest.raises(ValueError):
            store.exists(bad)
        with pytest.raises(ValueError):
            store.open(bad)
    with pytest.raises(ValueError):
        store.iter_range(store.put(b"x").sha256, chunk_size=0)


# ---------------------------------------------------------------------------------------------
# Abort, delete, gc, sweep
# ---------------------------------------------------------------------------------------------


def test_nothing_visible_before_commit(store: BlobStore) -> None:
    with store.writer() as w:
        w.write(b"a" * 100_000)
        assert visible(store) == []
        assert temps(store) == [w.temp_path]
        assert w.temp_path.parent == store.tmp
        blob = w.commit()
        assert visible(store) == [store.path(blob.sha256)]
    assert temps(store) == []


def test_abort_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(RuntimeError, match="client went away"), store.writer() as w:
        w.write(b"partial" * 1000)
        raise RuntimeError("client went away")
    assert visible(store) == [] and temps(store) == []

    with store.writer() as w:
        w.write(b"abc")
    # left without commit: discarded
    assert visible(store) == [] and temps(store) == []
    with pytest.raises(ValueError, match="aborted"):
        w.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        w.commit()

    w2 = store.writer()
    w2.write(b"xyz")
    w2.abort()
    w2.abort()  # idempotent
    assert visible(store) == [] and temps(store) == []

    with store.writer() as w3:
        w3.write(b"done")
        blob = w3.commit()
        w3.abort()  # after commit: nothing to undo
    assert store.exists(blob.sha256)
    with pytest.raises(ValueError, match="committed"):
        w3.write(b"x")


def test_failed_commit_leaves_nothing(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"), store.writer() as w:
        w.write(b"data")
        w.commit()
    monkeypatch.undo()
    assert visible(store) == [] and temps(store) == []


def test_delete_is_idempotent(store: BlobStore) -> None:
    blob = store.put(b"bye")
    assert store.delete(blob.sha256) is True
    assert store.delete(blob.sha256) is False
    assert not store.exists(blob.sha256) and visible(store) == []
    assert store.put(b"bye") == blob  # can be stored again


def test_gc(store: BlobStore) -> None:
    kept = store.put(b"kept")
    dropped = [store.put(b"drop-%d" % i) for i in range(5)]
    (store.objects / "zz").mkdir()
    (store.objects / "zz" / "not-a-blob").write_bytes(b"")
    (store.objects / kept.sha256[:2] / "junk").write_bytes(b"")
    removed = store.gc({kept.sha256})
    assert removed == sorted(b.sha256 for b in dropped)
    assert list(store) == [kept.sha256]
    assert (store.objects / "zz" / "not-a-blob").exists()  # foreign files are not touched
    assert store.gc({kept.sha256}) == []


def test_gc_grace_spares_fresh_blobs(store: BlobStore) -> None:
    old = store.put(b"old")
    fresh = store.put(b"fresh")
    past = time.time() - 3600
    os.utime(store.path(old.sha256), (past, past))
    assert store.gc(set(), min_age_s=600) == [old.sha256]
    assert list(store) == [fresh.sha256]
    # Committing existing content again refreshes it: a deduplicated commit is never collected
    # by a gc working from a snapshot taken before the commit.
    os.utime(store.path(fresh.sha256), (past, past))
    store.put(b"fresh")
    assert store.gc(set(), min_age_s=600) == []


def test_sweep_temp_spares_live_writers(store: BlobStore) -> None:
    stale = store.tmp / "12345-stale.part"
    stale.write_bytes(b"left by a crash")
    past = time.time() - 7200
    os.utime(stale, (past, past))
    recent = store.tmp / "12345-recent.part"
    recent.write_bytes(b"another process, still writing")
    with store.writer() as live:
        live.write(b"in progress")
        os.utime(live.temp_path, (past, past))
        assert store.sweep_temp(3600) == 1
        assert sorted(temps(store)) == sorted([recent, live.temp_path])
        assert store.sweep_temp(0) == 1  # recent goes; this process's open writer stays
        assert temps(store) == [live.temp_path]
        blob = live.commit()
    assert store.open(blob.sha256).read() == b"in progress"
    assert store.sweep_temp(0) == 0


# ---------------------------------------------------------------------------------------------
# Multipart
# ---------------------------------------------------------------------------------------------


def test_etag_multipart_definition() -> None:
    parts = [b"a" * (5 << 20), b"b" * (5 << 20), b"tail"]
    digests = [hashlib.md5(p).digest() for p in parts]
    expected = hashlib.md5(b"".join(digests)).hexdigest() + "-3"
    assert etag_multipart(digests) == expected
    # Literal known answers (md5 of the concatenated binary md5s of the parts, "-N").
    assert etag_multipart([hashlib.md5(b"").digest()]) == "59adb24ef3cdbe0297f05b395827453f-1"
    assert etag_multipart([hashlib.md5(b"hello").digest(), hashlib.md5(b"world").digest()]) == (
        hashlib.md5(
            bytes.fromhex("5d41402abc4b2a76b9719d911017c592")
            + bytes.fromhex("7d793037a0760186574b0282f2f435e7")
        ).hexdigest()
        + "-2"
    )
    # Not the md5 of the whole object.
    assert etag_multipart(digests).split("-")[0] != hashlib.md5(b"".join(parts)).hexdigest()
    with pytest.raises(ValueError):
        etag_multipart([])
    with pytest.raises(ValueError):
        etag_multipart([b"short"])


def test_etag_multipart_matches_moto() -> None:
    """moto's S3 emulator (FakeMultipart.complete) gives the same multipart ETag."""
    moto_models = pytest.importorskip("moto.s3.models")
    from requests.structures import CaseInsensitiveDict

    parts = [b"a" * (5 << 20), b"b" * (5 << 20), b"tail"]
    upload = moto_models.FakeMultipart("key", CaseInsensitiveDict(), "123456789012", "us-east-1")
    try:
        etags = [upload.set_part(n, part).etag for n, part in enumerate(parts, 1)]
        _, moto_etag, _ = upload.complete(list(enumerate(etags, 1)))
    finally:
        upload.dispose()
    assert etag_multipart([hashlib.md5(p).digest() for p in parts]) == moto_etag
    assert moto_etag == "1af560d38fa58b7629ca9d6c912c720b-3"


def test_concat(store: BlobStore) -> None:
    parts = [os.urandom(3000), b"", os.urandom(10), os.urandom(70_000)]
    blobs = [store.put(p) for p in parts]
    whole = store.concat([b.sha256 for b in blobs], crc32=True, chunk_size=4096)
    data = b"".join(parts)
    assert (whole.sha256, whole.md5, whole.size) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        len(data),
    )
    assert whole.checksum_crc32 == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert store.open(whole.sha256).read() == data
    assert etag_multipart([b.md5_digest for b in blobs]) == (
        hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-4"
    )
    # The same part twice, and a concat of one part (deduplicated with the part itself).
    twice = store.concat([blobs[0].sha256, blobs[0].sha256])
    assert store.open(twice.sha256).read() == parts[0] * 2
    assert store.concat([blobs[3].sha256]) == blobs[3]
    assert temps(store) == []


# ---------------------------------------------------------------------------------------------
# Crashes and memory, in real subprocesses
# ---------------------------------------------------------------------------------------------


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


CRASH_MID_WRITE = """
    import os, sys
    from execrole.store.blobs import BlobStore
    store = BlobStore(sys.argv[1])
    w = store.writer()
    for i in range(8):
        w.write(bytes([i]) * (1 << 20))
    sys.stdout.write(str(w.temp_path)); sys.stdout.flush()
    os._exit(9)  # killed mid-upload: no cleanup, no commit
"""

CRASH_IN_COMMIT = """
    import os, sys
    from execrole.store.blobs import BlobStore
    store = BlobStore(sys.argv[1])
    def die(*args, **kwargs):
        os._exit(9)  # the process dies after the fsync, just before the rename
    os.replace = die
    with store.writer() as w:
        w.write(b"z" * 100_000)
        w.commit()
"""

COMMIT_THEN_CRASH = """
    import os, sys
    from execrole.store.blobs import BlobStore
    store = BlobStore(sys.argv[1])
    blob = store.put(b"acknowledged" * 1000)
    sys.stdout.write(blob.sha256); sys.stdout.flush()
    w = store.writer(); w.write(b"never acknowledged")
    os._exit(9)
"""


def test_crash_mid_write_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    result = run_child(CRASH_MID_WRITE, str(root))
    assert result.returncode == 9, result.stderr
    store = BlobStore(root)
    assert visible(store) == []
    leftover = temps(store)
    assert [str(p) for p in leftover] == [result.stdout]
    assert leftover[0].stat().st_size == 8 << 20
    assert store.sweep_temp(3600) == 0  # too recent for a one-hour threshold
    assert store.sweep_temp(0) == 1
    assert temps(store) == [] and visible(store) == []


def test_crash_inside_commit_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    result = run_child(CRASH_IN_COMMIT, str(root))
    assert result.returncode == 9, result.stderr
    store = BlobStore(root)
    assert visible(store) == []
    assert len(temps(store)) == 1
    assert store.sweep_temp(0) == 1 and temps(store) == []


def test_acknowledged_blob_survives_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    result = run_child(COMMIT_THEN_CRASH, str(root))
    assert result.returncode == 9, result.stderr
    store = BlobStore(root)
    assert list(store) == [result.stdout]
    assert store.open(result.stdout).read() == b"acknowledged" * 1000
    assert store.sweep_temp(0) == 1 and list(store) == [result.stdout]


# An exec'd process inherits its parent's peak RSS as the floor of ru_maxrss (Linux records the
# old address space's high-water mark at exec, and a vfork'd child's old address space is
# pytest's), which would hide growth below pytest's own size. A forked process starts afresh:
# the measuring child forks and measures in the grandchild.
OWN_RUSAGE = """
    import os
    _pid = os.fork()
    if _pid:
        os._exit(os.waitstatus_to_exitcode(os.waitpid(_pid, 0)[1]))
"""

STREAM_200_MIB = """
    import hashlib, json, os, resource, sys
    from execrole.store.blobs import BlobStore

    def peak_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    def reset_peak():
        # Linux: "5" resets the peak RSS to the current RSS, so what start-up touched and freed
        # cannot hide growth (man 5 proc, /proc/pid/clear_refs). Elsewhere the peak stays.
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    MIB = 1 << 20
    store = BlobStore(sys.argv[1])
    block = os.urandom(MIB)
    expect = hashlib.sha256()
    reset_peak()
    before = peak_kib()
    with store.writer(crc32=True, sha1=True) as w:
        for i in range(200):
            chunk = i.to_bytes(8, "big") + block[8:]
            expect.update(chunk)
            w.write(chunk)
        blob = w.commit()
    after_write = peak_kib()
    back = hashlib.sha256()
    for chunk in store.iter_range(blob.sha256):
        back.update(chunk)
    with store.open(blob.sha256, 5 * MIB, 150 * MIB) as f:
        while f.read(MIB):
            pass
    whole = store.concat([blob.sha256, store.put(b"tail").sha256])
    after = peak_kib()
    # Positive control: holding 64 MiB does show up in the same measurement.
    held = bytearray(64 * MIB)
    for i in range(0, len(held), 4096):
        held[i] = 1
    control = peak_kib() - after
    print(json.dumps({
        "size": blob.size, "sha_ok": blob.sha256 == expect.hexdigest() == back.hexdigest(),
        "concat_size": whole.size, "baseline_kib": before,
        "write_growth_kib": after_write - before, "growth_kib": after - before,
        "control_64mib_growth_kib": control,
    }), flush=True)
    os._exit(0)
"""


def test_streaming_200_mib_keeps_memory_flat(tmp_path: Path) -> None:
    """Write 200 MiB in 1 MiB chunks, read it back whole and by range, concat it: the peak RSS
    of a fresh process grows by < 50 MiB (measured: about 3 MiB, the chunks in hand)."""
    result = run_child(OWN_RUSAGE + STREAM_200_MIB, str(tmp_path / "blobs"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print("\n200 MiB blob write:", report)
    assert report["size"] == 200 << 20 and report["sha_ok"]
    assert report["concat_size"] == (200 << 20) + 4
    assert report["growth_kib"] < 50 * 1024, report
    assert report["control_64mib_growth_kib"] > 60 * 1024, report  # the probe sees growth
