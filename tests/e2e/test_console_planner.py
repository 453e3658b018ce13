"""The console's planner in a real browser against a real `execrole serve` (issue 7): the
issue's CreateTrainingJob request → the least-privilege role (s3:GetObject on the input
prefixes, s3:PutObject on the output path, each statement with its reasons), the Terraform
download, and "check against a role" lacking s3:PutObject → the error SageMaker would give
first ("ClientError: Artifact upload failed:..."; the seed's CreateTrainingJob "Execution
Role Permissions" section lists what the role needs)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from conftest import Server, console_url, screenshot, sign_in

from execrole.planner.plan import plan

REQUEST = Path(__file__).resolve().parents[1] / "sagemaker_requests" / "CreateTrainingJob.json"
ROLE_NAME = "AmazonSageMaker-ExecutionRole-20201200T100000"


def _fill_request(page: Any, server: Server) -> None:
    page.goto(console_url(server, "/planner"))
    page.get_by_label("API").select_option("CreateTrainingJob")
    page.get_by_role("textbox", name="Request").fill(REQUEST.read_text())


def test_plan_the_issues_training_job(server: Server, page: Any) -> None:
    sign_in(page, server)
    _fill_request(page, server)
    page.get_by_role("button", name="Plan the role").click()
    page.wait_for_load_state()
    role_policy = page.locator("section[aria-labelledby='h-role_policy']").inner_text()
    assert '"s3:GetObject"' in role_policy
    assert "arn:aws:s3:::corp-ml-data/churn/train/*" in role_policy
    assert "arn:aws:s3:::corp-ml-models/churn/*" in role_policy
    assert "InputDataConfig" in role_policy  # the reason column names the request field
    trust = page.locator("section[aria-labelledby='h-trust_policy']").inner_text()
    assert "sagemaker.amazonaws.com" in trust
    caller = page.locator("section[aria-labelledby='h-caller_policy']").inner_text()
    assert "iam:PassRole" in caller
    page.locator("#h-plan").scroll_into_view_if_needed()
    screenshot(page, "planner")


def test_download_terraform(server: Server, page: Any) -> None:
    sign_in(page, server)
    _fill_request(page, server)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download Terraform").click()
    download = info.value
    assert download.suggested_filename == "execution-role.tf"
    text = Path(download.path()).read_text()
    assert 'resource "aws_iam_role"' in text and "s3:GetObject" in text
    assert f'"{ROLE_NAME}"' in text


def test_bad_request_json_is_reported(server: Server, page: Any) -> None:
    sign_in(page, server)
    page.goto(console_url(server, "/planner"))
    page.get_by_role("textbox", name="Request").fill("{not json")
    page.get_by_role("button", name="Plan the role").click()
    page.wait_for_load_state()
    assert "The request is not JSON" in page.get_by_role("alert").inner_text()


def test_check_against_a_role_lacking_put_object(server: Server, page: Any) -> None:
    request = json.loads(REQUEST.read_text())
    planned = plan("CreateTrainingJob", request, account="111122223333", region="us-east-1")
    policy = copy.deepcopy(planned.role_policy)
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) \
            else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != "s3:PutObject"] or ["s3:GetObject"]
    iam: Any = server.client("iam")
    arn = iam.create_role(RoleName=ROLE_NAME, Path="/service-role/",
                          AssumeRolePolicyDocument=json.dumps(planned.trust_policy))["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="planned-minus-put",
                        PolicyDocument=json.dumps(policy))
    sign_in(page, server)
    _fill_request(page, server)
    page.get_by_label("Role", exact=True).select_option(arn)
    page.get_by_role("button", name="Check against role").click()
    page.wait_for_load_state()
    alert = page.get_by_role("alert").inner_text()
    assert "ClientError: Artifact upload failed:Unable to upload to s3://corp-ml-models/churn" \
        in alert
    rows = page.locator("table.requirements tbody tr")
    put = rows.filter(has_text="s3:PutObject").first.inner_text()
    assert "implicit_deny" in put
    get = rows.filter(has_text="s3:GetObject").first.inner_text()
    assert "allow" in get and "planned-minus-put" in get


def test_load_a_past_training_job(server: Server, page: Any, tmp_path: Path) -> None:
    """A past job's DescribeTrainingJob, turned back into its CreateTrainingJob request, is
    planned like a pasted one (the role policy names its input prefix)."""
    from test_sagemaker_training import DATA, _push, _request, _role

    account = "111122223333"
    image = f"{account}.dkr.ecr.us-east-1.amazonaws.com/planner-trainer:1"
    server.client("ecr").create_repository(  # type: ignore[attr-defined]
        repositoryName="planner-trainer")
    _push(server, image, {"train.py": "print('trained')\n"}, tmp_path / "image")
    env = {"account": account, "images": {"trainer": image}}
    request = _request(env, "planner-past-job", f"arn:aws:iam::{account}:role/planner-past")
    _role(server, env, "planner-past", request)
    server.client("sagemaker").create_training_job(**request)  # type: ignore[attr-defined]
    sign_in(page, server)
    page.goto(console_url(server, "/planner"))
    page.get_by_label("Or start from a past job").select_option("training:planner-past-job")
    page.get_by_role("button", name="Load request").click()
    page.wait_for_load_state()
    loaded = json.loads(page.get_by_role("textbox", name="Request").input_value())
    assert loaded["TrainingJobName"] == "planner-past-job"
    assert "TrainingJobStatus" not in loaded  # Describe's own fields are dropped
    page.get_by_role("button", name="Plan the role").click()
    page.wait_for_load_state()
    role_policy = page.locator("section[aria-labelledby='h-role_policy']").inner_text()
    assert f"arn:aws:s3:::{DATA}/train/*" in role_policy
