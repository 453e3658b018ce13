"""Bucket policies: S3's own checks, then the IAM policy grammar, with S3's answers.

S3 answers every rejected bucket policy with code MalformedPolicy (status 400). The texts
are S3's as users recorded them in public issue threads ("Policy has invalid resource",
"Missing required field Principal", "Invalid principal in policy", "Policy has invalid
action", "Action does not apply to any resource(s) in statement", "This policy contains
invalid Json", "Policies must be valid JSON and the first byte must be '{'", "Could not parse
the policy: Statement is empty!", "Missing required field Statement"). S3 refuses a resource
outside the policy's own bucket ("*" included) and an AWS principal that names an IAM user or
role that does not exist; a principal in an account execrole does not host is taken as given.
Other grammar errors come from execrole.policy with IAM's message; the size limit is 20 KB
of non-white-space characters, as IAM counts (its S3 message is a guess: docs/fidelity.md).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ...catalog.actions import action_detail, expand_action
from ...policy import Policy, PolicyError, PolicyType, parse_policy
from ...policy.parse import NO_SIZE_LIMIT
from ...policy.wildcard import glob_match
from ...store import Database
from ..base import AWSError

ARN_PREFIX = "arn:aws:s3:::"
FIRST_BYTE = "Policies must be valid JSON and the first byte must be '{'"
INVALID_JSON = "This policy contains invalid Json"
VERSIONS = ("2008-10-17", "2012-10-17")
BOTH = frozenset({"bucket", "object"})


def malformed(message: str) -> AWSError:
    return AWSError("MalformedPolicy", message, 400)


def check_bucket_policy(text: Any, bucket: str, db: Database | None = None) -> Policy:
    """Validate a PutBucketPolicy document for ``bucket`` and return it parsed."""
    if not isinstance(text, str) or not text.startswith("{"):
        raise malformed(FIRST_BYTE)
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise malformed(INVALID_JSON) from None
    if not isinstance(raw, dict):
        raise malformed(INVALID_JSON)
    if "Version" in raw and raw["Version"] not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    if "Statement" not in raw:
        raise malformed("Missing required field Statement")
    body = raw["Statement"]
    statements = [body] if isinstance(body, dict) else body
    if not isinstance(statements, list) or not statements:
        raise malformed("Could not parse the policy: Statement is empty!")
    for statement in statements:
        if not isinstance(statement, dict):
            raise malformed(INVALID_JSON)
        _check_statement(statement, bucket, db)
    try:
        return parse_policy(text, PolicyType.RESOURCE)
    except PolicyError as e:
        raise malformed(_s3_message(e)) from None


def stored_policy(text: str) -> Policy:
    """A policy S3 already accepted, parsed once per distinct text."""
    return _parse_stored(text)


@lru_cache(maxsize=1024)
def _parse_stored(text: str) -> Policy:
    return parse_policy(text, PolicyType.RESOURCE, size_limit=NO_SIZE_LIMIT)


def _s3_message(e: PolicyError) -> str:
    if e.message.startswith("Invalid principal in policy"):
        return "Invalid principal in policy"
    if e.code != "MalformedPolicyDocument":  # the size limit
        return "Policy exceeds the maximum allowed document size."
    return e.message


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _check_statement(st: dict[str, Any], bucket: str, db: Database | None) -> None:
    if "Principal" not in st and "NotPrincipal" not in st:
        raise malformed("Missing required field Principal")
    if "Action" not in st and "NotAction" not in st:
        raise malformed("Missing required field Action")
    if "Resource" not in st and "NotResource" not in st:
        raise malformed("Missing required field Resource")
    actions = _strings(st["Action"] if "Action" in st else st["NotAction"])
    action_kinds = [_action_kinds(a) for a in actions]
    if any(kinds is None for kinds in action_kinds):
        raise malformed("Policy has invalid action")
    resource_kinds: set[str] = set()
    for resource in _strings(st["Resource"] if "Resource" in st else st["NotResource"]):
        named = _resource_kinds(resource, bucket)
        if not named:
            raise malformed("Policy has invalid resource")
        resource_kinds |= named
    if "Action" in st and "Resource" in st:
        for kinds in action_kinds:
            if not (kinds or frozenset()) & resource_kinds:
                raise malformed("Action does not apply to any resource(s) in statement")
    if db is not None:
        for key in ("Principal", "NotPrincipal"):
            value = st.get(key)
            if isinstance(value, dict):
                for arn in _strings(value.get("AWS")):
                    if not _principal_exists(db, arn):
                        raise malformed("Invalid principal in policy")


@lru_cache(maxsize=4096)
def _action_kinds(action: str) -> frozenset[str] | None:
    """The S3 resource types (bucket, object) an action pattern's actions apply to; None
    when it names no S3 action."""
    if action == "*":
        return BOTH
    prefix, _, name = action.partition(":")
    if prefix.lower() != "s3" or not name:
        return None
    names = expand_action(action)
    if not names:
        return None
    kinds: set[str] = set()
    for full in names:
        detail = action_detail(full) or {}
        kinds.update(rt["name"] for rt in detail.get("resourceTypes", [])
                     if rt.get("name") in BOTH)
    return frozenset(kinds)


def _resource_kinds(resource: str, bucket: str) -> frozenset[str]:
    """Which of this bucket's resource types an ARN pattern can name (empty: none, so the
    resource is invalid for this bucket's policy)."""
    if not resource.startswith(ARN_PREFIX):
        return frozenset()
    bucket_part, sep, _ = resource[len(ARN_PREFIX):].partition("/")
    if not glob_match(bucket_part, bucket):
        return frozenset()
    if sep:
        return frozenset({"object"})
    # "*" spans "/", so a wildcard in the bucket part can name objects too.
    return BOTH if "*" in bucket_part else frozenset({"bucket"})


def _principal_exists(db: Database, arn: str) -> bool:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or "*" in arn or "?" in arn:
        return True
    account, resource = parts[4], parts[5]
    kind, _, path = resource.partition("/")
    if kind not in ("user", "role") or not path:
        return True
    if db.one("SELECT 1 FROM accounts WHERE id=?", (account,)) is None:
        return True  # an account execrole does not host: taken as given
    return db.get_entity(account, kind, path.rsplit("/", 1)[-1]) is not None
