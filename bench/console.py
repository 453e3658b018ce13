"""How fast the console's pages answer on the data of a busy day.

    .venv/bin/python bench/console.py [--roles 300] [--jobs 40] [--extra-jobs 600]
                                      [--decisions 50000] [--repeat 20]

Starts `execrole serve` on a free loopback port with a temporary data directory, then makes
a busy day through the API (roles, users, a notebook instance, training jobs that really run,
some failing for a missing permission) and, for volume, writes more job documents and
decision-log rows straight into the store (the API would take minutes to log 50,000
decisions). Then it signs in through the sign-in form, as a browser does, and times each
main page: `--repeat` GETs each, client side on loopback (HTML parsing not included).
Target (issue 7): every page under 100 ms.
"""

from __future__ import annotations

import argparse
import configparser
import http.cookiejar
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from _common import free_port, wait

ACCOUNT = "111122223333"
REGION = "us-east-1"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
TRAIN = "import os\nprint('loss=0.5')\nopen(os.environ['SM_MODEL_DIR'] + '/m', 'w').write('m')\n"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def clients(url: str, data_dir: Path) -> tuple[dict[str, Any], str, str]:
    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    key = parser["execrole"]["aws_access_key_id"]
    secret = parser["execrole"]["aws_secret_access_key"]
    made = {name: boto3.client(name, endpoint_url=url, region_name=REGION,
                               aws_access_key_id=key, aws_secret_access_key=secret,
                               config=Config(retries={"max_attempts": 1}))
            for name in ("iam", "s3", "ecr", "sagemaker")}
    return made, key, secret


def busy_day(url: str, data_dir: Path, c: dict[str, Any], args: argparse.Namespace,
             key: str, secret: str) -> str:
    """Roles, users, a notebook, real jobs; returns a failed job's name."""
    iam, s3, sm = c["iam"], c["s3"], c["sagemaker"]
    log(f"{args.roles} roles, 50 users")
    for i in range(args.roles):
        iam.create_role(RoleName=f"team-{i:04d}-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    for i in range(50):
        iam.create_user(UserName=f"user-{i:03d}")
    role = iam.create_role(RoleName="bench-exec", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="bench-exec",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    weak = iam.create_role(RoleName="bench-weak", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="bench-weak",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    s3.create_bucket(Bucket="sagemaker-bench")
    s3.create_bucket(Bucket="corp-data")  # the managed policy does not reach it
    s3.put_object(Bucket="sagemaker-bench", Key="train/x.csv", Body=b"1,2\n")
    s3.put_object(Bucket="corp-data", Key="train/x.csv", Body=b"1,2\n")
    sm.create_notebook_instance(NotebookInstanceName="research", InstanceType="ml.t3.medium",
                                RoleArn=role["Role"]["Arn"])
    c["ecr"].create_repository(repositoryName="bench")
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bench:1"
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "train.py").write_text(TRAIN)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
        subprocess.run([sys.executable, "-m", "execrole", "image", "push", image, "--dir", tmp,
                        "--entrypoint", "python train.py", "--endpoint", url, "--data-dir",
                        str(data_dir)], check=True, capture_output=True, env=env)
    log(f"{args.jobs} training jobs, a quarter failing for a missing permission")
    for i in range(args.jobs):
        failing = i % 4 == 0
        sm.create_training_job(
            TrainingJobName=f"day-{i:03d}",
            RoleArn=(weak if failing else role)["Role"]["Arn"],
            AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{'corp-data' if failing else 'sagemaker-bench'}/train/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://sagemaker-bench/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1,
                            "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
    deadline = time.time() + 600
    while time.time() < deadline:
        jobs = sm.list_training_jobs(StatusEquals="InProgress", MaxResults=100)
        if not jobs["TrainingJobSummaries"]:
            break
        time.sleep(0.5)
    return "day-000"


def volume(data_dir: Path, args: argparse.Namespace) -> None:
    """More job documents and decision rows, written straight to the store."""
    log(f"{args.extra_jobs} more job documents and {args.decisions} decisions in the store")
    db = sqlite3.connect(data_dir / "execrole.db")
    template = json.loads(db.execute(
        "SELECT data FROM sagemaker_resources WHERE kind='training-job' AND name_key='day-001'"
    ).fetchone()[0])
    rows = []
    for i in range(args.extra_jobs):
        name = f"archive-{i:04d}"
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}"
        doc = {**template, "TrainingJobName": name, "TrainingJobArn": arn,
               "CreationTime": time.time() - 86400 * random.random()}
        rows.append((ACCOUNT, REGION, "training-job", name, arn, doc["CreationTime"],
                     json.dumps(doc)))
    db.executemany("INSERT INTO sagemaker_resources VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    now = time.time()
    actions = ["s3:GetObject", "s3:PutObject", "logs:PutLogEvents", "iam:GetRole",
               "sagemaker:DescribeTrainingJob", "ecr:BatchGetImage"]
    db.executemany(
        "INSERT INTO decisions(time, request_id, account, principal, action, resource, "
        "decision, denied_by, statements, message, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(now - 86400 * i / args.decisions, f"r{i}", ACCOUNT,
          f"arn:aws:iam::{ACCOUNT}:user/user-{i % 50:03d}", actions[i % len(actions)],
          "arn:aws:s3:::sagemaker-bench/k", "allow" if i % 10 else "implicit_deny", "[]", "[]",
          None if i % 10 else "User: ... is not authorized", "api")
         for i in range(args.decisions)])
    db.commit()
    db.close()


def signed_in(url: str, key: str, secret: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{url}/_execrole/console/signin").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    body = urllib.parse.urlencode({"csrf": csrf.group(1), "access_key_id": key,
                                   "secret_access_key": secret, "next": ""}).encode()
    opener.open(f"{url}/_execrole/console/signin", body).read()
    return opener


def time_pages(opener: urllib.request.OpenerDirector, url: str, failed: str,
               repeat: int) -> list[tuple[str, dict[str, float]]]:
    pages = ["/", "/iam/roles", "/iam/roles?search=team-02", "/iam/roles/bench-exec",
             "/iam/users", "/sagemaker/notebooks", "/sagemaker/notebooks/research",
             "/sagemaker/training-jobs", "/sagemaker/training-jobs?status=Failed",
             f"/sagemaker/training-jobs/{failed}", f"/sagemaker/training-jobs/{failed}/logs",
             "/sagemaker/training-jobs/create", "/sagemaker/processing-jobs", "/decisions",
             "/decisions?decision=deny", f"/decisions?job={failed}",
             "/decisions?principal=user-007&since=2h", "/simulator", "/planner"]
    out = []
    for path in pages:
        times = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            with opener.open(f"{url}/_execrole/console{path}") as r:
                r.read()
                assert r.status == 200, path
            times.append((time.perf_counter() - started) * 1000)
        times = sorted(times[1:])  # the first GET compiles the page's template
        out.append((path, {"median": statistics.median(times),
                           "p95": times[max(0, int(len(times) * 0.95) - 1)],
                           "max": times[-1]}))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roles", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--extra-jobs", type=int, default=600)
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="execrole-bench-console-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "execrole", "serve", "--data-dir",
                               str(data_dir), "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(url + "/_execrole/health", server)
        c, key, secret = clients(url, data_dir)
        failed = busy_day(url, data_dir, c, args, key, secret)
        volume(data_dir, args)
        opener = signed_in(url, key, secret)
        log("timing the pages")
        results = time_pages(opener, url, failed, args.repeat)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    width = max(len(p) for p, _ in results)
    print(f"{'page':<{width}}  median ms  p95 ms  max ms")
    for path, t in results:
        print(f"{path:<{width}}  {t['median']:9.1f}  {t['p95']:6.1f}  {t['max']:6.1f}")
    worst = max(t["p95"] for _, t in results)
    print(f"slowest p95: {worst:.1f} ms (target: every page under 100 ms) on "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
