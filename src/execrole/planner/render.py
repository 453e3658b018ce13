"""Render an `execrole plan` (the dict of `Plan.to_dict()`) for people and for deployment tools.

`render(plan, fmt, role_name=None)` returns text in one of these formats:

``json`` (the default)
    The plan dict itself, pretty-printed with an indent of 2.

``terraform``
    HCL for the AWS provider: an ``aws_iam_role`` (``name``, ``path`` and
    ``assume_role_policy = jsonencode({...})``), an ``aws_iam_role_policy`` with the role's
    permissions, and an ``aws_iam_policy`` named ``<role>-caller`` with the caller's policy,
    to attach to whoever submits the SageMaker request. Every statement is preceded by a
    ``# <Sid>: because <request fields> (<sources>)`` comment. Strings are HCL-escaped,
    including the template sequences: ``${`` becomes ``$${`` and ``%{`` becomes ``%%{``, so
    policy variables such as ``${aws:username}`` reach IAM unchanged. (``jsonencode`` sorts
    object keys; the policy means the same.)

``cloudformation``
    A CloudFormation template (JSON): an ``AWS::IAM::Role`` (``RoleName``, ``Path``,
    ``AssumeRolePolicyDocument`` and the permissions as ``Policies``), an
    ``AWS::IAM::ManagedPolicy`` ``<role>-caller`` for the caller, and the outputs ``RoleArn``
    (``Fn::GetAtt``) and ``CallerPolicyArn``. CloudFormation JSON has no comments, so the
    explanations are in the template's ``Metadata`` under ``execrole``.

``cdk-json``
    One JSON object for AWS CDK code::

        {"roleName": str, "path": str,
         "assumedBy": {"service": "sagemaker.amazonaws.com", "conditions": {...}},
         "trustPolicy": <document>,
         "inlinePolicies": {"<name>": <document>},
         "callerPolicy": <document>, "callerPolicyName": "<role>-caller",
         "explanations": {...}}

    Every ``<document>`` is a plain IAM policy document, the input of
    ``iam.PolicyDocument.fromJson``. In TypeScript::

        const spec = JSON.parse(fs.readFileSync("plan.cdk.json", "utf8"));
        const role = new iam.Role(this, "ExecutionRole", {
          roleName: spec.roleName, path: spec.path,
          assumedBy: new iam.ServicePrincipal(spec.assumedBy.service,
                                              {conditions: spec.assumedBy.conditions}),
          inlinePolicies: Object.fromEntries(Object.entries(spec.inlinePolicies).map(
            ([name, doc]) => [name, iam.PolicyDocument.fromJson(doc)])),
        });
        new iam.ManagedPolicy(this, "CallerPolicy", {managedPolicyName: spec.callerPolicyName,
          document: iam.PolicyDocument.fromJson(spec.callerPolicy)});

    ``assumedBy.conditions`` has the shape of a policy's ``Condition`` element (operator →
    key → value), as ``ServicePrincipal``'s ``conditions`` option expects; ``trustPolicy`` is
    the exact trust document (with its Sid) for code that prefers ``CfnRole``. A trust policy
    that a single ``ServicePrincipal`` cannot express (several statements, other principals
    or actions than ``sts:AssumeRole``) raises ValueError for this format.

The role is named after the last segment of the plan's ``role_arn`` and given that ARN's
path. ``role_name`` renames it; the plan's role ARN is then replaced by the renamed role's
ARN wherever it appears in the documents (the caller's ``iam:PassRole`` statement), so the
caller may pass the role that is created. Without a role ARN in the plan, the role is
``SageMakerExecutionRole-<api>`` under ``/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["FORMATS", "render"]

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>[^:]*):role"
                       r"(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$")
# IAM's pattern and length limit for role names (CreateRole RoleName).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_DOCUMENTS = ("trust_policy", "role_policy", "caller_policy")


# -- the role and its names ---------------------------------------------------------------

class _Names:
    """The role's name and path, the policies' names, and the ARN rewrite for role_name."""

    def __init__(self, plan: Mapping[str, Any], role_name: str | None) -> None:
        api = str(plan.get("api") or "Request")
        arn = plan.get("role_arn")
        match = _ROLE_ARN.match(arn) if isinstance(arn, str) else None
        self.path = match["path"] if match else "/"
        default = match["name"] if match else f"SageMakerExecutionRole-{api}"[:64]
        self.role = role_name if role_name is not None else default
        if not _ROLE_NAME.match(self.role):
            raise ValueError(f"invalid role name {self.role!r}: IAM role names are 1 to 64 "
                             "characters of letters, digits and +=,.@_-")
        self.old_arn: str | None = arn if match and self.role != match["name"] else None
        self.new_arn: str | None = None
        if match and self.old_arn is not None:
            self.new_arn = (f"arn:{match['partition']}:iam::{match['account']}:role"
                            f"{self.path}{self.role}")
        self.inline = f"execrole-{api}"[:128]
        self.caller = f"{self.role}-caller"

    def document(self, doc: Any) -> Any:
        """The document with the plan's role ARN replaced by the renamed role's."""
        if self.old_arn is None:
            return doc
        old, new = self.old_arn, self.new_arn

        def swap(value: Any) -> Any:
            if isinstance(value, str):
                return new if value == old else value
            if isinstance(value, list):
                return [swap(v) for v in value]
            if isinstance(value, dict):
                return {k: swap(v) for k, v in value.items()}
            return value

        return swap(doc)


def _documents(plan: Mapping[str, Any], names: _Names) -> dict[str, dict[str, Any]]:
    missing = [key for key in _DOCUMENTS if not isinstance(plan.get(key), Mapping)]
    if missing:
        raise ValueError(f"not a plan: missing {', '.join(missing)}")
    return {key: names.document(dict(plan[key])) for key in _DOCUMENTS}


def _has_statements(doc: Mapping[str, Any]) -> bool:
    return bool(doc.get("Statement"))


def _explanations(plan: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    raw = plan.get("explanations") or {}
    return {str(doc): [dict(e) for e in items] for doc, items in raw.items()}


def _describe(plan: Mapping[str, Any]) -> str:
    return (f"SageMaker execution role for {plan.get('api')} in account {plan.get('account')}, "
            f"region {plan.get('region')} (execrole plan, scope {plan.get('scope')})")


# -- json -------------------------------------------------------------------------------------

def _json(plan: Mapping[str, Any], names: _Names) -> str:
    del names
    return json.dumps(plan, indent=2) + "\n"


# -- terraform ----------------------------------------------------------------------------------

_HCL_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HCL_KEYWORDS = frozenset({"for", "in", "if", "true", "false", "null"})
_HCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HCL_WIDTH = 100
_INDENT = "  "


def hcl_string(value: str) -> str:
    """A quoted HCL string literal whose value is exactly `value`.

    Backslash, quote and control characters are escaped, and so are the template sequences
    (``${`` → ``$${``, ``%{`` → ``%%{``), which HCL would otherwise interpolate."""
    out: list[str] = []
    for i, ch in enumerate(value):
        nxt = value[i + 1] if i + 1 < len(value) else ""
        if ch in _HCL_ESCAPES:
            out.append(_HCL_ESCAPES[ch])
        elif ch in "$%" and nxt == "{":
            out.append(ch + ch)
        elif ord(ch) < 0x20 or ch in "\x7f\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _hcl_key(key: str) -> str:
    if _HCL_IDENT.match(key) and key not in _HCL_KEYWORDS:
        return key
    return hcl_string(key)


def _hcl_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return hcl_string(value)
    raise TypeError(f"cannot write {type(value).__name__} as HCL")


Comments = Callable[[Any], Sequence[str]]


def _no_comments(_: Any) -> Sequence[str]:
    return ()


def _hcl_value(value: Any, indent: int, column: int, comments: Comments = _no_comments) -> str:
    """`value` as an HCL expression starting at `column` of a line indented `indent` levels.
    `comments(item)` gives the comment lines to put before an item of a list."""
    pad, inner = _INDENT * indent, _INDENT * (indent + 1)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        keys = [_hcl_key(str(k)) for k in value]
        lines = ["{"]
        rendered = [(key, value[k]) for key, k in zip(keys, value, strict=True)]
        # Align the "=" of consecutive single-line attributes, as `terraform fmt` does.
        group: list[tuple[str, str]] = []

        def flush() -> None:
            width = max((len(k) for k, _ in group), default=0)
            lines.extend(f"{inner}{k.ljust(width)} = {v}" for k, v in group)
            group.clear()

        for key, item in rendered:
            text = _hcl_value(item, indent + 1, len(inner) + len(key) + 3)
            if "\n" in text:
                flush()
                lines.append(f"{inner}{key} = {text}")
            else:
                group.append((key, text))
        flush()
        lines.append(pad + "}")
        return "\n".join(lines)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        scalars = all(not isinstance(v, Mapping | list | tuple) for v in value)
        if scalars and not any(comments(v) for v in value):
            one_line = "[" + ", ".join(_hcl_scalar(v) for v in value) + "]"
            if column + len(one_line) <= _HCL_WIDTH:
                return one_line
        lines = ["["]
        for item in value:
            lines.extend(f"{inner}# {line}" for line in comments(item))
            lines.append(f"{inner}{_hcl_value(item, indent + 1, len(inner))},")
        lines.append(pad + "]")
        return "\n".join(lines)
    return _hcl_scalar(value)


def _comment_line(text: str) -> str:
    return " ".join(text.split())


def _statement_comments(explained: Sequence[Mapping[str, Any]]) -> Comments:
    by_sid = {str(e.get("Sid")): e for e in explained}

    def comments(item: Any) -> Sequence[str]:
        if not isinstance(item, Mapping) or "Sid" not in item:
            return ()
        e = by_sid.get(str(item["Sid"]))
        if e is None:
            return ()
        because = ", ".join(str(f) for f in e.get("because") or ()) or "(no request field)"
        sources = ", ".join(str(s) for s in e.get("sources") or ())
        tail = f" ({sources})" if sources else ""
        return (_comment_line(f"{item['Sid']}: because {because}{tail}"),)

    return comments


def _hcl_document(doc: Mapping[str, Any], explained: Sequence[Mapping[str, Any]],
                  indent: int) -> str:
    """jsonencode({...}) of a policy document, a comment before each statement."""
    pad, inner = _INDENT * indent, _INDENT * (indent + 1)
    comments = _statement_comments(explained)
    lines = ["jsonencode({"]
    for key, value in doc.items():
        hkey = _hcl_key(str(key))
        if key == "Statement" and isinstance(value, list):
            text = _hcl_value(value, indent + 1, len(inner) + len(hkey) + 3, comments)
        else:
            text = _hcl_value(value, indent + 1, len(inner) + len(hkey) + 3)
        lines.append(f"{inner}{hkey} = {text}")
    lines.append(pad + "})")
    return "\n".join(lines)


def _hcl_attributes(attributes: Sequence[tuple[str, str]]) -> list[str]:
    """Block attributes, one-line ones aligned; values are HCL expressions already."""
    lines: list[str] = []
    group: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _ in group), default=0)
        lines.extend(f"{_INDENT}{k.ljust(width)} = {v}" for k, v in group)
        group.clear()

    for key, value in attributes:
        if "\n" in value:
            flush()
            lines.append(f"{_INDENT}{key} = {value}")
        else:
            group.append((key, value))
    flush()
    return lines


def _terraform(plan: Mapping[str, Any], names: _Names) -> str:
    docs = _documents(plan, names)
    explained = _explanations(plan)
    out = [f"# {_comment_line(_describe(plan))}",
           f"# Request role ARN: {_comment_line(str(plan.get('role_arn')))}", ""]

    def block(kind: str, label: str, attributes: Sequence[tuple[str, str]]) -> None:
        out.append(f'resource "{kind}" "{label}" {{')
        out.extend(_hcl_attributes(attributes))
        out.extend(["}", ""])

    block("aws_iam_role", "execution_role", [
        ("name", hcl_string(names.role)),
        ("path", hcl_string(names.path)),
        ("description", hcl_string(_describe(plan))),
        ("assume_role_policy",
         _hcl_document(docs["trust_policy"], explained.get("trust_policy", []), 1)),
    ])
    if _has_statements(docs["role_policy"]):
        block("aws_iam_role_policy", "execution_role", [
            ("name", hcl_string(names.inline)),
            ("role", "aws_iam_role.execution_role.id"),
            ("policy", _hcl_document(docs["role_policy"], explained.get("role_policy", []), 1)),
        ])
    else:
        out.extend(["# The role needs no permissions policy for this request.", ""])
    if _has_statements(docs["caller_policy"]):
        block("aws_iam_policy", "caller", [
            ("name", hcl_string(names.caller)),
            ("description", hcl_string(
                f"Lets its holder call SageMaker {plan.get('api')} and pass the role "
                f"{names.role} (execrole plan)")),
            ("policy",
             _hcl_document(docs["caller_policy"], explained.get("caller_policy", []), 1)),
        ])
    else:
        out.extend(["# The caller needs no policy for this request.", ""])
    out.extend([
        'output "role_arn" {',
        f"{_INDENT}value = aws_iam_role.execution_role.arn",
        "}",
    ])
    return "\n".join(out) + "\n"


# -- cloudformation -----------------------------------------------------------------------------

def _metadata(plan: Mapping[str, Any]) -> dict[str, Any]:
    return {key: plan.get(key) for key in ("api", "account", "region", "scope", "role_arn")} \
        | {"explanations": _explanations(plan)}


def _cloudformation(plan: Mapping[str, Any], names: _Names) -> str:
    docs = _documents(plan, names)
    role: dict[str, Any] = {
        "RoleName": names.role,
        "Path": names.path,
        "Description": _describe(plan),
        "AssumeRolePolicyDocument": docs["trust_policy"],
    }
    if _has_statements(docs["role_policy"]):
        role["Policies"] = [{"PolicyName": names.inline, "PolicyDocument": docs["role_policy"]}]
    resources: dict[str, Any] = {
        "ExecutionRole": {"Type": "AWS::IAM::Role", "Properties": role},
    }
    outputs: dict[str, Any] = {
        "RoleArn": {"Description": "The execution role's ARN",
                    "Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}},
    }
    if _has_statements(docs["caller_policy"]):
        resources["CallerPolicy"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": names.caller,
                "Description": (f"Lets its holder call SageMaker {plan.get('api')} and pass "
                                f"the role {names.role} (execrole plan)"),
                "PolicyDocument": docs["caller_policy"],
            },
        }
        outputs["CallerPolicyArn"] = {"Description": "The caller policy's ARN",
                                      "Value": {"Ref": "CallerPolicy"}}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": _describe(plan),
        "Metadata": {"execrole": _metadata(plan)},
        "Resources": resources,
        "Outputs": outputs,
    }
    return json.dumps(template, indent=2) + "\n"


# -- cdk-json -----------------------------------------------------------------------------------

def _assumed_by(trust: Mapping[str, Any]) -> dict[str, Any]:
    statements = trust.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    if len(statements) != 1:
        raise ValueError(f"cdk-json: a trust policy of {len(statements)} statements cannot be "
                         "written as one ServicePrincipal; use the cloudformation format")
    st = statements[0]
    principal = st.get("Principal")
    service = principal.get("Service") if isinstance(principal, Mapping) else None
    actions = st.get("Action")
    if isinstance(actions, str):
        actions = [actions]
    if (st.get("Effect") != "Allow" or not isinstance(service, str)
            or set(principal) != {"Service"} or actions != ["sts:AssumeRole"]
            or set(st) - {"Sid", "Effect", "Principal", "Action", "Condition"}):
        raise ValueError("cdk-json: the trust policy is not one service principal allowed "
                         "sts:AssumeRole; use the cloudformation format")
    return {"service": service, "conditions": dict(st.get("Condition") or {})}


def _cdk_json(plan: Mapping[str, Any], names: _Names) -> str:
    docs = _documents(plan, names)
    spec = {
        "roleName": names.role,
        "path": names.path,
        "description": _describe(plan),
        "assumedBy": _assumed_by(docs["trust_policy"]),
        "trustPolicy": docs["trust_policy"],
        "inlinePolicies": ({names.inline: docs["role_policy"]}
                           if _has_statements(docs["role_policy"]) else {}),
        "callerPolicyName": names.caller,
        "callerPolicy": docs["caller_policy"],
        "explanations": _explanations(plan),
    }
    return json.dumps(spec, indent=2) + "\n"


# -- entry point --------------------------------------------------------------------------------

_RENDERERS: dict[str, Callable[[Mapping[str, Any], _Names], str]] = {
    "json": _json,
    "terraform": _terraform,
    "cloudformation": _cloudformation,
    "cdk-json": _cdk_json,
}
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def render(plan: Mapping[str, Any], fmt: str = "json", *, role_name: str | None = None) -> str:
    """The plan (a `Plan.to_dict()`) as text in `fmt`: one of FORMATS (see the module's
    docstring). Raises ValueError for an unknown format or an invalid role name."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}")
    return renderer(plan, _Names(plan, role_name))
