"""Every call a principal makes is authorized here, by the policy engine, and logged.

The caller's policies are gathered from the store (inline, attached managed, groups',
boundary, the session policy of temporary credentials), compiled once per store generation
and reused; the request context carries the global condition keys AWS adds to every request
(reference_policies_condition-keys.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..catalog import managed
from ..policy import (
    Authorizer,
    Decision,
    Policy,
    PolicyError,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
)
from ..policy.parse import NO_SIZE_LIMIT
from ..store import Database
from .base import AWSError, Call, Caller


class PolicyStore:
    """Reads the policies that apply to a caller; compiles and caches their Authorizer."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[str, int], Authorizer] = {}

    def _managed(self, account: str, arn: str) -> Policy | None:
        if arn.startswith(managed.ARN_PREFIX):
            return managed.load(arn) if managed.lookup(arn) else None
        name = arn.rsplit("/", 1)[-1]
        policy = self.db.get_entity(account, "policy", name)
        if policy is None or policy["Arn"] != arn:
            return None
        version = next(v for v in policy["Versions"] if v["IsDefaultVersion"])
        return _parse(version["Document"], PolicyType.IDENTITY, policy["PolicyName"])

    def _entity_policies(self, account: str, entity: Mapping[str, Any],
                         label: str) -> list[Policy]:
        out: list[Policy] = []
        for name, document in sorted(entity.get("InlinePolicies", {}).items()):
            out.append(_parse(document, PolicyType.IDENTITY, f"{label}/{name}"))
        for arn in entity.get("AttachedPolicies", []):
            found = self._managed(account, arn)
            if found is not None:
                out.append(found)
        return out

    def policy_set(self, caller: Caller, resource_policy: Policy | None = None) -> PolicySet:
        account = caller.account
        identity: list[Policy] = []
        boundary: list[Policy] | None = None
        session: Policy | None = None
        entity: Mapping[str, Any] | None = None
        if caller.role_name:
            entity = self.db.get_entity(account, "role", caller.role_name)
            if entity is not None:
                identity = self._entity_policies(account, entity, entity["RoleName"])
        elif caller.user_name:
            entity = self.db.get_entity(account, "user", caller.user_name)
            if entity is not None:
                identity = self._entity_policies(account, entity, entity["UserName"])
                for group in entity.get("Groups", []):
                    g = self.db.get_entity(account, "group", group)
                    if g is not None:
                        identity += self._entity_policies(account, g, g["GroupName"])
        if entity is not None and entity.get("PermissionsBoundary"):
            found = self._managed(account, entity["PermissionsBoundary"]["PermissionsBoundaryArn"])
            boundary = [found] if found else []
        if caller.session and caller.session.get("session_policies") is not None:
            session = _session_policy(self, account, caller.session["session_policies"])
        return PolicySet(identity=identity, resource=resource_policy, boundary=boundary,
                         session=session)

    def authorizer(self, caller: Caller) -> Authorizer:
        key = (caller.arn + "|" + (caller.access_key_id or ""), self.db.generation)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            found = self._cache[key] = Authorizer(self.policy_set(caller))
        return found


def _parse(document: str, ptype: PolicyType, name: str) -> Policy:
    try:
        return parse_policy(document, ptype, name=name, managed=False, size_limit=NO_SIZE_LIMIT)
    except PolicyError:
        # Stored documents were validated when written; a rule added since then must not
        # lock anyone out, so such a document counts as allowing nothing.
        return parse_policy({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "NotAction": "*", "Resource": "*"}]}, ptype, name=name)


def _session_policy(store: PolicyStore, account: str, spec: Mapping[str, Any]) -> Policy:
    """The session's inline policy and managed policy ARNs act as one session layer."""
    statements: list[Any] = []
    parts: list[Policy] = []
    if spec.get("inline"):
        parts.append(_parse(spec["inline"], PolicyType.SESSION, "session"))
    for arn in spec.get("arns", []):
        found = store._managed(account, arn)
        if found is not None:
            parts.append(found)
    for part in parts:
        statements.extend(part.statements)
    if not statements:
        return parse_policy({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "NotAction": "*", "Resource": "*"}]}, PolicyType.SESSION,
            name="session")
    # Re-index so each statement keeps a distinct position in reports.
    from dataclasses import replace

    merged = tuple(replace(s, index=i) for i, s in enumerate(statements))
    return Policy(merged, "2012-10-17", None, "session")


def global_context(call: Call, principal_tags: Mapping[str, str]) -> dict[str, Any]:
    caller = call.caller
    ctx: dict[str, Any] = {
        "aws:SourceIp": call.source_ip,
        "aws:SecureTransport": "true" if call.secure_transport else "false",
        "aws:RequestedRegion": call.region,
        "aws:UserAgent": call.user_agent,
    }
    if caller.user_id:
        ctx["aws:userid"] = caller.user_id
    for key, value in principal_tags.items():
        ctx[f"aws:PrincipalTag/{key}"] = value
    session = caller.session or {}
    if session.get("role_arn"):
        # The role's ARN, with its path (reference_policies_condition-keys.md,
        # aws:PrincipalArn); the session ARN alone does not carry the path.
        ctx["aws:PrincipalArn"] = session["role_arn"]
    if session.get("issued"):
        ctx["aws:TokenIssueTime"] = session["issued"]
    if session.get("source_identity"):
        ctx["aws:SourceIdentity"] = session["source_identity"]
    return ctx


class AccessControl:
    """Authorize one call and log the decision; raise AccessDenied when denied."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.policies = PolicyStore(db)

    def principal_tags(self, caller: Caller) -> dict[str, str]:
        tags: dict[str, str] = {}
        entity = None
        if caller.role_name:
            entity = self.db.get_entity(caller.account, "role", caller.role_name)
        elif caller.user_name:
            entity = self.db.get_entity(caller.account, "user", caller.user_name)
        for tag in (entity or {}).get("Tags") or []:
            tags[tag["Key"]] = tag["Value"]
        for key, value in ((caller.session or {}).get("tags") or {}).items():
            tags[key] = value  # session tags override the role's tags of the same key
        return tags

    def decide(self, call: Call, action: str, resource: str, context: Mapping[str, Any],
               *, resource_policy: Policy | None = None, resource_account: str | None = None,
               source: str | None = None) -> Decision:
        caller = call.caller
        if source is None:
            # A session SageMaker opened for a job is logged under the job's ARN, whether
            # the runtime or the job's own code makes the call.
            source = str((caller.session or {}).get("source_arn") or "api")
        ctx = global_context(call, self.principal_tags(caller))
        ctx.update(context)
        request = Request(caller.arn, action, resource, resource_account, ctx,
                          time=call.time.timestamp())
        if resource_policy is None:
            decision = self.policies.authorizer(caller).authorize(request)
        else:
            decision = Authorizer(self.policies.policy_set(caller, resource_policy)) \
                .authorize(request)
        self.log(call, request, decision, source)
        return decision

    def require(self, call: Call, action: str, resource: str, context: Mapping[str, Any],
                *, resource_policy: Policy | None = None, resource_account: str | None = None,
                error_code: str = "AccessDenied") -> Decision:
        decision = self.decide(call, action, resource, context, resource_policy=resource_policy,
                               resource_account=resource_account)
        if not decision.allowed:
            raise AWSError(error_code, decision.message or "Access denied", 403)
        return decision

    def log(self, call: Call, request: Request, decision: Decision, source: str) -> None:
        self.db.execute(
            "INSERT INTO decisions(time, request_id, account, principal, action, resource, "
            "decision, denied_by, statements, message, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (time.time(), call.request_id, call.caller.account, request.principal,
             request.action, request.resource, decision.outcome.value,
             json.dumps([str(x) for x in decision.denied_by]),
             json.dumps([m.to_dict() for m in decision.matched]), decision.message, source))



