"""Shared machinery of the IAM provider: entities, names, ARNs, pagination, documents."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from ...catalog import managed
from ...policy import PolicyError, PolicyType, parse_policy
from ...store import Database
from ..base import AWSError, Call, invalid_input, no_such_entity, parse_iso

# What an entity kind is called in IAM's NoSuchEntity messages.
NOUN = {"user": "user", "role": "role", "group": "group"}
ENTITY_PATH = {"user": "user", "role": "role", "group": "group", "policy": "policy"}
_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy(/.*)?/([^/]+)$")


def doc_out(text: str) -> str:
    """Policy documents travel URL-encoded in IAM's responses (botocore decodes them)."""
    return quote(text, safe="")


class IAMBase:
    """Entity access and helpers the operation mixins share."""

    db: Database
    region: str

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- entities -----------------------------------------------------------------------

    def _get(self, account: str, kind: str, name: str) -> dict[str, Any]:
        found = self.db.get_entity(account, kind, name)
        if found is None:
            raise no_such_entity(f"The {NOUN[kind]} with name {name} cannot be found.")
        return found

    def _put(self, account: str, kind: str, entity: dict[str, Any]) -> None:
        name_field = {"user": "UserName", "role": "RoleName", "group": "GroupName",
                      "policy": "PolicyName"}[kind]
        self.db.put_entity(account, kind, entity[name_field], entity)

    @staticmethod
    def arn(account: str, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{account}:{ENTITY_PATH[kind]}{path}{name}"

    # --- policies ---------------------------------------------------------------------

    @staticmethod
    def validate_document(text: str, ptype: PolicyType, *, managed_policy: bool = False,
                          name: str = "") -> None:
        try:
            parse_policy(text, ptype, managed=managed_policy, name=name)
        except PolicyError as e:
            raise AWSError(e.code, e.message, 409 if e.code == "LimitExceeded" else 400) \
                from None

    def managed_document(self, account: str, arn: str) -> tuple[str, str]:
        """(policy name, default version document text) for an AWS or customer policy ARN."""
        m = _ARN.match(arn)
        if not m:
            raise invalid_input(f"ARN {arn} is not valid.")
        if m.group(1) == "aws":
            found = managed.lookup(arn)
            if found is None:
                raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
            return found.name, json.dumps(found.document)
        policy = self.db.get_entity(m.group(1), "policy", m.group(3))
        if policy is None or policy["Arn"] != arn:
            raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
        version = next(v for v in policy["Versions"] if v["IsDefaultVersion"])
        return policy["PolicyName"], str(version["Document"])

    def _customer_policy(self, account: str, arn: str) -> dict[str, Any]:
        name = arn.rsplit("/", 1)[-1]
        policy = self.db.get_entity(account, "policy", name)
        if policy is None or policy["Arn"] != arn:
            raise no_such_entity(f"Policy {arn} was not found.")
        return policy

    def _modifiable_role(self, call: Call, name: str) -> dict[str, Any]:
        role = self._get(self.account(call), "role", name)
        if role["Path"].startswith("/aws-service-role/"):
            raise AWSError("UnmodifiableEntity", f"Cannot perform the operation on the "
                           f"protected role '{role['RoleName']}' - this role is only "
                           "modifiable by AWS", 400)
        return role

    # --- request helpers --------------------------------------------------------------

    @staticmethod
    def account(call: Call) -> str:
        return call.caller.account


def paginate(items: Sequence[dict[str, Any]], params: dict[str, Any], key: str,
             sort_key: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """IAM's Marker/MaxItems pagination (default and maximum page sizes per the API
    reference: MaxItems 1-1000, default 100)."""
    max_items = params.get("MaxItems") or 100
    if not 1 <= max_items <= 1000:
        raise AWSError("ValidationError", "1 validation error detected: Value "
                       f"'{max_items}' at 'maxItems' failed to satisfy constraint: Member must "
                       "have value less than or equal to 1000" if max_items > 1000 else
                       "1 validation error detected: Value "
                       f"'{max_items}' at 'maxItems' failed to satisfy constraint: Member must "
                       "have value greater than or equal to 1")
    ordered = sorted(items, key=sort_key)
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise AWSError("ValidationError", "Invalid Marker.") from None
        start = next((i for i, item in enumerate(ordered) if sort_key(item) >= after),
                     len(ordered))
    page = ordered[start:start + max_items]
    out: dict[str, Any] = {key: page, "IsTruncated": start + max_items < len(ordered)}
    if out["IsTruncated"]:
        next_key = sort_key(ordered[start + max_items])
        out["Marker"] = base64.urlsafe_b64encode(next_key.encode()).decode()
    return out


def public(entity: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The entity as IAM returns it: only the named fields, dates as datetimes."""
    out: dict[str, Any] = {}
    for f in fields:
        if f in entity and entity[f] not in (None, [], {}):
            value = entity[f]
            if f in ("CreateDate", "UpdateDate"):
                value = parse_iso(value)
            out[f] = value
    return out


def path_ok(path: str) -> bool:
    return path.startswith("/") and path.endswith("/")


def check_path(path: str | None) -> str:
    path = path or "/"
    if not path_ok(path):
        raise AWSError("ValidationError", "The specified value for path is invalid. It must "
                       "begin and end with / and contain only alphanumeric characters and/or "
                       "/ characters.")
    return path
