"""Who is asking: the request principal, parsed once, and the keys AWS derives from it.

Sources: reference_policies_elements_principal.md (principal forms),
reference_policies_variables.md#principaltable and reference_policies_condition-keys.md
(aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:userid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class Kind(StrEnum):
    ROOT = "Account"
    USER = "User"
    ROLE = "Role"  # the role itself (a case may name a role rather than a session)
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    SERVICE = "Service"
    ANONYMOUS = "Anonymous"
    OTHER = "Other"  # web identity / SAML providers, canonical users


@dataclass(frozen=True, slots=True)
class RequestPrincipal:
    text: str
    kind: Kind
    partition: str = "aws"
    account: str | None = None
    name: str | None = None  # user name, role name, federated user name
    session: str | None = None  # role session name
    # ARNs under which a resource policy may name this principal directly.
    direct_arns: frozenset[str] = field(default_factory=frozenset)
    # The role ARN (without path) a session belongs to: granting to it is weaker.
    role_arn: str | None = None
    # Flags the authorizer reads on every decision, computed once per principal.
    is_iam: bool = field(init=False, default=False)  # an IAM principal (not service/anonymous)
    is_service: bool = field(init=False, default=False)
    is_root: bool = field(init=False, default=False)
    is_federated_user: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_service", self.kind is Kind.SERVICE)
        object.__setattr__(self, "is_iam", self.kind not in (Kind.SERVICE, Kind.ANONYMOUS))
        object.__setattr__(self, "is_root", self.kind is Kind.ROOT)
        object.__setattr__(self, "is_federated_user", self.kind is Kind.FEDERATED_USER)

    @property
    def is_session(self) -> bool:
        return self.kind in (Kind.ASSUMED_ROLE, Kind.FEDERATED_USER)

    @property
    def principal_arn(self) -> str | None:
        """aws:PrincipalArn: for a role session, the role's ARN."""
        if self.kind is Kind.ASSUMED_ROLE:
            return self.role_arn
        if self.kind in (Kind.ROOT, Kind.USER, Kind.ROLE, Kind.FEDERATED_USER):
            return self.text
        return None

    def derived(self) -> dict[str, str]:
        """Global condition keys AWS fills in from the principal (lower-cased names)."""
        keys: dict[str, str] = {}
        if self.kind is Kind.SERVICE:
            keys["aws:principalisawsservice"] = "true"
            keys["aws:principalservicename"] = self.text
            return keys
        if self.kind is Kind.ANONYMOUS:
            # reference_policies_condition-keys.md: aws:PrincipalAccount and
            # aws:PrincipalType are present for anonymous requests too; aws:userid is
            # "anonymous" (reference_policies_variables.md, principal key values).
            return {"aws:principalaccount": "anonymous", "aws:principaltype": "Anonymous",
                    "aws:userid": "anonymous"}
        keys["aws:principalisawsservice"] = "false"
        arn = self.principal_arn
        if arn:
            keys["aws:principalarn"] = arn
        if self.account:
            keys["aws:principalaccount"] = self.account
        if self.kind is Kind.ROOT:
            keys["aws:principaltype"] = "Account"
            if self.account:
                keys["aws:userid"] = self.account
        elif self.kind is Kind.USER:
            keys["aws:principaltype"] = "User"
            if self.name:
                keys["aws:username"] = self.name
        elif self.kind is Kind.ASSUMED_ROLE:
            keys["aws:principaltype"] = "AssumedRole"
        elif self.kind is Kind.FEDERATED_USER:
            keys["aws:principaltype"] = "FederatedUser"
            if self.account and self.name:
                keys["aws:userid"] = f"{self.account}:{self.name}"
        elif self.kind is Kind.ROLE:
            keys["aws:principaltype"] = "AssumedRole"
        return keys


@lru_cache(maxsize=4096)
def parse_principal(text: str) -> RequestPrincipal:
    if text == "anonymous" or text == "*":
        return RequestPrincipal(text, Kind.ANONYMOUS)
    if not text.startswith("arn:"):
        if text.endswith(".amazonaws.com") or text.endswith(".amazonaws.com.cn"):
            return RequestPrincipal(text, Kind.SERVICE, direct_arns=frozenset({text}))
        if text.isdigit() and len(text) == 12:
            root = f"arn:aws:iam::{text}:root"
            return RequestPrincipal(
                root, Kind.ROOT, account=text, direct_arns=frozenset({root})
            )
        return RequestPrincipal(text, Kind.OTHER, direct_arns=frozenset({text}))
    parts = text.split(":", 5)
    if len(parts) < 6:
        return RequestPrincipal(text, Kind.OTHER, direct_arns=frozenset({text}))
    _, partition, service, _region, account, resource = parts
    direct = frozenset({text})
    if service == "iam" and resource == "root":
        return RequestPrincipal(text, Kind.ROOT, partition, account, direct_arns=direct)
    if service == "iam" and resource.startswith("user/"):
        name = resource.rsplit("/", 1)[-1]
        return RequestPrincipal(text, Kind.USER, partition, account, name, direct_arns=direct)
    if service == "iam" and resource.startswith("role/"):
        name = resource.rsplit("/", 1)[-1]
        return RequestPrincipal(
            text, Kind.ROLE, partition, account, name, direct_arns=direct, role_arn=text
        )
    if service == "sts" and resource.startswith("assumed-role/"):
        _, _, rest = resource.partition("/")
        role, _, session = rest.partition("/")
        return RequestPrincipal(
            text,
            Kind.ASSUMED_ROLE,
            partition,
            account,
            role,
            session,
            direct_arns=direct,
            role_arn=f"arn:{partition}:iam::{account}:role/{role}",
        )
    if service == "sts" and resource.startswith("federated-user/"):
        name = resource.partition("/")[2]
        return RequestPrincipal(
            text, Kind.FEDERATED_USER, partition, account, name, direct_arns=direct
        )
    return RequestPrincipal(text, Kind.OTHER, partition, account or None, direct_arns=direct)
