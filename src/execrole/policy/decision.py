"""Decisions as values: the outcome, the layers that denied, the deciding statements and
AWS's AccessDenied message (troubleshoot_access-denied.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class Outcome(StrEnum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit_deny"
    EXPLICIT_DENY = "explicit_deny"


class Layer(StrEnum):
    IDENTITY = "identity"
    RESOURCE = "resource"
    PERMISSIONS_BOUNDARY = "permissions_boundary"
    SESSION = "session"
    SCP = "scp"
    RCP = "rcp"


class MatchedStatement(NamedTuple):
    layer: Layer
    policy: str
    statement: int
    sid: str | None
    effect: str

    def to_dict(self) -> dict[str, Any]:
        return {"layer": str(self.layer), "policy": self.policy, "statement": self.statement,
                "sid": self.sid, "effect": self.effect}


class Decision(NamedTuple):
    """The answer: a value (a named tuple, cheap to build on the hot path)."""

    outcome: Outcome
    denied_by: tuple[Layer, ...] = ()
    matched: tuple[MatchedStatement, ...] = ()
    message: str | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": str(self.outcome),
            "denied_by": [str(layer) for layer in self.denied_by],
            "message": self.message,
            "matched": [m.to_dict() for m in self.matched],
        }


# How AWS names each layer in an AccessDenied message.
_EXPLICIT = {
    Layer.SCP: "a service control policy",
    Layer.RCP: "a resource control policy",
    Layer.RESOURCE: "a resource-based policy",
    Layer.IDENTITY: "an identity-based policy",
    Layer.PERMISSIONS_BOUNDARY: "a permissions boundary",
    Layer.SESSION: "a sessions policy",  # sic: troubleshoot_access-denied.md
}
_IMPLICIT = {
    Layer.SCP: "service control policy",
    Layer.RCP: "resource control policy",
    Layer.RESOURCE: "resource-based policy",
    Layer.IDENTITY: "identity-based policy",
    Layer.PERMISSIONS_BOUNDARY: "permissions boundary",
    Layer.SESSION: "session policy",
}
# When several layers deny, the message names one (troubleshoot_access-denied.md);
# we name the first in evaluation order.
MESSAGE_ORDER = (Layer.SCP, Layer.RCP, Layer.RESOURCE, Layer.IDENTITY,
                 Layer.PERMISSIONS_BOUNDARY, Layer.SESSION)


def access_denied_message(
    principal: str, action: str, resource: str, outcome: Outcome,
    denied_by: tuple[Layer, ...], trust: bool = False,
) -> str:
    layer = next(layer for layer in MESSAGE_ORDER if layer in denied_by)
    head = f"User: {principal} is not authorized to perform: {action}"
    if resource and resource != "*":
        head += f" on resource: {resource}"
    if outcome is Outcome.EXPLICIT_DENY:
        where = "the role trust policy" if trust and layer is Layer.RESOURCE else _EXPLICIT[layer]
        return f"{head} with an explicit deny in {where}"
    kind = "role trust policy" if trust and layer is Layer.RESOURCE else _IMPLICIT[layer]
    return f"{head} because no {kind} allows the {action} action"
