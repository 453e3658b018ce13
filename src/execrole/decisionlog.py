"""Queries over the decision log (the `decisions` table), shared by `execrole log` and the
console's decision log page, so both filter and report an entry the same way.

An entry is one authorization decision: time, request id, principal, action, resource,
decision (allow | implicit_deny | explicit_deny), the layers that denied, the matched
statements, AWS's AccessDenied message and its source ("api", or the SageMaker resource's
ARN for decisions taken on a job's behalf).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DECISIONS = ("allow", "implicit_deny", "explicit_deny", "deny")  # "deny": either denial
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Filters:
    """What to select; empty values select everything."""

    principal: str = ""  # substring of the principal ARN
    action: str = ""  # exact, case-insensitive (IAM actions are)
    resource: str = ""  # substring of the resource ARN
    decision: str = ""  # one of DECISIONS
    since: float | None = None  # epoch seconds
    job: str = ""  # a SageMaker resource's ARN, or its name
    account: str | None = None  # the caller's account (the console shows only its own)
    before: int | None = None  # entries older than this id (the console's page cursor)


def parse_since(text: str, now: float | None = None) -> float:
    """An age (30s, 10m, 2h, 1d) or an ISO 8601 time, as epoch seconds; ValueError else."""
    text = text.strip()
    if text and text[-1] in _UNITS and text[:-1].isdigit():
        return (time.time() if now is None else now) - int(text[:-1]) * _UNITS[text[-1]]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"since wants an ISO 8601 time or an age like 10m, not {text!r}") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _like(text: str) -> str:
    """A LIKE pattern for a substring: the user's % and _ are literal."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where(filters: Filters) -> tuple[str, list[object]]:
    """The WHERE clause (with its leading keyword, or empty) and its values."""
    clauses: list[str] = []
    values: list[object] = []
    if filters.account is not None:
        clauses.append("account = ?")
        values.append(filters.account)
    if filters.principal:
        clauses.append("principal LIKE ? ESCAPE '\\'")
        values.append(_like(filters.principal))
    if filters.action:
        clauses.append("lower(action) = lower(?)")
        values.append(filters.action)
    if filters.resource:
        clauses.append("resource LIKE ? ESCAPE '\\'")
        values.append(_like(filters.resource))
    if filters.decision == "deny":
        clauses.append("decision != 'allow'")
    elif filters.decision:
        clauses.append("decision = ?")
        values.append(filters.decision)
    if filters.since is not None:
        clauses.append("time >= ?")
        values.append(filters.since)
    if filters.job:
        # Sources are resource ARNs; SageMaker writes the name lower-cased in them.
        clauses.append("(source = ? OR source LIKE ?)")
        values += [filters.job, f"arn:aws:sagemaker:%/{filters.job.lower()}"]
    if filters.before is not None:
        clauses.append("id < ?")
        values.append(filters.before)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), values


def query(db: Any, filters: Filters, limit: int) -> list[Any]:
    """The newest `limit` matching rows, newest first (the id is the insertion order)."""
    clause, values = where(filters)
    rows: list[Any] = db.query(f"SELECT * FROM decisions{clause} ORDER BY id DESC LIMIT ?",
                               (*values, limit))
    return rows


def entry(row: Any) -> dict[str, Any]:
    """A row as `execrole log --json` prints it."""
    return {"time": datetime.fromtimestamp(row["time"], UTC).isoformat(timespec="milliseconds"),
            "request_id": row["request_id"], "principal": row["principal"],
            "action": row["action"], "resource": row["resource"], "decision": row["decision"],
            "denied_by": json.loads(row["denied_by"]),
            "statements": json.loads(row["statements"]), "message": row["message"],
            "source": row["source"]}
