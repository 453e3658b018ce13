"""The planner: the least-privilege execution role (trust policy, role policy) and caller
policy for one SageMaker request, pasted or rebuilt from a past job, with each statement's
reasons; downloads as JSON, Terraform and CloudFormation (execrole.planner.render); and
"check against a role": `execrole check` on the endpoint's own store, read as the
signed-in principal through IAM's GetAccountAuthorizationDetails (so it needs that
read-only permission, as `execrole check --source aws` does)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...catalog import sagemaker
from ...planner.check import Report, check
from ...planner.plan import Plan, plan
from ...planner.render import render
from ...planner.sources import AuthorizationDetails, SourceError
from ...services.base import AWSError
from .. import Page
from ..web import Response, download, route

NAV: list[tuple[str, str]] = [("Planner", "/planner")]
DEFAULT_API = "CreateTrainingJob"
# Past jobs the page can turn back into a request: kind → (List, Describe, Create, keys).
JOB_KINDS = {
    "training": ("ListTrainingJobs", "TrainingJobSummaries", "TrainingJobName",
                 "DescribeTrainingJob", "CreateTrainingJob"),
    "processing": ("ListProcessingJobs", "ProcessingJobSummaries", "ProcessingJobName",
                   "DescribeProcessingJob", "CreateProcessingJob"),
}
DOWNLOADS = {"json": ("json", "application/json", "plan.json"),
             "terraform": ("terraform", "text/plain; charset=utf-8", "execution-role.tf"),
             "cloudformation": ("cloudformation", "application/json",
                                "execution-role.template.json")}
DOCUMENTS = (("trust_policy", "Trust policy", "Who may assume the role: SageMaker, for this "
              "kind of resource in this account."),
             ("role_policy", "Role policy", "What the job does as the role."),
             ("caller_policy", "Caller policy", "What whoever submits the request needs."))


@dataclass
class Form:
    api: str = DEFAULT_API
    request: str = ""
    job: str = ""  # "<kind>:<name>" of a past job
    scope: str = "least"
    role: str = ""  # the role ARN to check against


def _form(page: Page) -> Form:
    r = page.request
    api = r.arg("api", DEFAULT_API)
    return Form(api=api if api in sagemaker.APIS else DEFAULT_API, request=r.arg("request"),
                job=r.arg("job"), scope="seed" if r.arg("scope") == "seed" else "least",
                role=r.arg("role"))


def _past_jobs(page: Page) -> list[tuple[str, str]]:
    """(value, label) of the account's training and processing jobs the caller may list."""
    jobs: list[tuple[str, str]] = []
    for kind, (list_op, key, name_key, _, _) in JOB_KINDS.items():
        result, _ = page.attempt("sagemaker", list_op, MaxResults=100)
        for job in (result or {}).get(key, []):
            jobs.append((f"{kind}:{job[name_key]}", f"{kind} job {job[name_key]}"))
    return jobs


def request_of_job(page: Page, value: str) -> tuple[str, dict[str, Any]]:
    """A past job as its Create request: the Describe answer, keeping the fields the Create
    operation takes (its input shape), so the planner sees what the job was created with."""
    from ...wire import protocols

    kind, _, name = value.partition(":")
    if kind not in JOB_KINDS or not name:
        raise ValueError(f"unknown job {value!r}")
    _, _, name_key, describe_op, create_op = JOB_KINDS[kind]
    described = page.call("sagemaker", describe_op, **{name_key: name})
    members = protocols.service_model("sagemaker").operation_model(create_op).input_shape.members
    return create_op, {k: v for k, v in described.items() if k in members}


def _roles(page: Page) -> list[tuple[str, str]]:
    result, _ = page.attempt("iam", "ListRoles", MaxItems=1000)
    return [(role["Arn"], role["RoleName"]) for role in (result or {}).get("Roles", [])]


def _request(form: Form) -> dict[str, Any]:
    try:
        data = json.loads(form.request)
    except ValueError as e:
        raise ValueError(f"The request is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("The request must be a JSON object (the boto3 parameters).")
    return data


def _plan(page: Page, form: Form) -> Plan:
    return plan(form.api, _request(form), account=page.caller.account,
                region=page.console.endpoint.default_region, scope=form.scope)


def _check(page: Page, form: Form) -> Report:
    details = AuthorizationDetails(page.call("iam", "GetAccountAuthorizationDetails"))
    return check(form.api, _request(form), details, role=form.role or None,
                 region=page.console.endpoint.default_region)


def _row(row: Any) -> dict[str, Any]:
    """One requirement for the table: verdict and the statement that decided it."""
    r, d = row.requirement, row.decision
    deciding = ""
    if d is not None and d.matched:
        m = d.matched[0]
        deciding = f"{m.policy} statement {m.statement}" + (f" ({m.sid})" if m.sid else "")
    return {"who": r.who, "action": r.action, "resource": r.resource, "because": r.reason,
            "verdict": "not_checked" if d is None else str(d.outcome), "deciding": deciding,
            "message": d.message if d is not None and not d.allowed else ""}


def planner(page: Page) -> Response:
    form = _form(page)
    doing = page.request.arg("do") if page.request.method == "POST" else ""
    values: dict[str, Any] = {"result": None, "report": None, "rows": [], "error": None,
                              "problem": ""}
    try:
        if doing == "load" and form.job:
            form.api, request = request_of_job(page, form.job)
            form.request = json.dumps(request, indent=2, default=str)
        elif doing in DOWNLOADS:
            fmt, content_type, filename = DOWNLOADS[doing]
            return download(render(_plan(page, form).to_dict(), fmt), filename, content_type)
        elif doing == "plan":
            values["result"] = _plan(page, form).to_dict()
        elif doing == "check":
            report = _check(page, form)
            values.update(report=report, rows=[_row(row) for row in report.rows])
    except AWSError as e:
        values["error"] = e
    except (ValueError, sagemaker.RequestError, SourceError) as e:
        values["problem"] = str(e)
    return page.render("planner.html", form=form, apis=sagemaker.APIS, jobs=_past_jobs(page),
                       roles=_roles(page), documents=DOCUMENTS, **values)


ROUTES = [
    route("GET", "/planner", planner),
    route("POST", "/planner", planner),
]
