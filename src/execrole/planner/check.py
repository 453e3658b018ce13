"""`execrole check`: will this role, in this account, work for this request?

Every requirement of the request (catalog.sagemaker) is decided by the engine against the
real policies: the caller's (the `sagemaker:` action and `iam:PassRole`), the role's trust
policy (`sts:AssumeRole` by sagemaker.amazonaws.com) and the role's own policies and
boundary (what the job does as the role session). The first failure is turned into the
error SageMaker itself would give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog import sagemaker
from ..catalog.sagemaker import CALLER, ROLE, TRUST, Requirement
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
from .sources import AuthorizationDetails, Entity, SourceError


@dataclass
class Row:
    requirement: Requirement
    principal: str
    decision: Decision | None  # None: not checked (no caller given)

    @property
    def ok(self) -> bool:
        return self.decision is None or self.decision.allowed

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        out: dict[str, Any] = {"who": r.who, "action": r.action, "resource": r.resource,
                               "context": r.context, "because": r.reason, "source": r.source,
                               "principal": self.principal}
        if self.decision is None:
            out["decision"] = "not_checked"
        else:
            out.update(self.decision.to_dict())
        return out


@dataclass
class Report:
    api: str
    role_arn: str
    rows: list[Row]
    sagemaker_error: str | None

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"api": self.api, "role": self.role_arn, "ok": self.ok,
                "sagemaker_error": self.sagemaker_error,
                "requirements": [row.to_dict() for row in self.rows]}


def _parse(label: str, document: Any, ptype: PolicyType) -> Policy:
    try:
        # These documents were accepted by IAM already: sizes are not checked again.
        return parse_policy(document, ptype, name=label, managed=False,
                            size_limit=NO_SIZE_LIMIT)
    except PolicyError as e:
        raise SourceError(f"{label}: {e.code}: {e.message}") from None


def _policy_set(entity: Entity, resource: Policy | None = None) -> PolicySet:
    identity = [_parse(label, doc, PolicyType.IDENTITY) for label, doc in entity.policies]
    boundary = None
    if entity.boundary is not None:
        boundary = [_parse(entity.boundary[0], entity.boundary[1], PolicyType.BOUNDARY)]
    return PolicySet(identity=identity, boundary=boundary, resource=resource)


def default_key_policy(account: str) -> Policy:
    """KMS's default key policy: the account's root may use the key, which lets IAM policies
    decide (KMS Developer Guide, "Default key policy"). Key policies are not read by
    `check` (docs/fidelity.md), so keys are assumed to carry this one."""
    return parse_policy({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
        "Resource": "*"}]}, PolicyType.RESOURCE, name="default key policy")


def check(api: str, request: Mapping[str, Any], details: AuthorizationDetails, *,
          role: str | None = None, caller: str | None = None, region: str = "us-east-1",
          kms_inputs: Sequence[str] = ()) -> Report:
    role_ref = role or sagemaker.role_arn_of(api, dict(request))
    if not role_ref:
        raise SourceError(f"the {api} request passes no role and --role was not given")
    entity = details.role(role_ref)
    reqs = sagemaker.requirements(api, dict(request), account=entity.account, region=region,
                                  kms_inputs=tuple(kms_inputs))
    role_auth = Authorizer(_policy_set(entity))
    key_auth = Authorizer(_policy_set(entity, default_key_policy(entity.account)))
    trust = _parse(f"{entity.name} trust policy", entity.trust_policy, PolicyType.TRUST)
    trust_auth = Authorizer(PolicySet(resource=trust))
    caller_entity = details.principal(caller) if caller else None
    caller_auth = Authorizer(_policy_set(caller_entity)) if caller_entity else None
    caller_key_auth = (Authorizer(_policy_set(caller_entity,
                                              default_key_policy(caller_entity.account)))
                       if caller_entity else None)
    rows: list[Row] = []
    for req in reqs:
        if req.who == TRUST:
            principal = sagemaker.SAGEMAKER_PRINCIPAL
            resource = entity.arn if req.action.startswith("sts:") else req.resource
            decision = trust_auth.authorize(Request(principal, req.action, resource,
                                                    entity.account, req.context))
        elif req.who == ROLE:
            principal = entity.session_arn
            # Resources in other accounts (AWS-owned images) are judged on the role's side
            # only: their own resource policies are not visible from here.
            auth = key_auth if req.action.startswith("kms:") else role_auth
            decision = auth.authorize(Request(principal, req.action, req.resource,
                                              entity.account, req.context))
        else:
            assert req.who == CALLER
            if caller_auth is None or caller_entity is None:
                rows.append(Row(req, "(no --caller)", None))
                continue
            principal = caller_entity.arn
            resource = entity.arn if req.action == "iam:PassRole" else req.resource
            chosen = caller_key_auth if req.action.startswith("kms:") else caller_auth
            assert chosen is not None
            decision = chosen.authorize(Request(principal, req.action, resource,
                                                     caller_entity.account, req.context))
        rows.append(Row(req, principal, decision))
    return Report(api, entity.arn, rows, sagemaker_error(api, entity, rows))


def sagemaker_error(api: str, role: Entity, rows: Sequence[Row]) -> str | None:
    """The error SageMaker would return first, in the order it checks: the caller's
    permission and PassRole (synchronous AccessDeniedException), the trust policy
    (ValidationException), the image pull (ValidationException), then what the job does
    (the FailureReason of a failed job)."""
    failed = [row for row in rows if not row.ok]
    if not failed:
        return None

    def first(pred: Any) -> Row | None:
        return next((row for row in failed if pred(row.requirement)), None)

    row = first(lambda r: r.who == CALLER and r.action != "iam:PassRole") or \
        first(lambda r: r.who == CALLER)
    if row is not None and row.decision is not None:
        return f"AccessDeniedException: {row.decision.message}"
    if first(lambda r: r.who == TRUST):
        return (f"ValidationException: Could not assume role {role.arn}. Please ensure that "
                "the role exists and allows principal 'sagemaker.amazonaws.com' to assume the "
                "role.")
    row = first(lambda r: r.action.startswith("ecr:") and r.action != "ecr:GetAuthorizationToken")
    if row is not None:
        repo = row.requirement.resource.rsplit("/", 1)[-1]
        registry = row.requirement.resource.split(":")[4]
        return (f"ValidationException: Access denied for repository: {repo} in registry ID: "
                f"{registry}. Please check if your ECR repository and image exist and role "
                f"{role.arn} has proper pull permissions for SageMaker: "
                "ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, "
                "ecr:GetDownloadUrlForLayer")
    row = failed[0]
    r = row.requirement
    # S3 quotes the engine's denial for a same-account request, as the job's runtime does.
    denial = f"(AccessDenied: {row.decision.message})" if row.decision else \
        "(AccessDenied: Access Denied)"
    if r.action in ("s3:GetObject", "s3:ListBucket"):
        target = _s3_uri(r.resource)
        if r.action == "s3:ListBucket":
            prefix = r.context.get("s3:prefix", "")
            return f"ClientError: Data download failed:ListObjectsV2 failed for " \
                f"{target}/{prefix} {denial}"
        return f"ClientError: Data download failed:Unable to download object {target} {denial}"
    if r.action == "s3:PutObject":
        return f"ClientError: Artifact upload failed:Unable to upload to {_s3_uri(r.resource)} " \
            f"{denial}"
    if r.action.startswith("kms:"):
        return (f"ClientError: {r.action} on {r.resource} was denied to {role.arn}: "
                f"{row.decision.message if row.decision else ''}")
    return f"ClientError: {row.decision.message if row.decision else r.action}"


def _s3_uri(arn: str) -> str:
    return "s3://" + arn.removeprefix("arn:aws:s3:::")
