"""IAM and STS through a real server, real SigV4 and unmodified boto3 (issue 3's story).

Sources: the seed (create the execution role: trust policy for sagemaker.amazonaws.com,
AmazonSageMakerFullAccess, the extra-S3 policy, `iam.get_role(RoleName=...)['Role']['Arn']`),
id_credentials_temp_control-access_assumerole.md (who may assume a role), the IAM and STS API
references (errors), and AWS's SigV4 errors.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import urllib.error
import urllib.request
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import Server

ROLE = "AmazonSageMaker-ExecutionRole-20201200T100000"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EXTRA_S3 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                   "s3:AbortMultipartUpload"],
     "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1/*", "arn:aws:s3:::DOC-EXAMPLE-BUCKET2/*"]},
    {"Effect": "Allow", "Action": ["s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket",
                                   "s3:ListAllMyBuckets", "s3:GetBucketCors", "s3:PutBucketCors"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:PutObjectAcl"],
     "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1", "arn:aws:s3:::DOC-EXAMPLE-BUCKET2"]}]}
FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture(scope="module")
def setup(server: Server) -> dict[str, Any]:
    """The seed's "Create execution role" procedure, through the API."""
    iam: Any = server.client("iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST),
                    Description="SageMaker execution role")
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=FULL_ACCESS)
    iam.put_role_policy(RoleName=ROLE, PolicyName="ExtraS3", PolicyDocument=json.dumps(EXTRA_S3))
    # Two users: alice may assume the data-scientist role, bob may not.
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    keys = {}
    for name in ("alice", "bob"):
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
    iam.put_user_policy(UserName="alice", PolicyName="AssumeDS", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Resource": "*"}]}))
    iam.create_role(RoleName="DataScientist", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}),
        MaxSessionDuration=7200)
    iam.attach_role_policy(RoleName="DataScientist", PolicyArn=FULL_ACCESS)
    iam.put_role_policy(RoleName="DataScientist", PolicyName="ReadRolesAndChain",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": ["iam:GetRole", "sts:AssumeRole"],
                             "Resource": "*"}]}))
    return {"account": account, "keys": keys}


def test_get_execution_role_arn_like_the_seed(server: Server, setup: dict[str, Any]) -> None:
    iam: Any = server.client("iam")
    arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    assert arn == f"arn:aws:iam::{setup['account']}:role/{ROLE}"
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST  # botocore decodes the URL-encoded JSON
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonSageMakerFullAccess", "PolicyArn": FULL_ACCESS}]
    assert iam.get_role_policy(RoleName=ROLE, PolicyName="ExtraS3")["PolicyDocument"] == EXTRA_S3
    policy = iam.get_policy(PolicyArn=FULL_ACCESS)["Policy"]
    version = iam.get_policy_version(PolicyArn=FULL_ACCESS,
                                     VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert len(version["Document"]["Statement"]) == 44


def test_iam_errors_are_aws_errors(server: Server, setup: dict[str, Any]) -> None:
    iam: Any = server.client("iam")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName="NoSuchRole")
    assert error_of(e) == ("NoSuchEntity", "The role with name NoSuchRole cannot be found.")
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    assert error_of(e) == ("EntityAlreadyExists", f"Role with name {ROLE} already exists.")
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=ROLE)
    assert error_of(e) == ("DeleteConflict", "Cannot delete entity, must delete policies first.")
    with pytest.raises(ClientError) as e:  # a permissions policy is not a trust policy
        iam.create_role(RoleName="Bad", AssumeRolePolicyDocument=json.dumps(EXTRA_S3))
    assert error_of(e) == ("MalformedPolicyDocument", "Has prohibited field Resource")
    with pytest.raises(ClientError) as e:
        iam.put_role_policy(RoleName=ROLE, PolicyName="Bad", PolicyDocument=json.dumps(TRUST))
    assert error_of(e) == ("MalformedPolicyDocument",
                           "Policy document should not specify a principal.")


def test_policy_versions_limit(server: Server, setup: dict[str, Any]) -> None:
    # access_policies_managed-versioning.md: at most five versions; the default stays.
    iam: Any = server.client("iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})
    arn = iam.create_policy(PolicyName="Versioned", PolicyDocument=doc)["Policy"]["Arn"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc, SetAsDefault=True)
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc)
    assert error_of(e) == ("LimitExceeded", "A managed policy can have up to 5 versions. "
                           "Before you create a new version, you must delete an existing "
                           "version.")
    with pytest.raises(ClientError) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v5")
    assert error_of(e) == ("DeleteConflict", "Cannot delete the default version of a policy.")
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]


def test_list_roles_paginates(server: Server, setup: dict[str, Any]) -> None:
    iam: Any = server.client("iam")
    for i in range(5):
        iam.create_role(RoleName=f"page-{i}", Path="/paged/",
                        AssumeRolePolicyDocument=json.dumps(TRUST))
    pages = iam.get_paginator("list_roles").paginate(PathPrefix="/paged/",
                                                     PaginationConfig={"PageSize": 2})
    names = [r["RoleName"] for page in pages for r in page["Roles"]]
    assert names == [f"page-{i}" for i in range(5)]


def test_assume_role_allowed_and_denied(server: Server, setup: dict[str, Any]) -> None:
    account = setup["account"]
    role_arn = f"arn:aws:iam::{account}:role/DataScientist"
    alice_sts: Any = server.client("sts", *setup["keys"]["alice"])
    out = alice_sts.assume_role(RoleArn=role_arn, RoleSessionName="alice-session")
    assert out["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{account}:assumed-role/DataScientist/alice-session"
    creds = out["Credentials"]
    session_sts: Any = server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                                     creds["SessionToken"])
    me = session_sts.get_caller_identity()
    assert me["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert me["UserId"].endswith(":alice-session")
    bob_sts: Any = server.client("sts", *setup["keys"]["bob"])
    with pytest.raises(ClientError) as e:
        bob_sts.assume_role(RoleArn=role_arn, RoleSessionName="bob")
    code, message = error_of(e)
    assert code == "AccessDenied"
    assert message == (f"User: arn:aws:iam::{account}:user/bob is not authorized to perform: "
                       f"sts:AssumeRole on resource: {role_arn} because no identity-based "
                       "policy allows the sts:AssumeRole action")
    # The seed's trust policy lets only SageMaker assume the execution role.
    with pytest.raises(ClientError) as e:
        alice_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                              RoleSessionName="probe")
    assert "because no role trust policy allows the sts:AssumeRole action" in error_of(e)[1]


def test_assume_role_durations_and_chaining(server: Server, setup: dict[str, Any]) -> None:
    account = setup["account"]
    alice_sts: Any = server.client("sts", *setup["keys"]["alice"])
    role_arn = f"arn:aws:iam::{account}:role/DataScientist"
    with pytest.raises(ClientError) as e:
        alice_sts.assume_role(RoleArn=role_arn, RoleSessionName="long", DurationSeconds=7201)
    assert error_of(e) == ("ValidationError", "The requested DurationSeconds exceeds the "
                           "MaxSessionDuration set for this role.")
    creds = alice_sts.assume_role(RoleArn=role_arn, RoleSessionName="first")["Credentials"]
    chained: Any = server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                                 creds["SessionToken"])
    with pytest.raises(ClientError) as e:
        chained.assume_role(RoleArn=role_arn, RoleSessionName="second", DurationSeconds=3601)
    assert error_of(e) == ("ValidationError", "The requested DurationSeconds exceeds the 1 hour "
                           "session limit for roles assumed by role chaining.")


def test_session_policy_limits_the_session(server: Server, setup: dict[str, Any]) -> None:
    account = setup["account"]
    alice_sts: Any = server.client("sts", *setup["keys"]["alice"])
    only_describe = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]})
    creds = alice_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/DataScientist",
                                  RoleSessionName="limited", Policy=only_describe)["Credentials"]
    iam: Any = server.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"],
                             creds["SessionToken"])
    iam.get_role(RoleName=ROLE)  # the role's inline policy and the session policy allow it
    with pytest.raises(ClientError) as e:
        iam.list_roles()
    code, message = error_of(e)
    assert code == "AccessDenied"
    assert message.endswith("because no session policy allows the iam:ListRoles action")


def test_simulate_principal_policy(server: Server, setup: dict[str, Any]) -> None:
    iam: Any = server.client("iam")
    arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::DOC-EXAMPLE-BUCKET1/train.csv",
                      "arn:aws:s3:::corp-datasets/train.csv"])["EvaluationResults"]
    decisions = {r["EvalResourceName"]: r["EvalDecision"] for r in results}
    assert decisions == {"arn:aws:s3:::DOC-EXAMPLE-BUCKET1/train.csv": "allowed",
                         "arn:aws:s3:::corp-datasets/train.csv": "implicitDeny"}
    passrole = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["iam:PassRole"], ResourceArns=[arn])
    result = passrole["EvaluationResults"][0]
    assert result["EvalDecision"] == "implicitDeny"
    assert "iam:PassedToService" in result["MissingContextValues"]


def test_denied_user_gets_aws_message_and_decision_is_logged(server: Server,
                                                             setup: dict[str, Any]) -> None:
    bob_iam: Any = server.client("iam", *setup["keys"]["bob"])
    with pytest.raises(ClientError) as e:
        bob_iam.list_roles()
    account = setup["account"]
    assert error_of(e) == ("AccessDenied", f"User: arn:aws:iam::{account}:user/bob is not "
                           "authorized to perform: iam:ListRoles because no identity-based "
                           "policy allows the iam:ListRoles action")
    db = sqlite3.connect(server.data_dir / "execrole.db")
    row = db.execute("SELECT decision, denied_by, message FROM decisions WHERE principal=? "
                     "AND action='iam:ListRoles' ORDER BY id DESC LIMIT 1",
                     (f"arn:aws:iam::{account}:user/bob",)).fetchone()
    assert row[0] == "implicit_deny" and json.loads(row[1]) == ["identity"]


# --- authentication failures -------------------------------------------------------------

def test_wrong_secret_key(server: Server, setup: dict[str, Any]) -> None:
    sts: Any = server.client("sts", server.key, "x" * 40)
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert error_of(e)[0] == "SignatureDoesNotMatch"
    assert error_of(e)[1].startswith("The request signature we calculated does not match the "
                                     "signature you provided.")


def test_unknown_access_key(server: Server, setup: dict[str, Any]) -> None:
    sts: Any = server.client("sts", "AKIAIOSFODNN7EXAMPLE", "x" * 40)
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert error_of(e) == ("InvalidClientTokenId",
                           "The security token included in the request is invalid.")


def test_expired_session(server: Server, setup: dict[str, Any]) -> None:
    alice_sts: Any = server.client("sts", *setup["keys"]["alice"])
    creds = alice_sts.get_session_token(DurationSeconds=900)["Credentials"]
    # Let the session's 15 minutes pass in the store rather than in the test's wall time.
    db = sqlite3.connect(server.data_dir / "execrole.db")
    db.execute("UPDATE sessions SET expires=? WHERE access_key_id=?",
               (time.time() - 1, creds["AccessKeyId"]))
    db.commit()
    sts: Any = server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                             creds["SessionToken"])
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert error_of(e) == ("ExpiredToken", "The security token included in the request is "
                           "expired")


def _signed(server: Server, body: str, when: dt.datetime | None = None) -> AWSRequest:
    request = AWSRequest(method="POST", url=server.url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    original = botocore.auth.get_current_datetime
    if when is not None:
        botocore.auth.get_current_datetime = lambda: when  # type: ignore[assignment]
    try:
        SigV4Auth(Credentials(server.key, server.secret), "sts", "us-east-1").add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    return request


def _send(server: Server, request: AWSRequest, body: bytes) -> tuple[int, str]:
    raw = urllib.request.Request(request.url, data=body, method="POST",
                                 headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(raw, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_tampered_body(server: Server, setup: dict[str, Any]) -> None:
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    request = _signed(server, body)
    status, text = _send(server, request, b"Action=GetCallerIdentity&Version=2011-06-16")
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text
    status, text = _send(server, request, body.encode())
    assert status == 200 and "<Arn>arn:aws:iam::" in text


def test_skewed_clock(server: Server, setup: dict[str, Any]) -> None:
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    late = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=16)
    status, text = _send(server, _signed(server, body, late), body.encode())
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text
    assert "Signature expired" in text
    ok = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=14)
    assert _send(server, _signed(server, body, ok), body.encode())[0] == 200


def test_restart_keeps_everything(server: Server, setup: dict[str, Any]) -> None:
    server.restart()
    iam: Any = server.client("iam")
    assert iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"] == TRUST
    assert iam.get_role_policy(RoleName=ROLE, PolicyName="ExtraS3")["PolicyDocument"] == EXTRA_S3
    alice_sts: Any = server.client("sts", *setup["keys"]["alice"])
    assert alice_sts.get_caller_identity()["Arn"].endswith(":user/alice")


def test_health(server: Server) -> None:
    with urllib.request.urlopen(server.url + "/_execrole/health", timeout=5) as r:
        health = json.load(r)
    assert health["status"] == "ok" and health["schema"] >= 1
