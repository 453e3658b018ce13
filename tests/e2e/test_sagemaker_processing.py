"""Processing jobs end to end: the control plane on the endpoint and the runtime running the job
as a local process under the execution role, every side effect done as the role session.

Sources: the seed ("CreateProcessingJob API: Execution Role Permissions"; "Passing Roles");
build-your-own-processing-container.md (inputs downloaded to LocalPath under
/opt/ml/processing/, outputs uploaded from LocalPath, ContainerEntrypoint/ContainerArguments,
processingjobconfig.json and resourceconfig.json, exit code 0 = Completed, the first KB of
/opt/ml/output/message as ExitMessage, stdout in CloudWatch Logs); botocore's sagemaker model
(Create/Describe/List/StopProcessingJob shapes, ProcessingJobStatus values, the
`processing_job_completed_or_stopped` waiter); the FailureReason texts users report for
training jobs, which SageMaker also gives processing jobs (docs/fidelity.md).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server, job_log_lines, planned_role, push_image

REGION = "us-east-1"
BUCKET = "sagemaker-processing-data"
ROWS = "a,1\nb,2\nc,3\n"
# One image, three behaviours chosen by the MODE variable of the request's Environment.
PROCESS_SCRIPT = '''
import json, os, pathlib, signal, sys, time

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
root = pathlib.Path(os.environ["SM_ROOT"])
mode = os.environ.get("MODE", "ok")
config = json.loads((root / "config" / "processingjobconfig.json").read_text())
hosts = json.loads((root / "config" / "resourceconfig.json").read_text())["hosts"]
print(f"job={config['ProcessingJobName']} hosts={hosts}", flush=True)
if mode == "sleep":
    print(f"pid={os.getpid()}", flush=True)
    time.sleep(60)
if mode == "fail":
    (root / "output" / "message").write_text("ValueError: no rows to process")
    raise SystemExit(2)
rows = []
for path in sorted(pathlib.Path(args["--input"]).iterdir()):
    rows += path.read_text().splitlines()
    print(f"read {path.name}: {len(rows)} rows", flush=True)
out = pathlib.Path(args["--output"])
(out / "clean.csv").write_text("\\n".join(r.upper() for r in rows) + "\\n")
(root / "output" / "message").write_text(f"processed {len(rows)} rows")
'''
# S3 names the denied principal and action for a same-account request (the engine's text).
DENIED = ("User: arn:aws:sts::{account}:assumed-role/{role}/SageMaker is not authorized to "
          "perform: {action} on resource: {resource} because no identity-based policy allows "
          "the {action} action")


@pytest.fixture(scope="module")
def env(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    s3: Any = server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="in/rows.csv", Body=ROWS.encode())
    ecr: Any = server.client("ecr")
    ecr.create_repository(repositoryName="processor")
    image = f"{account}.dkr.ecr.{REGION}.amazonaws.com/processor:1"
    files = tmp_path_factory.mktemp("processor")
    (files / "process.py").write_text(PROCESS_SCRIPT)
    push_image(server, image, files, "python process.py")
    return {"account": account, "image": image}


def _request(env: dict[str, Any], name: str, role: str, *, mode: str = "ok",
             **extra: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "ProcessingJobName": name, "RoleArn": role,
        "AppSpecification": {"ImageUri": env["image"], "ContainerArguments": [
            "--input", "/opt/ml/processing/input/data",
            "--output", "/opt/ml/processing/output/clean"]},
        "ProcessingInputs": [{"InputName": "data", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/in/", "LocalPath": "/opt/ml/processing/input/data",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "clean", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/out/{name}", "LocalPath": "/opt/ml/processing/output/clean",
            "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                                  "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Environment": {"MODE": mode}}
    req.update(extra)
    return req


def _role(server: Server, env: dict[str, Any], name: str, request: dict[str, Any], *,
          drop: tuple[str, ...] = ()) -> str:
    return planned_role(server, "CreateProcessingJob", request, name, account=env["account"],
                        drop=drop)


def _start(server: Server, env: dict[str, Any], name: str, *, drop: tuple[str, ...] = (),
           **extra: Any) -> dict[str, Any]:
    role_arn = f"arn:aws:iam::{env['account']}:role/{name}-role"
    request = _request(env, name, role_arn, **extra)
    _role(server, env, f"{name}-role", request, drop=drop)
    server.client("sagemaker").create_processing_job(**request)  # type: ignore[attr-defined]
    return request


def _wait(server: Server, name: str, timeout: float = 60) -> dict[str, Any]:
    sm: Any = server.client("sagemaker")
    deadline = time.time() + timeout
    while time.time() < deadline:
        job: dict[str, Any] = sm.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] not in ("InProgress", "Stopping"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish")


def _log_lines(server: Server, name: str) -> list[str]:
    return job_log_lines(server, "/aws/sagemaker/ProcessingJobs", name)


def _error(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


def test_least_privilege_job_processes_and_uploads(server: Server,
                                                   env: dict[str, Any]) -> None:
    """With exactly the planner's role the job downloads its input to LocalPath, runs the
    image's entrypoint with ContainerArguments, logs, and uploads LocalPath to S3Uri."""
    request = _start(server, env, "proc-ok")
    job = _wait(server, "proc-ok")
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExitMessage"] == "processed 3 rows"
    assert job["ProcessingStartTime"] <= job["ProcessingEndTime"] <= job["LastModifiedTime"]
    assert job["ProcessingJobArn"] == \
        f"arn:aws:sagemaker:{REGION}:{env['account']}:processing-job/proc-ok"
    # DescribeProcessingJob echoes the request, S3Input with its defaults filled in.
    for key in ("ProcessingOutputConfig", "ProcessingResources", "StoppingCondition",
                "AppSpecification", "Environment", "RoleArn"):
        assert job[key] == request[key], key
    assert job["ProcessingInputs"][0]["S3Input"] == {
        **request["ProcessingInputs"][0]["S3Input"],
        "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}
    assert "FailureReason" not in job and "Tags" not in job
    body = server.client("s3").get_object(  # type: ignore[attr-defined]
        Bucket=BUCKET, Key="out/proc-ok/clean.csv")["Body"].read()
    assert body == ROWS.upper().encode()
    lines = _log_lines(server, "proc-ok")
    assert "job=proc-ok hosts=['algo-1']" in lines and "read rows.csv: 3 rows" in lines
    with sqlite3.connect(server.data_dir / "execrole.db") as db:
        rows = db.execute("SELECT DISTINCT principal, action FROM decisions WHERE source=?",
                          (job["ProcessingJobArn"],)).fetchall()
    assert {"sts:AssumeRole", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
            "logs:CreateLogStream", "logs:PutLogEvents", "ecr:BatchGetImage"} <= \
        {a for _, a in rows}
    assert f"arn:aws:sts::{env['account']}:assumed-role/proc-ok-role/SageMaker" in \
        {p for p, _ in rows}


@pytest.mark.parametrize(("name", "drop"), [("proc-no-get", "s3:GetObject"),
                                            ("proc-no-put", "s3:PutObject")])
def test_role_missing_s3_permission_fails_with_sagemakers_reason(
        server: Server, env: dict[str, Any], name: str, drop: str) -> None:
    """Without s3:GetObject on the input or s3:PutObject on the output, the job fails with
    the ClientError SageMaker gives, naming the object from the request."""
    request = _start(server, env, name, drop=(drop,))
    job = _wait(server, name)
    assert job["ProcessingJobStatus"] == "Failed"
    if drop == "s3:GetObject":
        uri = request["ProcessingInputs"][0]["S3Input"]["S3Uri"] + "rows.csv"
        head = f"ClientError: Data download failed:Unable to download object {uri}"
    else:
        uri = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] + \
            "/clean.csv"  # the file the script writes in its output LocalPath
        head = f"ClientError: Artifact upload failed:Unable to upload to {uri}"
    resource = "arn:aws:s3:::" + uri.removeprefix("s3://")
    assert job["FailureReason"] == f"{head} (AccessDenied: " + DENIED.format(
        account=env["account"], role=f"{name}-role", action=drop, resource=resource) + ")"
    assert job["ProcessingEndTime"] >= job["CreationTime"]


def test_failing_script_is_an_algorithm_error(server: Server, env: dict[str, Any]) -> None:
    """A non-zero exit fails the job; /opt/ml/output/message is the reason and the
    ExitMessage (build-your-own-processing-container.md, "Save and Access Metadata")."""
    _start(server, env, "proc-fails", mode="fail")
    job = _wait(server, "proc-fails")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: ValueError: no rows to process"
    assert job["ExitMessage"] == "ValueError: no rows to process"


def test_stop_processing_job(server: Server, env: dict[str, Any]) -> None:
    """StopProcessingJob: Stopping, then Stopped once the process is gone; the waiter ends;
    a second stop is refused."""
    _start(server, env, "proc-stop", mode="sleep")
    sm: Any = server.client("sagemaker")
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if any(line.startswith("pid=") for line in _log_lines(server, "proc-stop")):
                break
        except (AssertionError, ClientError):
            pass  # the stream does not exist yet
        time.sleep(0.1)
    sm.stop_processing_job(ProcessingJobName="proc-stop")
    assert sm.describe_processing_job(ProcessingJobName="proc-stop")[
        "ProcessingJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("processing_job_completed_or_stopped").wait(
        ProcessingJobName="proc-stop", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    job = sm.describe_processing_job(ProcessingJobName="proc-stop")
    assert job["ProcessingJobStatus"] == "Stopped" and "ProcessingEndTime" in job
    with pytest.raises(ClientError) as e:
        sm.stop_processing_job(ProcessingJobName="proc-stop")
    assert _error(e) == ("ValidationException", "The request was rejected because the "
                         "processing job is in status Stopped.")


def test_max_runtime_stops_the_job(server: Server, env: dict[str, Any]) -> None:
    """StoppingCondition.MaxRuntimeInSeconds stops the job (ProcessingStoppingCondition); the
    reason says why, as DescribeProcessingJob has no secondary status (execrole's text)."""
    _start(server, env, "proc-too-long", mode="sleep",
           StoppingCondition={"MaxRuntimeInSeconds": 1})
    job = _wait(server, "proc-too-long")
    assert job["ProcessingJobStatus"] == "Stopped"
    assert job["FailureReason"] == \
        "Processing job runtime exceeded MaxRuntimeInSeconds provided"


def test_refused_requests(server: Server, env: dict[str, Any]) -> None:
    """Pipe mode and Athena inputs are refused up front; a taken name is ResourceInUse; an
    unknown job is a ValidationException (texts: docs/fidelity.md)."""
    sm: Any = server.client("sagemaker")
    role = f"arn:aws:iam::{env['account']}:role/proc-ok-role"
    pipe = _request(env, "proc-pipe", role)
    pipe["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "Pipe"
    with pytest.raises(ClientError) as e:
        sm.create_processing_job(**pipe)
    assert _error(e) == ("ValidationException",
                         "execrole does not serve Pipe input mode; use File (input data).")
    athena = _request(env, "proc-athena", role, ProcessingInputs=[{
        "InputName": "q", "DatasetDefinition": {"AthenaDatasetDefinition": {
            "Catalog": "c", "Database": "d", "QueryString": "select 1",
            "OutputS3Uri": f"s3://{BUCKET}/athena/", "OutputFormat": "PARQUET"},
            "LocalPath": "/opt/ml/processing/input/q"}}])
    with pytest.raises(ClientError) as e:
        sm.create_processing_job(**athena)
    assert _error(e)[0] == "ValidationException" and "DatasetDefinition" in _error(e)[1]
    with pytest.raises(ClientError) as e:
        sm.create_processing_job(**_request(env, "proc-ok", role))
    arn = f"arn:aws:sagemaker:{REGION}:{env['account']}:processing-job/proc-ok"
    assert _error(e) == ("ResourceInUse", "Processing job names must be unique within an AWS "
                         "account and region, and a processing job with this name already "
                         f"exists ({arn})")
    for call in (sm.describe_processing_job, sm.stop_processing_job):
        with pytest.raises(ClientError) as e:
            call(ProcessingJobName="no-such-job")
        assert _error(e) == ("ValidationException",
                             "Could not find requested job with name no-such-job")


def test_list_processing_jobs(server: Server, env: dict[str, Any]) -> None:
    """ListProcessingJobs: StatusEquals, NameContains, SortBy/SortOrder, paging; summaries
    carry the ListProcessingJobs summary fields."""
    sm: Any = server.client("sagemaker")
    done = sm.list_processing_jobs(StatusEquals="Completed", NameContains="PROC-",
                                   SortBy="Name", SortOrder="Ascending")
    [summary] = done["ProcessingJobSummaries"]
    assert summary["ProcessingJobName"] == "proc-ok"
    assert set(summary) == {"ProcessingJobName", "ProcessingJobArn", "CreationTime",
                            "ProcessingEndTime", "LastModifiedTime", "ProcessingJobStatus",
                            "ExitMessage"}
    failed = sm.list_processing_jobs(StatusEquals="Failed")["ProcessingJobSummaries"]
    assert all(s["FailureReason"] for s in failed) and len(failed) >= 1
    names, token = [], None
    while True:
        page = sm.list_processing_jobs(MaxResults=2, **({"NextToken": token} if token else {}))
        names += [j["ProcessingJobName"] for j in page["ProcessingJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(names) == len(set(names)) >= 3
