"""The IAM console pages in a real browser (Debian's Chromium) against a real `execrole serve`.

The seed's "Create execution role" procedure: "Select Roles and then select Create role.
Select SageMaker. Select Next: Permissions. The IAM managed policy, AmazonSageMakerFullAccess
is automatically attached to this role ... (Optional) Add tags ... Give the role a name ...
select Create role ... On the role summary page, make note of the ARN." Then "Add Additional
Amazon S3 Permissions to a SageMaker Execution Role" with its DOC-EXAMPLE-BUCKET1/2 policy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import Server, console_url, screenshot, sign_in

ACCOUNT = "111122223333"
ROLE = "AmazonSageMaker-ExecutionRole-20201200T100000"  # the seed's example name
# The seed's extra S3 permissions, verbatim.
EXTRA_S3 = (
    '{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": [ '
    '"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload" ], '
    '"Resource": [ "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/*", "arn:aws:s3:::DOC-EXAMPLE-BUCKET2/*" ] '
    '}, { "Effect": "Allow", "Action": [ "s3:CreateBucket", "s3:GetBucketLocation", '
    '"s3:ListBucket", "s3:ListAllMyBuckets", "s3:GetBucketCors", "s3:PutBucketCors" ], '
    '"Resource": "*" }, { "Effect": "Allow", "Action": [ "s3:GetBucketAcl", "s3:PutObjectAcl" '
    '], "Resource": [ "arn:aws:s3:::DOC-EXAMPLE-BUCKET1", "arn:aws:s3:::DOC-EXAMPLE-BUCKET2" ] '
    "} ] }")


def _cli_validate(text: str, tmp_path: Path) -> str:
    """What `execrole policy validate` prints for the text (its stdout)."""
    path = tmp_path / "policy.json"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-m", "execrole", "policy", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    return done.stdout.strip()


def _create_role_with_the_wizard(page: Any, server: Server, name: str) -> None:
    page.goto(console_url(server, "/iam/roles"))
    page.get_by_role("link", name="Create role").click()
    # Step 1: AWS service, SageMaker's use case.
    assert page.locator("[aria-current=step]").inner_text() == "Step 1: Trusted entity"
    assert page.get_by_label("AWS service").is_checked()
    page.get_by_label("Use case").select_option(label="SageMaker – Execution")
    page.get_by_role("button", name="Next").click()
    # Step 2: AmazonSageMakerFullAccess attached automatically, its JSON behind the arrow.
    assert page.locator("[aria-current=step]").inner_text() == "Step 2: Add permissions"
    assert page.get_by_label("AmazonSageMakerFullAccess").is_checked()
    page.get_by_text("Show the permissions of AmazonSageMakerFullAccess").click()
    document = json.loads(page.locator("details pre").inner_text())
    assert any("sagemaker:*" in (s.get("Action") or []) for s in document["Statement"])
    page.get_by_role("button", name="Next").click()
    # Step 3: name, description (prefilled for the use case), tags.
    page.get_by_label("Role name").fill(name)
    page.get_by_label("Tag 1 key").fill("team")
    page.get_by_label("Tag 1 value").fill("ml")
    screenshot(page, "iam-create-role")
    page.get_by_label("Tag 1 value").press("Enter")  # the keyboard: Enter is "Next"
    # Step 4: review, then Create role.
    assert page.locator("[aria-current=step]").inner_text() == "Step 4: Review and create"
    assert "sagemaker.amazonaws.com" in page.locator("form pre").inner_text()
    page.get_by_role("button", name="Create role").click()
    page.wait_for_load_state()


def test_the_seeds_create_role_wizard_and_summary(server: Server, page: Any) -> None:
    """Seed: Roles → Create role → SageMaker → Next → AmazonSageMakerFullAccess attached →
    tags → name → Create role → role summary with the ARN."""
    sign_in(page, server)
    _create_role_with_the_wizard(page, server, ROLE)
    assert page.url.endswith(f"/iam/roles/{ROLE}?notice=created&item={ROLE}")
    arn = page.locator("#role-arn code").inner_text()
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    assert page.get_by_role("button", name="Copy the ARN").is_visible()
    assert "AmazonSageMakerFullAccess" in page.locator("#attached-policies").inner_text()
    trust = json.loads(page.locator("#trust-policy").inner_text())
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert "team" in page.get_by_role("region", name="Tags").inner_text()
    screenshot(page, "iam-role-summary")
    # The same role through the API.
    iam: Any = server.client("iam")
    got = iam.get_role(RoleName=ROLE)["Role"]
    assert got["Arn"] == arn
    assert got["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonSageMakerFullAccess"]
    assert iam.list_role_tags(RoleName=ROLE)["Tags"] == [{"Key": "team", "Value": "ml"}]
    # Seed step 8: "use the text box to search for the role using the role name".
    page.get_by_role("navigation", name="Main").get_by_role("link", name="IAM roles").click()
    page.get_by_label("Search by role name").fill("ExecutionRole-2020")
    page.get_by_label("Search by role name").press("Enter")
    page.get_by_role("link", name=ROLE).click()
    assert page.locator("#role-arn code").inner_text() == arn


def test_roles_list_pages_and_search(server: Server, page: Any) -> None:
    """Many roles: 50 a page with Next, and a server-side name search; each page fast."""
    iam: Any = server.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    for i in range(120):
        iam.create_role(RoleName=f"bulk-role-{i:03d}", AssumeRolePolicyDocument=trust)
    sign_in(page, server)
    started = time.perf_counter()
    page.goto(console_url(server, "/iam/roles"))
    assert time.perf_counter() - started < 2  # the browser's round trip; server side less
    assert page.locator("tbody tr").count() == 50
    screenshot(page, "iam-roles")
    page.get_by_role("link", name="Next").click()
    assert page.locator("tbody tr").count() == 50
    page.get_by_label("Search by role name").fill("role-11")
    page.get_by_role("button", name="Search").click()
    names = page.locator("tbody tr td:first-child").all_inner_texts()
    assert names == [f"bulk-role-{i}" for i in range(110, 120)]


def test_inline_policy_from_the_seed_and_a_malformed_one(server: Server, page: Any,
                                                        tmp_path: Path) -> None:
    """Seed: "attach a policy similar to the following to the role" (DOC-EXAMPLE-BUCKET1/2);
    a malformed document is refused with the message `execrole policy validate` prints."""
    iam: Any = server.client("iam")
    name = "inline-policy-role"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    sign_in(page, server)
    page.goto(console_url(server, f"/iam/roles/{name}"))
    page.get_by_role("link", name="Add inline policy").click()
    page.get_by_label("Policy name").fill("extra-s3")
    page.get_by_label("Policy document (JSON)").fill(EXTRA_S3)
    page.get_by_role("button", name="Save policy").click()
    page.wait_for_load_state()
    assert "Inline policy extra-s3 saved." in page.get_by_role("status").inner_text()
    page.get_by_text("extra-s3", exact=True).click()
    assert "DOC-EXAMPLE-BUCKET2" in page.locator("#inline-policies pre").inner_text()
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["extra-s3"]

    for malformed in ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                      '"Action": "s3:GetObject"}]}',  # no Resource
                      EXTRA_S3.replace('"Effect": "Allow"', '"Effect": "Permit"', 1),
                      EXTRA_S3[:-3]):  # not JSON
        page.get_by_role("link", name="Edit extra-s3").click()
        page.get_by_label("Policy document (JSON)").fill(malformed)
        page.get_by_role("button", name="Save policy").click()
        page.wait_for_load_state()
        shown = page.locator("#validation .message").inner_text()
        assert shown == _cli_validate(malformed, tmp_path)
        assert page.get_by_label("Policy document (JSON)").input_value() == malformed
        if malformed.endswith('"s3:GetObject"}]}'):
            screenshot(page, "iam-inline-policy-error")
        page.goto(console_url(server, f"/iam/roles/{name}"))
        page.get_by_text("extra-s3", exact=True).click()
    # Unchanged by the refused edits.
    assert "DOC-EXAMPLE-BUCKET1" in json.dumps(
        iam.get_role_policy(RoleName=name, PolicyName="extra-s3")["PolicyDocument"])


def test_put_role_policy_errors_are_shown_and_delete_and_detach(server: Server,
                                                                 page: Any) -> None:
    """IAM's own answer to PutRolePolicy (here a name IAM refuses) shows on the editor;
    deleting an inline policy asks first; a managed policy can be detached."""
    iam: Any = server.client("iam")
    name = "edit-role"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=name,
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    iam.put_role_policy(RoleName=name, PolicyName="to-delete", PolicyDocument=EXTRA_S3)
    sign_in(page, server)
    page.goto(console_url(server, f"/iam/roles/{name}/policies/new"))
    page.get_by_label("Policy name").fill("bad name")
    page.get_by_label("Policy document (JSON)").fill(EXTRA_S3)
    page.get_by_role("button", name="Save policy").click()
    alert = page.get_by_role("alert").inner_text()
    assert "ValidationError" in alert and "policyName" in alert
    assert page.get_by_label("Policy document (JSON)").input_value() == EXTRA_S3

    page.goto(console_url(server, f"/iam/roles/{name}"))
    page.get_by_text("to-delete", exact=True).click()
    page.get_by_role("link", name="Delete to-delete").click()
    page.get_by_role("button", name="Delete").click()
    assert "Inline policy to-delete deleted." in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Detach AmazonSageMakerFullAccess").click()
    assert "Policy AmazonSageMakerFullAccess detached." in (
        page.get_by_role("status").inner_text())
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []


def test_without_list_roles_the_page_shows_access_denied(server: Server, page: Any) -> None:
    """Issue 7: "A user without iam:ListRoles sees AWS's AccessDenied text on the roles page,
    not a crash"."""
    iam: Any = server.client("iam")
    iam.create_user(UserName="no-list")
    iam.put_user_policy(UserName="no-list", PolicyName="whoami", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                "Action": "sts:GetCallerIdentity",
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName="no-list")["AccessKey"]
    sign_in(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    page.goto(console_url(server, "/iam/roles"))
    alert = page.get_by_role("alert").inner_text()
    expected = (f"User: arn:aws:iam::{ACCOUNT}:user/no-list is not authorized to perform: "
                "iam:ListRoles because no identity-based policy allows the iam:ListRoles action")
    assert "AccessDenied" in alert and expected in alert, alert
    # The same text the API gives.
    denied: Any = server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    try:
        denied.list_roles()
        raise AssertionError("ListRoles allowed")
    except denied.exceptions.ClientError as e:
        assert e.response["Error"]["Message"] in alert


def test_users_and_access_keys(server: Server, page: Any) -> None:
    """Create a user and an access key (its secret shown once), deactivate and delete it."""
    sign_in(page, server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="IAM users").click()
    page.get_by_label("New user name").fill("data-scientist")
    page.get_by_role("button", name="Create user").click()
    assert page.get_by_role("heading", name="data-scientist").is_visible()
    page.get_by_role("button", name="Create access key").click()
    key_id = page.locator("#new-key dd code").first.inner_text()
    secret = page.locator("#new-key dd code").nth(1).inner_text()
    assert key_id.startswith("AKIA") and len(secret) == 40
    # The secret works: the new user's key signs a request.
    sts: Any = server.client("sts", key_id, secret)
    assert sts.get_caller_identity()["Arn"].endswith(":user/data-scientist")
    page.goto(console_url(server, "/iam/users/data-scientist"))  # shown once: not again
    assert page.locator("#new-key").count() == 0
    page.get_by_role("button", name=f"Deactivate {key_id}").click()
    assert "Inactive" in page.locator("#access-keys").inner_text()
    page.get_by_role("link", name=f"Delete {key_id}").click()
    page.get_by_role("button", name="Delete").click()
    assert "No access keys." in page.locator("#access-keys").inner_text()
    iam: Any = server.client("iam")
    assert iam.list_access_keys(UserName="data-scientist")["AccessKeyMetadata"] == []
