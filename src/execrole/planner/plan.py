"""`execrole plan`: the execution role's trust and permission policies, and the caller's
policy, for one SageMaker request — least privilege by default, the seed's broad form with
scope "seed". Every document is validated by the engine before it is returned."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog import sagemaker
from ..catalog.sagemaker import CALLER, ROLE, TRUST, Requirement, statement_of
from ..policy import PolicyType, parse_policy

VERSION = "2012-10-17"


@dataclass
class Explained:
    """Why a statement is there: the request fields and the sources behind it."""

    sid: str
    reasons: list[str]
    sources: list[str]


@dataclass
class Plan:
    api: str
    account: str
    region: str
    role_arn: str | None
    scope: str
    trust_policy: dict[str, Any]
    role_policy: dict[str, Any]
    caller_policy: dict[str, Any]
    explanations: dict[str, list[Explained]] = field(default_factory=dict)
    requirements: list[Requirement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "api": self.api, "account": self.account, "region": self.region,
            "role_arn": self.role_arn, "scope": self.scope,
            "trust_policy": self.trust_policy, "role_policy": self.role_policy,
            "caller_policy": self.caller_policy,
            "explanations": {doc: [{"Sid": e.sid, "because": e.reasons, "sources": e.sources}
                                   for e in items]
                             for doc, items in self.explanations.items()},
        }


def _sid(actions: Sequence[str], used: set[str]) -> str:
    first = actions[0]
    service, _, name = first.partition(":")
    base = re.sub(r"[^0-9A-Za-z]", "", service.capitalize() + name.replace("*", "All"))
    if len(actions) > 1:
        base += "Etc"
    sid, n = base, 2
    while sid in used:
        sid, n = f"{base}{n}", n + 1
    used.add(sid)
    return sid


def _group(reqs: Sequence[Requirement]) -> list[tuple[dict[str, Any], list[Requirement]]]:
    """Statements for requirements: the same resources and conditions share one statement
    (actions merged), then the same actions and conditions share one (resources merged)."""
    by_target: dict[tuple[str, str], tuple[dict[str, Any], list[Requirement]]] = {}
    for r in reqs:
        st = statement_of(r)
        key = (repr(st.get("Resource")), repr(st.get("Condition")))
        if key in by_target:
            existing, members = by_target[key]
            actions = existing["Action"] if isinstance(existing["Action"], list) \
                else [existing["Action"]]
            if r.action not in actions:
                actions.append(r.action)
            existing["Action"] = actions
            members.append(r)
        else:
            st["Action"] = [r.action]
            by_target[key] = (st, [r])
    by_actions: dict[tuple[str, str], tuple[dict[str, Any], list[Requirement]]] = {}
    for st, members in by_target.values():
        key = (repr(sorted(st["Action"])), repr(st.get("Condition")))
        if key in by_actions and "Resource" in st:
            existing, existing_members = by_actions[key]
            resources = existing["Resource"] if isinstance(existing["Resource"], list) \
                else [existing["Resource"]]
            if "*" in resources or st["Resource"] == "*":
                existing["Resource"] = "*"
            elif st["Resource"] not in resources:
                existing["Resource"] = [*resources, st["Resource"]]
            existing_members.extend(members)
        else:
            by_actions[key] = (st, members)
    return list(by_actions.values())


def _document(groups: list[tuple[dict[str, Any], list[Requirement]]],
              explanations: list[Explained]) -> dict[str, Any]:
    used: set[str] = set()
    statements = []
    for st, members in groups:
        actions = st["Action"]
        sid = _sid(actions, used)
        ordered = {"Sid": sid, "Effect": "Allow"}
        for key in ("Principal", "Action", "Resource", "Condition"):
            if key in st:
                value = st[key]
                if key == "Action" and len(value) == 1:
                    value = value[0]
                ordered[key] = value
        statements.append(ordered)
        explanations.append(Explained(sid, sorted({m.reason for m in members}),
                                      sorted({m.source for m in members})))
    return {"Version": VERSION, "Statement": statements}


def _broad(reqs: Sequence[Requirement], who: str) -> list[tuple[dict[str, Any],
                                                                list[Requirement]]]:
    """The seed's form: every action on "*", iam:PassRole kept with its iam:PassedToService
    condition (seed, "CreateAutoMLJob API: Execution Role Permissions" and siblings)."""
    plain = [r for r in reqs if r.action != "iam:PassRole"]
    groups: list[tuple[dict[str, Any], list[Requirement]]] = []
    passrole = [r for r in reqs if r.action == "iam:PassRole"]
    if passrole:
        groups.append(({"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*",
                        "Condition": {"StringEquals": {
                            "iam:PassedToService": "sagemaker.amazonaws.com"}}}, passrole))
    if plain:
        actions = list(dict.fromkeys(r.action for r in plain))
        groups.append(({"Effect": "Allow", "Action": actions, "Resource": "*"}, list(plain)))
    return groups


def _any_resource_of_kind(statement: dict[str, Any]) -> dict[str, Any]:
    """The trust policy serves every job of this kind, not only this request's: the
    confused-deputy condition names the resource type (`.../training-job/*`), as
    security-confused-deputy-prevention.md shows."""
    condition = statement.get("Condition") or {}
    exact = condition.get("ArnEquals", {})
    arn = exact.get("aws:SourceArn")
    if isinstance(arn, str) and "/" in arn:
        del exact["aws:SourceArn"]
        if not exact:
            condition.pop("ArnEquals")
        condition.setdefault("ArnLike", {})["aws:SourceArn"] = arn.rsplit("/", 1)[0] + "/*"
    return statement


def plan(api: str, request: Mapping[str, Any], *, account: str, region: str,
         scope: str = "least", kms_inputs: Sequence[str] = ()) -> Plan:
    reqs = sagemaker.requirements(api, dict(request), account=account, region=region,
                                  kms_inputs=tuple(kms_inputs))
    explanations: dict[str, list[Explained]] = {"trust_policy": [], "role_policy": [],
                                                "caller_policy": []}
    role = [r for r in reqs if r.who == ROLE]
    caller = [r for r in reqs if r.who == CALLER]
    trust = [r for r in reqs if r.who == TRUST]
    if scope == "seed":
        role_groups, caller_groups = _broad(role, ROLE), _broad(caller, CALLER)
        seed_trust = {"Effect": "Allow", "Principal": {"Service": sagemaker.SAGEMAKER_PRINCIPAL},
                      "Action": ["sts:AssumeRole"]}
        trust_groups = [(seed_trust, trust)]
    elif scope == "least":
        role_groups, caller_groups = _group(role), _group(caller)
        trust_groups = [(_any_resource_of_kind(st), members) for st, members in _group(trust)]
    else:
        raise ValueError(f"unknown scope {scope!r} (least or seed)")
    result = Plan(
        api=api, account=account, region=region,
        role_arn=sagemaker.role_arn_of(api, dict(request)), scope=scope,
        trust_policy=_document(trust_groups, explanations["trust_policy"]),
        role_policy=_document(role_groups, explanations["role_policy"]),
        caller_policy=_document(caller_groups, explanations["caller_policy"]),
        explanations=explanations, requirements=list(reqs),
    )
    # Every generated document must be one IAM accepts.
    parse_policy(result.trust_policy, PolicyType.TRUST, managed=False)
    for doc in (result.role_policy, result.caller_policy):
        if doc["Statement"]:
            parse_policy(doc, PolicyType.IDENTITY, managed=False)
    return result
