"""Decision cases and validation cases (docs/cases.md): load, run, compare with `expect`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import managed
from .policy import (
    Authorizer,
    Decision,
    Policy,
    PolicyError,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
)
from .policy.authorizer import TRUST_ACTIONS

LAYERS = frozenset({"identity", "resource", "permissions_boundary", "session", "scp", "rcp"})
DECISIONS = frozenset({"allow", "implicit_deny", "explicit_deny"})


class CaseError(Exception):
    """A case that cannot be read or is invalid."""


@dataclass
class Case:
    id: str
    raw: Mapping[str, Any]
    expect: Mapping[str, Any] | None = field(default=None)

    @property
    def is_validation(self) -> bool:
        return "validate" in self.raw


def iter_case_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*.json") if q.is_file())
        else:
            yield p


def load_file(path: Path) -> list[Case | tuple[str, str]]:
    """The cases in one file; an unreadable file gives one (id, error) pair."""
    label = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [(label, f"No such file: {label}")]
    except (OSError, UnicodeDecodeError) as e:
        return [(label, f"Cannot read {label}: {e}")]
    except json.JSONDecodeError as e:
        return [(label, f"Invalid JSON in {label}: {e.msg} at line {e.lineno} column {e.colno}")]
    if isinstance(data, list):
        out: list[Case | tuple[str, str]] = []
        for i, item in enumerate(data):
            name = item.get("name") if isinstance(item, dict) else None
            cid = f"{label}#{name if isinstance(name, str) and name else i}"
            if not isinstance(item, dict):
                out.append((cid, "A case must be a JSON object"))
            else:
                out.append(Case(cid, item, item.get("expect")))
        return out
    if not isinstance(data, dict):
        return [(label, "A case file holds a case object or an array of case objects")]
    return [Case(label, data, data.get("expect"))]


# --- building requests and policy sets ------------------------------------------------------


def load_document(value: Any, ptype: PolicyType, label: str) -> Policy:
    """A policy document given inline (object or JSON text) or as an AWS managed policy."""
    if isinstance(value, str) and managed.is_reference(value):
        found = managed.lookup(value)
        if found is None:
            raise CaseError(f"{label}: no AWS managed policy named {value!r}")
        return managed.load(value, ptype)
    if isinstance(value, (str, dict)):
        try:
            return parse_policy(value, ptype, name=label, managed=False)
        except PolicyError as e:
            raise CaseError(f"{label}: {e.code}: {e.message}") from None
    raise CaseError(f"{label}: a policy must be a JSON object, JSON text or a managed policy name")


def _doc_list(value: Any, ptype: PolicyType, label: str) -> list[Policy]:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [load_document(v, ptype, f"{label}[{i}]") for i, v in enumerate(value)]


def _levels(value: Any, ptype: PolicyType, label: str) -> list[list[Policy]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(level, list) for level in value):
        raise CaseError(f"{label}: a list of levels, each a list of policies")
    return [_doc_list(level, ptype, f"{label}[{i}]") for i, level in enumerate(value)]


def build_policy_set(policies: Mapping[str, Any], action: str = "") -> PolicySet:
    """The case's policies; for sts:AssumeRole* the resource policy is a role trust policy."""
    if not isinstance(policies, Mapping):
        raise CaseError("policies must be an object")
    unknown = set(policies) - {"identity", "resource", "boundary", "session", "scp_levels",
                               "rcp_levels"}
    if unknown:
        raise CaseError(f"unknown policy layer(s): {', '.join(sorted(unknown))}")
    resource = policies.get("resource")
    session = policies.get("session")
    boundary = policies.get("boundary")
    return PolicySet(
        identity=_doc_list(policies.get("identity"), PolicyType.IDENTITY, "identity"),
        resource=(load_document(resource, _resource_type(action), "resource")
                  if resource is not None else None),
        boundary=(None if boundary is None
                  else _doc_list(boundary, PolicyType.BOUNDARY, "boundary")),
        session=(load_document(session, PolicyType.SESSION, "session")
                 if session is not None else None),
        scp_levels=_levels(policies.get("scp_levels"), PolicyType.SCP, "scp_levels"),
        rcp_levels=_levels(policies.get("rcp_levels"), PolicyType.RCP, "rcp_levels"),
    )


def _resource_type(action: str) -> PolicyType:
    if action.lower() in TRUST_ACTIONS:
        return PolicyType.TRUST
    return PolicyType.RESOURCE


def build_request(raw: Any) -> Request:
    if not isinstance(raw, Mapping):
        raise CaseError("request must be an object")
    for key in ("principal", "action"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            raise CaseError(f"request.{key} must be a non-empty string")
    resource = raw.get("resource", "*")
    if not isinstance(resource, str):
        raise CaseError("request.resource must be a string")
    account = raw.get("resource_account")
    if account is not None and not isinstance(account, str):
        raise CaseError("request.resource_account must be a string")
    context = raw.get("context") or {}
    if not isinstance(context, Mapping):
        raise CaseError("request.context must be an object")
    for key, value in context.items():
        ok = isinstance(value, (str, bool, int, float)) or (
            isinstance(value, list) and all(isinstance(v, (str, bool, int, float)) for v in value))
        if not ok:
            raise CaseError(f"request.context[{key!r}] must be a string or a list of strings")
    return Request(raw["principal"], raw["action"], resource, account, context)


# --- running ---------------------------------------------------------------------------------


def evaluate_case(case: Case) -> Decision:
    raw = case.raw
    if "request" not in raw:
        raise CaseError("a decision case needs request and policies")
    request = build_request(raw["request"])
    policies = build_policy_set(raw.get("policies") or {}, request.action)
    return Authorizer(policies).authorize(request)


def validate_case(case: Case) -> dict[str, Any]:
    spec = case.raw["validate"]
    if not isinstance(spec, Mapping) or "document" not in spec:
        raise CaseError("validate needs a document")
    try:
        ptype = PolicyType(spec.get("type", "identity"))
    except ValueError:
        raise CaseError(f"unknown policy type {spec.get('type')!r}") from None
    document = spec["document"]
    if not isinstance(document, (str, dict)):
        document = json.dumps(document)
    managed_flag = spec.get("managed")
    if managed_flag is not None and not isinstance(managed_flag, bool):
        raise CaseError("validate.managed must be true or false")
    try:
        parse_policy(document, ptype, managed=managed_flag)
    except PolicyError as e:
        return {"valid": False, "code": e.code, "message": e.message}
    return {"valid": True}


def result_of(case: Case) -> dict[str, Any]:
    """What `execrole policy evaluate` prints for one case."""
    if case.is_validation:
        return {"case": case.id, **validate_case(case)}
    decision = evaluate_case(case)
    return {"case": case.id, **decision.to_dict()}


def mismatches(case: Case, result: Mapping[str, Any]) -> list[str]:
    """How a result differs from the case's `expect` (empty when it passes)."""
    expect = case.expect
    if not isinstance(expect, Mapping):
        return ["the case has no expect object"]
    problems: list[str] = []
    if case.is_validation:
        for key in ("valid", "code", "message"):
            if key in expect and expect[key] != result.get(key):
                problems.append(f"{key}: expected {expect[key]!r}, got {result.get(key)!r}")
        return problems
    want = expect.get("decision")
    if want not in DECISIONS:
        return [f"expect.decision must be one of {', '.join(sorted(DECISIONS))}"]
    if want != result["decision"]:
        problems.append(f"decision: expected {want}, got {result['decision']}")
    if "denied_by" in expect:
        wanted = expect["denied_by"] or []
        if not isinstance(wanted, list) or not set(wanted) <= LAYERS:
            return [f"expect.denied_by must list layers among {', '.join(sorted(LAYERS))}"]
        if set(wanted) != set(result["denied_by"]):
            got = sorted(result["denied_by"])
            problems.append(f"denied_by: expected {sorted(wanted)}, got {got}")
    if "message" in expect and expect["message"] != result.get("message"):
        problems.append(f"message: expected {expect['message']!r}, got {result.get('message')!r}")
    return problems
