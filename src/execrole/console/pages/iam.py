"""IAM pages: roles (list, the seed's Create-role wizard, summary, inline policies) and users
with their access keys.

Every read and write goes through `page.call`/`page.attempt`, i.e. as the signed-in principal,
so a user without a permission sees IAM's own AccessDenied text rather than the data. Lists
make one call per page (never one per row) to stay well under 100 ms with hundreds of roles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ...catalog.actions import policy_warnings
from ...policy import PolicyError, PolicyType, parse_policy
from ...services.base import AWSError
from .. import Page
from ..web import Request, Response, quoted, redirect, route, url

NAV: list[tuple[str, str]] = [("IAM roles", "/iam/roles"), ("IAM users", "/iam/users")]

PAGE_SIZE = 50
SEARCH_BATCH = 1000  # ListRoles' maximum MaxItems: a search reads few pages
# A role, user or policy name in a URL: IAM's characters, or their percent-encoding.
SEGMENT = r"[\w+=,.@%-]+"
NAME_RE = re.compile(r"[\w+=,.@-]{1,64}")
WIZARD_STEPS = ("Trusted entity", "Add permissions", "Name and tags", "Review and create")
NOTICES = {
    "created": "Role {} created.", "saved": "Inline policy {} saved.",
    "deleted": "Inline policy {} deleted.", "detached": "Policy {} detached.",
    "user-created": "User {} created.", "key-deleted": "Access key {} deleted.",
    "key-updated": "Access key {} updated.",
}


@dataclass(frozen=True)
class UseCase:
    """A trusted-entity choice of the Create-role wizard's first step."""

    service: str
    label: str
    principal: str
    policies: tuple[str, ...] = ()
    description: str = ""

    def trust_policy(self) -> str:
        # The seed's trust policy, "the same for all of the execution roles".
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": self.principal},
            "Action": "sts:AssumeRole"}]}, indent=2)


SAGEMAKER_FULL = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
USE_CASES: dict[str, UseCase] = {
    # The seed: "Select SageMaker ... AmazonSageMakerFullAccess is automatically attached".
    "sagemaker-execution": UseCase(
        "SageMaker", "SageMaker – Execution", "sagemaker.amazonaws.com", (SAGEMAKER_FULL,),
        "Allows SageMaker notebook instances, training jobs, and models to access S3, ECR, "
        "and CloudWatch on your behalf."),
    "ec2": UseCase("EC2", "EC2", "ec2.amazonaws.com",
                   description="Allows EC2 instances to call AWS services on your behalf."),
    "lambda": UseCase("Lambda", "Lambda", "lambda.amazonaws.com",
                      description="Allows Lambda functions to call AWS services on your behalf."),
}


def _name(page: Page, key: str) -> str:
    return unquote(page.args[key])


def _notice(request: Request) -> str:
    template = NOTICES.get(request.arg("notice"))
    return template.format(request.arg("item")) if template else ""


def _document(text: str) -> str:
    """IAM returns documents URL-encoded (as on the wire); the pages show them as JSON."""
    decoded = unquote(text)
    try:
        return json.dumps(json.loads(decoded), indent=2)
    except ValueError:
        return decoded


# --- validation, exactly as `execrole policy validate` -------------------------------------


def validate_document(text: str) -> tuple[list[str], list[str]]:
    """The messages `execrole policy validate` prints for an inline identity policy: errors
    as 'CODE: MESSAGE' (its stdout), and its unknown-action warnings (its stderr)."""
    try:
        policy = parse_policy(text, PolicyType.IDENTITY)
    except PolicyError as e:
        return [f"{e.code}: {e.message}"], []
    return [], policy_warnings(policy)


# --- roles list -----------------------------------------------------------------------------


def roles(page: Page) -> Response:
    search = page.request.arg("search").strip()
    if search:
        return _roles_search(page, search)
    marker = page.request.arg("marker")
    params: dict[str, Any] = {"MaxItems": PAGE_SIZE}
    if marker:
        params["Marker"] = marker
    result, error = page.attempt("iam", "ListRoles", **params)
    rows = result["Roles"] if result else []
    next_url = (url("/iam/roles", marker=result["Marker"])
                if result and result.get("IsTruncated") else None)
    return page.render("iam_roles.html", roles=rows, error=error, search="",
                       next_url=next_url, prev_url=url("/iam/roles") if marker else None,
                       notice=_notice(page.request))


def _roles_search(page: Page, search: str) -> Response:
    """ListRoles has no name filter: read the account's roles in pages of 1,000 (one call for
    a few hundred roles), keep the names containing the text, show a slice of them."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"MaxItems": SEARCH_BATCH}
    error: AWSError | None = None
    while True:
        result, error = page.attempt("iam", "ListRoles", **params)
        if result is None:
            break
        needle = search.lower()
        found += [r for r in result["Roles"] if needle in r["RoleName"].lower()]
        if not result.get("IsTruncated"):
            break
        params["Marker"] = result["Marker"]
    start = max(0, _int(page.request.arg("start")))
    end = start + PAGE_SIZE
    return page.render(
        "iam_roles.html", roles=found[start:end], error=error, search=search,
        next_url=url("/iam/roles", search=search, start=end) if end < len(found) else None,
        prev_url=url("/iam/roles", search=search, start=max(0, start - PAGE_SIZE) or None)
        if start else None, notice="", matches=len(found))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# --- the Create-role wizard (the seed's "To create a new role") ----------------------------


@dataclass
class WizardState:
    """What the wizard's steps have collected, carried in hidden fields between them."""

    use_case: str = "sagemaker-execution"
    policies: list[str] = field(default_factory=list)
    policies_for: str = ""  # the use case whose defaults `policies` started from
    role_name: str = ""
    description: str | None = None  # None until step 3 is shown: then the use case's text
    tags: list[tuple[str, str]] = field(default_factory=list)

    @property
    def case(self) -> UseCase:
        return USE_CASES.get(self.use_case) or USE_CASES["sagemaker-execution"]

    def chosen_policies(self) -> list[str]:
        """The use case's policies until step 2 has been submitted for this use case."""
        return self.policies if self.policies_for == self.use_case else list(self.case.policies)

    def hidden(self, step: int) -> list[tuple[str, str]]:
        """The fields of the other steps, as hidden inputs for the step being shown."""
        out = [] if step == 1 else [("use_case", self.use_case)]
        if step != 2 and self.policies_for:
            out += [("policies_for", self.policies_for)]
            out += [("policy", arn) for arn in self.policies]
        if step != 3:
            out += [("role_name", self.role_name)]
            if self.description is not None:
                out += [("description", self.description)]
            for key, value in self.tags:
                out += [("tag_key", key), ("tag_value", value)]
        return out


def _wizard_state(request: Request) -> WizardState:
    form = request.form
    keys, values = request.args_of("tag_key"), request.args_of("tag_value")
    tags = [(k.strip(), v.strip()) for k, v in zip(keys, values, strict=False)
            if k.strip() or v.strip()]
    return WizardState(
        use_case=request.arg("use_case", "sagemaker-execution"),
        policies=request.args_of("policy"), policies_for=request.arg("policies_for"),
        role_name=request.arg("role_name").strip(),
        description=form["description"][-1] if "description" in form else None, tags=tags)


def create_role_form(page: Page) -> Response:
    return _wizard(page, WizardState(), 1)


def create_role_step(page: Page) -> Response:
    state = _wizard_state(page.request)
    step = min(4, max(1, _int(page.request.arg("step"))))
    go = page.request.arg("go")
    if step == 2:
        # Checkboxes: what is ticked now is the choice, even when nothing is.
        state.policies, state.policies_for = page.request.args_of("policy"), state.use_case
    if go == "back":
        return _wizard(page, state, max(1, step - 1))
    if go == "add-tag":
        return _wizard(page, state, 3, extra_tag=True)
    problem = _step_problem(state, step)
    if problem:
        return _wizard(page, state, step, problem=problem)
    if step < 4:
        return _wizard(page, state, step + 1)
    return _create_role(page, state)


def _step_problem(state: WizardState, step: int) -> str:
    if step == 1 and state.use_case not in USE_CASES:
        return "Choose a use case."
    if step == 3:
        if not NAME_RE.fullmatch(state.role_name):
            return ("Role name: use 1-64 alphanumeric characters and +=,.@-_ (no spaces).")
        if state.description and len(state.description) > 1000:
            return "Description: 1,000 characters at most."
        if any(not key for key, _ in state.tags):
            return "Each tag needs a key."
    return ""


def _wizard(page: Page, state: WizardState, step: int, *, problem: str = "",
            error: AWSError | None = None, extra_tag: bool = False,
            created: str = "") -> Response:
    if step >= 3 and state.description is None:
        state.description = state.case.description
    # Only the permissions and review steps show policies: the others make no IAM call.
    policies = ([_managed_policy(page, arn) for arn in state.chosen_policies()]
                if step in (2, 4) else [])
    if step == 2:
        shown = {p["arn"] for p in policies}
        policies += [_managed_policy(page, arn) for arn in state.case.policies
                     if arn not in shown]
    tags = list(state.tags) + ([("", "")] if extra_tag or not state.tags else [])
    return page.render("iam_create_role.html", 400 if problem else 200, step=step,
                       steps=WIZARD_STEPS, state=state, use_cases=USE_CASES,
                       policies=policies, hidden=state.hidden(step), tags=tags,
                       problem=problem, error=error, created=created,
                       trust=state.case.trust_policy())


def _managed_policy(page: Page, arn: str) -> dict[str, Any]:
    """A managed policy for the wizard: its name, description and default version's JSON
    (GetPolicy, then GetPolicyVersion: the document the endpoint serves)."""
    out: dict[str, Any] = {"arn": arn, "name": arn.rsplit("/", 1)[-1], "document": "",
                           "description": "", "error": None}
    policy, error = page.attempt("iam", "GetPolicy", PolicyArn=arn)
    if policy is None:
        out["error"] = error
        return out
    out["name"] = policy["Policy"]["PolicyName"]
    out["description"] = policy["Policy"].get("Description", "")
    version, error = page.attempt("iam", "GetPolicyVersion", PolicyArn=arn,
                                  VersionId=policy["Policy"]["DefaultVersionId"])
    if version is None:
        out["error"] = error
    else:
        out["document"] = _document(version["PolicyVersion"]["Document"])
    return out


def _create_role(page: Page, state: WizardState) -> Response:
    """CreateRole, AttachRolePolicy for each chosen policy, TagRole: each as the principal,
    so each can be denied on its own; after a later denial the role exists and we say so."""
    params: dict[str, Any] = {"RoleName": state.role_name,
                              "AssumeRolePolicyDocument": state.case.trust_policy()}
    if state.description:
        params["Description"] = state.description
    _, error = page.attempt("iam", "CreateRole", **params)
    if error:
        return _wizard(page, state, 4, error=error)
    for arn in state.chosen_policies():
        _, error = page.attempt("iam", "AttachRolePolicy", RoleName=state.role_name,
                                PolicyArn=arn)
        if error:
            return _wizard(page, state, 4, error=error, created=state.role_name)
    if state.tags:
        _, error = page.attempt("iam", "TagRole", RoleName=state.role_name,
                                Tags=[{"Key": k, "Value": v} for k, v in state.tags])
        if error:
            return _wizard(page, state, 4, error=error, created=state.role_name)
    return redirect(url(f"/iam/roles/{quoted(state.role_name)}", notice="created",
                        item=state.role_name))


# --- role summary -----------------------------------------------------------------------


def role(page: Page) -> Response:
    name = _name(page, "role")
    result, error = page.attempt("iam", "GetRole", RoleName=name)
    if result is None:
        return page.render("iam_role.html", 404 if error and error.status == 404 else 403,
                           name=name, role=None, error=error, notice="")
    attached, attached_error = page.attempt("iam", "ListAttachedRolePolicies", RoleName=name,
                                            MaxItems=1000)
    inline, inline_error = _inline_policies(page, name)
    data = result["Role"]
    return page.render(
        "iam_role.html", name=name, role=data, error=None, notice=_notice(page.request),
        trust=_document(data["AssumeRolePolicyDocument"]),
        attached=attached["AttachedPolicies"] if attached else [],
        attached_error=attached_error, inline=inline, inline_error=inline_error,
        last_used=data.get("RoleLastUsed") or {})


def _inline_policies(page: Page, name: str
                     ) -> tuple[list[tuple[str, str]], AWSError | None]:
    """(name, JSON) of each inline policy: IAM has no batch read, but a role's inline
    policies share 10,240 characters, so there are few."""
    listed, error = page.attempt("iam", "ListRolePolicies", RoleName=name, MaxItems=1000)
    if listed is None:
        return [], error
    out = []
    for policy in listed["PolicyNames"]:
        got, error = page.attempt("iam", "GetRolePolicy", RoleName=name, PolicyName=policy)
        out.append((policy, _document(got["PolicyDocument"]) if got else ""))
    return out, error


def detach(page: Page) -> Response:
    name, arn = _name(page, "role"), page.request.arg("arn")
    _, error = page.attempt("iam", "DetachRolePolicy", RoleName=name, PolicyArn=arn)
    if error:
        return _error_page(page, "Detach policy", error, f"/iam/roles/{quoted(name)}")
    return redirect(url(f"/iam/roles/{quoted(name)}", notice="detached",
                        item=arn.rsplit("/", 1)[-1]))


def _error_page(page: Page, title: str, error: AWSError, back: str) -> Response:
    return page.render("iam_confirm.html", error.status, title=title, message="",
                       error=error, action="", button="", back=url(back))


# --- inline policy editor -----------------------------------------------------------------


def policy_new(page: Page) -> Response:
    return _editor(page, _name(page, "role"), "", "", new=True)


def policy_edit(page: Page) -> Response:
    role_name, policy = _name(page, "role"), _name(page, "policy")
    got, error = page.attempt("iam", "GetRolePolicy", RoleName=role_name, PolicyName=policy)
    text = _document(got["PolicyDocument"]) if got else ""
    return _editor(page, role_name, policy, text, new=False, error=error)


def policy_save(page: Page) -> Response:
    """Validate as `execrole policy validate` would; only a valid document is sent to
    PutRolePolicy, whose own answer (an AccessDenied, a bad name) is shown too. The text
    the user typed stays in the editor either way."""
    role_name = _name(page, "role")
    new = "policy" not in page.args
    policy = page.request.arg("policy_name").strip() if new else _name(page, "policy")
    text = page.request.arg("document")
    errors, warnings = validate_document(text)
    if errors:
        return _editor(page, role_name, policy, text, new=new, errors=errors,
                       warnings=warnings, status=400)
    _, error = page.attempt("iam", "PutRolePolicy", RoleName=role_name, PolicyName=policy,
                            PolicyDocument=text)
    if error:
        return _editor(page, role_name, policy, text, new=new, error=error,
                       warnings=warnings, status=error.status)
    return redirect(url(f"/iam/roles/{quoted(role_name)}", notice="saved", item=policy))


def _editor(page: Page, role_name: str, policy: str, text: str, *, new: bool,
            errors: list[str] | None = None, warnings: list[str] | None = None,
            error: AWSError | None = None, status: int = 200) -> Response:
    action = (f"/iam/roles/{quoted(role_name)}/policies/new" if new
              else f"/iam/roles/{quoted(role_name)}/policies/{quoted(policy)}/edit")
    return page.render("iam_policy_edit.html", status, role_name=role_name, policy=policy,
                       text=text, new=new, errors=errors or [], warnings=warnings or [],
                       error=error, action=url(action))


def policy_delete_confirm(page: Page) -> Response:
    role_name, policy = _name(page, "role"), _name(page, "policy")
    return page.render(
        "iam_confirm.html", title=f"Delete inline policy {policy}?",
        message=f"The role {role_name} loses the permissions of {policy}. This cannot be "
        "undone.", error=None, button="Delete",
        action=url(f"/iam/roles/{quoted(role_name)}/policies/{quoted(policy)}/delete"),
        back=url(f"/iam/roles/{quoted(role_name)}"))


def policy_delete(page: Page) -> Response:
    role_name, policy = _name(page, "role"), _name(page, "policy")
    _, error = page.attempt("iam", "DeleteRolePolicy", RoleName=role_name, PolicyName=policy)
    if error:
        return _error_page(page, "Delete inline policy", error,
                           f"/iam/roles/{quoted(role_name)}")
    return redirect(url(f"/iam/roles/{quoted(role_name)}", notice="deleted", item=policy))


# --- users and access keys --------------------------------------------------------------


def users(page: Page, *, problem: AWSError | None = None, typed: str = "") -> Response:
    marker = page.request.query.get("marker", [""])[-1]
    params: dict[str, Any] = {"MaxItems": PAGE_SIZE}
    if marker:
        params["Marker"] = marker
    result, error = page.attempt("iam", "ListUsers", **params)
    next_url = (url("/iam/users", marker=result["Marker"])
                if result and result.get("IsTruncated") else None)
    return page.render("iam_users.html", 200 if problem is None else problem.status,
                       users=result["Users"] if result else [], error=error,
                       create_error=problem, typed=typed, next_url=next_url,
                       prev_url=url("/iam/users") if marker else None)


def user_create(page: Page) -> Response:
    name = page.request.arg("user_name").strip()
    _, error = page.attempt("iam", "CreateUser", UserName=name)
    if error:
        return users(page, problem=error, typed=name)
    return redirect(url(f"/iam/users/{quoted(name)}", notice="user-created", item=name))


def user(page: Page, *, new_key: dict[str, Any] | None = None,
         problem: AWSError | None = None) -> Response:
    name = _name(page, "user")
    got, error = page.attempt("iam", "GetUser", UserName=name)
    keys, keys_error = page.attempt("iam", "ListAccessKeys", UserName=name)
    return page.render("iam_user.html", 200 if problem is None else problem.status,
                       name=name, user=got["User"] if got else None, error=error,
                       keys=keys["AccessKeyMetadata"] if keys else [], keys_error=keys_error,
                       new_key=new_key, problem=problem, notice=_notice(page.request))


def key_create(page: Page) -> Response:
    """The secret is in this response only (not a redirect: it must not land in a URL or
    the history), as IAM shows it once."""
    created, error = page.attempt("iam", "CreateAccessKey", UserName=_name(page, "user"))
    return user(page, new_key=created["AccessKey"] if created else None, problem=error)


def key_status(page: Page) -> Response:
    name, key = _name(page, "user"), page.args["key"]
    status = "Inactive" if page.request.arg("status") == "Inactive" else "Active"
    _, error = page.attempt("iam", "UpdateAccessKey", UserName=name, AccessKeyId=key,
                            Status=status)
    if error:
        return user(page, problem=error)
    return redirect(url(f"/iam/users/{quoted(name)}", notice="key-updated", item=key))


def key_delete_confirm(page: Page) -> Response:
    name, key = _name(page, "user"), page.args["key"]
    return page.render(
        "iam_confirm.html", title=f"Delete access key {key}?",
        message=f"Programs signing with {key} (user {name}) stop working. This cannot be "
        "undone; deactivating the key first is safer.", error=None, button="Delete",
        action=url(f"/iam/users/{quoted(name)}/keys/{key}/delete"),
        back=url(f"/iam/users/{quoted(name)}"))


def key_delete(page: Page) -> Response:
    name, key = _name(page, "user"), page.args["key"]
    _, error = page.attempt("iam", "DeleteAccessKey", UserName=name, AccessKeyId=key)
    if error:
        return user(page, problem=error)
    return redirect(url(f"/iam/users/{quoted(name)}", notice="key-deleted", item=key))


ROLE = rf"/iam/roles/(?P<role>{SEGMENT})"
POLICY = rf"(?P<policy>{SEGMENT})"
USER = rf"/iam/users/(?P<user>{SEGMENT})"
KEY = r"(?P<key>[A-Z0-9]{16,128})"

ROUTES = [
    route("GET", "/iam/roles", roles),
    route("GET", "/iam/roles/create", create_role_form),
    route("POST", "/iam/roles/create", create_role_step),
    route("GET", ROLE, role),
    route("POST", ROLE + "/detach", detach),
    route("GET", ROLE + "/policies/new", policy_new),
    route("POST", ROLE + "/policies/new", policy_save),
    route("GET", ROLE + f"/policies/{POLICY}/edit", policy_edit),
    route("POST", ROLE + f"/policies/{POLICY}/edit", policy_save),
    route("GET", ROLE + f"/policies/{POLICY}/delete", policy_delete_confirm),
    route("POST", ROLE + f"/policies/{POLICY}/delete", policy_delete),
    route("GET", "/iam/users", users),
    route("POST", "/iam/users", user_create),
    route("GET", USER, user),
    route("POST", USER + "/keys", key_create),
    route("POST", USER + f"/keys/{KEY}/status", key_status),
    route("GET", USER + f"/keys/{KEY}/delete", key_delete_confirm),
    route("POST", USER + f"/keys/{KEY}/delete", key_delete),
]
