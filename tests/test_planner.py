"""The planner and the preflight checker, in-process (issue 4).

Sources: the seed's per-API "Execution Role Permissions" sections and "Passing Roles" (what
a role and a caller need), "Create execution role" (AmazonSageMakerFullAccess and its
bucket-name rule), "Add Additional Amazon S3 Permissions" (the DOC-EXAMPLE-BUCKET1/2
policy); security-confused-deputy-prevention.md (the trust policy's conditions).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from execrole.catalog import managed, sagemaker
from execrole.planner.check import check
from execrole.planner.plan import plan
from execrole.planner.role import SEED_TRUST, extra_s3_policy
from execrole.planner.sources import AuthorizationDetails
from execrole.policy import PolicyType, parse_policy

REQUESTS = Path(__file__).parent / "sagemaker_requests"
ACCOUNT = "111122223333"
ROLE_ARN = ("arn:aws:iam::111122223333:role/service-role/"
            "AmazonSageMaker-ExecutionRole-20201200T100000")
CALLER = "arn:aws:iam::111122223333:user/alice"


def load(api: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REQUESTS / f"{api}.json").read_text())
    return data


def details(trust: Any, role_policies: list[tuple[str, Any]], caller_policies: list[Any],
            managed_arns: tuple[str, ...] = ()) -> AuthorizationDetails:
    return AuthorizationDetails({
        "RoleDetailList": [{
            "RoleName": ROLE_ARN.rsplit("/", 1)[1], "Arn": ROLE_ARN, "Path": "/service-role/",
            "AssumeRolePolicyDocument": trust,
            "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in role_policies
                               if d["Statement"]],
            "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[1], "PolicyArn": a}
                                        for a in managed_arns]}],
        "UserDetailList": [{"UserName": "alice", "Arn": CALLER, "GroupList": [],
                            "UserPolicyList": [{"PolicyName": f"c{i}", "PolicyDocument": d}
                                               for i, d in enumerate(caller_policies)
                                               if d["Statement"]]}],
    })


@pytest.mark.parametrize("api", sagemaker.APIS)
def test_plan_documents_are_valid_and_sufficient(api: str) -> None:
    """The generated documents are valid, and a role and caller holding exactly them pass
    the check: the plan is enough for its own request."""
    p = plan(api, load(api), account=ACCOUNT, region="us-east-1")
    parse_policy(p.trust_policy, PolicyType.TRUST)
    for doc in (p.role_policy, p.caller_policy):
        if doc["Statement"]:
            parse_policy(doc, PolicyType.IDENTITY)
    report = check(api, load(api), details(p.trust_policy, [("plan", p.role_policy)],
                                           [p.caller_policy]), caller=CALLER)
    assert report.ok, [r.to_dict() for r in report.rows if not r.ok]
    assert report.sagemaker_error is None
    for statement in p.role_policy["Statement"] + p.caller_policy["Statement"]:
        assert statement["Sid"]
    reasons = {e.sid: e.reasons for e in p.explanations["role_policy"]}
    assert all(reasons.values())


@pytest.mark.parametrize("api", sagemaker.APIS)
def test_seed_scope_is_broader_than_least(api: str) -> None:
    """--scope seed reproduces the seed's form (actions on "*"); it allows everything the
    least-privilege plan allows."""
    least = plan(api, load(api), account=ACCOUNT, region="us-east-1")
    broad = plan(api, load(api), account=ACCOUNT, region="us-east-1", scope="seed")
    assert all(st["Resource"] == "*" for st in broad.role_policy["Statement"])
    least_actions = {a for st in least.role_policy["Statement"]
                     for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    broad_actions = {a for st in broad.role_policy["Statement"]
                     for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert least_actions == broad_actions
    report = check(api, load(api), details(broad.trust_policy, [("seed", broad.role_policy)],
                                           [broad.caller_policy]), caller=CALLER)
    assert report.ok


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    kept = []
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        rest = [a for a in actions if a != action]
        if rest:
            st["Action"] = rest
            kept.append(st)
    doc["Statement"] = kept
    return doc


def _role_actions(api: str) -> list[str]:
    p = plan(api, load(api), account=ACCOUNT, region="us-east-1")
    return sorted({r.action for r in p.requirements if r.who == "role"})


@pytest.mark.parametrize("api,action", [(api, action) for api in sagemaker.APIS
                                        for action in _role_actions(api)[:3]])
def test_a_missing_permission_is_named_exactly(api: str, action: str) -> None:
    """Remove one action from the role's policy: the check fails on that action, and only
    that one."""
    p = plan(api, load(api), account=ACCOUNT, region="us-east-1")
    report = check(api, load(api), details(p.trust_policy,
                                           [("plan", _without(p.role_policy, action))],
                                           [p.caller_policy]), caller=CALLER)
    assert not report.ok
    failed = {row.requirement.action for row in report.rows if not row.ok}
    assert failed == {action}
    assert report.sagemaker_error


def test_missing_passrole_is_sagemakers_access_denied() -> None:
    api = "CreateTrainingJob"
    p = plan(api, load(api), account=ACCOUNT, region="us-east-1")
    report = check(api, load(api), details(p.trust_policy, [("plan", p.role_policy)],
                                           [_without(p.caller_policy, "iam:PassRole")]),
                   caller=CALLER)
    assert report.sagemaker_error == (
        f"AccessDeniedException: User: {CALLER} is not authorized to perform: iam:PassRole on "
        f"resource: {ROLE_ARN} because no identity-based policy allows the iam:PassRole action")


def test_trust_without_sagemaker_is_could_not_assume_role() -> None:
    api = "CreateTrainingJob"
    p = plan(api, load(api), account=ACCOUNT, region="us-east-1")
    ec2_trust = json.loads(json.dumps(SEED_TRUST).replace("sagemaker", "ec2"))
    report = check(api, load(api), details(ec2_trust, [("plan", p.role_policy)],
                                           [p.caller_policy]), caller=CALLER)
    assert report.sagemaker_error == (
        f"ValidationException: Could not assume role {ROLE_ARN}. Please ensure that the role "
        "exists and allows principal 'sagemaker.amazonaws.com' to assume the role.")


def _training(bucket: str) -> dict[str, Any]:
    req = load("CreateTrainingJob")
    for channel in req["InputDataConfig"]:
        s3 = channel["DataSource"]["S3DataSource"]
        s3["S3Uri"] = s3["S3Uri"].replace("corp-ml-data", bucket)
    req["OutputDataConfig"] = {"S3OutputPath": f"s3://{bucket}/output"}
    req["ResourceConfig"].pop("VolumeKmsKeyId")
    req.pop("VpcConfig")
    return req


FULL = managed.ARN_PREFIX + "AmazonSageMakerFullAccess"


def test_full_access_bucket_name_rule() -> None:
    """seed, "Create execution role": AmazonSageMakerFullAccess grants S3 object access only
    on buckets with sagemaker (or aws-glue) in the name; ECR, logs and metrics on any."""
    with_name = _training("sagemaker-us-east-1-111122223333")
    ok = check("CreateTrainingJob", with_name, details(SEED_TRUST, [], [], (FULL,)))
    assert ok.ok, [r.to_dict() for r in ok.rows if not r.ok]
    without = _training("corp-datasets")
    denied = check("CreateTrainingJob", without, details(SEED_TRUST, [], [], (FULL,)))
    failed = {(r.requirement.action, r.requirement.resource) for r in denied.rows if not r.ok}
    assert failed == {("s3:GetObject", "arn:aws:s3:::corp-datasets/churn/train/*"),
                      ("s3:GetObject", "arn:aws:s3:::corp-datasets/churn/validation/*"),
                      ("s3:PutObject", "arn:aws:s3:::corp-datasets/output/*")}
    assert denied.sagemaker_error == (
        "ClientError: Data download failed:Unable to download object "
        "s3://corp-datasets/churn/train/* (AccessDenied: User: arn:aws:sts::111122223333:"
        "assumed-role/AmazonSageMaker-ExecutionRole-20201200T100000/SageMaker is not "
        "authorized to perform: s3:GetObject on resource: arn:aws:s3:::corp-datasets/churn/"
        "train/* because no identity-based policy allows the s3:GetObject action)")


def test_seed_extra_s3_policy_fixes_it() -> None:
    """seed, "Add Additional Amazon S3 Permissions": the DOC-EXAMPLE-BUCKET1/2 policy
    (here for the user's own bucket) gives the role what the managed policy does not."""
    req = _training("DOC-EXAMPLE-BUCKET1")
    report = check("CreateTrainingJob", req, details(
        SEED_TRUST, [("ExtraS3", extra_s3_policy(["DOC-EXAMPLE-BUCKET1", "DOC-EXAMPLE-BUCKET2"]))],
        [], (FULL,)))
    assert report.ok, [r.to_dict() for r in report.rows if not r.ok]


def test_caller_not_given_is_listed_not_checked() -> None:
    req = _training("sagemaker-x")
    report = check("CreateTrainingJob", req, details(SEED_TRUST, [], [], (FULL,)))
    skipped = [r for r in report.rows if r.decision is None]
    assert {r.requirement.action for r in skipped} == {"sagemaker:CreateTrainingJob",
                                                       "iam:PassRole"}
