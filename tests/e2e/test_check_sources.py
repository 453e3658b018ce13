"""`execrole role create` and `execrole check` against AWS-API implementations on loopback:
our own endpoint and, as a second and independent one, moto's server (issue 4: "check
--source aws tested against an AWS-API implementation on loopback ... never the internet").

Sources: seed, "Create execution role" and "Add Additional Amazon S3 Permissions"
(the role this builds) and "Get execution role" (`iam.get_role(RoleName=...)['Role']['Arn']`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import Server, free_port

ACCOUNT = "111122223333"


def request_for(role_arn: str, bucket: str, account: str) -> dict[str, Any]:
    return {
        "TrainingJobName": "nightly",
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": f"{account}.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
            "TrainingInputMode": "File"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def execrole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "execrole", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def roles(server: Server) -> dict[str, str]:
    env = server.env()
    good = execrole(env, "role", "create", "TeamRole", "--s3-bucket", "corp-data",
                    "--endpoint", server.url, "--data-dir", str(server.data_dir))
    assert good.returncode == 0, good.stderr
    plain = execrole(env, "role", "create", "PlainRole", "--endpoint", server.url,
                     "--data-dir", str(server.data_dir))
    assert plain.returncode == 0, plain.stderr
    iam: Any = server.client("iam")
    alice = iam.create_user(UserName="scientist")["User"]["Arn"]
    iam.put_user_policy(UserName="scientist", PolicyName="Train", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob", "iam:PassRole"],
             "Resource": "*"}]}))
    return {"good": good.stdout.strip(), "plain": plain.stdout.strip(), "caller": alice}


def test_role_create_prints_the_arn_the_seed_looks_up(server: Server,
                                                      roles: dict[str, str]) -> None:
    iam: Any = server.client("iam")
    assert roles["good"] == iam.get_role(RoleName="TeamRole")["Role"]["Arn"]
    attached = iam.list_attached_role_policies(RoleName="TeamRole")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonSageMakerFullAccess"]
    assert iam.list_role_policies(RoleName="TeamRole")["PolicyNames"] == ["AdditionalS3Access"]


def _write_request(tmp_path: Path, role_arn: str) -> str:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_for(role_arn, "corp-data", ACCOUNT)))
    return str(path)


@pytest.mark.parametrize("source", ["aws", "local", "file"])
def test_check_passes_for_the_complete_role(server: Server, roles: dict[str, str],
                                            tmp_path: Path, source: str) -> None:
    env = server.env()
    args = ["check", "CreateTrainingJob", _write_request(tmp_path, roles["good"]),
            "--caller", roles["caller"]]
    if source == "aws":
        args += ["--source", "aws", "--endpoint", server.url]
    elif source == "local":
        args += ["--source", "local", "--data-dir", str(server.data_dir)]
    else:
        exe = shutil.which("aws", path=str(Path(sys.executable).parent))
        assert exe
        dump = subprocess.run([exe, "iam", "get-account-authorization-details"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert dump.returncode == 0, dump.stderr
        auth = tmp_path / "auth.json"
        auth.write_text(dump.stdout)
        args += ["--source", f"file:{auth}"]
    result = execrole(env, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Everything the request needs is allowed." in result.stdout


def test_check_names_the_missing_permission(server: Server, roles: dict[str, str],
                                            tmp_path: Path) -> None:
    result = execrole(server.env(), "check", "CreateTrainingJob",
                      _write_request(tmp_path, roles["plain"]), "--caller", roles["caller"],
                      "--source", "aws", "--endpoint", server.url, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    denied = {(r["action"], r["resource"]) for r in report["requirements"]
              if r["decision"] != "allow" and r["decision"] != "not_checked"}
    assert denied == {("s3:GetObject", "arn:aws:s3:::corp-data/train/*"),
                      ("s3:PutObject", "arn:aws:s3:::corp-data/models/*")}
    assert report["sagemaker_error"] == (
        "ClientError: Data download failed:Unable to download object s3://corp-data/train/* "
        "(AccessDenied: User: arn:aws:sts::111122223333:assumed-role/PlainRole/SageMaker is not "
        "authorized to perform: s3:GetObject on resource: arn:aws:s3:::corp-data/train/* because "
        "no identity-based policy allows the s3:GetObject action)")


# --- moto's server: a second, independent AWS-API implementation ----------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert exe, "moto[server] is installed with the test tools"
    port = free_port()
    # moto loads AWS managed policies only when asked to.
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    proc = subprocess.Popen([exe, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_check_against_moto_server(moto_url: str, tmp_path: Path) -> None:
    iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName="MotoRole",
                          AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="MotoRole",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    account = arn.split(":")[4]
    request = tmp_path / "request.json"
    request.write_text(json.dumps(request_for(arn, "sagemaker-models-x", account)))
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "HOME": str(tmp_path)}
    ok = execrole(env, "check", "CreateTrainingJob", str(request), "--source", "aws",
                  "--endpoint", moto_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    request.write_text(json.dumps(request_for(arn, "corp-data", account)))
    denied = execrole(env, "check", "CreateTrainingJob", str(request), "--source", "aws",
                      "--endpoint", moto_url)
    assert denied.returncode == 1
    assert "SageMaker would answer: ClientError: Data download failed" in denied.stdout
