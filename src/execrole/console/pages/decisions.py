"""The decision log: every authorization decision of the signed-in principal's account,
filtered as `execrole log` filters (execrole.decisionlog), newest first, with the layers,
statements and AWS message behind each denial, and a JSON export.

Who may read it: the account's root, and any principal whose policies allow
`iam:SimulatePrincipalPolicy` on all resources ("*"). The log tells what every principal of
the account may and may not do, which is what that permission already reveals through the
policy simulator; tying the two keeps one rule for both console pages. The check is the
endpoint's own engine on the caller's policies; it is not itself logged (it is no AWS call,
and logging it would add a row to the page on every view).
"""

from __future__ import annotations

from typing import Any

from ... import decisionlog
from ...policy import Request
from ...services.authz import global_context
from ...services.base import Call
from .. import Page
from ..web import Response, json_download, route, url

NAV: list[tuple[str, str]] = [("Decision log", "/decisions")]
PAGE_SIZE = 50
EXPORT_LIMIT = 10_000  # an export is a file for a person; `execrole log` serves bulk reads
GATE_ACTION = "iam:SimulatePrincipalPolicy"
DECISION_CHOICES = [("", "any"), ("allow", "allow"), ("deny", "any deny"),
                    ("implicit_deny", "implicit deny"), ("explicit_deny", "explicit deny")]
FILTER_FIELDS = ("principal", "action", "resource", "decision", "since", "job")


def may_read_log(page: Page, resource: str = "*") -> bool:
    """The visibility rule above: the engine decides GATE_ACTION on `resource` ("*" for the
    whole log; a job's page asks about the job's execution role) for the caller."""
    caller = page.caller
    access = page.console.endpoint.access
    call = Call(caller, page.console.endpoint.default_region, "console-gate",
                page.request.client)
    context = global_context(call, access.principal_tags(caller))
    decision = access.policies.authorizer(caller).authorize(
        Request(caller.arn, GATE_ACTION, resource, caller.account, context))
    return bool(decision.allowed)


def _filters(page: Page) -> tuple[decisionlog.Filters, dict[str, str], str]:
    """The filters of the query string, the raw values (to refill the form), an error."""
    raw = {name: page.request.arg(name).strip() for name in FILTER_FIELDS}
    error = ""
    since: float | None = None
    if raw["since"]:
        try:
            since = decisionlog.parse_since(raw["since"])
        except ValueError as e:
            error = str(e)
    if raw["decision"] not in ("", *decisionlog.DECISIONS):
        error, raw["decision"] = f"unknown decision {raw['decision']!r}", ""
    before = page.request.arg("before")
    return decisionlog.Filters(
        principal=raw["principal"], action=raw["action"], resource=raw["resource"],
        decision=raw["decision"], since=since, job=raw["job"], account=page.caller.account,
        before=int(before) if before.isdigit() else None), raw, error


def _forbidden(page: Page) -> Response:
    return page.render("error.html", 403, title="Decision log", message=(
        f"{page.caller.arn} may not read the decision log. It is open to the account's root "
        f"and to principals whose policies allow {GATE_ACTION} on all resources (\"*\")."))


def decision_log(page: Page) -> Response:
    if not may_read_log(page):
        return _forbidden(page)
    filters, raw, error = _filters(page)
    rows = [] if error else decisionlog.query(page.db, filters, PAGE_SIZE + 1)
    entries = [dict(decisionlog.entry(r), id=r["id"]) for r in rows[:PAGE_SIZE]]
    older = url("/decisions", **raw, before=entries[-1]["id"]) \
        if len(rows) > PAGE_SIZE else None
    newest = url("/decisions", **raw) if filters.before is not None else None
    return page.render("decisions.html", entries=entries, raw=raw, error=error,
                       choices=DECISION_CHOICES, older=older, newest=newest,
                       export=url("/decisions/export", **raw))


def export(page: Page) -> Response:
    """The filtered entries as one JSON list, oldest first (as `execrole log --json`)."""
    if not may_read_log(page):
        return _forbidden(page)
    filters, _, error = _filters(page)
    if error:
        return page.render("error.html", 400, title="Decision log", message=error)
    rows: list[Any] = decisionlog.query(page.db, filters, EXPORT_LIMIT)
    return json_download([decisionlog.entry(r) for r in reversed(rows)], "decisions.json")


ROUTES = [
    route("GET", "/decisions", decision_log),
    route("GET", "/decisions/export", export),
]
