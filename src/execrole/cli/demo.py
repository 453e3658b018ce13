"""`execrole demo`: the engine deciding and explaining a SageMaker execution-role story.

The role and policies are the seed's: a role trusted by sagemaker.amazonaws.com with
AmazonSageMakerFullAccess, then the seed's extra-S3 policy for a bucket of the user's own.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..catalog import managed
from ..policy import Authorizer, Decision, PolicySet, PolicyType, Request, parse_policy

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AmazonSageMaker-ExecutionRole-20201200T100000"
SESSION = (f"arn:aws:sts::{ACCOUNT}:assumed-role/"
           "AmazonSageMaker-ExecutionRole-20201200T100000/SageMaker")
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EXTRA_S3 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                   "s3:AbortMultipartUpload"],
     "Resource": ["arn:aws:s3:::corp-datasets/*"]},
    {"Effect": "Allow", "Action": ["s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket",
                                   "s3:ListAllMyBuckets", "s3:GetBucketCors", "s3:PutBucketCors"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:PutObjectAcl"],
     "Resource": ["arn:aws:s3:::corp-datasets"]}]}


def register(commands: Any) -> None:
    p = commands.add_parser(
        "demo", help="watch the engine decide and explain a SageMaker execution-role story",
        description="Decide the requests a SageMaker training job makes with a role that has "
        "AmazonSageMakerFullAccess, then with the seed's extra S3 policy, and explain each.")
    p.add_argument("--json", action="store_true", help="one JSON object per decision")
    p.set_defaults(handler=run)


def _steps() -> list[tuple[str, Authorizer, Request]]:
    full = managed.load("AmazonSageMakerFullAccess")
    extra = parse_policy(EXTRA_S3, PolicyType.IDENTITY, name="ExtraS3Access")
    base = Authorizer(PolicySet(identity=[full]))
    widened = Authorizer(PolicySet(identity=[full, extra]))
    trust = Authorizer(PolicySet(resource=parse_policy(TRUST, PolicyType.TRUST,
                                                       name="TrustPolicy")))
    obj = "arn:aws:s3:::{}/train/data.csv"
    return [
        ("SageMaker assumes the execution role (seed trust policy)", trust,
         Request("sagemaker.amazonaws.com", "sts:AssumeRole", ROLE)),
        ("EC2 tries to assume the same role", trust,
         Request("ec2.amazonaws.com", "sts:AssumeRole", ROLE)),
        ("The job reads training data from a bucket with 'sagemaker' in its name", base,
         Request(SESSION, "s3:GetObject", obj.format(f"sagemaker-us-east-1-{ACCOUNT}"))),
        ("The job reads training data from corp-datasets", base,
         Request(SESSION, "s3:GetObject", obj.format("corp-datasets"))),
        ("... the same object, tagged SageMaker=true", base,
         Request(SESSION, "s3:GetObject", obj.format("corp-datasets"),
                 context={"s3:ExistingObjectTag/SageMaker": "true"})),
        ("... after attaching the seed's extra-S3 policy for corp-datasets", widened,
         Request(SESSION, "s3:GetObject", obj.format("corp-datasets"))),
        ("The role passes itself to SageMaker", base,
         Request(SESSION, "iam:PassRole", ROLE,
                 context={"iam:PassedToService": "sagemaker.amazonaws.com"})),
        ("The role passes itself to AWS Glue (allowed for *AmazonSageMaker* roles)", base,
         Request(SESSION, "iam:PassRole", ROLE,
                 context={"iam:PassedToService": "glue.amazonaws.com"})),
        ("The role passes itself to Amazon EC2", base,
         Request(SESSION, "iam:PassRole", ROLE,
                 context={"iam:PassedToService": "ec2.amazonaws.com"})),
    ]


def _explain(decision: Decision) -> str:
    if decision.allowed:
        refs = ", ".join(f"{m.policy} statement {m.statement}" + (f" ({m.sid})" if m.sid else "")
                         for m in decision.matched[:3])
        return f"ALLOW  by {refs}"
    layers = ", ".join(decision.denied_by)
    return f"{decision.outcome.value.upper()}  (denied by: {layers})\n      {decision.message}"


def run(args: argparse.Namespace) -> int:
    found = managed.lookup("AmazonSageMakerFullAccess")
    if not args.json and found:
        print(f"Role {ROLE}\n  attached: {found.arn} ({found.version_id}, "
              f"{len(found.document['Statement'])} statements)\n")
    for title, authorizer, request in _steps():
        decision = authorizer.authorize(request)
        if args.json:
            print(json.dumps({"step": title, "principal": request.principal,
                              "action": request.action, "resource": request.resource,
                              **decision.to_dict()}))
        else:
            print(f"- {title}\n    {request.action} on {request.resource}\n    "
                  f"{_explain(decision)}\n")
    return 0
