"""Immutable values for parsed policy documents."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PolicyType(StrEnum):
    IDENTITY = "identity"
    RESOURCE = "resource"
    TRUST = "trust"
    BOUNDARY = "boundary"
    SESSION = "session"
    SCP = "scp"
    RCP = "rcp"


@dataclass(frozen=True, slots=True)
class PrincipalSet:
    """The value of a Principal or NotPrincipal element."""

    everyone: bool = False  # "*" or {"AWS": "*"}
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator/key pair of a Condition block, values as strings."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    effect: str  # "Allow" | "Deny"
    sid: str | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    principal: PrincipalSet | None = None
    not_principal: PrincipalSet | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    version: str | None = None
    id: str | None = None
    name: str = ""  # how reports refer to it: a managed policy name, or "identity[0]"

    @property
    def variables_enabled(self) -> bool:
        # Policy variables exist only in Version 2012-10-17 (reference_policies_variables.md).
        return self.version == "2012-10-17"
