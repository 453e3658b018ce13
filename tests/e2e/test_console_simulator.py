"""The console's policy simulator in a real browser against a real `execrole serve`
(issue 7). It calls IAM's SimulatePrincipalPolicy and SimulateCustomPolicy as the signed-in
principal; the results are IAM's EvaluationResults: EvalDecision allowed | implicitDeny |
explicitDeny, MatchedStatements, MissingContextValues (IAM API reference,
SimulatePrincipalPolicy / SimulateCustomPolicy; the decisions follow
iam-user-guide reference_policies_evaluation-logic.md, the condition keys
reference_policies_condition-keys.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Server, console_url, screenshot, sign_in

ROLE = "SimTarget"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
READS = {"Version": "2012-10-17", "Statement": [{
    "Sid": "ReadData", "Effect": "Allow", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::sim-data/*"}]}


@pytest.fixture(scope="module")
def role(server: Server) -> str:
    iam: Any = server.client("iam")
    arn: str = iam.create_role(RoleName=ROLE,
                               AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    policy = iam.create_policy(PolicyName="SimReads", PolicyDocument=json.dumps(READS))
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=policy["Policy"]["Arn"])
    return arn


def _rows(page: Any) -> list[str]:
    cells = page.locator("table.simulation tbody tr")
    return [cells.nth(i).inner_text() for i in range(cells.count())]


def test_existing_role_allowed_and_implicitly_denied(server: Server, page: Any,
                                                     role: str) -> None:
    sign_in(page, server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy simulator").click()
    page.get_by_label("An existing user or role").check()
    page.get_by_label("User or role", exact=True).select_option(role)
    page.get_by_label("Actions").fill("s3:GetObject\ns3:PutObject")
    page.get_by_label("Resources").fill("arn:aws:s3:::sim-data/train.csv")
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_load_state()
    rows = _rows(page)
    assert len(rows) == 2
    get = next(r for r in rows if "s3:GetObject" in r)
    put = next(r for r in rows if "s3:PutObject" in r)
    assert "allowed" in get and "SimReads" in get
    assert "implicitDeny" in put and "No statement allows s3:PutObject" in put
    page.locator("#results").scroll_into_view_if_needed()
    screenshot(page, "simulator")


def test_pasted_policy_with_a_condition_and_a_context_key(server: Server, page: Any) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamOnly", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ml"}}}]}
    sign_in(page, server)
    page.goto(console_url(server, "/simulator"))
    page.get_by_label("Policies pasted here").check()
    page.get_by_label("Identity policy 1").fill(json.dumps(policy, indent=2))
    page.get_by_label("Actions").fill("s3:GetObject")
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_load_state()
    [row] = _rows(page)
    assert "implicitDeny" in row and "aws:PrincipalTag/team" in row  # missing context key
    page.get_by_label("Context keys").fill("aws:PrincipalTag/team=ml")
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_load_state()
    [row] = _rows(page)
    assert "allowed" in row and "PolicyInputList.1" in row
    page.get_by_label("Context keys").fill("aws:PrincipalTag/team=ops,finance")
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_load_state()
    assert "implicitDeny" in _rows(page)[0]


def test_malformed_policy_shows_iams_message(server: Server, page: Any) -> None:
    sign_in(page, server)
    page.goto(console_url(server, "/simulator"))
    page.get_by_label("Policies pasted here").check()
    page.get_by_label("Identity policy 1").fill(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}')
    page.get_by_label("Actions").fill("s3:GetObject")
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_load_state()
    alert = page.get_by_role("alert").inner_text()
    assert "MalformedPolicyDocument" in alert
    assert "Policy statement must contain resources." in alert


def test_needs_the_simulate_permission(server: Server, page: Any, role: str) -> None:
    """A user without iam:SimulatePrincipalPolicy gets IAM's AccessDenied, as in AWS."""
    iam: Any = server.client("iam")
    iam.create_user(UserName="simless")
    key = iam.create_access_key(UserName="simless")["AccessKey"]
    sign_in(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    page.goto(console_url(server, "/simulator"))
    page.get_by_label("Policies pasted here").check()
    page.get_by_label("Identity policy 1").fill(json.dumps(READS))
    page.get_by_label("Actions").fill("s3:GetObject")
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_load_state()
    alert = page.get_by_role("alert").inner_text()
    assert "AccessDenied" in alert and "iam:SimulateCustomPolicy" in alert
