"""The SageMaker Python SDK (2.x, unmodified) against a real `execrole serve`, in subprocesses
with the environment `eval "$(execrole env)"` gives: the server's AWS_* variables plus the
client hook (execrole.clienthook), which sends the SDK's STS clients — created with an
explicit `https://sts.<region>.amazonaws.com` endpoint — to the server as well.

Sources: the SDK's `sagemaker/session.py` (Session.account_id, default_bucket,
get_caller_identity_arn, get_execution_role); the notes in shared/notes/sagemaker-sdk.md.
Every SDK run opts out of the SDK's telemetry (a plain HTTPS GET to an S3 host of AWS that no
botocore hook sees) through an SDK defaults file, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Server

from execrole import clienthook

ACCOUNT = "111122223333"
BUCKET = f"sagemaker-us-east-1-{ACCOUNT}"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
     "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
     "Action": "sts:AssumeRole"}]}
# The SDK defaults file (sagemaker/config/config_schema.py): TelemetryOptOut stops the GET
# to sm-pysdk-t-<region>.s3.<region>.amazonaws.com that Estimator.fit and others send.
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
SDK_DEFAULTS = """SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""


def sdk_environment(server: Server, config_dir: Path) -> dict[str, str]:
    """What `eval "$(execrole env)"` sets, plus SDK settings that keep the run local and
    quiet; no user or machine SageMaker config is read."""
    env = server.env()
    env.update(clienthook.environment(server.url, base=env))
    defaults = config_dir / "sagemaker-defaults.yaml"
    defaults.write_text(SDK_DEFAULTS)
    env.update(SAGEMAKER_ADMIN_CONFIG_OVERRIDE=str(defaults),
               SAGEMAKER_USER_CONFIG_OVERRIDE=str(defaults),
               SAGEMAKER_SUPPRESS_V2_WARNING="1")
    # A safety net, not part of the setup under test: any request for a host other than
    # the local endpoint goes to a closed local port and fails at once, so a client the
    # hook missed fails the test instead of reaching out for AWS.
    env.update(HTTPS_PROXY=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY, NO_PROXY="127.0.0.1,localhost")
    for name in ("https_proxy", "http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


def run_sdk_logged(env: dict[str, str], code: str, timeout: float = 180,
                   **credentials: str) -> tuple[Any, str]:
    """Run `code` (which prints one JSON value last) with the SDK: that value, and all the
    process printed (the SDK prints job logs to stdout, its own log lines to stderr)."""
    full = dict(env)
    full.update(credentials)
    result = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout + result.stderr


def run_sdk(env: dict[str, str], code: str, **credentials: str) -> Any:
    """`run_sdk_logged`'s value alone."""
    return run_sdk_logged(env, code, **credentials)[0]


@pytest.fixture(scope="module")
def env(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return sdk_environment(server, tmp_path_factory.mktemp("sdk"))


@pytest.fixture(scope="module")
def role_session(server: Server) -> dict[str, str]:
    """Credentials of a session of role service-role/SdkRole, which may read itself
    (iam:GetRole: the SDK looks the role's path up)."""
    iam: Any = server.client("iam")
    iam.create_role(RoleName="SdkRole", Path="/service-role/",
                    AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="SdkRole", PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:GetRole",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/service-role/SdkRole"}]}))
    sts: Any = server.client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/service-role/SdkRole",
                            RoleSessionName="notebook")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}


def log(server: Server, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run([sys.executable, "-m", "execrole", "log", "--json", "--data-dir",
                             str(server.data_dir), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_sdk_is_the_real_one(env: dict[str, str]) -> None:
    """The dev extra installs the 2.x SDK: a real import, not a skip."""
    out = run_sdk(env, "import json, sagemaker, sagemaker.estimator, sagemaker.processing, "
                  "sagemaker.sklearn; print(json.dumps(sagemaker.__version__))")
    assert out.startswith("2.")


def test_without_the_hook_the_sdk_would_call_aws(env: dict[str, str]) -> None:
    """The negative control: AWS_ENDPOINT_URL alone does not cover the SDK's STS client, which
    heads for sts.us-east-1.amazonaws.com (stopped here by the dead proxy)."""
    unhooked = {k: v for k, v in env.items() if k not in ("PYTHONPATH", clienthook.ENV_VAR)}
    unhooked["AWS_MAX_ATTEMPTS"] = "1"
    out = run_sdk(unhooked, """
import json, sagemaker
session = sagemaker.Session()
sent = []
session.boto_session.events.register("before-send.sts", lambda request, **_: sent.append(
    request.url))
try:
    session.account_id()
except Exception as e:
    print(json.dumps([type(e).__name__, sent]))
""")
    assert out == ["ProxyConnectionError", ["https://sts.us-east-1.amazonaws.com/"]]


def test_sts_clients_go_to_the_endpoint(server: Server, env: dict[str, str]) -> None:
    """The SDK's own STS client (sagemaker.utils.sts_regional_endpoint) lands on execrole."""
    out = run_sdk(env, """
import json, boto3
from sagemaker.utils import sts_regional_endpoint
explicit = sts_regional_endpoint("us-east-1")
sts = boto3.Session().client("sts", region_name="us-east-1", endpoint_url=explicit)
print(json.dumps([explicit, sts.meta.endpoint_url, sts.get_caller_identity()["Arn"]]))
""")
    assert out == ["https://sts.us-east-1.amazonaws.com", server.url,
                   f"arn:aws:iam::{ACCOUNT}:root"]


def test_session_account_and_default_bucket(server: Server, env: dict[str, str]) -> None:
    """Session.account_id (STS through the hook) and default_bucket (STS, then S3
    ListBuckets/HeadBucket/CreateBucket through AWS_ENDPOINT_URL) create the SDK's bucket
    on our endpoint; a second session finds it (HeadBucket with ExpectedBucketOwner)."""
    out = run_sdk(env, """
import json, sagemaker
first = sagemaker.Session()
account, bucket = first.account_id(), first.default_bucket()
again = sagemaker.Session().default_bucket()
print(json.dumps({"account": account, "bucket": bucket, "again": again}))
""")
    assert out == {"account": ACCOUNT, "bucket": BUCKET, "again": BUCKET}
    s3: Any = server.client("s3")
    assert BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] in (None, "us-east-1")


def test_get_execution_role_of_a_role_session(server: Server, env: dict[str, str],
                                              role_session: dict[str, str]) -> None:
    """Under a role session, get_execution_role is STS GetCallerIdentity (the assumed-role
    ARN) → iam:GetRole for the role's path → the role's ARN."""
    out = run_sdk(env, "import json, sagemaker; print(json.dumps(sagemaker.get_execution_role()))",
                  **role_session)
    assert out == f"arn:aws:iam::{ACCOUNT}:role/service-role/SdkRole"
    # The path came from our IAM, asked by the role session itself.
    calls = log(server, "--action", "iam:GetRole", "--principal", "assumed-role/SdkRole")
    assert calls and calls[-1]["decision"] == "allow"
    assert calls[-1]["resource"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/SdkRole"


def test_get_execution_role_of_root_is_refused(env: dict[str, str]) -> None:
    """The root user is not a role: the SDK's ValueError, with the ARN our STS returned."""
    out = run_sdk(env, """
import json, sagemaker
try:
    sagemaker.get_execution_role()
except ValueError as e:
    print(json.dumps(str(e)))
""")
    assert out.startswith(f"The current AWS identity is not a role: arn:aws:iam::{ACCOUNT}:root, "
                          "therefore it cannot be used as a SageMaker execution role")


def test_get_execution_role_use_default_creates_the_role(server: Server,
                                                         env: dict[str, str]) -> None:
    """use_default=True: the SDK creates AmazonSageMaker-DefaultRole (trusting SageMaker)
    with AmazonSageMakerFullAccess attached, in our IAM."""
    out = run_sdk(env, "import json, sagemaker; "
                  "print(json.dumps(sagemaker.get_execution_role(use_default=True)))")
    assert out == f"arn:aws:iam::{ACCOUNT}:role/AmazonSageMaker-DefaultRole"
    iam: Any = server.client("iam")
    attached = iam.list_attached_role_policies(RoleName="AmazonSageMaker-DefaultRole")
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == [
        "AmazonSageMakerFullAccess"]
    trust = iam.get_role(RoleName="AmazonSageMaker-DefaultRole")["Role"][
        "AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": ["sagemaker.amazonaws.com"]}


def test_no_sdk_call_left_for_aws(server: Server, env: dict[str, str]) -> None:
    """Every client a Session makes points at the endpoint (none kept an AWS host)."""
    out = run_sdk(env, """
import json, sagemaker
s = sagemaker.Session()
clients = {"sagemaker": s.sagemaker_client, "runtime": s.sagemaker_runtime_client,
           "s3": s.boto_session.client("s3"), "logs": s.boto_session.client("logs")}
print(json.dumps({k: c.meta.endpoint_url for k, c in clients.items()}))
""")
    assert set(out.values()) == {server.url}
