"""Review findings against the endpoint (IAM, STS): each test fails today and names the
AWS behaviour it expects. In-process EndpointApp, real SigV4, real SQLite, as in
tests/test_endpoint_app.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from execrole.services.credentials import create_account
from execrole.store import Database
from execrole.wire.app import EndpointApp, HttpRequest

ACCOUNT = "111122223333"
Creds = tuple[str, ...]


class Endpoint:
    def __init__(self, tmp: Path) -> None:
        self.db = Database(tmp / "execrole.db")
        self.root: Creds = create_account(self.db, ACCOUNT)
        self.app = EndpointApp(self.db)

    def call(self, creds: Creds, service: str, action: str, **params: str) -> tuple[int, str]:
        version = "2010-05-08" if service == "iam" else "2011-06-15"
        body = urlencode({"Action": action, "Version": version, **params}).encode()
        token = creds[2] if len(creds) > 2 else None
        request = AWSRequest(method="POST", url="http://127.0.0.1/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(creds[0], creds[1], token), service, "us-east-1") \
            .add_auth(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        headers["host"] = "127.0.0.1"
        status, _, out = self.app.handle(HttpRequest("POST", "/", "/", "", headers, body,
                                                     "127.0.0.1", False))
        return status, out.decode()

    def ok(self, creds: Creds, service: str, action: str, **params: str) -> str:
        status, out = self.call(creds, service, action, **params)
        assert status == 200, out
        return out


def _tag(xml: str, name: str) -> str:
    m = re.search(f"<{name}>(.*?)</{name}>", xml, re.S)
    assert m, xml
    return m.group(1)


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def ep(tmp_path: Path) -> Endpoint:
    return Endpoint(tmp_path)


def _user_with_key(ep: Endpoint, name: str, policy: str | None = None) -> Creds:
    ep.ok(ep.root, "iam", "CreateUser", UserName=name)
    if policy:
        ep.ok(ep.root, "iam", "PutUserPolicy", UserName=name, PolicyName="p",
              PolicyDocument=policy)
    out = ep.ok(ep.root, "iam", "CreateAccessKey", UserName=name)
    return _tag(out, "AccessKeyId"), _tag(out, "SecretAccessKey")


def _role_session(ep: Endpoint, name: str, policy: str, path: str = "/") -> Creds:
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    ep.ok(ep.root, "iam", "CreateRole", RoleName=name, Path=path,
          AssumeRolePolicyDocument=trust)
    ep.ok(ep.root, "iam", "PutRolePolicy", RoleName=name, PolicyName="p", PolicyDocument=policy)
    out = ep.ok(ep.root, "sts", "AssumeRole",
                RoleArn=f"arn:aws:iam::{ACCOUNT}:role{path}{name}", RoleSessionName="s1")
    return _tag(out, "AccessKeyId"), _tag(out, "SecretAccessKey"), _tag(out, "SessionToken")


# Source: reference_policies_variables.md#Using variables in policies — the page's own policy
# ("iam:*AccessKey*" on arn:aws:iam::account-id:user/${aws:username}) lets each user manage
# their own access keys. Called without UserName, the operations act on the calling user, so
# AWS authorizes them against the caller's user ARN; execrole authorizes them on "*".
@pytest.mark.parametrize("action", ["ListAccessKeys", "CreateAccessKey", "GetUser"])
def test_self_operations_authorize_against_the_callers_user_arn(ep: Endpoint,
                                                                 action: str) -> None:
    policy = _doc({"Effect": "Allow", "Action": ["iam:*AccessKey*", "iam:GetUser"],
                   "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"})
    david = _user_with_key(ep, "David", policy)
    status, out = ep.call(david, "iam", action)
    assert status == 200, out


# IAM API reference (ListAccessKeys, UpdateAccessKey, DeleteAccessKey): without UserName the
# user is the caller; with temporary (role) credentials UserName is required. execrole falls
# back to user_name IS NULL, i.e. the account root user's keys: a role session can list and
# deactivate the root user's access keys.
def test_role_session_cannot_reach_root_access_keys_without_username(ep: Endpoint) -> None:
    session = _role_session(ep, "Admin", _doc({"Effect": "Allow", "Action": "iam:*",
                                               "Resource": "*"}))
    status, out = ep.call(session, "iam", "ListAccessKeys")
    assert ep.root[0] not in out, "a role session was shown the root user's access key"
    status, out = ep.call(session, "iam", "UpdateAccessKey", AccessKeyId=ep.root[0],
                          Status="Inactive")
    assert status != 200, "a role session deactivated the root user's access key"
    assert ep.call(ep.root, "sts", "GetCallerIdentity")[0] == 200


# DESIGN.md "Bad input gets AWS's error, never a traceback or a 500". AWS answers AccessDenied
# for AssumeRole on a role that does not exist; execrole builds a placeholder trust policy
# that its own trust-policy validation rejects (NotAction), and the request ends in a 500.
@pytest.mark.parametrize("role_arn", [f"arn:aws:iam::{ACCOUNT}:role/DoesNotExist",
                                      "not-an-arn-but-20-chars-long"])
def test_assume_role_on_missing_role_is_access_denied_not_500(ep: Endpoint,
                                                              role_arn: str) -> None:
    status, out = ep.call(ep.root, "sts", "AssumeRole", RoleArn=role_arn,
                          RoleSessionName="s1")
    assert status == 403 and "<Code>AccessDenied</Code>" in out, (status, out)


# IAM API reference, UpdateUser: renaming a user keeps its groups and access keys. execrole
# renames the user entity only: the group still lists the old name (GetGroup answers
# NoSuchEntity) and the user's access keys stay under the old name (they stop working).
def test_renamed_user_keeps_groups_and_access_keys(ep: Endpoint) -> None:
    key = _user_with_key(ep, "David")
    ep.ok(ep.root, "iam", "CreateGroup", GroupName="G")
    ep.ok(ep.root, "iam", "AddUserToGroup", GroupName="G", UserName="David")
    ep.ok(ep.root, "iam", "UpdateUser", UserName="David", NewUserName="Dave")
    status, out = ep.call(ep.root, "iam", "GetGroup", GroupName="G")
    assert status == 200 and "<UserName>Dave</UserName>" in out, out
    out = ep.ok(ep.root, "iam", "ListAccessKeys", UserName="Dave")
    assert key[0] in out
    status, out = ep.call(key, "sts", "GetCallerIdentity")
    assert status == 200 and f"arn:aws:iam::{ACCOUNT}:user/Dave" in out, out


# reference_policies_condition-keys.md#aws:PrincipalArn: for a role session the context holds
# the role's ARN — which includes the role's path (arn:aws:iam::...:role/team/C). execrole
# derives it from the session ARN, which has no path, so ArnLike on the path fails.
def test_principal_arn_of_a_role_session_includes_the_role_path(ep: Endpoint) -> None:
    policy = _doc({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
                   "Condition": {"ArnLike": {
                       "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/team/*"}}})
    session = _role_session(ep, "C", policy, path="/team/")
    status, out = ep.call(session, "iam", "ListRoles")
    assert status == 200, out


# IAM API reference / botocore iam model, SimulateCustomPolicy.ResourceOwner: "An ARN
# representing the AWS account ID ... arn:aws:iam::AWS-account-ID:root". execrole uses the
# ARN text as the account id, so a same-account owner turns the simulation cross-account
# and an identity policy alone no longer allows.
def test_simulate_resource_owner_is_an_account_arn(ep: Endpoint) -> None:
    policy = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    out = ep.ok(ep.root, "iam", "SimulateCustomPolicy", **{
        "PolicyInputList.member.1": policy, "ActionNames.member.1": "s3:GetObject",
        "ResourceArns.member.1": "arn:aws:s3:::bucket/key",
        "CallerArn": f"arn:aws:iam::{ACCOUNT}:user/Bob",
        "ResourceOwner": f"arn:aws:iam::{ACCOUNT}:root"})
    assert _tag(out, "EvalDecision") == "allowed"


# DESIGN.md: bad input never gives a 500. ContextKeyName is not a required member of
# ContextEntry in the service model, so validation lets it through and _context indexes it.
def test_simulate_context_entry_without_key_name_is_not_500(ep: Endpoint) -> None:
    policy = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    status, out = ep.call(ep.root, "iam", "SimulateCustomPolicy", **{
        "PolicyInputList.member.1": policy, "ActionNames.member.1": "s3:GetObject",
        "ContextEntries.member.1.ContextKeyType": "string",
        "ContextEntries.member.1.ContextKeyValues.member.1": "x"})
    assert status != 500, out
