"""SageMaker Studio domains and user profiles through the endpoint (issue 6).

Sources: the seed ("Passing Roles": CreateDomain and CreateUserProfile pass a role, so the
caller needs iam:PassRole and the role must trust sagemaker.amazonaws.com; "Get execution
role > From the notebook": get_execution_role in Studio), security-confused-deputy-
prevention.md ("SageMaker Studio": the trust policy names aws:SourceArn
`arn:aws:sagemaker:<region>:<account>:*`, whose asterisk is not a wildcard), the SageMaker
Python SDK's get_execution_role (notes/sagemaker-sdk.md: a user profile's own
UserSettings.ExecutionRole, else the domain's DefaultUserSettings.ExecutionRole), and the
SageMaker API reference in botocore's model for the operations and shapes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def error_of(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, Any]:
    iam: Any = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    # The trust policy the Studio section of the confused-deputy page prescribes.
    studio_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:us-east-1:{account}:*"}}}]}
    roles = {}
    for name, trust in (("StudioDefaultRole", TRUST), ("AliceRole", studio_trust)):
        roles[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            trust))["Role"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=FULL_ACCESS)
    untrusted = iam.create_role(RoleName="LambdaOnlyRole", AssumeRolePolicyDocument=json.dumps(
        json.loads(json.dumps(TRUST).replace("sagemaker", "lambda"))))["Role"]["Arn"]
    return {"account": account, "default": roles["StudioDefaultRole"],
            "alice": roles["AliceRole"], "untrusted": untrusted}


def _domain(server: Server, role: str, name: str = "research") -> dict[str, Any]:
    sm: Any = server.client("sagemaker")
    return dict(sm.create_domain(DomainName=name, AuthMode="IAM",
                                 DefaultUserSettings={"ExecutionRole": role},
                                 SubnetIds=["subnet-0abc"], VpcId="vpc-0abc"))


def _role_seen_by_sdk(server: Server, tmp_path: Path, domain_id: str, profile: str) -> str:
    """What get_execution_role answers in that profile's Studio space (the metadata file
    Studio writes names the domain and the profile)."""
    metadata = tmp_path / f"{profile}.json"
    metadata.write_text(json.dumps({"DomainId": domain_id, "UserProfileName": profile}))
    environ = server.env()
    environ["EXECROLE_NOTEBOOK_METADATA"] = str(metadata)
    done = subprocess.run([sys.executable, "-c",
                           "import execrole; print(execrole.get_execution_role())"],
                          capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_domain_create_describe_list_update(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    created = _domain(server, env["default"])
    domain_id = created["DomainId"]
    assert re.fullmatch(r"d-[a-z0-9]{12}", domain_id)
    assert created["DomainArn"] == \
        f"arn:aws:sagemaker:us-east-1:{env['account']}:domain/{domain_id}"
    assert created["Url"] == f"https://{domain_id}.studio.us-east-1.sagemaker.aws"
    d = sm.describe_domain(DomainId=domain_id)
    assert (d["DomainName"], d["Status"], d["AuthMode"], d["AppNetworkAccessType"]) == \
        ("research", "InService", "IAM", "PublicInternetOnly")
    assert d["DefaultUserSettings"]["ExecutionRole"] == env["default"]
    assert (d["SubnetIds"], d["VpcId"]) == (["subnet-0abc"], "vpc-0abc")
    listed = {x["DomainId"]: x for x in sm.list_domains()["Domains"]}
    assert listed[domain_id]["DomainName"] == "research"
    assert listed[domain_id]["Status"] == "InService"
    # An update passing a role goes through the same checks as CreateDomain.
    with pytest.raises(ClientError) as e:
        sm.update_domain(DomainId=domain_id,
                         DefaultUserSettings={"ExecutionRole": env["untrusted"]})
    assert error_of(e)[1].startswith(f"Could not assume role {env['untrusted']}.")
    arn = sm.update_domain(DomainId=domain_id, DefaultUserSettings={
        "ExecutionRole": env["alice"]})["DomainArn"]
    assert arn == created["DomainArn"]
    assert sm.describe_domain(DomainId=domain_id)["DefaultUserSettings"]["ExecutionRole"] == \
        env["alice"]
    sm.delete_domain(DomainId=domain_id)
    with pytest.raises(ClientError) as e:
        sm.describe_domain(DomainId=domain_id)
    assert error_of(e) == ("ResourceNotFound", f"Domain {arn} does not exist.")


def test_create_domain_checks_passrole_and_trust(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    before = len(sm.list_domains()["Domains"])
    with pytest.raises(ClientError) as e:
        _domain(server, env["untrusted"], "untrusted")
    assert error_of(e) == ("ValidationException", f"Could not assume role {env['untrusted']}. "
                           "Please ensure that the role exists and allows principal "
                           "'sagemaker.amazonaws.com' to assume the role.")
    iam: Any = server.client("iam")
    iam.create_user(UserName="studio-admin")
    iam.put_user_policy(UserName="studio-admin", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sagemaker:CreateDomain",
                                           "sagemaker:CreateUserProfile"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="studio-admin")["AccessKey"]
    admin: Any = server.client("sagemaker", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        admin.create_domain(DomainName="nopass", AuthMode="IAM",
                            DefaultUserSettings={"ExecutionRole": env["default"]})
    assert error_of(e) == ("AccessDeniedException", (
        f"User: arn:aws:iam::{env['account']}:user/studio-admin is not authorized to "
        f"perform: iam:PassRole on resource: {env['default']} because no identity-based "
        "policy allows the iam:PassRole action"))
    assert len(sm.list_domains()["Domains"]) == before
    # A profile without a role of its own passes none: no PassRole needed.
    domain_id = _domain(server, env["default"], "admin-domain")["DomainId"]
    admin.create_user_profile(DomainId=domain_id, UserProfileName="plain")
    with pytest.raises(ClientError) as e:
        admin.create_user_profile(DomainId=domain_id, UserProfileName="own-role",
                                  UserSettings={"ExecutionRole": env["alice"]})
    assert error_of(e)[0] == "AccessDeniedException" and "iam:PassRole" in error_of(e)[1]


def test_per_user_role_and_domain_default(server: Server, env: dict[str, Any],
                                          tmp_path: Path) -> None:
    sm: Any = server.client("sagemaker")
    domain_id = _domain(server, env["default"], "team")["DomainId"]
    alice = sm.create_user_profile(DomainId=domain_id, UserProfileName="alice",
                                   UserSettings={"ExecutionRole": env["alice"]})
    assert alice["UserProfileArn"] == (f"arn:aws:sagemaker:us-east-1:{env['account']}:"
                                       f"user-profile/{domain_id}/alice")
    sm.create_user_profile(DomainId=domain_id, UserProfileName="bob",
                           Tags=[{"Key": "team", "Value": "ml"}])
    a = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    b = sm.describe_user_profile(DomainId=domain_id, UserProfileName="bob")
    assert a["UserSettings"]["ExecutionRole"] == env["alice"]
    assert "ExecutionRole" not in (b.get("UserSettings") or {})
    assert (a["Status"], a["DomainId"], a["HomeEfsFileSystemUid"],
            b["HomeEfsFileSystemUid"]) == ("InService", domain_id, "200001", "200002")
    # What code running in each user's space finds: alice's own role, bob the domain's.
    assert _role_seen_by_sdk(server, tmp_path, domain_id, "alice") == env["alice"]
    assert _role_seen_by_sdk(server, tmp_path, domain_id, "bob") == env["default"]
    with pytest.raises(ClientError) as e:
        sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(e) == ("ResourceInUse", f"User profile {alice['UserProfileArn']} already "
                           "exists.")
    with pytest.raises(ClientError) as e:
        sm.create_user_profile(DomainId=domain_id, UserProfileName="carol",
                               UserSettings={"ExecutionRole": env["untrusted"]})
    assert error_of(e)[1].startswith(f"Could not assume role {env['untrusted']}.")
    with pytest.raises(ClientError) as e:
        sm.create_user_profile(DomainId="d-000000000000", UserProfileName="dave")
    assert error_of(e)[0] == "ResourceNotFound"


def test_profiles_list_update_delete(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    domain_id = _domain(server, env["default"], "lifecycle")["DomainId"]
    other = _domain(server, env["default"], "other")["DomainId"]
    for name in ("data-eng", "data-sci", "ops"):
        sm.create_user_profile(DomainId=domain_id, UserProfileName=name)
    sm.create_user_profile(DomainId=other, UserProfileName="data-ext")
    listed = sm.list_user_profiles(DomainIdEquals=domain_id, UserProfileNameContains="data",
                                   SortBy="CreationTime", SortOrder="Ascending")
    assert [(u["DomainId"], u["UserProfileName"], u["Status"])
            for u in listed["UserProfiles"]] == [(domain_id, "data-eng", "InService"),
                                                 (domain_id, "data-sci", "InService")]
    with pytest.raises(ClientError) as e:
        sm.update_user_profile(DomainId=domain_id, UserProfileName="ops",
                               UserSettings={"ExecutionRole": env["untrusted"]})
    assert error_of(e)[1].startswith(f"Could not assume role {env['untrusted']}.")
    sm.update_user_profile(DomainId=domain_id, UserProfileName="ops",
                           UserSettings={"ExecutionRole": env["alice"]})
    sm.update_user_profile(DomainId=domain_id, UserProfileName="ops",
                           UserSettings={"SecurityGroups": ["sg-0abc"]})
    ops = sm.describe_user_profile(DomainId=domain_id, UserProfileName="ops")
    assert ops["UserSettings"] == {"ExecutionRole": env["alice"], "SecurityGroups": ["sg-0abc"]}
    domain_arn = sm.describe_domain(DomainId=domain_id)["DomainArn"]
    with pytest.raises(ClientError) as e:
        sm.delete_domain(DomainId=domain_id)
    assert error_of(e) == ("ResourceInUse", f"Domain {domain_arn} has 3 user profile(s); "
                           "delete them before deleting the domain.")
    for name in ("data-eng", "data-sci", "ops"):
        sm.delete_user_profile(DomainId=domain_id, UserProfileName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_user_profile(DomainId=domain_id, UserProfileName="ops")
    assert error_of(e) == ("ResourceNotFound", "User profile arn:aws:sagemaker:us-east-1:"
                           f"{env['account']}:user-profile/{domain_id}/ops does not exist.")
    sm.delete_domain(DomainId=domain_id)
    assert domain_id not in {d["DomainId"] for d in sm.list_domains()["Domains"]}
