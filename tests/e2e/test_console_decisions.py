"""The console's decision log in a real browser against a real `execrole serve` (issue 7):
filters by principal and decision, a denial's layers, statements and AWS's message, the
JSON export (the fields of `execrole log --json`), and who may read the log.

The denial text is AWS's AccessDenied message (iam-user-guide troubleshoot_access-denied.md:
"... because no identity-based policy allows the <action> action"); the layers are those of
reference_policies_evaluation-logic.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server, console_url, screenshot, sign_in

READER_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": "*"}]}


def _user(server: Server, name: str, policy: dict[str, Any] | None = None) -> tuple[str, str]:
    iam: Any = server.client("iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def denied(server: Server) -> str:
    """A user allowed s3:ListBucket only, denied s3:GetObject (and allowed ListBucket)."""
    server.client("s3").create_bucket(Bucket="log-bucket")  # type: ignore[attr-defined]
    key, secret = _user(server, "carol", {"Version": "2012-10-17", "Statement": [
        {"Sid": "ListOnly", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::log-bucket"},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]})
    s3: Any = server.client("s3", key, secret)
    time.sleep(0.5)  # a new key is usable at once here; this just orders the log clearly
    s3.list_objects_v2(Bucket="log-bucket")
    with pytest.raises(ClientError):
        s3.delete_object(Bucket="log-bucket", Key="data.csv")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="log-bucket", Key="data.csv")
    message: str = e.value.response["Error"]["Message"]
    return message


def test_filter_and_expand_a_denial(server: Server, page: Any, denied: str) -> None:
    sign_in(page, server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Decision log").click()
    page.get_by_label("Principal").fill("user/carol")
    page.get_by_label("Decision").select_option("deny")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    rows = page.locator("table.decisions tbody tr:not(.why)")
    assert rows.count() == 2  # newest first: the denied get, then the denied delete
    assert "explicit_deny" in rows.nth(1).inner_text()
    row = rows.first.inner_text()
    assert "implicit_deny" in row and "s3:GetObject" in row
    assert "arn:aws:iam::111122223333:user/carol" in row
    assert "arn:aws:s3:::log-bucket/data.csv" in row
    page.get_by_text("Why explicit deny").click()
    explicit = page.locator("tr.why details").nth(1).inner_text()
    assert "carol/p statement 1 (Sid NoDeletes) · Deny" in explicit  # the deciding statement
    assert "with an explicit deny in an identity-based policy" in explicit
    page.get_by_text("Why implicit deny").click()
    details = page.locator("tr.why details").first.inner_text()
    assert "identity" in details  # the layer that denied
    assert denied in details  # AWS's message, as boto3 received it
    assert "no identity-based policy allows the s3:GetObject action" in details
    screenshot(page, "decision-log")
    # The allow is there too, with the statement that allowed it, without the deny filter.
    page.get_by_label("Decision").select_option("allow")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert "s3:ListBucket" in page.locator("table.decisions").inner_text()


def test_export_json_has_the_log_fields(server: Server, page: Any, denied: str) -> None:
    sign_in(page, server)
    page.goto(console_url(server, "/decisions?principal=user/carol&decision=implicit_deny"))
    with page.expect_download() as info:
        page.get_by_role("link", name="Export JSON").click()
    entries = json.loads(Path(info.value.path()).read_text())
    assert [(e["action"], e["decision"], e["denied_by"]) for e in entries] == [
        ("s3:GetObject", "implicit_deny", ["identity"])]  # the explicit deny is filtered out
    assert set(entries[0]) == {"time", "request_id", "principal", "action", "resource",
                               "decision", "denied_by", "statements", "message", "source"}
    assert entries[0]["message"] == denied and entries[0]["source"] == "api"


def test_time_filter_and_bad_since(server: Server, page: Any, denied: str) -> None:
    sign_in(page, server)
    page.goto(console_url(server, "/decisions?principal=user/carol&since=2000-01-01"))
    assert page.locator("table.decisions tbody tr:not(.why)").count() >= 2
    page.goto(console_url(server, "/decisions?since=yesterday"))
    assert "since wants an ISO 8601 time" in page.get_by_role("alert").inner_text()


def test_who_may_read_the_log(server: Server, page: Any, denied: str) -> None:
    """The root and principals allowed iam:SimulatePrincipalPolicy on "*"; each sees only
    its own account's entries."""
    key, secret = _user(server, "dave")
    sign_in(page, server, key, secret)
    page.goto(console_url(server, "/decisions"))
    assert "may not read the decision log" in page.get_by_role("alert").inner_text()
    assert page.request.get(console_url(server, "/decisions/export")).status == 403
    key, secret = _user(server, "auditor", READER_POLICY)
    sign_in(page, server, key, secret)
    page.goto(console_url(server, "/decisions?principal=user/carol"))
    assert "s3:GetObject" in page.locator("table.decisions").inner_text()


def test_another_account_sees_only_its_own(server: Server, page: Any, denied: str) -> None:
    import subprocess
    import sys

    created = subprocess.run([sys.executable, "-m", "execrole", "account", "create", "--id",
                              "444455556666", "--data-dir", str(server.data_dir)],
                             capture_output=True, text=True, check=True)
    info = json.loads(created.stdout)
    sign_in(page, server, info["AccessKeyId"], info["SecretAccessKey"])
    page.goto(console_url(server, "/decisions?principal=user/carol"))
    assert page.locator("table.decisions").count() == 0
    assert "No decisions match" in page.locator("main").inner_text()


# --- a busy day, in-process: 50,000 decisions, the handler timed (docs/performance.md) ------

def _busy_log(db: Any, count: int) -> None:
    import random

    rng = random.Random(7)
    start = time.time() - 86_400
    rows = []
    for i in range(count):
        decision = rng.choices(["allow", "implicit_deny", "explicit_deny"], [95, 4, 1])[0]
        statements = [] if decision != "allow" else [
            {"layer": "identity", "policy": "Role/p", "statement": 0, "sid": "S",
             "effect": "Allow"}]
        rows.append((start + i * 1.7, f"req-{i}", "111122223333",
                     f"arn:aws:sts::111122223333:assumed-role/Role{rng.randrange(20)}/SageMaker",
                     rng.choice(["s3:GetObject", "s3:PutObject", "logs:PutLogEvents",
                                 "ecr:BatchGetImage", "kms:Decrypt"]),
                     f"arn:aws:s3:::bucket-{rng.randrange(50)}/key/{i}", decision,
                     json.dumps([] if decision == "allow" else ["identity"]),
                     json.dumps(statements),
                     None if decision == "allow" else "User: x is not authorized",
                     "arn:aws:sagemaker:us-east-1:111122223333:training-job/"
                     f"job-{rng.randrange(500)}"))
    with db.transaction() as c:
        c.executemany("INSERT INTO decisions(time, request_id, account, principal, action, "
                      "resource, decision, denied_by, statements, message, source) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)


def test_busy_day_page_times(tmp_path: Any) -> None:
    """The decision log page over 50,000 entries, timed in-process (printed, not asserted:
    the figures are in docs/performance.md), and its 50-entry pages with an older-cursor."""
    from urllib.parse import parse_qs

    from execrole.console import Page
    from execrole.console.pages import decisions
    from execrole.console.sessions import Session
    from execrole.console.web import Request
    from execrole.services import credentials
    from execrole.services.base import Caller
    from execrole.store import Database
    from execrole.wire.app import EndpointApp

    db = Database(tmp_path / "execrole.db")
    try:
        credentials.create_account(db, "111122223333")
        app = EndpointApp(db)
        _busy_log(db, 50_000)
        session = Session(Caller("arn:aws:iam::111122223333:root", "111122223333"), "t",
                          time.time() + 3600, "AKIAEXAMPLE")
        for query in ("", "decision=deny", "principal=Role7&decision=explicit_deny&since=1d",
                      "job=job-42", "principal=nobody", "before=20000"):
            timings = []
            for _ in range(5):
                request = Request("GET", "/decisions", parse_qs(query), {}, b"", "127.0.0.1")
                began = time.perf_counter()
                response = decisions.decision_log(Page(request, session, app.console))
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status == 200
            print(f"decision log {query or '(no filter)'}: median "
                  f"{sorted(timings)[2]:.1f} ms, max {max(timings):.1f} ms")
        body = response.body.decode()
        assert body.count('<tr class="decision-') == decisions.PAGE_SIZE
        assert "before=" in body and ">Older<" in body and ">Newest<" in body
    finally:
        db.close()
