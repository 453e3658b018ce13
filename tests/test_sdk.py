"""execrole.sdk.get_execution_role against a real AWS API implementation on loopback:
moto_server (IAM, STS and SageMaker), reached through AWS_ENDPOINT_URL as a user's SDK would.

moto accepts any credentials; GetCallerIdentity answers for the access key used (an IAM user's
key, or an assumed-role session's), which is what the resolution order depends on."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from execrole.sdk import METADATA_ENV, ExecutionRoleError, get_execution_role

REGION = "us-east-1"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
NOT_A_ROLE = ("The current AWS identity is not a role: {}, therefore it cannot be used as a "
              "SageMaker execution role")


def _moto_server_command() -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    if found is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    return [found]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto_server on a free loopback port for this module; stopped afterwards."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([*_moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}; see {log.name}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("moto_server did not start within 20 s")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(autouse=True)
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the machine's AWS setup: no credentials, region, profile or metadata
    file; every endpoint is moto; one attempt per call so failures are quick."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == METADATA_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv(METADATA_ENV, str(tmp_path / "no-metadata.json"))


def session(key: str = "AKIAADMINEXAMPLE", secret: str = "secret", token: str | None = None,
            region: str | None = REGION) -> Any:
    return boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                         aws_session_token=token, region_name=region)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_role(name: str, path: str = "/ml/team/") -> str:
    arn: str = session().client("iam").create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return arn


def assume(role_arn: str) -> Any:
    creds = session().client("sts").assume_role(RoleArn=role_arn,
                                                RoleSessionName="SageMaker")["Credentials"]
    return session(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def metadata(tmp_path: Path, **fields: str) -> Path:
    path = tmp_path / "resource-metadata.json"
    path.write_text(json.dumps(fields))
    return path


# -- 1. the notebook metadata file ---------------------------------------------------------

def test_metadata_execution_role_arn_needs_no_aws_call(tmp_path: Path) -> None:
    arn = "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-1"
    path = metadata(tmp_path, ExecutionRoleArn=arn, ResourceName="some-notebook",
                    DomainId="d-xxxxxxxx", UserProfileName="alice")
    # No region, no credentials: the file alone answers.
    assert get_execution_role(metadata_path=path,
                              boto_session=boto3.Session(region_name=None)) == arn
    assert get_execution_role(metadata_path=str(path)) == arn


def test_metadata_path_from_the_environment(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = metadata(tmp_path, ExecutionRoleArn="arn:aws:iam::111122223333:role/FromEnv")
    monkeypatch.setenv(METADATA_ENV, str(from_env))
    assert get_execution_role() == "arn:aws:iam::111122223333:role/FromEnv"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"ExecutionRoleArn": "arn:aws:iam::111122223333:role/Arg"}))
    assert get_execution_role(metadata_path=other) == "arn:aws:iam::111122223333:role/Arg"


def test_metadata_notebook_instance(tmp_path: Path) -> None:
    role = create_role(unique("NotebookRole"))
    assert ":role/ml/team/" in role
    notebook = unique("nb")
    session().client("sagemaker").create_notebook_instance(
        NotebookInstanceName=notebook, InstanceType="ml.t3.medium", RoleArn=role)
    path = metadata(tmp_path, ResourceName=notebook,
                    ResourceArn=f"arn:aws:sagemaker:{REGION}:123456789012:notebook-instance/"
                                f"{notebook}")
    # The caller is an IAM user: the role comes from DescribeNotebookInstance, not STS.
    user = session(*_user_keys(unique("nb-user")))
    assert get_execution_role(boto_session=user, metadata_path=path) == role


def test_metadata_unknown_notebook_falls_back_to_the_caller(tmp_path: Path) -> None:
    role = create_role(unique("FallbackRole"))
    path = metadata(tmp_path, ResourceName=unique("no-such-notebook"))
    assert get_execution_role(boto_session=assume(role), metadata_path=path) == role


def test_metadata_studio_user_profile_error_falls_back_to_the_caller(tmp_path: Path) -> None:
    # DescribeUserProfile fails here (an unknown profile; moto 5.2 does not implement the
    # operation at all): as in the SDK, the caller's identity decides.
    role = create_role(unique("StudioRole"))
    path = metadata(tmp_path, DomainId="d-doesnotexist", UserProfileName="nobody")
    assert get_execution_role(boto_session=assume(role), metadata_path=path) == role


def test_metadata_not_json(tmp_path: Path) -> None:
    path = tmp_path / "resource-metadata.json"
    path.write_text("{not json")
    with pytest.raises(ExecutionRoleError, match="is not valid JSON"):
        get_execution_role(metadata_path=path, boto_session=session())


# -- 2. the caller's identity ------------------------------------------------------------------

def test_assumed_role_session_gives_the_role_arn_with_its_path() -> None:
    name = unique("TrainingRole")
    role = create_role(name, path="/ml/team/")
    assert role == f"arn:aws:iam::123456789012:role/ml/team/{name}"
    caller = assume(role)
    assert caller.client("sts").get_caller_identity()["Arn"] == \
        f"arn:aws:sts::123456789012:assumed-role/{name}/SageMaker"
    assert get_execution_role(boto_session=caller) == role


def test_default_session_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3.Session() by default: credentials and region from the environment, and the
    endpoint from AWS_ENDPOINT_URL (moto here; the SDK would call sts.<region>.amazonaws.com)."""
    role = create_role(unique("EnvRole"))
    creds = session().client("sts").assume_role(RoleArn=role,
                                                RoleSessionName="env")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert get_execution_role() == role


def test_sagemaker_session_like_object() -> None:
    role = create_role(unique("SdkSessionRole"))

    class FakeSdkSession:  # the attribute get_execution_role uses from sagemaker.Session
        boto_session = assume(role)

    assert get_execution_role(FakeSdkSession()) == role


def test_get_role_failure_keeps_the_rewritten_arn() -> None:
    """Without iam:GetRole (here: the role is gone), the SDK keeps the ARN without a path,
    guessing /service-role/ for console-made AmazonSageMaker-ExecutionRole-* roles."""
    iam = session().client("iam")
    plain, console = unique("PlainRole"), unique("AmazonSageMaker-ExecutionRole")
    sessions = {}
    for name in (plain, console):
        sessions[name] = assume(create_role(name, path="/somewhere/"))
        iam.delete_role(RoleName=name)
    assert get_execution_role(boto_session=sessions[plain]) == \
        f"arn:aws:iam::123456789012:role/{plain}"
    assert get_execution_role(boto_session=sessions[console]) == \
        f"arn:aws:iam::123456789012:role/service-role/{console}"


# -- 3. not a role, and nothing configured -----------------------------------------------------

def _user_keys(name: str) -> tuple[str, str]:
    iam = session().client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_user_identity_is_not_a_role() -> None:
    name = unique("alice")
    with pytest.raises(ValueError) as e:
        get_execution_role(boto_session=session(*_user_keys(name)))
    message = str(e.value)
    arn = f"arn:aws:iam::123456789012:user/{name}"
    assert message.startswith(NOT_A_ROLE.format(arn) + ".\n")
    assert "execrole role create" in message
    assert "arn:aws:iam::123456789012:role/" in message  # pass the role ARN explicitly
    assert isinstance(e.value, ExecutionRoleError)


def test_no_region() -> None:
    with pytest.raises(ExecutionRoleError) as e:
        get_execution_role(boto_session=session(region=None))
    assert str(e.value).startswith("No AWS region configured: set AWS_DEFAULT_REGION")
    with pytest.raises(ExecutionRoleError, match=r"^No AWS region configured"):
        get_execution_role()  # the default boto3.Session() in an empty environment


def test_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(ExecutionRoleError, match=r"^No AWS credentials found: set "
                                                  r"AWS_ACCESS_KEY_ID"):
        get_execution_role()


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    with pytest.raises(ExecutionRoleError) as e:
        get_execution_role(boto_session=session())
    assert str(e.value).startswith(f"Could not connect to the AWS endpoint {url}")
    assert "AWS_ENDPOINT_URL_STS" in str(e.value)
