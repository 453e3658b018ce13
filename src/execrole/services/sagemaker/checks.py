"""The synchronous checks SageMaker makes when a Create call passes a role, in its order
(issue 6; seed, "Passing Roles"; security-confused-deputy-prevention.md):

1. the caller's `sagemaker:<API>` action with its condition keys (done by the endpoint, with
   the context this module supplies through the provider's `authorization` hook);
2. `iam:PassRole` on the role with `iam:PassedToService = sagemaker.amazonaws.com`
   (AccessDeniedException with the engine's message);
3. SageMaker assumes the role: the role's trust policy must let `sagemaker.amazonaws.com`
   assume it, with `aws:SourceAccount` and `aws:SourceArn` of the new resource
   (ValidationException "Could not assume role ...");
4. the container image is pulled as the role (ValidationException naming the repository).

Every decision lands in the decision log with the resource's ARN as its source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ...catalog import sagemaker as catalog
from ...policy import PolicyError, PolicyType, parse_policy
from ...store import Database
from ..authz import AccessControl
from ..base import AWSError, Call, Caller

SAGEMAKER = "sagemaker.amazonaws.com"
_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                    r"([^:@]+)(?::[^@]+)?(?:@sha256:[0-9a-f]{64})?$")
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer")


def validation(message: str) -> AWSError:
    return AWSError("ValidationException", message, 400)


def could_not_assume(role_arn: str) -> AWSError:
    return validation(f"Could not assume role {role_arn}. Please ensure that the role exists "
                      f"and allows principal '{SAGEMAKER}' to assume the role.")


class RoleChecks:
    """PassRole, the trust policy and the image pull, for one Create call."""

    def __init__(self, db: Database, access: AccessControl,
                 peer: Callable[[str], Any | None]) -> None:
        self.db = db
        self.access = access
        self.peer = peer  # another provider of the endpoint, by service name

    def caller_requirement(self, call: Call, api: str,
                           params: Mapping[str, Any]) -> catalog.Requirement | None:
        for req in catalog.requirements(api, dict(params), account=call.caller.account,
                                        region=call.region):
            if req.who == catalog.CALLER and req.action.startswith("sagemaker:"):
                return req
        return None

    def run(self, call: Call, api: str, params: Mapping[str, Any], resource_arn: str,
            images: list[str]) -> None:
        reqs = catalog.requirements(api, dict(params), account=call.caller.account,
                                    region=call.region)
        for req in reqs:
            if req.who == catalog.CALLER and req.action == "iam:PassRole":
                context = dict(req.context)
                context["iam:AssociatedResourceArn"] = resource_arn
                self.access.require(call, "iam:PassRole", req.resource, context,
                                    error_code="AccessDeniedException")
        for role_arn in catalog.role_arns_of(api, dict(params)):
            role = self.assume(call, role_arn, resource_arn)
            for image in images:
                self.pull(call, role, image, resource_arn)

    def role_of(self, role_arn: str) -> dict[str, Any] | None:
        parts = role_arn.split(":")
        if len(parts) != 6 or not parts[5].startswith("role/"):
            return None
        role = self.db.get_entity(parts[4], "role", parts[5].rsplit("/", 1)[-1])
        if role is None or role["Arn"] != role_arn:
            return None
        return role

    def assume(self, call: Call, role_arn: str, resource_arn: str) -> dict[str, Any]:
        role = self.role_of(role_arn)
        if role is None or not self.trust_allows(call, role, resource_arn):
            raise could_not_assume(role_arn)
        return role

    def trust_allows(self, call: Call, role: dict[str, Any], resource_arn: str) -> bool:
        """Whether the role's trust policy lets SageMaker assume it for this resource, on
        behalf of the caller's account (with the confused-deputy keys)."""
        service = Call(Caller(SAGEMAKER, ""), call.region, call.request_id, call.source_ip,
                       True, call.user_agent, call.time)
        try:
            trust = parse_policy(role["AssumeRolePolicyDocument"], PolicyType.TRUST,
                                 name=f"{role['RoleName']} trust policy", managed=False)
        except PolicyError:
            return False
        context = {"aws:SourceAccount": call.caller.account, "aws:SourceArn": resource_arn}
        decision = self.access.decide(service, "sts:AssumeRole", role["Arn"], context,
                                      resource_policy=trust,
                                      resource_account=role["Arn"].split(":")[4],
                                      source=resource_arn)
        return decision.allowed

    def pull(self, call: Call, role: dict[str, Any], image: str, resource_arn: str) -> None:
        m = _IMAGE.match(image)
        if m is None:
            raise validation(f"Image {image} is not a valid ECR image URI.")
        registry, region, repo = m.group(1), m.group(2), m.group(3)
        account = role["Arn"].split(":")[4]
        session = Caller(f"arn:aws:sts::{account}:assumed-role/{role['RoleName']}/SageMaker",
                         account, role_name=role["RoleName"],
                         session={"kind": "assumed-role", "role_arn": role["Arn"]})
        as_role = Call(session, region, call.request_id, call.source_ip, True,
                       call.user_agent, call.time)
        ecr = self.peer("ecr")
        repo_arn = f"arn:aws:ecr:{region}:{registry}:repository/{repo}"
        params = {"registryId": registry, "repositoryName": repo}
        side = None
        if ecr is not None:
            if ecr.repository_exists(registry, region, repo):
                side = ecr.authorization(as_role, "BatchGetImage", params, "ecr:BatchGetImage",
                                         repo_arn)
            if side is None:
                raise validation(
                    f"Cannot find repository: {repo} in registry ID: {registry}. Please check "
                    f"if your ECR repository exists and role {role['Arn']} has proper pull "
                    f"permissions for SageMaker: {', '.join(PULL_ACTIONS)}")
        for action in PULL_ACTIONS:
            decision = self.access.decide(as_role, action, repo_arn,
                                          dict((side.context if side else None) or {}),
                                          resource_policy=side.policy if side else None,
                                          resource_account=registry, source=resource_arn)
            if not decision.allowed:
                raise validation(
                    f"Access denied for repository: {repo} in registry ID: {registry}. Please "
                    f"check if your ECR repository and image exist and role {role['Arn']} has "
                    f"proper pull permissions for SageMaker: {', '.join(PULL_ACTIONS)}")
