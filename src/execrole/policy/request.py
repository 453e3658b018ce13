"""The request context: who asks for what, on which resource, with which condition keys."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from .principals import RequestPrincipal, parse_principal

ContextValue = str | Sequence[str]


def _normalize(context: Mapping[str, ContextValue] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, value in (context or {}).items():
        if isinstance(value, str):
            out[key.lower()] = (value,)
        elif isinstance(value, bool):
            out[key.lower()] = ("true" if value else "false",)
        elif isinstance(value, (int, float)):
            out[key.lower()] = (str(value),)
        else:
            out[key.lower()] = tuple(
                ("true" if v else "false") if isinstance(v, bool) else str(v) for v in value
            )
    return out


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """One authorization question. Context keys are case-insensitive (stored lower-cased)."""

    principal: str
    action: str
    resource: str
    resource_account: str | None
    context: Mapping[str, tuple[str, ...]]
    time: float = field(default=0.0)
    # Normalized once here rather than on every evaluation:
    action_key: str = field(default="", compare=False)  # actions match case-insensitively
    target_account: str | None = field(default=None, compare=False)  # given, or from the ARN
    caller: RequestPrincipal = field(default=None, compare=False)  # type: ignore[assignment]

    def __init__(
        self,
        principal: str,
        action: str,
        resource: str = "*",
        resource_account: str | None = None,
        context: Mapping[str, ContextValue] | None = None,
        time: float | None = None,
    ) -> None:
        object.__setattr__(self, "principal", principal)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "resource_account", resource_account)
        object.__setattr__(self, "context", _normalize(context))
        object.__setattr__(self, "time", _now() if time is None else time)
        object.__setattr__(self, "action_key", action.lower())
        object.__setattr__(self, "target_account",
                           resource_account or resource_account_of(resource))
        object.__setattr__(self, "caller", parse_principal(principal))

    # The request is its own condition-key context (the Context protocol of operators.py):
    # keys given in the request first, then the ones AWS derives from the principal and
    # the clock.
    def values(self, key: str) -> tuple[str, ...] | None:
        found = self.context.get(key)
        if found is not None:
            return found
        value = _derived(self.principal).get(key)
        if value is not None:
            return (value,)
        if key == "aws:currenttime":
            stamp = datetime.fromtimestamp(self.time, UTC)
            return (stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),)
        if key == "aws:epochtime":
            return (str(int(self.time)),)
        return None

    def single(self, key: str) -> str | None:
        found = self.values(key)
        if found is None or len(found) != 1:
            return None  # multivalued keys cannot be policy variables
        return found[0]


def _now() -> float:
    return time.time()


def resource_account_of(resource: str) -> str | None:
    """The account field of an ARN; None for ARNs without one (S3 buckets and objects)."""
    if not resource.startswith("arn:"):
        return None
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[4] and parts[4] != "*":
        return parts[4]
    return None


@lru_cache(maxsize=4096)
def _derived(principal: str) -> dict[str, str]:
    return parse_principal(principal).derived()
