"""Training jobs end to end: the control plane on the endpoint and the runtime running the job
as a local process under the execution role, every side effect done as the role session.

Sources: the seed ("CreateTrainingJob API: Execution Role Permissions": the S3, CloudWatch,
Logs, ECR and KMS actions the role needs; "Passing Roles": iam:PassRole with
iam:PassedToService; the trust policy for sagemaker.amazonaws.com);
your-algorithms-training-algo-running-container.md and -output.md (the /opt/ml contract,
model.tar.gz to `S3OutputPath/<job>/output/`, the failure file); botocore's sagemaker model
(DescribeTrainingJob statuses and secondary statuses, StopTrainingJob's SIGTERM then SIGKILL,
MaxRuntimeExceeded, the `training_job_completed_or_stopped` waiter); the FailureReason texts
users report (docs/fidelity.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server, _read_root_key, free_port, job_log_lines, planned_role, push_image

from execrole.planner.plan import plan

REGION = "us-east-1"
DATA, MODELS = "sagemaker-fit-data", "sagemaker-fit-models"
TRAIN_SCRIPT = '''
import csv, os, pickle, sys, time
import boto3
from sklearn.linear_model import LogisticRegression

rows = []
channel = os.environ["SM_CHANNEL_TRAIN"]
for name in sorted(os.listdir(channel)):
    with open(os.path.join(channel, name)) as f:
        rows += [[float(v) for v in r] for r in csv.reader(f)]
X, y = [r[:-1] for r in rows], [int(r[-1]) for r in rows]
model = LogisticRegression().fit(X, y)
print(f"accuracy={model.score(X, y):.3f}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.pkl"), "wb") as f:
    pickle.dump(model, f)
if os.environ.get("WRITE_CHECKPOINT"):
    with open(os.path.join(os.environ["SM_ROOT"], "checkpoints", "step-1"), "w") as f:
        f.write("checkpoint")
probe = os.environ.get("PROBE_BUCKET")
if probe:
    try:
        boto3.client("s3").get_object(Bucket=probe, Key="secret.txt")
        print("probe: allowed", flush=True)
    except Exception as e:
        print(f"probe: {e.response['Error']['Code']}", flush=True)
'''
SLEEP_SCRIPT = '''
import os, signal, sys, time
def stop(*_):
    print("got SIGTERM, saving", flush=True)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w").write("partial")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(f"pid={os.getpid()}", flush=True)
time.sleep(float(os.environ.get("SLEEP", "60")))
'''
FAIL_SCRIPT = '''
import os
open(os.path.join(os.environ["SM_ROOT"], "output", "failure"), "w").write(
    "ValueError: the training data has no rows")
raise SystemExit(2)
'''


# S3 names the denied principal and action for a same-account request (the engine's text).
DENIED = ("User: arn:aws:sts::{{account}}:assumed-role/{role}/SageMaker is not authorized to "
          "perform: {action} on resource: {resource} because no identity-based policy allows "
          "the {action} action")


def _push(server: Server, uri: str, files: dict[str, str], tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp / name).write_text(text)
    push_image(server, uri, tmp, f"python {next(iter(files))}")


@pytest.fixture(scope="module")
def env(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    s3: Any = server.client("s3")
    for bucket in (DATA, MODELS, "sagemaker-fit-secrets"):
        s3.create_bucket(Bucket=bucket)
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(40))
    s3.put_object(Bucket=DATA, Key="train/part-0.csv", Body=rows.encode())
    s3.put_object(Bucket="sagemaker-fit-secrets", Key="secret.txt", Body=b"s")
    kms: Any = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3.put_object(Bucket=DATA, Key="sealed/part-0.csv", Body=rows.encode(),
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    ecr: Any = server.client("ecr")
    images = {}
    tmp = tmp_path_factory.mktemp("images")
    for repo, script in (("trainer", TRAIN_SCRIPT), ("sleeper", SLEEP_SCRIPT),
                         ("failer", FAIL_SCRIPT)):
        ecr.create_repository(repositoryName=repo)
        images[repo] = f"{account}.dkr.ecr.{REGION}.amazonaws.com/{repo}:1"
        _push(server, images[repo], {"train.py": script}, tmp / repo)
    return {"account": account, "images": images, "key": key}


def _request(env: dict[str, Any], name: str, role: str, *, image: str = "trainer",
             prefix: str = "train/", **extra: Any) -> dict[str, Any]:
    req = {"TrainingJobName": name, "RoleArn": role,
           "AlgorithmSpecification": {"TrainingImage": env["images"][image],
                                      "TrainingInputMode": "File",
                                      "MetricDefinitions": [{"Name": "train:accuracy",
                                                             "Regex": "accuracy=([0-9.]+)"}]},
           "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
               "S3DataType": "S3Prefix", "S3Uri": f"s3://{DATA}/{prefix}"}}}],
           "OutputDataConfig": {"S3OutputPath": f"s3://{MODELS}/out"},
           "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                              "VolumeSizeInGB": 5},
           "StoppingCondition": {"MaxRuntimeInSeconds": 600}}
    req.update(extra)
    return req


def _role(server: Server, env: dict[str, Any], name: str, request: dict[str, Any], *,
          drop: tuple[str, ...] = (), kms: bool = False) -> str:
    return planned_role(server, "CreateTrainingJob", request, name, account=env["account"],
                        drop=drop, kms_inputs=(env["key"],) if kms else ())


def _run(server: Server, env: dict[str, Any], name: str, *, drop: tuple[str, ...] = (),
         kms: bool = False, **extra: Any) -> dict[str, Any]:
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn, **extra)
    _role(server, env, f"{name}-role", request, drop=drop, kms=kms)
    sm: Any = server.client("sagemaker")
    sm.create_training_job(**request)
    return _wait(sm, name)


def _wait(sm: Any, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job: dict[str, Any] = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {job['SecondaryStatus']}")


def _log_lines(server: Server, name: str) -> list[str]:
    return job_log_lines(server, "/aws/sagemaker/TrainingJobs", name)


def test_least_privilege_job_trains_and_uploads(server: Server, env: dict[str, Any],
                                                tmp_path: Path) -> None:
    """With exactly the planner's role, the job reads its channel, trains a scikit-learn
    model, logs, puts its metric and uploads model.tar.gz (seed; training-algo-output.md)."""
    job = _run(server, env, "fit-ok")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Training job completed"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == \
        f"s3://{MODELS}/out/fit-ok/output/model.tar.gz"
    assert job["BillableTimeInSeconds"] >= 1
    assert job["TrainingStartTime"] <= job["TrainingEndTime"]
    [metric] = job["FinalMetricDataList"]
    assert metric["MetricName"] == "train:accuracy" and 0.5 <= metric["Value"] <= 1.0
    body = server.client("s3").get_object(  # type: ignore[attr-defined]
        Bucket=MODELS, Key="out/fit-ok/output/model.tar.gz")["Body"].read()
    (tmp_path / "model.tar.gz").write_bytes(body)
    with tarfile.open(tmp_path / "model.tar.gz") as tar:
        assert tar.getnames() == ["model.pkl"]
    assert any(line.startswith("accuracy=") for line in _log_lines(server, "fit-ok"))
    # Every decision taken for the job is logged under its ARN, as the role session.
    with sqlite3.connect(server.data_dir / "execrole.db") as db:
        rows = db.execute("SELECT DISTINCT principal, action FROM decisions WHERE source=?",
                          (job["TrainingJobArn"],)).fetchall()
    actions = {a for _, a in rows}
    assert {"sts:AssumeRole", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
            "logs:CreateLogStream", "logs:PutLogEvents", "ecr:BatchGetImage",
            "cloudwatch:PutMetricData"} <= actions
    assert f"arn:aws:sts::{env['account']}:assumed-role/fit-ok-role/SageMaker" in \
        {p for p, _ in rows}


@pytest.mark.parametrize(("name", "drop", "prefix", "kms", "expected"), [
    ("no-get", ("s3:GetObject",), "train/", False,
     "ClientError: Data download failed:Unable to download object "
     f"s3://{DATA}/train/part-0.csv (AccessDenied: " + DENIED.format(
         role="no-get-role", action="s3:GetObject",
         resource=f"arn:aws:s3:::{DATA}/train/part-0.csv") + ")"),
    ("no-list", ("s3:ListBucket",), "train/", False,
     "ClientError: Data download failed:ListObjectsV2 failed for "
     f"s3://{DATA}/train/ (AccessDenied: " + DENIED.format(
         role="no-list-role", action="s3:ListBucket", resource=f"arn:aws:s3:::{DATA}") + ")"),
    ("no-put", ("s3:PutObject",), "train/", False,
     "ClientError: Artifact upload failed:Unable to upload to "
     f"s3://{MODELS}/out/no-put/output/model.tar.gz (AccessDenied: " + DENIED.format(
         role="no-put-role", action="s3:PutObject",
         resource=f"arn:aws:s3:::{MODELS}/out/no-put/output/model.tar.gz") + ")"),
    ("no-logs", ("logs:CreateLogStream",), "train/", False,
     "ClientError: Unable to create the log stream no-logs/algo-1-{epoch} in CloudWatch "
     "Logs group /aws/sagemaker/TrainingJobs as the execution role (AccessDeniedException: "
     "User: arn:aws:sts::{account}:assumed-role/no-logs-role/SageMaker is not authorized to "
     "perform: logs:CreateLogStream on resource: arn:aws:logs:us-east-1:{account}:log-group:"
     "/aws/sagemaker/TrainingJobs:log-stream:no-logs/algo-1-{epoch} because no "
     "identity-based policy allows the logs:CreateLogStream action)"),
    ("no-decrypt", ("kms:Decrypt",), "sealed/", True,
     "ClientError: Data download failed:Unable to download object "
     f"s3://{DATA}/sealed/part-0.csv (AccessDenied: User: arn:aws:sts::{{account}}:"
     "assumed-role/no-decrypt-role/SageMaker is not authorized to perform: kms:Decrypt on "
     "resource: {key} because no identity-based policy allows the kms:Decrypt action)"),
])
def test_role_missing_one_permission_fails_with_sagemakers_reason(
        server: Server, env: dict[str, Any], name: str, drop: tuple[str, ...], prefix: str,
        kms: bool, expected: str) -> None:
    """The same job with one permission of the least-privilege role removed fails with the
    FailureReason SageMaker gives (seed's permission list; docs/fidelity.md for the texts)."""
    job = _run(server, env, name, drop=drop, kms=kms, prefix=prefix)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    want = expected.format(account=env["account"], key=env["key"], epoch="EPOCH")
    # The stream is named `<job>/algo-1-<epoch>` when the job starts.
    pattern = re.escape(want).replace("EPOCH", r"\d{10}")
    assert re.fullmatch(pattern, job["FailureReason"]), job["FailureReason"]


def test_decision_log_names_the_denial_of_a_job(server: Server) -> None:
    """`execrole log --job NAME` shows the decisions taken on the job's behalf; the denial
    that failed `no-get` is there with the layer and AWS's message."""
    out = subprocess.run([sys.executable, "-m", "execrole", "log", "--data-dir",
                          str(server.data_dir), "--job", "no-get", "--decision", "deny",
                          "--json"], check=True, capture_output=True, text=True).stdout
    [entry] = [json.loads(line) for line in out.splitlines()]
    assert entry["action"] == "s3:GetObject"
    assert entry["principal"].endswith(":assumed-role/no-get-role/SageMaker")
    assert entry["source"].endswith(":training-job/no-get")
    assert "because no identity-based policy allows the s3:GetObject action" in \
        entry["message"]


def _secured(server: Server, env: dict[str, Any], name: str) -> dict[str, Any]:
    """A request with a VPC (the default VPC's first subnet and security group), a volume key,
    an output key and checkpoints."""
    ec2: Any = server.client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    kms: Any = server.client("kms")
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn, Environment={"WRITE_CHECKPOINT": "1"},
                       VpcConfig={"Subnets": [subnet], "SecurityGroupIds": [group]},
                       CheckpointConfig={"S3Uri": f"s3://{MODELS}/checkpoints/{name}/"})
    request["ResourceConfig"]["VolumeKmsKeyId"] = kms.create_key()["KeyMetadata"]["Arn"]
    request["OutputDataConfig"]["KmsKeyId"] = kms.create_key()["KeyMetadata"]["Arn"]
    return request


def _secured_role(server: Server, env: dict[str, Any], request: dict[str, Any],
                  drop: tuple[str, ...] = ()) -> None:
    name = request["RoleArn"].rsplit("/", 1)[1]
    _role(server, env, name, request, drop=drop)
    # The seed names kms:Encrypt for the output key; S3's SSE-KMS upload asks for a data key
    # (docs/fidelity.md, "Output keys").
    server.client("iam").put_role_policy(  # type: ignore[attr-defined]
        RoleName=name, PolicyName="output-key", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "kms:GenerateDataKey",
                "Resource": request["OutputDataConfig"]["KmsKeyId"]}]}))


def test_vpc_volume_key_output_key_and_checkpoints(server: Server,
                                                   env: dict[str, Any]) -> None:
    """A VPC job gets a network interface in its subnet, made and deleted as the role; the
    volume key gets a grant made as the role (kms:CreateGrant) and retired at the end; the
    model is uploaded with SSE-KMS under the output key; checkpoints go to their S3 URI
    (seed: the VPC and KMS permissions of CreateTrainingJob; train-vpc.md)."""
    request = _secured(server, env, "secured")
    _secured_role(server, env, request)
    sm: Any = server.client("sagemaker")
    sm.create_training_job(**request)
    job = _wait(sm, "secured")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    s3: Any = server.client("s3")
    head = s3.head_object(Bucket=MODELS, Key="out/secured/output/model.tar.gz")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == (
        "aws:kms", request["OutputDataConfig"]["KmsKeyId"])
    assert s3.get_object(Bucket=MODELS, Key="checkpoints/secured/step-1")["Body"].read() == \
        b"checkpoint"
    ec2: Any = server.client("ec2")
    left = ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": ["SageMaker secured"]}])["NetworkInterfaces"]
    assert left == []
    kms: Any = server.client("kms")
    assert kms.list_grants(KeyId=request["ResourceConfig"]["VolumeKmsKeyId"])["Grants"] == []
    with sqlite3.connect(server.data_dir / "execrole.db") as db:
        actions = {a for (a,) in db.execute(
            "SELECT action FROM decisions WHERE source=? AND decision='allow'",
            (job["TrainingJobArn"],))}
    assert {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "kms:CreateGrant",
            "kms:GenerateDataKey"} <= actions


@pytest.mark.parametrize(("name", "drop", "expected"), [
    ("no-eni", ("ec2:CreateNetworkInterface",),
     "ClientError: Failed to create a network interface in subnet {subnet} as the execution "
     "role (UnauthorizedOperation: "),
    ("no-grant", ("kms:CreateGrant",),
     "ClientError: Unable to use the KMS key {key} to encrypt the job's storage volume as the "
     "execution role (AccessDeniedException: User: arn:aws:sts::{account}:assumed-role/"
     "no-grant-role/SageMaker is not authorized to perform: kms:CreateGrant on resource: "
     "{key} because no identity-based policy allows the kms:CreateGrant action)"),
])
def test_vpc_and_volume_key_denials(server: Server, env: dict[str, Any], name: str,
                                    drop: tuple[str, ...], expected: str) -> None:
    """Without ec2:CreateNetworkInterface or kms:CreateGrant the job fails at Starting
    (execrole's wording, docs/fidelity.md), before any data is read."""
    request = _secured(server, env, name)
    _secured_role(server, env, request, drop=drop)
    sm: Any = server.client("sagemaker")
    sm.create_training_job(**request)
    job = _wait(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    want = expected.format(subnet=request["VpcConfig"]["Subnets"][0], account=env["account"],
                           key=request["ResourceConfig"]["VolumeKmsKeyId"])
    assert job["FailureReason"].startswith(want), job["FailureReason"]
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Failed"]


def test_ecr_pull_denied_is_synchronous(server: Server, env: dict[str, Any]) -> None:
    """Without the ECR pull actions, CreateTrainingJob itself fails (SageMaker checks the
    image as the role before accepting the job)."""
    name = "no-pull"
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn)
    _role(server, env, f"{name}-role", request, drop=("ecr:BatchGetImage",))
    with pytest.raises(ClientError) as e:
        server.client("sagemaker").create_training_job(**request)  # type: ignore[attr-defined]
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == (
        f"Access denied for repository: trainer in registry ID: {env['account']}. Please "
        f"check if your ECR repository and image exist and role {role_arn} has proper pull "
        "permissions for SageMaker: ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, "
        "ecr:GetDownloadUrlForLayer")


def test_caller_without_passrole_and_untrusted_role(server: Server,
                                                    env: dict[str, Any]) -> None:
    """iam:PassRole missing: AccessDeniedException; trust without sagemaker.amazonaws.com:
    ValidationException "Could not assume role ..." (seed, "Passing Roles")."""
    name = "sync-errors"
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn)
    _role(server, env, f"{name}-role", request)
    p = plan("CreateTrainingJob", request, account=env["account"], region=REGION)
    iam: Any = server.client("iam")
    iam.create_user(UserName="trainer-no-pass")
    caller = copy.deepcopy(p.caller_policy)
    caller["Statement"] = [s for s in caller["Statement"] if s["Action"] != "iam:PassRole"]
    iam.put_user_policy(UserName="trainer-no-pass", PolicyName="p",
                        PolicyDocument=json.dumps(caller))
    key = iam.create_access_key(UserName="trainer-no-pass")["AccessKey"]
    sm: Any = server.client("sagemaker", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**request)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert e.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{env['account']}:user/trainer-no-pass is not authorized to "
        f"perform: iam:PassRole on resource: {role_arn} because no identity-based policy "
        "allows the iam:PassRole action")
    untrusted = iam.create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    with pytest.raises(ClientError) as e:
        server.client("sagemaker").create_training_job(  # type: ignore[attr-defined]
            **{**request, "RoleArn": untrusted})
    assert e.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": f"Could not assume role {untrusted}. Please ensure that the role exists and "
                   "allows principal 'sagemaker.amazonaws.com' to assume the role."}
    with pytest.raises(ClientError) as e:
        server.client("sagemaker").describe_training_job(  # type: ignore[attr-defined]
            TrainingJobName=name)
    assert e.value.response["Error"]["Message"] == "Requested resource not found."


def test_the_jobs_own_calls_are_the_roles(server: Server, env: dict[str, Any]) -> None:
    """The process gets the role session and the endpoint: its own boto3 call to a bucket
    the role may not read is denied (the container's credentials are the role's)."""
    job = _run(server, env, "probe", Environment={"PROBE_BUCKET": "sagemaker-fit-secrets"})
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert "probe: AccessDenied" in _log_lines(server, "probe")


def test_algorithm_error_reads_the_failure_file(server: Server, env: dict[str, Any]) -> None:
    """A non-zero exit fails the job with the failure file as the reason
    (your-algorithms-training-algo-output.md)."""
    job = _run(server, env, "algo-fails", image="failer")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: ValueError: the training data has no rows"
    # DeleteTrainingJob: a job in a terminal state goes with its metadata (API reference).
    sm: Any = server.client("sagemaker")
    sm.delete_training_job(TrainingJobName="algo-fails")
    with pytest.raises(ClientError) as e:
        sm.describe_training_job(TrainingJobName="algo-fails")
    assert e.value.response["Error"]["Message"] == "Requested resource not found."


def test_stop_training_job(server: Server, env: dict[str, Any]) -> None:
    """StopTrainingJob: Stopping, SIGTERM to the process, the model it saved is uploaded,
    Stopped (StopTrainingJob API reference); a second stop is refused; the waiter ends."""
    name = "stopped"
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn, image="sleeper")
    _role(server, env, f"{name}-role", request)
    sm: Any = server.client("sagemaker")
    sm.create_training_job(**request)
    _pid_of(server, sm, name)
    with pytest.raises(ClientError) as e:  # "You cannot delete a job that is InProgress"
        sm.delete_training_job(TrainingJobName=name)
    assert e.value.response["Error"]["Message"] == (
        "The request was rejected because the training job is in status InProgress.")
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in (
        "Stopping", "Stopped")
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    job = sm.describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "Stopping" in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "got SIGTERM, saving" in _log_lines(server, name)
    with pytest.raises(ClientError) as e:
        sm.stop_training_job(TrainingJobName=name)
    assert e.value.response["Error"]["Message"] == (
        "The request was rejected because the training job is in status Stopped.")


def _pid_of(server: Server, sm: Any, name: str, timeout: float = 60) -> int:
    """The pid the sleeper script prints once it runs (it fails loudly if the job ends)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid = next((int(line[4:]) for line in _lines_if_any(server, name)
                    if line.startswith("pid=")), None)
        if pid is not None:
            return pid
        job = sm.describe_training_job(TrainingJobName=name)
        assert job["TrainingJobStatus"] == "InProgress", job.get("FailureReason")
        time.sleep(0.1)
    raise AssertionError(f"{name} printed no pid: {job['SecondaryStatusTransitions']}")


def _lines_if_any(server: Server, name: str) -> list[str]:
    try:
        return _log_lines(server, name)
    except (AssertionError, ClientError):
        return []


def test_max_runtime_stops_the_job(server: Server, env: dict[str, Any]) -> None:
    """MaxRuntimeInSeconds: the job is stopped, secondary status MaxRuntimeExceeded
    (DescribeTrainingJob SecondaryStatus documentation)."""
    job = _run(server, env, "too-long", image="sleeper",
               StoppingCondition={"MaxRuntimeInSeconds": 1})
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == \
        ("Stopped", "MaxRuntimeExceeded")


def test_list_filters_and_pagination(server: Server, env: dict[str, Any]) -> None:
    """ListTrainingJobs: NameContains, StatusEquals, SortBy/SortOrder, MaxResults/NextToken."""
    sm: Any = server.client("sagemaker")
    done = sm.list_training_jobs(StatusEquals="Completed", NameContains="FIT-",
                                 SortBy="Name", SortOrder="Ascending")
    assert [j["TrainingJobName"] for j in done["TrainingJobSummaries"]] == ["fit-ok"]
    names, token = [], None
    while True:
        page = sm.list_training_jobs(MaxResults=2, **({"NextToken": token} if token else {}))
        names += [j["TrainingJobName"] for j in page["TrainingJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(names) == len(set(names)) >= 3


@pytest.fixture
def single_slot(tmp_path: Path) -> Iterator[Server]:
    """A server of its own that runs one job at a time."""
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", tmp_path / "data", port, "", "")
    os.environ["EXECROLE_MAX_JOBS"] = "1"
    try:
        srv.start()
    finally:
        del os.environ["EXECROLE_MAX_JOBS"]
    srv.key, srv.secret = _read_root_key(srv.data_dir)
    try:
        yield srv
    finally:
        srv.stop()


def test_queue_and_restart(single_slot: Server, tmp_path: Path) -> None:
    """Jobs beyond the concurrency limit wait in Starting; a crash of the server leaves no
    process of the running job behind, and the next start fails it with a reason and runs
    the job that was waiting."""
    server = single_slot
    env = {"account": server.client("sts").get_caller_identity()["Account"],  # type: ignore
           "images": {}, "key": ""}
    ecr: Any = server.client("ecr")
    ecr.create_repository(repositoryName="sleeper")
    env["images"]["sleeper"] = f"{env['account']}.dkr.ecr.{REGION}.amazonaws.com/sleeper:1"
    _push(server, env["images"]["sleeper"], {"train.py": SLEEP_SCRIPT}, tmp_path / "img")
    server.client("s3").create_bucket(Bucket=DATA)  # type: ignore[attr-defined]
    server.client("s3").create_bucket(Bucket=MODELS)  # type: ignore[attr-defined]
    server.client("s3").put_object(Bucket=DATA, Key="train/x", Body=b"x")  # type: ignore
    sm: Any = server.client("sagemaker")
    role_arn = f"arn:aws:iam::{env['account']}:role/q-role"
    first = _request(env, "q-1", role_arn, image="sleeper")
    _role(server, env, "q-role", first)
    sm.create_training_job(**first)
    sm.create_training_job(**{**first, "TrainingJobName": "q-2"})
    pid = _pid_of(server, sm, "q-1")
    second = sm.describe_training_job(TrainingJobName="q-2")
    assert (second["TrainingJobStatus"], second["SecondaryStatus"]) == \
        ("InProgress", "Starting")
    server.process.kill()  # type: ignore[union-attr]  # a crash, not a shutdown
    server.process.wait()  # type: ignore[union-attr]
    server.process = None
    deadline = time.time() + 10
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the job's process outlived the server"
    server.start()
    job = sm.describe_training_job(TrainingJobName="q-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (
        "InternalServerError: We encountered an internal error. Please try again. "
        "(execrole: the server stopped while the job was running)")
    # The job that was waiting for a slot is queued again and runs.
    _pid_of(server, sm, "q-2")
    sm.stop_training_job(TrainingJobName="q-2")
    assert _wait(sm, "q-2")["TrainingJobStatus"] == "Stopped"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_graceful_restart_mid_job(server: Server, env: dict[str, Any]) -> None:
    """A server stopped in order (SIGTERM) kills the running job and fails it with the reason
    before it exits; nothing of the job outlives it."""
    name = "restarted"
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn, image="sleeper")
    _role(server, env, f"{name}-role", request)
    sm: Any = server.client("sagemaker")
    sm.create_training_job(**request)
    pid = _pid_of(server, sm, name)
    server.restart()
    assert not _alive(pid)
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("InternalServerError: We encountered an internal "
                                           "error. Please try again.")
