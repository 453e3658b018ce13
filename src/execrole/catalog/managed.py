"""AWS managed policies, by name or ARN, from moto's maintained copy of AWS's documents
(moto/iam/aws_managed_policies.py, refreshed from AWS by moto's maintainers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..policy import Policy, PolicyType, parse_policy
from ..policy.parse import NO_SIZE_LIMIT

ARN_PREFIX = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    arn: str
    path: str
    version_id: str
    update_date: str
    document: dict[str, Any]


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, dict[str, Any]] = json.loads(aws_managed_policies_data)
    return data


def names() -> list[str]:
    return sorted(_table())


def is_reference(text: str) -> bool:
    """Does a string (where a document is expected) name a managed policy?"""
    return text.startswith(ARN_PREFIX) or (not text.lstrip().startswith("{") and "/" not in text
                                           and " " not in text.strip())


@lru_cache(maxsize=2048)
def lookup(name_or_arn: str) -> ManagedPolicy | None:
    text = name_or_arn.strip()
    path = None
    if text.startswith(ARN_PREFIX):
        rest = text[len(ARN_PREFIX):]
        path_part, _, name = rest.rpartition("/")
        path = "/" + path_part + "/" if path_part else "/"
    else:
        name = text
    entry = _table().get(name)
    if entry is None or (path is not None and entry.get("Path", "/") != path):
        return None
    entry_path = entry.get("Path", "/")
    return ManagedPolicy(
        name=name,
        arn=f"{ARN_PREFIX}{entry_path.lstrip('/')}{name}",
        path=entry_path,
        version_id=str(entry.get("DefaultVersionId", "")),
        update_date=str(entry.get("UpdateDate", "")),
        document=entry["Document"],
    )


@lru_cache(maxsize=2048)
def load(name_or_arn: str, policy_type: PolicyType = PolicyType.IDENTITY) -> Policy:
    """The managed policy parsed as a Policy; KeyError when there is no such policy."""
    found = lookup(name_or_arn)
    if found is None:
        raise KeyError(name_or_arn)
    # AWS's own documents are larger than customers may write: no size limit.
    return parse_policy(found.document, policy_type, name=found.name, managed=False,
                        size_limit=NO_SIZE_LIMIT)
