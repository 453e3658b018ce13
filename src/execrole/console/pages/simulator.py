"""The policy simulator: IAM's SimulatePrincipalPolicy (an existing user or role) and
SimulateCustomPolicy (pasted policies), called as the signed-in principal, so it needs
iam:SimulatePrincipalPolicy / iam:SimulateCustomPolicy exactly as in AWS. One row per
action and resource: EvalDecision, the matched statements, missing context keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...services.base import AWSError
from .. import Page
from ..web import Response, route

NAV: list[tuple[str, str]] = [("Policy simulator", "/simulator")]
# EvalDecision → the decision log's words, for one set of status colours.
STATUS = {"allowed": "allow", "implicitDeny": "implicit_deny", "explicitDeny": "explicit_deny"}
MAX_PAGES = 20  # IAM pages results by 100; a form of 2,000 rows is plenty


@dataclass
class Form:
    """The form's fields, as typed (the page shows them back)."""

    mode: str = "principal"  # "principal" | "custom"
    source: str = ""  # the user's or role's ARN
    policies: list[str] = field(default_factory=list)
    resource_policy: str = ""
    actions: str = ""
    resources: str = "*"
    context: str = ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def context_entries(text: str) -> list[dict[str, Any]]:
    """`key=value` lines: one value is a string, `a,b` a string list (IAM's ContextEntry)."""
    entries = []
    for line in _lines(text):
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"context line {line!r} is not key=value")
        values = [v.strip() for v in value.split(",")]
        entries.append({"ContextKeyName": key.strip(), "ContextKeyValues": values,
                        "ContextKeyType": "stringList" if len(values) > 1 else "string"})
    return entries


def _form(page: Page) -> Form:
    r = page.request
    return Form(mode="custom" if r.arg("mode") == "custom" else "principal",
                source=r.arg("source").strip(),
                policies=[p for p in r.args_of("policy") if p.strip()],
                resource_policy=r.arg("resource_policy").strip(),
                actions=r.arg("actions"), resources=r.arg("resources", "*"),
                context=r.arg("context"))


def _principals(page: Page) -> tuple[list[tuple[str, str]], AWSError | None]:
    """(label, ARN) of the account's roles and users, as far as the caller may list them."""
    found: list[tuple[str, str]] = []
    error = None
    for operation, key, kind, name in (("ListRoles", "Roles", "role", "RoleName"),
                                       ("ListUsers", "Users", "user", "UserName")):
        marker: str | None = None
        while True:
            result, failed = page.attempt("iam", operation, **({"Marker": marker} if marker
                                                               else {}))
            if result is None:
                error = error or failed
                break
            found += [(f"{kind}: {item[name]}", item["Arn"]) for item in result[key]]
            marker = result.get("Marker") if result.get("IsTruncated") else None
            if not marker:
                break
    return found, error


def _simulate(page: Page, form: Form) -> list[dict[str, Any]]:
    """Every EvaluationResult, following IAM's Marker; raises AWSError or ValueError."""
    params: dict[str, Any] = {"ActionNames": _lines(form.actions),
                              "ResourceArns": _lines(form.resources) or ["*"],
                              "ContextEntries": context_entries(form.context)}
    if not params["ActionNames"]:
        raise ValueError("give at least one action, e.g. s3:GetObject")
    if form.resource_policy:
        params["ResourcePolicy"] = form.resource_policy
    if form.mode == "custom":
        if not form.policies:
            raise ValueError("paste at least one identity policy")
        operation = "SimulateCustomPolicy"
        params["PolicyInputList"] = form.policies
    else:
        if not form.source:
            raise ValueError("choose a user or role")
        operation = "SimulatePrincipalPolicy"
        params["PolicySourceArn"] = form.source
    results: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        answer = page.call("iam", operation, **params)
        results += answer["EvaluationResults"]
        if not answer.get("IsTruncated"):
            break
        params["Marker"] = answer["Marker"]
    return results


def _why(result: dict[str, Any]) -> str:
    """A sentence for a denial: IAM's result carries no message, so say what decided."""
    decision = result["EvalDecision"]
    if decision == "allowed":
        return ""
    if decision == "explicitDeny":
        names = ", ".join(m["SourcePolicyId"] for m in result["MatchedStatements"])
        return f"Denied by an explicit Deny statement in {names}."
    text = f"No statement allows {result['EvalActionName']} on {result['EvalResourceName']}."
    boundary = result.get("PermissionsBoundaryDecisionDetail")
    if boundary and not boundary.get("AllowedByPermissionsBoundary"):
        text += " The permissions boundary does not allow it."
    return text


def simulator(page: Page) -> Response:
    form = _form(page)
    principals, list_error = _principals(page)
    results: list[dict[str, Any]] | None = None
    error: AWSError | None = None
    problem = ""
    if page.request.method == "POST":
        try:
            results = _simulate(page, form)
        except AWSError as e:
            error = e
        except ValueError as e:
            problem = str(e)
    rows = [dict(r, status=STATUS.get(r["EvalDecision"], r["EvalDecision"]), why=_why(r))
            for r in results or []]
    return page.render("simulator.html", form=form, principals=principals,
                       list_error=list_error, results=results, rows=rows, error=error,
                       problem=problem)


ROUTES = [
    route("GET", "/simulator", simulator),
    route("POST", "/simulator", simulator),
]
