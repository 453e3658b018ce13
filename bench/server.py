#!/usr/bin/env python3
"""Signed requests per second through boto3: execrole serve vs moto_server, same run.

Both servers run on loopback ports of this machine; several client processes each drive a
boto3 client in a loop for a fixed time. execrole verifies SigV4 and authorizes every call
with the engine (and logs the decision); moto_server checks neither.

    python bench/server.py [--seconds S] [--clients N]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import free_port, wait

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def client_loop(args: tuple[str, str, str, str, float]) -> int:
    import boto3
    from botocore.config import Config

    url, key, secret, operation, seconds = args
    service = "sts" if operation == "GetCallerIdentity" else "iam"
    client = boto3.client(service, endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id=key, aws_secret_access_key=secret,
                          config=Config(retries={"max_attempts": 0}))
    call = (client.get_caller_identity if operation == "GetCallerIdentity"
            else lambda: client.get_role(RoleName="BenchRole"))
    call()  # warm up the connection and the server's caches
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        call()
        done += 1
    return done


def drive(url: str, key: str, secret: str, operation: str, clients: int,
          seconds: float) -> float:
    with mp.get_context("spawn").Pool(clients) as pool:
        start = time.perf_counter()
        counts = pool.map(client_loop, [(url, key, secret, operation, seconds)] * clients)
        elapsed = time.perf_counter() - start
    return sum(counts) / max(seconds, elapsed - 1.0 if elapsed > seconds + 1 else seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    results: dict[str, Any] = {"benchmark": "server", "python": platform.python_version(),
                               "cpus": os.cpu_count(), "clients": args.clients,
                               "seconds": args.seconds}
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        ours = subprocess.Popen([sys.executable, "-m", "execrole", "serve", "--data-dir",
                                 data_dir, "--port", str(port), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moto_port = free_port()
        moto_exe = shutil.which("moto_server", path=str(bin_dir)) or "moto_server"
        moto = subprocess.Popen([moto_exe, "-p", str(moto_port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait(url + "/_execrole/health", ours)
            moto_url = f"http://127.0.0.1:{moto_port}"
            wait(moto_url + "/", moto)
            import configparser

            import boto3

            creds = configparser.ConfigParser()
            creds.read(Path(data_dir) / "credentials")
            key = creds["execrole"]["aws_access_key_id"]
            secret = creds["execrole"]["aws_secret_access_key"]
            for target, k, s in ((url, key, secret), (moto_url, "testing", "testing")):
                boto3.client("iam", endpoint_url=target, region_name="us-east-1",
                             aws_access_key_id=k, aws_secret_access_key=s).create_role(
                    RoleName="BenchRole", AssumeRolePolicyDocument=TRUST)
            for operation in ("GetCallerIdentity", "GetRole"):
                ours_rate = drive(url, key, secret, operation, args.clients, args.seconds)
                moto_rate = drive(moto_url, "testing", "testing", operation, args.clients,
                                  args.seconds)
                results[operation] = {"execrole_requests_per_s": round(ours_rate, 1),
                                      "moto_server_requests_per_s": round(moto_rate, 1),
                                      "ratio": round(ours_rate / moto_rate, 2)}
        finally:
            for proc in (ours, moto):
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
