#!/usr/bin/env python3
"""S3 through boto3: execrole serve vs moto_server, same run (issue 5).

Both servers run on loopback ports of this machine. execrole verifies SigV4 and authorizes
every S3 call with the engine; moto_server checks neither and keeps objects in memory.

- PutObject / GetObject of 4 KiB objects: several client processes, each driving a boto3
  client in a loop for a fixed time (objects/s).
- PutObject / GetObject of a 64 MiB object: one client, a few times (MiB/s).
- A large upload (1 GiB by default) of a random file, once with boto3's managed multipart
  transfer (upload_file) and once as a single PutObject, then one streamed GetObject of it,
  while the server process's resident memory is sampled from /proc/<pid>/status every 50 ms
  (peak and baseline, MiB).

    python bench/s3.py [--seconds S] [--clients N] [--big-mib M]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import configparser
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

KiB = 1024
MiB = 1024 * KiB
SMALL = 4 * KiB
MEDIUM = 64 * MiB
MEDIUM_REPEATS = 3
GET_KEYS = 64  # distinct 4 KiB objects the GET loop cycles through
from _common import free_port, wait  # noqa: E402

BUCKET = "bench-data"
SAMPLE_S = 0.05


def s3_client(url: str, key: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0},
                                      s3={"addressing_style": "path"}))


# --- client processes ------------------------------------------------------------------------

def warm(_: int) -> int:
    import boto3  # noqa: F401  (imported once per worker, before any timing)

    return os.getpid()


def small_loop(args: tuple[str, str, str, str, float, int]) -> int:
    url, key, secret, operation, seconds, worker = args
    client = s3_client(url, key, secret)
    body = os.urandom(SMALL)
    done = 0
    if operation == "PutObject":
        def call() -> None:
            client.put_object(Bucket=BUCKET, Key=f"put/{worker}/{done}", Body=body)
    else:
        def call() -> None:
            out = client.get_object(Bucket=BUCKET, Key=f"get/{(worker * 7 + done) % GET_KEYS}")
            if len(out["Body"].read()) != SMALL:
                raise RuntimeError("short read")
    call()  # warm up the connection and the server's caches
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        call()
        done += 1
    return done


def drive_small(pool: Any, url: str, key: str, secret: str, operation: str, clients: int,
                seconds: float) -> float:
    counts = pool.map(small_loop, [(url, key, secret, operation, seconds, worker)
                                   for worker in range(clients)])
    return float(sum(counts)) / seconds


# --- server memory ---------------------------------------------------------------------------

def status_mib(pid: int, field: str) -> float:
    """VmRSS / VmHWM of a process, MiB (the values are in kB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


class RssSampler:
    """Samples a process's VmRSS every 50 ms on a thread; `window()` returns the peak since
    the previous call."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = status_mib(self.pid, "VmRSS")
            except (OSError, RuntimeError):
                return  # the process is gone
            with self._lock:
                self.peak = max(self.peak, rss)
                self.samples += 1
            self._stop.wait(SAMPLE_S)

    def window(self) -> tuple[float, int]:
        with self._lock:
            peak, samples = self.peak, self.samples
            self.peak, self.samples = status_mib(self.pid, "VmRSS"), 0
        return peak, samples


def python_pid(proc: subprocess.Popen[bytes]) -> int:
    """The Popen's pid, checked to be the Python interpreter itself (no shell between)."""
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    exe = os.path.basename(os.readlink(f"/proc/{proc.pid}/exe"))
    if not exe.startswith("python"):
        raise RuntimeError(f"pid {proc.pid} runs {exe} ({cmdline!r}), not python")
    return proc.pid


# --- large objects ---------------------------------------------------------------------------

def medium(client: Any) -> dict[str, float]:
    data = os.urandom(MEDIUM)
    start = time.perf_counter()
    for i in range(MEDIUM_REPEATS):
        client.put_object(Bucket=BUCKET, Key=f"medium/{i}", Body=data)
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(MEDIUM_REPEATS):
        got = 0
        for chunk in client.get_object(Bucket=BUCKET, Key=f"medium/{i}")["Body"].iter_chunks(
                MiB):
            got += len(chunk)
        if got != MEDIUM:
            raise RuntimeError(f"GetObject returned {got} bytes, not {MEDIUM}")
    get_s = time.perf_counter() - start
    total = MEDIUM * MEDIUM_REPEATS / MiB
    return {"put_mib_per_s": total / put_s, "get_mib_per_s": total / get_s}


def big(client: Any, path: Path, sampler: RssSampler, pid: int) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig

    size = path.stat().st_size
    mib = size / MiB
    sampler.window()
    time.sleep(0.5)
    baseline, _ = sampler.window()
    out: dict[str, Any] = {"baseline_rss_mib": round(baseline, 1)}

    def measure(name: str, action: Any) -> None:
        sampler.window()
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
        peak, samples = sampler.window()
        out[name] = {"seconds": round(elapsed, 2), "mib_per_s": round(mib / elapsed, 1),
                     "peak_rss_mib": round(peak, 1),
                     "growth_over_baseline_mib": round(peak - baseline, 1),
                     "rss_samples": samples}

    config = TransferConfig(multipart_threshold=16 * MiB, multipart_chunksize=16 * MiB,
                            max_concurrency=4)
    measure("multipart_upload_file",
            lambda: client.upload_file(str(path), BUCKET, "big/multipart", Config=config))
    out["multipart_upload_file"]["parts"] = -(-size // (16 * MiB))

    def single() -> None:
        with open(path, "rb") as f:
            client.put_object(Bucket=BUCKET, Key="big/single", Body=f)

    measure("single_put_object", single)

    def download() -> None:
        got = 0
        for chunk in client.get_object(Bucket=BUCKET, Key="big/single")["Body"].iter_chunks(MiB):
            got += len(chunk)
        if got != size:
            raise RuntimeError(f"GetObject returned {got} bytes, not {size}")

    measure("get_object", download)
    for key in ("big/multipart", "big/single"):
        length = client.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        if length != size:
            raise RuntimeError(f"{key} is {length} bytes, not {size}")
    out["vm_hwm_mib"] = round(status_mib(pid, "VmHWM"), 1)
    for key in ("big/multipart", "big/single"):
        client.delete_object(Bucket=BUCKET, Key=key)
    return out


def random_file(path: Path, size: int) -> None:
    piece = 8 * MiB
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(os.urandom(min(piece, left)))
            left -= piece


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds per 4 KiB operation and server (default 10)")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=1024,
                        help="size of the large upload in MiB (default 1024)")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    results: dict[str, Any] = {"benchmark": "s3", "python": platform.python_version(),
                               "cpus": os.cpu_count(), "clients": args.clients,
                               "seconds": args.seconds, "big_mib": args.big_mib}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        data_dir = Path(work) / "data"
        big_file = Path(work) / "big.bin"
        random_file(big_file, args.big_mib * MiB)
        port = free_port()
        ours = subprocess.Popen([sys.executable, "-m", "execrole", "serve", "--data-dir",
                                 str(data_dir), "--port", str(port), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moto_port = free_port()
        moto_exe = shutil.which("moto_server", path=str(bin_dir)) or "moto_server"
        moto = subprocess.Popen([moto_exe, "-p", str(moto_port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        pool = mp.get_context("spawn").Pool(args.clients)
        try:
            url = f"http://127.0.0.1:{port}"
            wait(url + "/_execrole/health", ours)
            moto_url = f"http://127.0.0.1:{moto_port}"
            wait(moto_url + "/", moto)
            pool.map(warm, range(args.clients))
            creds = configparser.ConfigParser()
            creds.read(data_dir / "credentials")
            key = creds["execrole"]["aws_access_key_id"]
            secret = creds["execrole"]["aws_secret_access_key"]
            targets = {"execrole": (url, key, secret, ours),
                       "moto_server": (moto_url, "testing", "testing", moto)}
            clients = {}
            for name, (target, k, s, _) in targets.items():
                client = s3_client(target, k, s)
                client.create_bucket(Bucket=BUCKET)
                small = os.urandom(SMALL)
                for i in range(GET_KEYS):
                    client.put_object(Bucket=BUCKET, Key=f"get/{i}", Body=small)
                clients[name] = client

            # The large upload first, so that VmHWM covers it and little else.
            results["big_upload"] = {}
            for name, (_, _, _, proc) in targets.items():
                pid = python_pid(proc)
                with RssSampler(pid) as sampler:
                    results["big_upload"][name] = big(clients[name], big_file, sampler, pid)

            for operation in ("PutObject", "GetObject"):
                rates = {name: drive_small(pool, target, k, s, operation, args.clients,
                                           args.seconds)
                         for name, (target, k, s, _) in targets.items()}
                results[f"{operation}_4KiB"] = {
                    "execrole_objects_per_s": round(rates["execrole"], 1),
                    "moto_server_objects_per_s": round(rates["moto_server"], 1),
                    "ratio": round(rates["execrole"] / rates["moto_server"], 2)}

            speeds = {name: medium(clients[name]) for name in targets}
            for operation, field in (("PutObject", "put_mib_per_s"),
                                     ("GetObject", "get_mib_per_s")):
                ours_speed = speeds["execrole"][field]
                moto_speed = speeds["moto_server"][field]
                results[f"{operation}_64MiB"] = {
                    "execrole_mib_per_s": round(ours_speed, 1),
                    "moto_server_mib_per_s": round(moto_speed, 1),
                    "ratio": round(ours_speed / moto_speed, 2)}
        finally:
            pool.terminate()
            pool.join()
            for proc in (ours, moto):
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    upload = results["big_upload"]["execrole"]
    peak = max(upload[phase]["peak_rss_mib"]
               for phase in ("multipart_upload_file", "single_put_object"))
    results["targets"] = {
        "small_get_ratio_at_least_2": results["GetObject_4KiB"]["ratio"] >= 2,
        "big_upload_peak_rss_under_200_mib": peak < 200,
    }
    results["wall_seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
