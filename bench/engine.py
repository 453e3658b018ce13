#!/usr/bin/env python3
"""Decisions per second: execrole's engine vs moto's evaluator, same workload, same run.

The principal is a SageMaker execution-role session holding AmazonSageMakerFullAccess, an
inline S3 policy (the seed's extra-S3 policy for a set of team buckets) and a permissions
boundary. The workload is >= 10,000 distinct requests of the mix a training job makes: S3
objects in many buckets (some tagged SageMaker=true), bucket listing, SageMaker API calls
with condition keys, iam:PassRole with iam:PassedToService, ECR pulls, CloudWatch Logs and
metrics, KMS decrypts.

moto (`moto.iam.access_control.IAMPolicy`) is given the same identity documents and context;
it has no permissions-boundary layer, so it is run on the identity policies only, and the
disagreements with execrole are counted and shown by example.

    python bench/engine.py [--requests N] [--seconds S]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from typing import Any

from execrole.catalog import managed
from execrole.policy import (
    Authorizer,
    CachedAuthorizer,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
)

ACCOUNT = "111122223333"
REGION = "us-east-1"
ROLE_NAME = "AmazonSageMaker-ExecutionRole-Bench"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/SageMaker"
TEAM_BUCKETS = [f"team-{i}-datasets" for i in range(20)]

INLINE = {"Version": "2012-10-17", "Statement": [
    {"Sid": "TeamObjects", "Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
     "Resource": [f"arn:aws:s3:::{b}/*" for b in TEAM_BUCKETS]},
    {"Sid": "BucketLevel", "Effect": "Allow",
     "Action": ["s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket",
                "s3:ListAllMyBuckets", "s3:GetBucketCors", "s3:PutBucketCors"],
     "Resource": "*"},
    {"Sid": "TeamAcl", "Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:PutObjectAcl"],
     "Resource": [f"arn:aws:s3:::{b}" for b in TEAM_BUCKETS]},
]}
BOUNDARY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Ceiling", "Effect": "Allow",
     "Action": ["s3:*", "sagemaker:*", "iam:PassRole", "iam:GetRole", "ecr:*", "logs:*",
                "cloudwatch:*", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*",
                "kms:CreateGrant", "kms:DescribeKey", "ec2:*"],
     "Resource": "*"},
    {"Sid": "NoProdData", "Effect": "Deny", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::prod-*", "arn:aws:s3:::prod-*/*"]},
    {"Sid": "OnlyModestInstances", "Effect": "Deny", "Action": "sagemaker:Create*Job",
     "Resource": "*",
     "Condition": {"ForAnyValue:StringLike": {"sagemaker:InstanceTypes": ["ml.p4*", "ml.p5*"]}}},
]}


def build_requests(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    buckets = [*TEAM_BUCKETS, f"sagemaker-{REGION}-{ACCOUNT}", "my-sagemaker-models",
               "aws-glue-scripts-x", "corp-raw", "prod-ledger", "SageMakerOut"]
    kinds = ["s3get", "s3put", "s3list", "sm", "passrole", "ecr", "logs", "metrics", "kms"]
    weights = [30, 12, 8, 12, 6, 10, 12, 4, 6]
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < n:
        i += 1
        kind = rng.choices(kinds, weights)[0]
        ctx: dict[str, Any] = {"aws:SecureTransport": "true",
                               "aws:SourceIp": f"10.0.{i % 250}.{i % 200}"}
        if kind in ("s3get", "s3put"):
            bucket = rng.choice(buckets)
            action = "s3:GetObject" if kind == "s3get" else "s3:PutObject"
            resource = f"arn:aws:s3:::{bucket}/job-{i}/part-{rng.randrange(1000)}.csv"
            if kind == "s3get" and rng.random() < 0.2:
                ctx["s3:ExistingObjectTag/SageMaker"] = "true"
        elif kind == "s3list":
            action = "s3:ListBucket"
            resource = f"arn:aws:s3:::{rng.choice(buckets)}"
            ctx["s3:prefix"] = f"job-{i}/"
        elif kind == "sm":
            action = rng.choice(["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob",
                                 "sagemaker:DescribeTrainingJob", "sagemaker:CreateModel"])
            noun = {"CreateModel": "model"}.get(action.split(":")[1], "training-job")
            resource = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{noun}/job-{i}"
            ctx["sagemaker:InstanceTypes"] = [rng.choice(["ml.m5.large", "ml.c5.xlarge",
                                                          "ml.p4d.24xlarge", "ml.g5.2xlarge"])]
        elif kind == "passrole":
            action, resource = "iam:PassRole", rng.choice(
                [ROLE, f"arn:aws:iam::{ACCOUNT}:role/other-{i}"])
            ctx["iam:PassedToService"] = rng.choice(["sagemaker.amazonaws.com",
                                                     "glue.amazonaws.com", "ec2.amazonaws.com"])
        elif kind == "ecr":
            action = rng.choice(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                 "ecr:BatchCheckLayerAvailability"])
            resource = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/repo-{i % 300}"
        elif kind == "logs":
            action = rng.choice(["logs:CreateLogStream", "logs:PutLogEvents"])
            resource = (f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:"
                        f"log-stream:job-{i}/algo-1")
        elif kind == "metrics":
            action, resource = "cloudwatch:PutMetricData", "*"
            ctx["cloudwatch:namespace"] = "/aws/sagemaker/TrainingJobs"
        else:
            action = "kms:Decrypt"
            resource = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{i:08d}-0000-0000-0000-000000000000"
            ctx["kms:ViaService"] = f"s3.{REGION}.amazonaws.com"
        key = json.dumps([action, resource, ctx], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.append({"action": action, "resource": resource, "context": ctx})
    return out


def measure(fn: Any, items: list[Any], seconds: float) -> tuple[float, int]:
    """Decisions per second: the median over timed passes of the whole workload, repeated
    for at least `seconds` (the median, because neighbours on a shared machine add noise)."""
    rates: list[float] = []
    done = 0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - t0))
        done += len(items)
        if time.perf_counter() - start >= seconds and len(rates) >= 3:
            return statistics.median(rates), done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="minimum measuring time per engine")
    args = parser.parse_args()

    full = managed.lookup("AmazonSageMakerFullAccess")
    assert full is not None
    policies = PolicySet(
        identity=[managed.load("AmazonSageMakerFullAccess"),
                  parse_policy(INLINE, PolicyType.IDENTITY, name="TeamS3")],
        boundary=[parse_policy(BOUNDARY, PolicyType.BOUNDARY, name="Boundary")],
    )
    raw = build_requests(args.requests)
    requests = [Request(SESSION, r["action"], r["resource"], context=r["context"]) for r in raw]

    t0 = time.perf_counter()
    authorizer = Authorizer(policies)
    compile_ms = (time.perf_counter() - t0) * 1000
    ours, ours_n = measure(authorizer.authorize, requests, args.seconds)
    # The same, building each Request from raw fields inside the measured loop.
    with_build, _ = measure(
        lambda r: authorizer.authorize(Request(SESSION, r["action"], r["resource"],
                                               context=r["context"])), raw, args.seconds)
    cached_authorizer = CachedAuthorizer(Authorizer(policies))
    cached, _ = measure(cached_authorizer.authorize, requests, args.seconds)

    from moto.iam.access_control import IAMPolicy, PermissionResult

    moto_policies = [IAMPolicy(json.dumps(full.document)), IAMPolicy(json.dumps(INLINE))]

    def moto_decide(r: dict[str, Any]) -> bool:
        ctx = {k: (v[0] if isinstance(v, list) else v) for k, v in r["context"].items()}
        permitted = False
        for p in moto_policies:
            result = p.is_action_permitted(r["action"], r["resource"],
                                           incoming_condition_values=ctx)
            if result == PermissionResult.DENIED:
                return False
            if result == PermissionResult.PERMITTED:
                permitted = True
        return permitted

    moto_rate, moto_n = measure(moto_decide, raw, args.seconds)

    # Agreement on the identity policies alone (moto has no boundary layer).
    identity_only = Authorizer(PolicySet(identity=policies.identity))
    disagreements: list[dict[str, Any]] = []
    by_action: dict[str, int] = {}
    count = 0
    for r, req in zip(raw, requests, strict=True):
        ours_allowed = identity_only.authorize(req).allowed
        if ours_allowed != moto_decide(r):
            count += 1
            label = f"{r['action']} execrole={'allow' if ours_allowed else 'deny'} " \
                f"moto={'deny' if ours_allowed else 'allow'}"
            by_action[label] = by_action.get(label, 0) + 1
            if len(disagreements) < 6:
                disagreements.append({"action": r["action"], "resource": r["resource"],
                                      "context": r["context"], "execrole": ours_allowed,
                                      "moto": not ours_allowed})
    allow_rate = sum(authorizer.authorize(r).allowed for r in requests) / len(requests)
    print(json.dumps({
        "benchmark": "engine",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "requests": len(requests),
        "allowed_fraction": round(allow_rate, 3),
        "policies": {"identity": [full.name + " " + full.version_id, "TeamS3 (inline)"],
                     "boundary": "Boundary"},
        "compile_ms": round(compile_ms, 2),
        "execrole_decisions_per_s": round(ours),
        "execrole_decisions_per_s_including_request_build": round(with_build),
        "execrole_cached_decisions_per_s": round(cached),
        "moto_decisions_per_s": round(moto_rate),
        "ratio_execrole_to_moto": round(ours / moto_rate, 1),
        "decisions_measured": {"execrole": ours_n, "moto": moto_n},
        "moto_disagreements_on_identity_policies": count,
        "moto_disagreements_by_action": dict(sorted(by_action.items())),
        "moto_disagreement_examples": disagreements,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
