"""Accounts, long-term access keys and STS sessions: who a signed request comes from.

Used by the wire (to find the secret that verifies a signature and the caller it stands
for), by IAM (access-key operations) and by STS (temporary credentials).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..store import Database
from .base import AWSError, Caller, new_id, new_secret


@dataclass(frozen=True)
class KeyRecord:
    secret: str
    caller: Caller
    session_token: str | None = None  # required for temporary credentials
    expires: float | None = None


def create_account(db: Database, account: str, alias: str | None = None) -> tuple[str, str]:
    """A new account with its root user's access key; returns (access key id, secret)."""
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM accounts WHERE id=?", (account,)).fetchone():
            raise AWSError("EntityAlreadyExists", f"Account {account} already exists.", 409)
        conn.execute("INSERT INTO accounts(id, alias, created) VALUES (?, ?, ?)",
                     (account, alias, time.time()))
        key, secret = new_id("access_key", 20), new_secret()
        conn.execute("INSERT INTO access_keys(access_key_id, secret, account, user_name, "
                     "created) VALUES (?, ?, ?, NULL, ?)", (key, secret, account, time.time()))
    return key, secret


def accounts(db: Database) -> list[str]:
    return [r["id"] for r in db.query("SELECT id FROM accounts ORDER BY created")]


def root_key(db: Database, account: str) -> tuple[str, str] | None:
    row = db.one("SELECT access_key_id, secret FROM access_keys WHERE account=? AND "
                 "user_name IS NULL AND status='Active' ORDER BY created LIMIT 1", (account,))
    return None if row is None else (row["access_key_id"], row["secret"])


def lookup(db: Database, access_key_id: str) -> KeyRecord | None:
    """The key's secret and caller; None for an unknown key."""
    row = db.one("SELECT * FROM access_keys WHERE access_key_id=?", (access_key_id,))
    if row is not None:
        if row["status"] != "Active":
            return None
        account, user = row["account"], row["user_name"]
        if user is None:
            caller = Caller(f"arn:aws:iam::{account}:root", account, access_key_id,
                            user_id=account)
        else:
            entity = db.get_entity(account, "user", user)
            if entity is None:
                return None
            caller = Caller(entity["Arn"], account, access_key_id, user_name=entity["UserName"],
                            user_id=entity["UserId"])
        return KeyRecord(row["secret"], caller)
    row = db.one("SELECT * FROM sessions WHERE access_key_id=?", (access_key_id,))
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row["data"])
    caller = Caller(data["arn"], row["account"], access_key_id, user_name=data.get("user_name"),
                    role_name=data.get("role_name"), session=data, user_id=data.get("user_id"))
    return KeyRecord(row["secret"], caller, row["token"], row["expires"])


def assumed_role_data(role: dict[str, Any], session_name: str, *,
                      session_policies: dict[str, Any] | None = None,
                      tags: dict[str, str] | None = None, transitive: list[str] | None = None,
                      source_identity: str | None = None, chained: bool = False,
                      issued: str, **extra: Any) -> dict[str, Any]:
    """The record of an assumed-role session (`assumed-role/<role>/<session>`): what the
    caller of a request signed with its credentials is."""
    account = role["Arn"].split(":")[4]
    return {"kind": "assumed-role",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role['RoleName']}/{session_name}",
            "role_name": role["RoleName"], "role_arn": role["Arn"], "role_id": role["RoleId"],
            "session_name": session_name, "session_policies": session_policies,
            "tags": dict(tags or {}), "transitive": list(transitive or []),
            "source_identity": source_identity, "issued": issued,
            "user_id": f"{role['RoleId']}:{session_name}", "chained": chained, **extra}


def create_session(db: Database, account: str, data: dict[str, Any],
                   duration: int) -> dict[str, Any]:
    key, secret = new_id("temporary_key", 20), new_secret()
    token = "IQoJb3JpZ2luX2VjE" + new_secret() + new_secret() + new_secret()
    now = time.time()
    expires = now + duration
    db.execute("INSERT INTO sessions(access_key_id, secret, token, account, data, expires, "
               "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (key, secret, token, account, json.dumps(data), expires, now))
    return {"AccessKeyId": key, "SecretAccessKey": secret, "SessionToken": token,
            "Expiration": expires}


def touch_key(db: Database, access_key_id: str, service: str, region: str) -> None:
    db.execute("UPDATE access_keys SET last_used=?, last_used_service=?, last_used_region=? "
               "WHERE access_key_id=?", (time.time(), service, region, access_key_id))
