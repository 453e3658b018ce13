"""`execrole role create`: the seed's "Create execution role" procedure, through the API.

Seed, "Create execution role": a role for SageMaker (trust policy for
sagemaker.amazonaws.com), AmazonSageMakerFullAccess attached, a name; then, for buckets
without "sagemaker" in their name, "Add Additional Amazon S3 Permissions to a SageMaker
Execution Role" (the extra-S3 policy, for the user's buckets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..clients import endpoint_client

SEED_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def extra_s3_policy(buckets: list[str]) -> dict[str, Any]:
    """The seed's extra-S3 policy with DOC-EXAMPLE-BUCKET1/2 replaced by `buckets`."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets]},
        {"Effect": "Allow",
         "Action": ["s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket",
                    "s3:ListAllMyBuckets", "s3:GetBucketCors", "s3:PutBucketCors"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:PutObjectAcl"],
         "Resource": [f"arn:aws:s3:::{b}" for b in buckets]}]}


def create_role(name: str, *, managed: list[str] | None = None, buckets: list[str] | None = None,
                plan_path: Path | None = None, path: str = "/", endpoint: str | None = None,
                profile: str | None = None, use_aws: bool = False,
                data_dir: Path | None = None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    iam = endpoint_client("iam", region="us-east-1", endpoint=endpoint, profile=profile,
                          use_aws=use_aws, data_dir=data_dir)
    trust: dict[str, Any] = SEED_TRUST
    inline: dict[str, dict[str, Any]] = {}
    attach = managed
    if plan_path is not None:
        plan = json.loads(Path(plan_path).read_text())
        trust = plan["trust_policy"]
        inline["ExecutionRolePolicy"] = plan["role_policy"]
        attach = managed or []
    elif attach is None:
        attach = ["AmazonSageMakerFullAccess"]
    if buckets:
        inline["AdditionalS3Access"] = extra_s3_policy(buckets)
    try:
        role = iam.create_role(RoleName=name, Path=path,
                               AssumeRolePolicyDocument=json.dumps(trust),
                               Description="SageMaker execution role (created by execrole)")
        for policy in attach:
            arn = policy if policy.startswith("arn:") else f"arn:aws:iam::aws:policy/{policy}"
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for policy_name, document in inline.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                                PolicyDocument=json.dumps(document))
    except ClientError as e:
        err = e.response.get("Error", {})
        raise RuntimeError(f"{err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as e:
        raise RuntimeError(str(e)) from None
    return str(role["Role"]["Arn"])
