"""IAM users' access keys (two per user; reference_iam-quotas.md) and their last use."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ..base import AWSError, Call, limit_exceeded, new_id, new_secret, no_such_entity
from .common import IAMBase, paginate

MAX_KEYS = 2


class KeyOperations(IAMBase):
    def _key_owner(self, call: Call, p: dict[str, Any]) -> str | None:
        """The user the operation is about; None means the root user (root's own keys).
        Callers that are neither a user nor the root user must name the user."""
        name: str | None = p.get("UserName") or call.caller.user_name
        if name:
            self._get(self.account(call), "user", name)
            return name
        if not call.caller.is_root:
            raise AWSError("ValidationError", "Must specify userName when calling with "
                           "non-User credentials")
        return None

    def CreateAccessKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account, user = self.account(call), self._key_owner(call, p)
        count = self.db.one("SELECT COUNT(*) AS n FROM access_keys WHERE account=? AND "
                            "user_name IS ?", (account, user))
        if count is not None and count["n"] >= MAX_KEYS:
            raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
        key, secret = new_id("access_key", 20), new_secret()
        now = time.time()
        self.db.execute("INSERT INTO access_keys(access_key_id, secret, account, user_name, "
                        "created) VALUES (?, ?, ?, ?, ?)", (key, secret, account, user, now))
        return {"AccessKey": {"UserName": user or "", "AccessKeyId": key, "Status": "Active",
                              "SecretAccessKey": secret,
                              "CreateDate": datetime.fromtimestamp(int(now), UTC)}}

    def ListAccessKeys(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account, user = self.account(call), self._key_owner(call, p)
        rows = self.db.query("SELECT * FROM access_keys WHERE account=? AND user_name IS ? "
                             "ORDER BY created", (account, user))
        keys = [{"UserName": user or "", "AccessKeyId": r["access_key_id"],
                 "Status": r["status"],
                 "CreateDate": datetime.fromtimestamp(int(r["created"]), UTC)} for r in rows]
        return paginate(keys, p, "AccessKeyMetadata", lambda k: k["AccessKeyId"])

    def _key_row(self, call: Call, p: dict[str, Any]) -> Any:
        account, user = self.account(call), self._key_owner(call, p)
        row = self.db.one("SELECT * FROM access_keys WHERE access_key_id=? AND account=? AND "
                          "user_name IS ?", (p["AccessKeyId"], account, user))
        if row is None:
            raise no_such_entity(f"The Access Key with id {p['AccessKeyId']} cannot be found")
        return row

    def UpdateAccessKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        row = self._key_row(call, p)
        self.db.execute("UPDATE access_keys SET status=? WHERE access_key_id=?",
                        (p["Status"], row["access_key_id"]))
        return {}

    def DeleteAccessKey(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        row = self._key_row(call, p)
        self.db.execute("DELETE FROM access_keys WHERE access_key_id=?", (row["access_key_id"],))
        return {}

    def GetAccessKeyLastUsed(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        row = self.db.one("SELECT * FROM access_keys WHERE access_key_id=?",
                          (p["AccessKeyId"],))
        if row is None or row["account"] != self.account(call):
            raise AWSError("AccessDenied", "Access denied.", 403)
        last: dict[str, Any] = {"ServiceName": row["last_used_service"] or "N/A",
                                "Region": row["last_used_region"] or "N/A"}
        if row["last_used"]:
            last["LastUsedDate"] = datetime.fromtimestamp(int(row["last_used"]), UTC)
        return {"UserName": row["user_name"] or "", "AccessKeyLastUsed": last}
