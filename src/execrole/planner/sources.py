"""Where `execrole check` reads a role's and a caller's policies from, all in the shape of
IAM's GetAccountAuthorizationDetails: the local endpoint's store, a real (or any
AWS-compatible) account through read-only boto3 calls, or a saved
`aws iam get-account-authorization-details` file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..catalog import managed


class SourceError(Exception):
    """The policies could not be read (no such role, no permission, bad file)."""


@dataclass
class Entity:
    """A role or user with everything that decides what it may do."""

    kind: str  # "role" | "user"
    name: str
    arn: str
    account: str
    policies: list[tuple[str, Any]] = field(default_factory=list)  # (label, document)
    boundary: tuple[str, Any] | None = None
    trust_policy: Any = None  # roles only

    @property
    def session_arn(self) -> str:
        """The principal a role acts as when SageMaker assumes it."""
        if self.kind == "role":
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/SageMaker"
        return self.arn


def _doc(value: Any) -> Any:
    """Documents arrive decoded (boto3, the CLI) or URL-encoded (raw IAM XML)."""
    if isinstance(value, str):
        text = value if value.lstrip().startswith("{") else unquote(value)
        return json.loads(text)
    return value


class AuthorizationDetails:
    """Lookups over one account's GetAccountAuthorizationDetails output."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self._policies = {p["Arn"]: p for p in data.get("Policies", []) if "Arn" in p}

    def _managed(self, arn: str) -> tuple[str, Any]:
        found = self._policies.get(arn)
        if found is not None:
            for version in found.get("PolicyVersionList", []):
                if version.get("IsDefaultVersion"):
                    name = found.get("PolicyName") or arn.rsplit("/", 1)[-1]
                    return name, _doc(version["Document"])
        if arn.startswith(managed.ARN_PREFIX):
            aws = managed.lookup(arn)
            if aws is not None:
                return aws.name, aws.document
        raise SourceError(f"the managed policy {arn} is attached but its document is not in "
                          "the authorization details")

    def _entity(self, kind: str, item: Mapping[str, Any]) -> Entity:
        name = item["RoleName"] if kind == "role" else item["UserName"]
        arn = item["Arn"]
        entity = Entity(kind, name, arn, arn.split(":")[4])
        inline_key = "RolePolicyList" if kind == "role" else "UserPolicyList"
        for p in item.get(inline_key, []):
            entity.policies.append((f"{name}/{p['PolicyName']}", _doc(p["PolicyDocument"])))
        for p in item.get("AttachedManagedPolicies", []):
            entity.policies.append(self._managed(p["PolicyArn"]))
        if kind == "user":
            groups = {g["GroupName"]: g for g in self.data.get("GroupDetailList", [])}
            for group_name in item.get("GroupList", []):
                group = groups.get(group_name)
                if group is None:
                    continue
                for p in group.get("GroupPolicyList", []):
                    entity.policies.append((f"{group_name}/{p['PolicyName']}",
                                            _doc(p["PolicyDocument"])))
                for p in group.get("AttachedManagedPolicies", []):
                    entity.policies.append(self._managed(p["PolicyArn"]))
        boundary = item.get("PermissionsBoundary") or {}
        if boundary.get("PermissionsBoundaryArn"):
            entity.boundary = self._managed(boundary["PermissionsBoundaryArn"])
        if kind == "role":
            entity.trust_policy = _doc(item.get("AssumeRolePolicyDocument") or "{}")
        return entity

    def role(self, name_or_arn: str) -> Entity:
        name = name_or_arn.rsplit("/", 1)[-1]
        for item in self.data.get("RoleDetailList", []):
            if item["RoleName"] == name and (not name_or_arn.startswith("arn:")
                                             or item["Arn"] == name_or_arn):
                return self._entity("role", item)
        raise SourceError(f"no role {name_or_arn} in the account")

    def user(self, name_or_arn: str) -> Entity:
        name = name_or_arn.rsplit("/", 1)[-1]
        for item in self.data.get("UserDetailList", []):
            if item["UserName"] == name:
                return self._entity("user", item)
        raise SourceError(f"no user {name_or_arn} in the account")

    def principal(self, arn: str) -> Entity:
        """A caller: a user or role ARN, or an assumed-role session ARN (its role)."""
        if ":assumed-role/" in arn:
            role = self.role(arn.split(":assumed-role/", 1)[1].split("/", 1)[0])
            role.arn = arn
            return role
        if ":role/" in arn:
            return self.role(arn)
        if ":user/" in arn:
            return self.user(arn)
        raise SourceError(f"{arn} is not a user, role or role session ARN")


def from_file(path: Path) -> AuthorizationDetails:
    try:
        return AuthorizationDetails(json.loads(path.read_text()))
    except (OSError, ValueError) as e:
        raise SourceError(f"cannot read {path}: {e}") from None


def from_local(data_dir: Path, account: str | None = None) -> AuthorizationDetails:
    """The local endpoint's store, read in-process (no server needed)."""
    from ..config import database_path
    from ..services.base import Call, Caller
    from ..services.credentials import accounts
    from ..services.iam import IAMService
    from ..store import Database

    db_path = database_path(data_dir)
    if not db_path.exists():
        raise SourceError(f"no execrole data in {data_dir} (start `execrole serve` first)")
    db = Database(db_path)
    try:
        known = accounts(db)
        account = account or (known[0] if known else None)
        if account is None or account not in known:
            raise SourceError(f"no account {account} in {data_dir}")
        caller = Caller(f"arn:aws:iam::{account}:root", account)
        return AuthorizationDetails(IAMService(db).GetAccountAuthorizationDetails(
            Call(caller, "us-east-1", "check"), {}))
    finally:
        db.close()


def from_aws(*, profile: str | None = None, endpoint: str | None = None,
             region: str | None = None) -> AuthorizationDetails:
    """A real account (or any AWS-compatible endpoint), read with read-only IAM calls."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        iam = session.client("iam", endpoint_url=endpoint)
        merged: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [],
                                  "RoleDetailList": [], "Policies": []}
        for page in iam.get_paginator("get_account_authorization_details").paginate():
            for key in merged:
                merged[key].extend(page.get(key, []))
        return AuthorizationDetails(merged)
    except ClientError as e:
        err = e.response.get("Error", {})
        raise SourceError(f"{err.get('Code')}: {err.get('Message')} (checking needs "
                          "iam:GetAccountAuthorizationDetails, a read-only action)") from None
    except BotoCoreError as e:
        raise SourceError(str(e)) from None
