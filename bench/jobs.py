#!/usr/bin/env python3
"""SageMaker training jobs on `execrole serve`: time to Completed, throughput, Describe latency.

`execrole serve` runs on a loopback port with a temporary data directory; a process image
whose entrypoint is a trivial script (prints one line, writes a 5-byte model) is pushed to its
ECR; the job's role trusts sagemaker.amazonaws.com and holds AmazonSageMakerFullAccess (the
output bucket's name contains "sagemaker"). Every job runs as a local process under a session
of that role: image pulled, log stream created, model.tar.gz uploaded, each call authorized.

1. `--runs` sequential jobs: wall time from CreateTrainingJob to the first
   DescribeTrainingJob that says Completed, polling every 20 ms (median, p90, min, max).
2. `--burst` jobs submitted at once (from as many threads): jobs completed per minute, with
   the server's --max-jobs (default: the CPU count).
3. During the burst, another thread calls DescribeTrainingJob in a loop: p50/p99/max, ms
   (client side, so boto3's signing and parsing are included; an idle baseline is given).
4. Peers: the SageMaker Python SDK's local mode (`instance_type='local'`, needs Docker) is
   asked to run the same job; what it says is reported, no figure is made up. moto_server's
   CreateTrainingJob -> Completed is timed for context: moto runs nothing and checks no role.

    python bench/jobs.py [--runs 10] [--burst 20] [--max-jobs N] [--json]
Progress goes to stderr; the results to stdout (a table, or one JSON object with --json).
"""

from __future__ import annotations

import argparse
import configparser
import importlib.metadata
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import free_port, wait

REGION = "us-east-1"
POLL_S = 0.02
MODELS = "sagemaker-bench-models"
ROLE_NAME = "BenchSageMakerRole"
FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
TRIVIAL = """import os
print("hello from the training job", flush=True)
with open(os.path.join(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"), "model.txt"), "w") as f:
    f.write("model")
"""
TERMINAL = ("Completed", "Failed", "Stopped")
SDK_DEFAULTS = """SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: a request for any other host fails
LOCAL_MODE = """
import json, sys, time
t0 = time.perf_counter()
try:
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession
    session = LocalSession()
    session.config = {"local": {"local_code": True}}
    estimator = Estimator(image_uri=sys.argv[1], role=sys.argv[2], instance_count=1,
                          instance_type="local", output_path="file://" + sys.argv[3],
                          sagemaker_session=session)
    estimator.fit(job_name="bench-local-mode", wait=True, logs=False)
    out = {"ok": True}
except BaseException as e:  # the SDK raises ImportError, RuntimeError, docker's errors...
    out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
out["seconds"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float], scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    return {"n": len(values),
            "median": round(statistics.median(values) * scale, digits),
            "p90": round(percentile(values, 90) * scale, digits),
            "p99": round(percentile(values, 99) * scale, digits),
            "min": round(min(values) * scale, digits),
            "max": round(max(values) * scale, digits)}


def client(service: str, url: str, key: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0},
                                      max_pool_connections=64))


def request(name: str, image: str, role_arn: str) -> dict[str, Any]:
    return {"TrainingJobName": name, "RoleArn": role_arn,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"s3://{MODELS}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120}}


def time_to_terminal(sm: Any, req: dict[str, Any], timeout: float = 120) -> tuple[float,
                                                                                    dict[str, Any]]:
    """Seconds from the CreateTrainingJob call to the first Describe in a terminal status."""
    start = time.perf_counter()
    sm.create_training_job(**req)
    deadline = start + timeout
    while True:
        job: dict[str, Any] = sm.describe_training_job(TrainingJobName=req["TrainingJobName"])
        if job["TrainingJobStatus"] in TERMINAL:
            return time.perf_counter() - start, job
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{req['TrainingJobName']} still {job['SecondaryStatus']}")
        time.sleep(POLL_S)


def phases(job: dict[str, Any]) -> dict[str, float]:
    """Seconds spent in each secondary status, from the job's own transitions."""
    out: dict[str, float] = {}
    for t in job.get("SecondaryStatusTransitions", []):
        if "EndTime" in t:
            out[t["Status"]] = (t["EndTime"] - t["StartTime"]).total_seconds()
    return out


# --- execrole ---------------------------------------------------------------------------------

def setup(url: str, key: str, secret: str, data_dir: Path, work: Path) -> tuple[str, str]:
    """Bucket, role and pushed image; returns (image URI, role ARN)."""
    account = client("sts", url, key, secret).get_caller_identity()["Account"]
    client("s3", url, key, secret).create_bucket(Bucket=MODELS)
    iam = client("iam", url, key, secret)
    role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=ROLE_NAME, PolicyArn=FULL_ACCESS)
    client("ecr", url, key, secret).create_repository(repositoryName="bench-trivial")
    image = f"{account}.dkr.ecr.{REGION}.amazonaws.com/bench-trivial:1"
    src = work / "image"
    src.mkdir()
    (src / "train.py").write_text(TRIVIAL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run([sys.executable, "-m", "execrole", "image", "push", image, "--dir", str(src),
                    "--entrypoint", "python train.py", "--endpoint", url,
                    "--data-dir", str(data_dir)], check=True, capture_output=True, env=env)
    return image, str(role_arn)


def sequential(sm: Any, image: str, role_arn: str, runs: int) -> dict[str, Any]:
    # One job first, not counted: the first run pays for imports and cold caches.
    time_to_terminal(sm, request("warmup", image, role_arn))
    walls: list[float] = []
    server_side: list[float] = []
    by_phase: dict[str, list[float]] = {}
    for i in range(runs):
        wall, job = time_to_terminal(sm, request(f"seq-{i}", image, role_arn))
        if job["TrainingJobStatus"] != "Completed":
            raise RuntimeError(f"seq-{i}: {job['TrainingJobStatus']}: {job.get('FailureReason')}")
        walls.append(wall)
        server_side.append((job["TrainingEndTime"] - job["CreationTime"]).total_seconds())
        for phase, seconds in phases(job).items():
            by_phase.setdefault(phase, []).append(seconds)
        log(f"  job {i + 1}/{runs}: {wall:.3f} s")
    return {"wall_s": summary(walls),
            "server_creation_to_end_s": summary(server_side),
            "median_phase_s": {k: round(statistics.median(v), 3) for k, v in by_phase.items()}}


def describe_latencies(sm: Any, names: list[str], stop: threading.Event,
                       out: list[float]) -> None:
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        sm.describe_training_job(TrainingJobName=names[i % len(names)])
        out.append(time.perf_counter() - t0)
        i += 1


def _probe_process(url: str, key: str, secret: str, names: list[str], stop: Any,
                   results: Any) -> None:
    """describe_latencies in a child process; the times go back through `results`."""
    out: list[float] = []
    describe_latencies(client("sagemaker", url, key, secret), names, stop, out)
    results.put(out)


def burst(url: str, key: str, secret: str, image: str, role_arn: str,
          count: int) -> dict[str, Any]:
    sm = client("sagemaker", url, key, secret)
    names = [f"burst-{i}" for i in range(count)]
    # Idle baseline: the same Describe loop with no job running.
    idle: list[float] = []
    prober = client("sagemaker", url, key, secret)
    stop = threading.Event()
    probe = threading.Thread(target=describe_latencies, args=(prober, ["warmup"], stop, idle))
    probe.start()
    time.sleep(2)
    stop.set()
    probe.join()
    # The floor of boto3's own cost: a call that needs no permission and reads nothing.
    sts = client("sts", url, key, secret)
    sts.get_caller_identity()
    floor: list[float] = []
    for _ in range(200):
        t0 = time.perf_counter()
        sts.get_caller_identity()
        floor.append(time.perf_counter() - t0)

    # One client per submitting thread, made before the clock starts.
    submitters = [client("sagemaker", url, key, secret) for _ in names]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda pair: pair[0].create_training_job(
            **request(pair[1], image, role_arn)), zip(submitters, names, strict=True)))
    submitted = time.perf_counter() - start
    # The probe starts once the jobs exist, and asks about them in turn, from a process of
    # its own: the poller below would otherwise hold the GIL it needs and add to its times.
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    mp_stop = ctx.Event()
    probe_process = ctx.Process(target=_probe_process,
                                args=(url, key, secret, names, mp_stop, results))
    probe_process.start()
    finished: dict[str, float] = {}
    statuses: dict[str, str] = {}
    deadline = start + 300
    while len(finished) < len(names) and time.perf_counter() < deadline:
        # One List call per sweep, so that the poller competes little with the probe.
        pages = sm.get_paginator("list_training_jobs").paginate(NameContains="burst-",
                                                                PaginationConfig={
                                                                    "PageSize": 100})
        jobs = [j for page in pages for j in page["TrainingJobSummaries"]]
        now = time.perf_counter() - start
        for summary_ in jobs:
            name = summary_["TrainingJobName"]
            if name not in finished and summary_["TrainingJobStatus"] in TERMINAL:
                finished[name] = now
                statuses[name] = summary_["TrainingJobStatus"]
                log(f"  {len(finished)}/{len(names)} done at {now:.2f} s")
        time.sleep(0.05)
    mp_stop.set()
    loaded = results.get(timeout=60)
    probe_process.join()
    if len(finished) < len(names):
        raise RuntimeError(f"only {len(finished)} of {len(names)} burst jobs finished")
    failed = sorted(n for n, s in statuses.items() if s != "Completed")
    elapsed = max(finished.values())
    return {"jobs": count, "submit_s": round(submitted, 3), "all_done_s": round(elapsed, 2),
            "jobs_per_minute": round(count / elapsed * 60, 1), "not_completed": failed,
            "describe_ms_during_burst": summary(loaded, 1000, 2),
            "describe_ms_idle": summary(idle, 1000, 2),
            "get_caller_identity_ms_idle": summary(floor, 1000, 2)}


# --- peers ------------------------------------------------------------------------------------

def local_mode(url: str, key: str, secret: str, image: str, role_arn: str,
               work: Path) -> dict[str, Any]:
    """The SDK's local mode, in a child process whose AWS calls go to the local endpoint only."""
    try:
        sdk_version = importlib.metadata.version("sagemaker")
    except importlib.metadata.PackageNotFoundError:
        return {"available": False, "error": "the sagemaker SDK is not installed in the venv"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    defaults = work / "sagemaker-defaults.yaml"
    defaults.write_text(SDK_DEFAULTS)
    env.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               SAGEMAKER_ADMIN_CONFIG_OVERRIDE=str(defaults),
               SAGEMAKER_USER_CONFIG_OVERRIDE=str(defaults), SAGEMAKER_SUPPRESS_V2_WARNING="1",
               HTTPS_PROXY=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY, NO_PROXY="127.0.0.1,localhost")
    for name in ("https_proxy", "http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    try:  # the SDK's STS clients name an AWS host explicitly; the hook sends them here too
        from execrole import clienthook

        env.update(clienthook.environment(url, base=env))
    except ImportError:
        pass
    output = work / "local-mode-output"
    output.mkdir()
    proc = subprocess.run([sys.executable, "-c", LOCAL_MODE, image, role_arn, str(output)],
                          env=env, capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    result: dict[str, Any] = {"available": True, "sdk_version": sdk_version,
                              "docker_cli": shutil.which("docker"), "docker_engine": docker()}
    try:
        result.update(json.loads(lines[-1]))
    except (IndexError, ValueError):
        result.update(ok=False, error=f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return result


def docker() -> str:
    """What `docker info` says about the engine (for context: local mode needs one)."""
    exe = shutil.which("docker")
    if exe is None:
        return "no docker CLI"
    try:
        proc = subprocess.run([exe, "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if proc.returncode == 0:
        return f"engine {proc.stdout.strip()}"
    return (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1]


def moto_peer(runs: int) -> dict[str, Any]:
    bin_dir = Path(sys.executable).parent
    exe = shutil.which("moto_server", path=str(bin_dir))
    if exe is None:
        return {"available": False, "error": "moto_server is not installed in the venv"}
    port = free_port()
    proc = subprocess.Popen([exe, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait(url + "/", proc)
        import moto

        sm = client("sagemaker", url, "testing", "testing")
        role = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"  # never created: moto does not look
        image = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/bench-trivial:1"
        time_to_terminal(sm, request("warmup", image, role))
        walls = []
        statuses = set()
        for i in range(runs):
            wall, job = time_to_terminal(sm, request(f"seq-{i}", image, role))
            walls.append(wall)
            statuses.add(job["TrainingJobStatus"])
        return {"available": True, "version": moto.__version__, "wall_s": summary(walls, 1, 4),
                "statuses": sorted(statuses)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- output -----------------------------------------------------------------------------------

def table(results: dict[str, Any]) -> str:
    seq = results["sequential"]
    wall = seq["wall_s"]
    b = results["burst"]
    d, idle = b["describe_ms_during_burst"], b["describe_ms_idle"]
    rows = [
        ("Create -> Completed, trivial job, s (median / p90 / min / max)",
         f"{wall['median']} / {wall['p90']} / {wall['min']} / {wall['max']} "
         f"(n={wall['n']})"),
        ("  same, server's CreationTime -> TrainingEndTime, median s",
         str(seq["server_creation_to_end_s"]["median"])),
        ("  median seconds per secondary status",
         ", ".join(f"{k} {v}" for k, v in seq["median_phase_s"].items())),
        (f"burst of {b['jobs']} (--max-jobs {results['max_jobs']}): jobs completed / min",
         f"{b['jobs_per_minute']} (all done in {b['all_done_s']} s, submitted in "
         f"{b['submit_s']} s, not completed: {len(b['not_completed'])})"),
        ("DescribeTrainingJob during the burst, ms (p50 / p99 / max)",
         f"{d['median']} / {d['p99']} / {d['max']} (n={d['n']})"),
        ("DescribeTrainingJob idle, ms (p50 / p99 / max)",
         f"{idle['median']} / {idle['p99']} / {idle['max']} (n={idle['n']})"),
        ("sts:GetCallerIdentity idle (boto3's floor), ms (p50 / p99 / max)",
         "{median} / {p99} / {max} (n={n})".format(**b["get_caller_identity_ms_idle"])),
    ]
    lm = results["sdk_local_mode"]
    if not lm.get("available"):
        rows.append(("SageMaker SDK local mode", lm["error"]))
    elif lm.get("ok"):
        rows.append(("SageMaker SDK local mode", f"ran, {lm['seconds']:.2f} s"))
    else:
        rows.append((f"SageMaker SDK {lm['sdk_version']} local mode",
                     f"local mode cannot run here: {lm['error']} "
                     f"[docker CLI: {lm['docker_cli']}; engine: {lm['docker_engine']}]"))
    mo = results["moto_server"]
    if mo.get("available"):
        w = mo["wall_s"]
        rows.append((f"moto_server {mo['version']} Create -> Completed, s (median / max)"
                     " - runs nothing, checks no role",
                     f"{w['median']} / {w['max']} (n={w['n']})"))
    else:
        rows.append(("moto_server", f"skipped: {mo['error']}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="sequential jobs (default 10)")
    parser.add_argument("--burst", type=int, default=20,
                        help="jobs submitted at once (default 20)")
    parser.add_argument("--max-jobs", type=int, default=None,
                        help="the server's --max-jobs (default: its own, the CPU count)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    began = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "jobs", "python": platform.python_version(), "cpus": os.cpu_count(),
        "max_jobs": args.max_jobs or os.cpu_count() or 2, "runs": args.runs,
        "poll_ms": POLL_S * 1000,
        # Other processes on the machine (the benchmark's own figures move with this).
        "loadavg_1min_at_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        port = free_port()
        command = [sys.executable, "-m", "execrole", "serve", "--data-dir", str(data_dir),
                   "--port", str(port), "--quiet"]
        if args.max_jobs:
            command += ["--max-jobs", str(args.max_jobs)]
        env = {k: v for k, v in os.environ.items() if k != "EXECROLE_MAX_JOBS"}
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            log(f"starting execrole serve on {url}")
            wait(url + "/_execrole/health", server)
            creds = configparser.ConfigParser()
            creds.read(data_dir / "credentials")
            key = creds["execrole"]["aws_access_key_id"]
            secret = creds["execrole"]["aws_secret_access_key"]
            log("bucket, role with AmazonSageMakerFullAccess, image push")
            image, role_arn = setup(url, key, secret, data_dir, work)
            sm = client("sagemaker", url, key, secret)
            log(f"{args.runs} sequential jobs (after one warm-up job)")
            results["sequential"] = sequential(sm, image, role_arn, args.runs)
            log(f"burst of {args.burst} jobs, Describe loop on another thread")
            results["burst"] = burst(url, key, secret, image, role_arn, args.burst)
            log("SageMaker SDK local mode, same image and role")
            results["sdk_local_mode"] = local_mode(url, key, secret, image, role_arn, work)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    log("moto_server, same request")
    results["moto_server"] = moto_peer(args.runs)
    wall = results["sequential"]["wall_s"]
    results["targets"] = {
        "median_create_to_completed_at_most_1_5_s": wall["median"] <= 1.5,
        "describe_p99_under_10_ms_during_burst":
            results["burst"]["describe_ms_during_burst"]["p99"] < 10}
    results["loadavg_1min_at_end"] = round(os.getloadavg()[0], 2)
    results["wall_seconds"] = round(time.perf_counter() - began, 1)
    log(f"done in {results['wall_seconds']} s")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(table(results))
        print(f"load average (1 min) at start / end: {results['loadavg_1min_at_start']} / "
              f"{results['loadavg_1min_at_end']} on {results['cpus']} CPUs")
        print("targets: " + ", ".join(f"{k}={v}" for k, v in results["targets"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
