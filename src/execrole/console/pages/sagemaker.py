"""SageMaker in the console: notebook instances (the seed's procedure: "Under Notebook >
Notebook instances, select the notebook. The ARN is given in the Permissions and encryption
section."), training jobs and processing jobs (lists, details, logs, the decisions taken on
a job's behalf) and the Create training job form.

Every read and write is the signed-in principal's API call (`page.call`), so a user sees
AWS's AccessDenied where their identity may not list or describe. List pages make one List
call per page and never a Describe per row (hundreds of jobs on a busy day).

Who may read a job's decisions: the decision log is the engine's record of what the job's
execution role was allowed and denied, i.e. what `iam:SimulatePrincipalPolicy` on that role
would reveal. So the rule is: the account's root user always; any other principal when the
engine allows it `iam:SimulatePrincipalPolicy` on the job's execution role ARN (the
decision log page's rule, pages/decisions.py, asked about that role).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ...services.base import AWSError
from .. import Page
from ..web import Response, quoted, redirect, route, url
from .decisions import may_read_log

NAV: list[tuple[str, str]] = [("Notebook instances", "/sagemaker/notebooks"),
                              ("Training jobs", "/sagemaker/training-jobs"),
                              ("Processing jobs", "/sagemaker/processing-jobs")]

PAGE_SIZE = 50  # rows per list page (ListTrainingJobs allows MaxResults up to 100)
LOG_EVENTS = 500  # log events per page of the logs view
DECISIONS_SHOWN = 500
# The instance types the form offers (the console's common training choices).
INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge",
                  "ml.c5.2xlarge", "ml.g4dn.xlarge", "ml.p3.2xlarge")
NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9-]{0,62})"


@dataclass(frozen=True)
class JobKind:
    """What differs between training and processing jobs (botocore's sagemaker model)."""

    label: str  # "Training jobs"
    singular: str  # "Training job"
    path: str  # "/sagemaker/training-jobs"
    noun: str  # "TrainingJob": the operation and field stem
    statuses: tuple[str, ...]
    log_group: str
    template: str

    @property
    def name_key(self) -> str:
        return f"{self.noun}Name"

    @property
    def status_key(self) -> str:
        return f"{self.noun}Status"

    @property
    def end_key(self) -> str:
        return self.noun.removesuffix("Job") + "EndTime"


TRAINING = JobKind("Training jobs", "Training job", "/sagemaker/training-jobs", "TrainingJob",
                   ("InProgress", "Completed", "Failed", "Stopping", "Stopped"),
                   "/aws/sagemaker/TrainingJobs", "sagemaker_training_job.html")
PROCESSING = JobKind("Processing jobs", "Processing job", "/sagemaker/processing-jobs",
                     "ProcessingJob",
                     ("InProgress", "Completed", "Failed", "Stopping", "Stopped"),
                     "/aws/sagemaker/ProcessingJobs", "sagemaker_processing_job.html")


class _Doc(dict[str, Any]):
    """A described resource for the templates: botocore's optional members may be absent,
    and the console's templates are strict about undefined names, so an absent member reads
    as a blank (falsy, empty, printing as nothing) at any depth."""

    def __missing__(self, key: str) -> Any:
        return BLANK


class _Blank(_Doc):
    def __str__(self) -> str:
        return ""

    def __html__(self) -> str:
        return ""


BLANK = _Blank()


def _doc(value: Any) -> Any:
    if isinstance(value, dict):
        return _Doc({k: _doc(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_doc(v) for v in value]
    return value


# --- notebook instances ------------------------------------------------------------------------

def notebooks(page: Page) -> Response:
    result, error = page.attempt("sagemaker", "ListNotebookInstances", **_list_params(page))
    return page.render("sagemaker_notebooks.html", error=error,
                       rows=_doc((result or {}).get("NotebookInstances", [])),
                       **_paging(page, result, "/sagemaker/notebooks"))


def notebook(page: Page) -> Response:
    name = page.args["name"]
    found, error = page.attempt("sagemaker", "DescribeNotebookInstance",
                                NotebookInstanceName=name)
    return page.render("sagemaker_notebook.html", name=name, nb=_doc(found), error=error,
                       role_name=_role_name((found or {}).get("RoleArn", "")),
                       status=_status_of(error))


def _status_of(error: AWSError | None) -> int:
    """A Describe that failed: denied (403) or, as SageMaker answers an unknown name with a
    ValidationException or ResourceNotFound, not found (404)."""
    if error is None:
        return 200
    return 403 if error.code.startswith("AccessDenied") else 404


# --- jobs: lists, details, logs ---------------------------------------------------------------

def _list_params(page: Page) -> dict[str, Any]:
    """List* parameters from the query: name filter, status filter, the page's token."""
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE, "SortBy": "CreationTime",
                              "SortOrder": "Descending"}
    for arg, key in (("name", "NameContains"), ("status", "StatusEquals"),
                     ("token", "NextToken")):
        if page.request.arg(arg):
            params[key] = page.request.arg(arg)
    return params


def _paging(page: Page, result: dict[str, Any] | None, path: str) -> dict[str, Any]:
    """Next and Previous links. NextToken only goes forward, so the tokens of the pages
    before this one travel in the query (`back`), as the AWS console keeps them in memory."""
    request = page.request
    filters = {"name": request.arg("name"), "status": request.arg("status")}
    shown = {"name_filter": filters["name"], "status_filter": filters["status"]}
    back = request.args_of("back")
    token = request.arg("token")
    next_url = prev_url = None
    if result and result.get("NextToken"):
        next_url = url(path, **filters, token=result["NextToken"], back=[*back, token])
    if token:
        prev_url = url(path, **filters, token=back[-1] if back else "", back=back[:-1])
    return {"next_url": next_url, "prev_url": prev_url, **shown}


def _job_list(kind: JobKind) -> Callable[[Page], Response]:
    def show(page: Page) -> Response:
        result, error = page.attempt("sagemaker", f"List{kind.noun}s",
                                     **_list_params(page))
        return page.render("sagemaker_jobs.html", kind=kind, error=error,
                           rows=_doc((result or {}).get(f"{kind.noun}Summaries", [])),
                           **_paging(page, result, kind.path))
    return show


def _job_detail(kind: JobKind) -> Callable[[Page], Response]:
    def show(page: Page) -> Response:
        name = page.args["name"]
        job, error = page.attempt("sagemaker", f"Describe{kind.noun}", **{kind.name_key: name})
        role_arn = str((job or {}).get("RoleArn") or "")
        readable = job is not None and _may_read_decisions(page, role_arn)
        decisions = _decisions(page, job, kind) if job is not None and readable else []
        return page.render(kind.template, kind=kind, name=name, job=_doc(job), error=error,
                           role_name=_role_name(role_arn), readable=readable,
                           decisions=decisions, denials=sum(
                               1 for d in decisions if d["decision"] != "allow"),
                           status=_status_of(error))
    return show


def _job_logs(kind: JobKind) -> Callable[[Page], Response]:
    def show(page: Page) -> Response:
        name = page.args["name"]
        streams, error = page.attempt("logs", "DescribeLogStreams", logGroupName=kind.log_group,
                                      logStreamNamePrefix=f"{name}/")
        names = [s["logStreamName"] for s in (streams or {}).get("logStreams", [])]
        chosen = page.request.arg("stream") if page.request.arg("stream") in names else \
            (names[0] if names else "")
        events: dict[str, Any] | None = None
        if chosen:
            params: dict[str, Any] = {"logGroupName": kind.log_group, "logStreamName": chosen,
                                      "startFromHead": True, "limit": LOG_EVENTS}
            if page.request.arg("token"):
                params["nextToken"] = page.request.arg("token")
            events, error = page.attempt("logs", "GetLogEvents", **params)
        return page.render("sagemaker_logs.html", kind=kind, name=name, streams=names,
                           stream=chosen, error=error, **_events(page, kind, name, chosen,
                                                                  events))
    return show


def _events(page: Page, kind: JobKind, name: str, stream: str,
            result: dict[str, Any] | None) -> dict[str, Any]:
    """The events, and a link to the next ones (GetLogEvents repeats its forward token when
    there is nothing newer: no link then)."""
    events = (result or {}).get("events", [])
    forward = (result or {}).get("nextForwardToken")
    more = bool(events) and len(events) >= LOG_EVENTS and forward != page.request.arg("token")
    return {"events": events, "more_url": url(f"{kind.path}/{quoted(name)}/logs",
                                               stream=stream, token=forward) if more else None}


# --- the decisions taken on a job's behalf -----------------------------------------------------

def _may_read_decisions(page: Page, role_arn: str) -> bool:
    """The rule of the module docstring: the decision log's, asked about the job's role."""
    return bool(role_arn) and may_read_log(page, role_arn)


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return float(value.timestamp())


def _decisions(page: Page, job: dict[str, Any], kind: JobKind) -> list[dict[str, Any]]:
    """The decisions logged under the job's ARN (index decisions_source), oldest first."""
    rows = page.db.query(
        "SELECT time, principal, action, resource, decision, denied_by, message FROM decisions "
        "WHERE source = ? ORDER BY time, id LIMIT ?",
        (job[f"{kind.noun}Arn"], DECISIONS_SHOWN))
    return [{**dict(r), "denied_by": json.loads(r["denied_by"] or "[]")} for r in rows]


def _role_name(role_arn: str) -> str:
    """The role's name for the IAM role page (the last segment of a role ARN's path)."""
    return role_arn.rsplit("/", 1)[1] if ":role/" in role_arn else ""


# --- Create training job -----------------------------------------------------------------------

FORM_FIELDS = ("name", "role", "image", "input", "channel", "output", "instance_type",
               "volume", "max_runtime", "hyperparameters")
FORM_DEFAULTS = {"channel": "train", "instance_type": "ml.m5.large", "volume": "5",
                 "max_runtime": "3600"}


class FormError(Exception):
    """A value the form cannot turn into a request (shown like AWS's validation errors)."""


def create_form(page: Page) -> Response:
    return _render_form(page, dict(FORM_DEFAULTS), None)


def create(page: Page) -> Response:
    values = {k: page.request.arg(k).strip() for k in FORM_FIELDS}
    try:
        request = _training_request(values)
    except FormError as e:
        return _render_form(page, values, AWSError("ValidationException", str(e)), 400)
    _, error = page.attempt("sagemaker", "CreateTrainingJob", **request)
    if error is not None:
        return _render_form(page, values, error, 400)
    return redirect(url(f"{TRAINING.path}/{quoted(values['name'])}"))


def _render_form(page: Page, values: dict[str, str], error: AWSError | None,
                 status: int = 200) -> Response:
    return page.render("sagemaker_create_training_job.html", status=status, error=error,
                       values={k: values.get(k, "") for k in FORM_FIELDS},
                       roles=_sagemaker_roles(page), instance_types=INSTANCE_TYPES)


def _sagemaker_roles(page: Page) -> list[str]:
    """Suggestions for the role field: the roles SageMaker may assume. A principal who may
    not list roles still types an ARN (the field is free text)."""
    result, _ = page.attempt("iam", "ListRoles", MaxItems=1000)
    return [r["Arn"] for r in (result or {}).get("Roles", [])
            if _trusts_sagemaker(r.get("AssumeRolePolicyDocument") or "")]


def _trusts_sagemaker(document: str | dict[str, Any]) -> bool:
    """Whether a trust policy lets sagemaker.amazonaws.com assume the role (IAM returns
    policy documents URL-encoded)."""
    try:
        doc = json.loads(unquote(document)) if isinstance(document, str) else document
    except ValueError:
        return False
    statements = doc.get("Statement") or []
    for st in statements if isinstance(statements, list) else [statements]:
        services = ((st.get("Principal") or {}) if isinstance(st.get("Principal"), dict)
                    else {}).get("Service") or []
        services = [services] if isinstance(services, str) else services
        if st.get("Effect") == "Allow" and "sagemaker.amazonaws.com" in services:
            return True
    return False


def _training_request(v: dict[str, str]) -> dict[str, Any]:
    """CreateTrainingJob's parameters from the form (botocore's sagemaker model)."""
    request: dict[str, Any] = {
        "TrainingJobName": v["name"], "RoleArn": v["role"],
        "AlgorithmSpecification": {"TrainingImage": v["image"], "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": v["output"]},
        "ResourceConfig": {"InstanceType": v["instance_type"], "InstanceCount": 1,
                           "VolumeSizeInGB": _number(v["volume"], "Volume size")},
        "StoppingCondition": {"MaxRuntimeInSeconds": _number(v["max_runtime"],
                                                             "Maximum runtime")}}
    if v["input"]:
        request["InputDataConfig"] = [{"ChannelName": v["channel"] or "train", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": v["input"],
                             "S3DataDistributionType": "FullyReplicated"}}}]
    hyper = _hyperparameters(v["hyperparameters"])
    if hyper:
        request["HyperParameters"] = hyper
    return request


def _number(text: str, label: str) -> int:
    if not text.isdigit():
        raise FormError(f"{label} must be a whole number of "
                        f"{'seconds' if 'runtime' in label else 'GB'}.")
    return int(text)


def _hyperparameters(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise FormError(f"Hyperparameters line {number} is not key=value: {line.strip()}")
        out[key.strip()] = value.strip()
    return out


ROUTES = [
    route("GET", "/sagemaker/notebooks", notebooks),
    route("GET", f"/sagemaker/notebooks/{NAME}", notebook),
    route("GET", TRAINING.path, _job_list(TRAINING)),
    route("GET", f"{TRAINING.path}/create", create_form),
    route("POST", f"{TRAINING.path}/create", create),
    route("GET", f"{TRAINING.path}/{NAME}", _job_detail(TRAINING)),
    route("GET", f"{TRAINING.path}/{NAME}/logs", _job_logs(TRAINING)),
    route("GET", PROCESSING.path, _job_list(PROCESSING)),
    route("GET", f"{PROCESSING.path}/{NAME}", _job_detail(PROCESSING)),
    route("GET", f"{PROCESSING.path}/{NAME}/logs", _job_logs(PROCESSING)),
]
