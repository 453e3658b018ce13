"""The endpoint application in-process: bad input gets an AWS error, never a 500 or a
traceback, and nothing stored is lost (hypothesis-driven)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execrole.services.credentials import create_account
from execrole.store import Database
from execrole.wire.app import EndpointApp, HttpRequest


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> tuple[EndpointApp, str, str]:
    db = Database(Path(tmp_path_factory.mktemp("db")) / "execrole.db")
    key, secret = create_account(db, "111122223333")
    return EndpointApp(db), key, secret


def _signed(key: str, secret: str, service: str, body: bytes,
            headers: dict[str, str] | None = None) -> HttpRequest:
    request = AWSRequest(method="POST", url="http://127.0.0.1/", data=body,
                         headers=headers or {"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    sent = {k.lower(): v for k, v in request.headers.items()}
    sent["host"] = "127.0.0.1"  # what an HTTP client sends for the URL signed above
    return HttpRequest("POST", "/", "/", "", sent, body, "127.0.0.1", False)


def test_health(app: Any) -> None:
    endpoint, _, _ = app
    status, _, body = endpoint.handle(HttpRequest("GET", "/_execrole/health", "/_execrole/health",
                                                  "", {}, b"", "127.0.0.1", False))
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_unsigned_iam_request_is_refused_like_aws(app: Any) -> None:
    endpoint, _, _ = app
    status, _, body = endpoint.handle(HttpRequest(
        "POST", "/", "/", "", {"content-type": "application/x-www-form-urlencoded"},
        b"Action=ListRoles&Version=2010-05-08", "127.0.0.1", False))
    assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in body


def test_unknown_action(app: Any) -> None:
    endpoint, key, secret = app
    status, _, body = endpoint.handle(_signed(key, secret, "iam",
                                              b"Action=FlyToTheMoon&Version=2010-05-08"))
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


def test_model_constraints_give_validation_errors(app: Any) -> None:
    endpoint, key, secret = app
    body = b"Action=GetRole&Version=2010-05-08&RoleName=" + b"x" * 65
    status, _, out = endpoint.handle(_signed(key, secret, "iam", body))
    assert status == 400
    assert b"<Code>ValidationError</Code>" in out
    assert b"Member must have length less than or equal to 64" in out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300), service=st.sampled_from(["iam", "sts"]),
       action=st.sampled_from(["CreateRole", "GetRole", "PutRolePolicy", "AssumeRole",
                               "CreatePolicy", "SimulateCustomPolicy", "ListRoles", "Nope"]),
       extra=st.dictionaries(st.sampled_from(["RoleName", "AssumeRolePolicyDocument",
                                              "PolicyDocument", "RoleArn", "MaxItems",
                                              "Marker", "PolicyInputList.member.1",
                                              "ActionNames.member.1", "DurationSeconds"]),
                             st.text(max_size=40), max_size=4))
def test_signed_garbage_never_500(app: Any, body: bytes, service: str, action: str,
                                  extra: dict[str, str]) -> None:
    from urllib.parse import urlencode

    endpoint, key, secret = app
    version = "2010-05-08" if service == "iam" else "2011-06-15"
    form = urlencode({"Action": action, "Version": version, **extra}).encode()
    for payload in (form, body, form + b"&" + body):
        status, _headers, out = endpoint.handle(_signed(key, secret, service, payload))
        assert status != 500, out
        assert b"Traceback" not in out


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.dictionaries(st.sampled_from(["authorization", "x-amz-date", "host",
                                                "x-amz-security-token", "content-type",
                                                "x-amz-target"]),
                               st.text(max_size=80), max_size=6),
       query=st.text(max_size=80), body=st.binary(max_size=100))
def test_unsigned_or_malformed_auth_never_500(app: Any, headers: dict[str, str], query: str,
                                              body: bytes) -> None:
    endpoint, _, _ = app
    status, _, out = endpoint.handle(HttpRequest("POST", "/", "/", query, headers, body,
                                                 "127.0.0.1", False))
    # S3 takes unsigned requests, so some of these are S3's own answers (405 for a POST S3
    # does not serve); none is a server error.
    assert 400 <= status < 500, out


def test_roles_survive_garbage(app: Any) -> None:
    endpoint, key, secret = app
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal":
                        {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    from urllib.parse import urlencode

    create = urlencode({"Action": "CreateRole", "Version": "2010-05-08", "RoleName": "Kept",
                        "AssumeRolePolicyDocument": trust}).encode()
    assert endpoint.handle(_signed(key, secret, "iam", create))[0] == 200
    bad = urlencode({"Action": "UpdateAssumeRolePolicy", "Version": "2010-05-08",
                     "RoleName": "Kept", "PolicyDocument": "{not json"}).encode()
    status, _, out = endpoint.handle(_signed(key, secret, "iam", bad))
    assert status == 400 and b"MalformedPolicyDocument" in out
    get = urlencode({"Action": "GetRole", "Version": "2010-05-08", "RoleName": "Kept"}).encode()
    status, _, out = endpoint.handle(_signed(key, secret, "iam", get))
    assert status == 200 and b"sagemaker.amazonaws.com" in out
