"""The console's SageMaker pages in a real browser (Debian's Chromium) against a real
`execrole serve`, with real jobs run by the runtime under their execution roles.

Sources: the seed ("From the SageMaker console: Under Notebook > Notebook instances, select
the notebook. The ARN is given in the Permissions and encryption section."; "Passing Roles":
AccessDeniedException for iam:PassRole, "Could not assume role ..." when the trust policy
lacks sagemaker.amazonaws.com); botocore's sagemaker model (ListTrainingJobs' NameContains,
StatusEquals, MaxResults and NextToken; DescribeTrainingJob's SecondaryStatusTransitions,
FailureReason, ModelArtifacts; DescribeProcessingJob's ExitMessage); the FailureReason texts
of docs/fidelity.md ("ClientError: Data download failed:..."); issue 7 for the pages.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, console_url, screenshot, sign_in
from test_sagemaker_processing import BUCKET as PROC_BUCKET
from test_sagemaker_processing import PROCESS_SCRIPT, ROWS
from test_sagemaker_processing import _request as _proc_request
from test_sagemaker_processing import _role as _proc_role
from test_sagemaker_processing import _wait as _proc_wait
from test_sagemaker_training import DATA, MODELS, TRAIN_SCRIPT, _push, _request, _role, _wait

REGION = "us-east-1"
SAGEMAKER_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def env(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Buckets with training and processing data, and the two images pushed to ECR."""
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    s3: Any = server.client("s3")
    for bucket in (DATA, MODELS, PROC_BUCKET):
        s3.create_bucket(Bucket=bucket)
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(40))
    s3.put_object(Bucket=DATA, Key="train/part-0.csv", Body=rows.encode())
    s3.put_object(Bucket=PROC_BUCKET, Key="in/rows.csv", Body=ROWS.encode())
    ecr: Any = server.client("ecr")
    images = {}
    tmp = tmp_path_factory.mktemp("images")
    for repo, script, file in (("trainer", TRAIN_SCRIPT, "train.py"),
                               ("processor", PROCESS_SCRIPT, "process.py")):
        ecr.create_repository(repositoryName=repo)
        images[repo] = f"{account}.dkr.ecr.{REGION}.amazonaws.com/{repo}:1"
        _push(server, images[repo], {file: script}, tmp / repo)
    return {"account": account, "images": images, "image": images["processor"]}


def _failed_job(server: Server, env: dict[str, Any]) -> dict[str, Any]:
    """A job whose role lacks s3:GetObject (made once for the module's tests)."""
    sm: Any = server.client("sagemaker")
    if "console-no-get" not in {j["TrainingJobName"] for j in sm.list_training_jobs(
            NameContains="console-no-get")["TrainingJobSummaries"]}:
        role_arn = f"arn:aws:iam::{env['account']}:role/console-no-get-role"
        request = _request(env, "console-no-get", role_arn)
        _role(server, env, "console-no-get-role", request, drop=("s3:GetObject",))
        sm.create_training_job(**request)
    return _wait(sm, "console-no-get")


def _field(section: Any, term: str) -> Any:
    """The <dd> after the <dt> named `term` in a summary list."""
    return section.locator(f"dt:text-is('{term}') + dd")


def test_notebook_role_arn_in_permissions_and_encryption(server: Server, env: dict[str, Any],
                                                         page: Any) -> None:
    """The seed's procedure, click by click: Notebook instances, select the notebook, read
    the role ARN in "Permissions and encryption"."""
    iam: Any = server.client("iam")
    role_arn = iam.create_role(RoleName="console-nb-role", AssumeRolePolicyDocument=json.dumps(
        SAGEMAKER_TRUST))["Role"]["Arn"]
    server.client("sagemaker").create_notebook_instance(  # type: ignore[attr-defined]
        NotebookInstanceName="console-nb", InstanceType="ml.t3.medium", RoleArn=role_arn)
    sign_in(page, server)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Notebook instances").click()
    table = page.get_by_role("table", name="Notebook instances")
    assert "ml.t3.medium" in table.inner_text()
    table.get_by_role("link", name="console-nb").click()
    section = page.get_by_role("region", name="Permissions and encryption")
    shown = _field(section, "IAM role ARN").locator("code").inner_text()
    assert shown == role_arn
    copy = _field(section, "IAM role ARN").get_by_role("button", name=f"Copy {role_arn}")
    assert copy.get_attribute("data-copy") == role_arn
    assert _field(section, "Root access").inner_text() == "Enabled"
    assert _field(section, "Encryption key").inner_text() == "No custom encryption"
    assert _field(section, "IAM role ARN").get_by_role("link", name="console-nb-role") \
        .get_attribute("href") == "/_execrole/console/iam/roles/console-nb-role"
    screenshot(page, "sagemaker-notebook")


def test_failed_job_shows_its_reason_and_the_denial(server: Server, env: dict[str, Any],
                                                    page: Any) -> None:
    """A job whose role lacks s3:GetObject fails with SageMaker's FailureReason; its page
    shows the reason, the timeline, and the implicit deny behind it with AWS's message and
    a link to the decision log filtered on the job."""
    job = _failed_job(server, env)
    assert job["FailureReason"].startswith("ClientError: Data download failed:")
    sign_in(page, server)
    page.goto(console_url(server, "/sagemaker/training-jobs"))
    page.get_by_label("Status").select_option("Failed")
    page.get_by_role("button", name="Apply filters").click()
    table = page.get_by_role("table", name="Training jobs")
    assert "Failed" in table.inner_text()
    screenshot(page, "sagemaker-training-jobs")
    table.get_by_role("link", name="console-no-get").click()
    assert page.locator("#failure-reason").inner_text() == job["FailureReason"]
    assert page.locator("#job-status").inner_text() == "Failed"
    screenshot(page, "sagemaker-training-job-failed")
    timeline = page.get_by_role("region", name="Status history").inner_text()
    assert "Starting" in timeline and "Downloading" in timeline and "Failed" in timeline
    data = page.get_by_role("region", name="Input data configuration").inner_text()
    assert f"s3://{DATA}/train/" in data and f"s3://{MODELS}/out" in data
    page.get_by_role("link", name="The denial behind it: 1 in the decisions below").click()
    decisions = page.get_by_role("region", name="Decisions taken on its behalf")
    denial = decisions.locator("tr.decision-implicit_deny")
    assert denial.locator("code").first.inner_text() == "s3:GetObject"
    assert "identity" in denial.inner_text()  # the layer that denied
    message = decisions.locator("tr.denial-message code").first.inner_text()
    assert message == (
        f"User: arn:aws:sts::{env['account']}:assumed-role/console-no-get-role/SageMaker is "
        f"not authorized to perform: s3:GetObject on resource: arn:aws:s3:::{DATA}/train/"
        "part-0.csv because no identity-based policy allows the s3:GetObject action")
    assert message in job["FailureReason"]
    log_link = decisions.get_by_role("link", name="Open in the decision log")
    assert log_link.get_attribute("href") == "/_execrole/console/decisions?job=console-no-get"
    assert decisions.get_by_role("link", name="This denial in the decision log") \
        .get_attribute("href").startswith("/_execrole/console/decisions?job=console-no-get")


def test_decisions_hidden_from_a_principal_without_simulate(server: Server, env: dict[str, Any],
                                                            page: Any) -> None:
    """A user who may describe the job but not simulate its role sees the job, not its
    decisions (the module's visibility rule)."""
    _failed_job(server, env)
    iam: Any = server.client("iam")
    iam.create_user(UserName="console-viewer")
    iam.put_user_policy(UserName="console-viewer", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "sagemaker:ListTrainingJobs", "sagemaker:DescribeTrainingJob"]}]}))
    key = iam.create_access_key(UserName="console-viewer")["AccessKey"]
    sign_in(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    page.goto(console_url(server, "/sagemaker/training-jobs/console-no-get"))
    assert page.locator("#job-status").inner_text() == "Failed"
    decisions = page.get_by_role("region", name="Decisions taken on its behalf")
    assert "iam:SimulatePrincipalPolicy" in decisions.inner_text()
    assert decisions.locator("table").count() == 0
    page.goto(console_url(server, "/sagemaker/notebooks"))
    assert page.get_by_role("alert").inner_text().startswith("AccessDeniedException")


def test_create_training_job_from_the_form(server: Server, env: dict[str, Any],
                                           page: Any) -> None:
    """The form's job runs as its role and completes; its page links the logs, which hold
    the training script's output."""
    name = "console-form"
    role_arn = _role(server, env, f"{name}-role", _request(
        env, name, f"arn:aws:iam::{env['account']}:role/{name}-role"))
    sign_in(page, server)
    page.goto(console_url(server, "/sagemaker/training-jobs"))
    page.get_by_role("link", name="Create training job").click()
    assert role_arn in [o.get_attribute("value") for o in
                        page.locator("#sagemaker-roles option").all()]
    _fill(page, name, role_arn, env["images"]["trainer"])
    page.get_by_label("Hyperparameters").fill("epochs=3\nlearning_rate=0.1")
    screenshot(page, "sagemaker-create-training-job")
    page.get_by_role("button", name="Create training job").click()
    page.wait_for_url(f"**/sagemaker/training-jobs/{name}")
    deadline = time.time() + 90
    while page.locator("#job-status").inner_text() not in ("Completed", "Failed", "Stopped"):
        assert time.time() < deadline, "the job did not finish"
        time.sleep(1)
        page.reload()
    assert page.locator("#job-status").inner_text() == "Completed", \
        page.locator("#failure-reason").all_inner_texts()
    assert page.locator("#model-artifact code").inner_text() == \
        f"s3://{MODELS}/out/{name}/output/model.tar.gz"
    assert "learning_rate" in page.get_by_role("region", name="Algorithm and resources") \
        .inner_text()
    page.get_by_role("link", name="View logs").click()
    assert page.get_by_role("heading", name=f"Logs of {name}").is_visible()
    assert "accuracy=" in page.get_by_role("table", name="Log events").inner_text()


def _fill(page: Any, name: str, role_arn: str, image: str) -> None:
    page.get_by_label("Job name").fill(name)
    page.get_by_label("IAM role").fill(role_arn)
    page.get_by_label("Training image").fill(image)
    page.get_by_label("Input S3 URI").fill(f"s3://{DATA}/train/")
    page.get_by_label("S3 output path").fill(f"s3://{MODELS}/out")


def test_form_shows_could_not_assume_role(server: Server, env: dict[str, Any],
                                          page: Any) -> None:
    """A role whose trust policy lacks sagemaker.amazonaws.com: SageMaker's synchronous
    ValidationException on the form, the user's values kept (seed, "Passing Roles")."""
    iam: Any = server.client("iam")
    untrusted = iam.create_role(RoleName="console-ec2-only", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    sign_in(page, server)
    page.goto(console_url(server, "/sagemaker/training-jobs/create"))
    assert untrusted not in [o.get_attribute("value") for o in
                             page.locator("#sagemaker-roles option").all()]
    _fill(page, "console-untrusted", untrusted, env["images"]["trainer"])
    page.get_by_role("button", name="Create training job").click()
    alert = page.get_by_role("alert")
    assert alert.locator("strong").inner_text() == "ValidationException"
    assert alert.locator(".message").inner_text() == (
        f"Could not assume role {untrusted}. Please ensure that the role exists and allows "
        "principal 'sagemaker.amazonaws.com' to assume the role.")
    assert page.get_by_label("Job name").input_value() == "console-untrusted"
    assert page.get_by_label("IAM role").input_value() == untrusted


def test_processing_job_page(server: Server, env: dict[str, Any], page: Any) -> None:
    """A processing job whose role may not upload its output: its page shows the
    FailureReason, the ExitMessage the container wrote, inputs, outputs and the denial."""
    name = "console-proc"
    request = _proc_request(env, name, f"arn:aws:iam::{env['account']}:role/{name}-role")
    _proc_role(server, env, f"{name}-role", request, drop=("s3:PutObject",))
    server.client("sagemaker").create_processing_job(**request)  # type: ignore[attr-defined]
    job = _proc_wait(server, name)
    assert job["ProcessingJobStatus"] == "Failed"
    sign_in(page, server)
    page.goto(console_url(server, "/sagemaker/processing-jobs"))
    page.get_by_role("table", name="Processing jobs").get_by_role("link", name=name).click()
    assert page.locator("#failure-reason").inner_text() == job["FailureReason"]
    assert page.locator("#exit-message").inner_text() == job.get("ExitMessage", "—")
    inputs = page.get_by_role("region", name="Inputs").inner_text()
    assert f"s3://{PROC_BUCKET}/in/" in inputs and f"s3://{PROC_BUCKET}/out/{name}" in inputs
    decisions = page.get_by_role("region", name="Decisions taken on its behalf")
    assert decisions.locator("tr.decision-implicit_deny code").first.inner_text() == \
        "s3:PutObject"
    page.get_by_role("link", name="View logs").click()
    assert page.get_by_role("heading", name=f"Logs of {name}").is_visible()


def _busy_day(server: Server, jobs: int = 400, decisions: int = 30_000) -> None:
    """Hundreds of training jobs (copies of a finished one) and a day of decisions, written
    straight to the store."""
    db = sqlite3.connect(Path(server.data_dir) / "execrole.db", timeout=10)
    with db:
        row = db.execute("SELECT account, region, kind, arn, created, data FROM "
                         "sagemaker_resources WHERE kind='training-job' AND name_key=?",
                         ("console-no-get",)).fetchone()
        account, region, kind, arn, created, data = row
        for i in range(jobs):
            name = f"busy-{i:04d}"
            doc = json.loads(data)
            doc.update(TrainingJobName=name, TrainingJobArn=arn.replace("console-no-get", name),
                       CreationTime=doc["CreationTime"] - 60 * i)
            db.execute("INSERT INTO sagemaker_resources(account, region, kind, name_key, arn, "
                       "created, data) VALUES (?,?,?,?,?,?,?)",
                       (account, region, kind, name, doc["TrainingJobArn"], created - 60 * i,
                        json.dumps(doc)))
        now = time.time()
        db.executemany(
            "INSERT INTO decisions(time, request_id, account, principal, action, resource, "
            "decision, denied_by, statements, message, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(now - 86400 * i / decisions, "r", account, "arn:aws:sts::x:assumed-role/r/S",
              "s3:GetObject", "arn:aws:s3:::b/k", "allow", "[]", "[]", None,
              arn.replace("console-no-get", f"busy-{i % jobs:04d}")) for i in range(decisions)])
    db.close()


def _server_ms(page: Any, path: str) -> float:
    """The median time of five GETs of a page (loopback: the server's time, mostly)."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        answer = page.request.get(path)
        assert answer.status == 200, answer.text()[:500]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def test_busy_day_pages_are_fast_and_paginate(server: Server, env: dict[str, Any],
                                              page: Any) -> None:
    """Hundreds of jobs: the list pages one List call at a time (NextToken forward, the
    earlier tokens kept for Previous) and every page answers (their times are printed; the
    figures are bench/console.py's, in docs/performance.md)."""
    _failed_job(server, env)
    _busy_day(server)
    sign_in(page, server)
    page.goto(console_url(server, "/sagemaker/training-jobs?name=busy-"))
    table = page.get_by_role("table", name="Training jobs")
    assert table.locator("tbody tr").count() == 50
    first = table.locator("tbody tr a").first.inner_text()
    page.get_by_role("link", name="Next").click()
    assert table.locator("tbody tr").count() == 50
    assert table.locator("tbody tr a").first.inner_text() != first
    page.get_by_role("link", name="Previous").click()
    assert table.locator("tbody tr a").first.inner_text() == first
    assert page.get_by_role("link", name="Previous").count() == 0
    for path in ("/sagemaker/training-jobs", "/sagemaker/training-jobs?status=Failed",
                 "/sagemaker/training-jobs/console-no-get", "/sagemaker/training-jobs/busy-0007",
                 "/sagemaker/training-jobs/console-no-get/logs", "/sagemaker/notebooks",
                 "/sagemaker/processing-jobs", "/sagemaker/training-jobs/create"):
        print(f"{path}: {_server_ms(page, console_url(server, path)):.1f} ms")
