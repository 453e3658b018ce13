"""Storage and listing shared by every SageMaker resource kind: one JSON document per
resource in `sagemaker_resources`, keyed by (account, region, kind, lower-cased name).

List operations follow the SageMaker API reference (botocore's sagemaker model):
`NameContains` (case-insensitive substring), `StatusEquals`, `CreationTimeAfter/Before`,
`LastModifiedTimeAfter/Before`, `SortBy` (Name | CreationTime | Status, default
CreationTime), `SortOrder` (default Descending), `MaxResults` (default 10) and an opaque
`NextToken`. Times are stored as epoch seconds and returned as datetimes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...store import Database
from ..base import AWSError, Call

TIME_KEYS = ("CreationTime", "LastModifiedTime", "TrainingStartTime", "TrainingEndTime",
             "ProcessingStartTime", "ProcessingEndTime", "HyperParameterTuningEndTime",
             "EndTime", "StartTime", "FailureTime", "LastModifiedDate", "CreatedDate")


def validation(message: str) -> AWSError:
    return AWSError("ValidationException", message, 400)


def not_found(message: str) -> AWSError:
    return AWSError("ResourceNotFound", message, 400)


def in_use(message: str) -> AWSError:
    return AWSError("ResourceInUse", message, 400)


def resource_arn(call: Call, kind: str, name: str) -> str:
    """SageMaker lower-cases resource names in ARNs."""
    return f"arn:aws:sagemaker:{call.region}:{call.caller.account}:{kind}/{name.lower()}"


def as_datetimes(value: Any) -> Any:
    """A stored document as the wire shows it: epoch seconds under time keys -> datetimes."""
    if isinstance(value, dict):
        return {k: (datetime.fromtimestamp(v, UTC) if k in TIME_KEYS
                    and isinstance(v, (int, float)) else as_datetimes(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [as_datetimes(v) for v in value]
    return value


def described(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document as a Describe call answers it: without execrole's hidden keys
    (`_...`) and the tags (ListTags has them), times as datetimes."""
    return dict(as_datetimes({k: v for k, v in doc.items()
                              if not k.startswith("_") and k != "Tags"}))


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["o"]
        if isinstance(value, int) and value >= 0:
            return value
    except (ValueError, KeyError, TypeError):
        pass
    raise validation("Invalid pagination token.")


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class Resources:
    """The resources of one kind ("training-job", "model", "notebook-instance", ...)."""

    def __init__(self, db: Database, kind: str) -> None:
        self.db = db
        self.kind = kind

    def get(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT data FROM sagemaker_resources WHERE account=? AND region=? "
                          "AND kind=? AND name_key=?", (account, region, self.kind,
                                                        name.lower()))
        return None if row is None else dict(json.loads(row["data"]))

    def of(self, call: Call, name: str) -> dict[str, Any] | None:
        return self.get(call.caller.account, call.region, name)

    def by_arn(self, arn: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT data FROM sagemaker_resources WHERE arn=? AND kind=?",
                          (arn, self.kind))
        return None if row is None else dict(json.loads(row["data"]))

    def create(self, call: Call, name: str, arn: str, data: dict[str, Any]) -> bool:
        """Store a new resource; False when one of that name exists already."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO sagemaker_resources(account, region, kind, name_key, "
                "arn, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (call.caller.account, call.region, self.kind, name.lower(), arn,
                 time.time(), json.dumps(data)))
            return cur.rowcount == 1

    def update(self, arn: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        """Apply `change` to the stored document atomically; the new document, or None."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT data FROM sagemaker_resources WHERE arn=? AND kind=?",
                               (arn, self.kind)).fetchone()
            if row is None:
                return None
            data = dict(json.loads(row["data"]))
            change(data)
            conn.execute("UPDATE sagemaker_resources SET data=? WHERE arn=? AND kind=?",
                         (json.dumps(data), arn, self.kind))
            return data

    def delete(self, call: Call, name: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM sagemaker_resources WHERE account=? AND region=? "
                               "AND kind=? AND name_key=?", (call.caller.account, call.region,
                                                            self.kind, name.lower()))
            return cur.rowcount == 1

    def all(self, account: str | None = None, region: str | None = None
            ) -> list[dict[str, Any]]:
        sql, args = "SELECT data FROM sagemaker_resources WHERE kind=?", [self.kind]
        if account is not None:
            sql += " AND account=?"
            args.append(account)
        if region is not None:
            sql += " AND region=?"
            args.append(region)
        return [json.loads(r["data"]) for r in self.db.query(sql, tuple(args))]

    def listing(self, call: Call, p: Mapping[str, Any], *, name_key: str, list_key: str,
                summary: Callable[[dict[str, Any]], dict[str, Any]],
                status_key: str | None = None,
                extra: Callable[[dict[str, Any]], bool] | None = None,
                sort_keys: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A List* answer: filtered, sorted, paginated summaries."""
        items = self.all(call.caller.account, call.region)
        needle = str(p.get("NameContains") or "").lower()
        bounds = [(key, _epoch(p.get(f"{param}After")), _epoch(p.get(f"{param}Before")))
                  for key, param in (("CreationTime", "CreationTime"),
                                     ("LastModifiedTime", "LastModifiedTime"))]

        def keep(item: dict[str, Any]) -> bool:
            if needle and needle not in str(item.get(name_key, "")).lower():
                return False
            if status_key and p.get("StatusEquals") and item.get(status_key) != \
                    p["StatusEquals"]:
                return False
            for key, after, before in bounds:
                value = item.get(key)
                if after is not None and (value is None or value <= after):
                    return False
                if before is not None and (value is None or value >= before):
                    return False
            return extra is None or extra(item)

        items = [item for item in items if keep(item)]
        keys = {"Name": name_key, "CreationTime": "CreationTime"}
        if status_key:
            keys["Status"] = status_key
        keys.update(sort_keys or {})
        sort_by = keys.get(str(p.get("SortBy") or "CreationTime"), "CreationTime")
        items.sort(key=lambda i: (i.get(sort_by) is None, i.get(sort_by) or 0),
                   reverse=(p.get("SortOrder") or "Descending") == "Descending")
        return paginate([summary(i) for i in items], p, list_key)


def paginate(items: list[dict[str, Any]], p: Mapping[str, Any], list_key: str,
             default_limit: int = 10) -> dict[str, Any]:
    """One page of `items`: `MaxResults` of them (default 10) from the opaque `NextToken`,
    and the token of the next page when there is one."""
    start = _offset(p.get("NextToken"))
    limit = int(p.get("MaxResults") or default_limit)
    out: dict[str, Any] = {list_key: as_datetimes(items[start:start + limit])}
    if start + limit < len(items):
        out["NextToken"] = _token(start + limit)
    return out


def pick(source: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: source[k] for k in keys if k in source and source[k] is not None}
