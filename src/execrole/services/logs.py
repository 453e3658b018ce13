"""The CloudWatch Logs provider: log groups, log streams, PutLogEvents, GetLogEvents,
FilterLogEvents, DescribeLogGroups/Streams — what SageMaker jobs write and the SDK and
`aws logs tail` read.

Rules and messages from the CloudWatch Logs API reference (botocore's logs model documents
them): PutLogEvents batches hold at most 10,000 events and 1,048,576 bytes (each event's
UTF-8 size plus 26 bytes), must be in chronological order and span at most 24 hours; events
more than 2 hours in the future or older than 14 days (or the group's retention) are
rejected by index range; GetLogEvents pages with forward ("f/...") and backward ("b/...")
tokens and, unless startFromHead, returns the most recent events.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from typing import Any

from ..store import Database
from .base import AWSError, Call

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
DAY_MS = 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
TOO_OLD_MS = 14 * DAY_MS
RETENTION_DAYS = frozenset({1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                            1096, 1827, 2192, 2557, 2922, 3288, 3653})
_GROUP_NAME = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")
_STREAM_NAME = re.compile(r"^[^:*]{1,512}$")


def _now_ms() -> int:
    return int(time.time() * 1000)


def not_found(what: str) -> AWSError:
    return AWSError("ResourceNotFoundException", f"The specified {what} does not exist.", 400)


def invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterException", message, 400)


def _token(kind: str, value: int) -> str:
    return f"{kind}/{value:056d}"


def _read_token(token: str) -> tuple[str, int]:
    kind, _, number = token.partition("/")
    if kind not in ("f", "b") or not number.isdigit():
        raise invalid("The specified nextToken is invalid.")
    return kind, int(number)


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
    except (ValueError, KeyError, TypeError):
        raise invalid("The specified nextToken is invalid.") from None


class LogsService:
    name = "logs"

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- groups -------------------------------------------------------------------------

    def _group(self, call: Call, name: str) -> Any:
        row = self.db.one("SELECT * FROM log_groups WHERE account=? AND region=? AND name=?",
                          (call.caller.account, call.region, name))
        if row is None:
            raise not_found("log group")
        return row

    def _group_name(self, p: dict[str, Any]) -> str:
        name = p.get("logGroupName") or p.get("logGroupIdentifier")
        if not name:
            raise invalid("Either logGroupName or logGroupIdentifier must be specified.")
        name = str(name)
        if name.startswith("arn:"):
            name = name.split(":log-group:", 1)[-1].removesuffix(":*")
        return name

    def CreateLogGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["logGroupName"]
        if not _GROUP_NAME.match(name):
            raise invalid(f"1 validation error detected: Value '{name}' at 'logGroupName' "
                          "failed to satisfy constraint: Member must satisfy regular "
                          "expression pattern: [\\.\\-_/#A-Za-z0-9]+")
        with self.db.transaction() as conn:
            exists = conn.execute("SELECT 1 FROM log_groups WHERE account=? AND region=? AND "
                                  "name=?", (call.caller.account, call.region, name)).fetchone()
            if exists:
                raise AWSError("ResourceAlreadyExistsException",
                               "The specified log group already exists", 400)
            conn.execute("INSERT INTO log_groups(account, region, name, created, kms_key_id, "
                         "tags) VALUES (?, ?, ?, ?, ?, ?)",
                         (call.caller.account, call.region, name, _now_ms(),
                          p.get("kmsKeyId"), json.dumps(p.get("tags") or {})))
        return {}

    def DeleteLogGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["logGroupName"]
        self._group(call, name)
        key = (call.caller.account, call.region, name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM log_events WHERE account=? AND region=? AND log_group=?",
                         key)
            conn.execute("DELETE FROM log_streams WHERE account=? AND region=? AND "
                         "log_group=?", key)
            conn.execute("DELETE FROM log_groups WHERE account=? AND region=? AND name=?", key)
        return {}

    def PutRetentionPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        days = p["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' "
                          "failed to satisfy constraint: Member must satisfy enum value set: "
                          f"[{', '.join(str(d) for d in sorted(RETENTION_DAYS))}]")
        self._group(call, p["logGroupName"])
        self.db.execute("UPDATE log_groups SET retention_days=? WHERE account=? AND region=? "
                        "AND name=?", (days, call.caller.account, call.region,
                                       p["logGroupName"]))
        return {}

    def DescribeLogGroups(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("logGroupNamePrefix") or ""
        pattern = p.get("logGroupNamePattern")
        limit = p.get("limit") or 50
        rows = self.db.query("SELECT * FROM log_groups WHERE account=? AND region=? ORDER BY "
                             "name", (call.caller.account, call.region))
        groups = [r for r in rows if r["name"].startswith(prefix)
                  and (not pattern or pattern.lower() in r["name"].lower())]
        offset = _page_offset(p.get("nextToken"))
        page = groups[offset:offset + limit]
        out: dict[str, Any] = {"logGroups": [self._group_out(call, r) for r in page]}
        if offset + limit < len(groups):
            out["nextToken"] = _page_token(offset + limit)
        return out

    def _group_out(self, call: Call, r: Any) -> dict[str, Any]:
        arn = f"arn:aws:logs:{call.region}:{call.caller.account}:log-group:{r['name']}"
        stored = self.db.one("SELECT COALESCE(SUM(stored_bytes), 0) AS n FROM log_streams "
                             "WHERE account=? AND region=? AND log_group=?",
                             (call.caller.account, call.region, r["name"]))
        out: dict[str, Any] = {"logGroupName": r["name"], "creationTime": r["created"],
                               "metricFilterCount": 0, "arn": arn + ":*",
                               "logGroupArn": arn, "storedBytes": stored["n"] if stored else 0,
                               "logGroupClass": "STANDARD"}
        if r["retention_days"]:
            out["retentionInDays"] = r["retention_days"]
        if r["kms_key_id"]:
            out["kmsKeyId"] = r["kms_key_id"]
        return out

    # --- streams ------------------------------------------------------------------------

    def _stream(self, call: Call, group: str, name: str) -> Any:
        row = self.db.one("SELECT * FROM log_streams WHERE account=? AND region=? AND "
                          "log_group=? AND name=?",
                          (call.caller.account, call.region, group, name))
        if row is None:
            raise not_found("log stream")
        return row

    def CreateLogStream(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group, name = p["logGroupName"], p["logStreamName"]
        if not _STREAM_NAME.match(name):
            raise invalid(f"1 validation error detected: Value '{name}' at 'logStreamName' "
                          "failed to satisfy constraint: Member must satisfy regular "
                          "expression pattern: [^:*]*")
        with self.db.transaction() as conn:
            self._group(call, group)
            if conn.execute("SELECT 1 FROM log_streams WHERE account=? AND region=? AND "
                            "log_group=? AND name=?",
                            (call.caller.account, call.region, group, name)).fetchone():
                raise AWSError("ResourceAlreadyExistsException",
                               "The specified log stream already exists", 400)
            conn.execute("INSERT INTO log_streams(account, region, log_group, name, created) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (call.caller.account, call.region, group, name, _now_ms()))
        return {}

    def DeleteLogStream(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group, name = p["logGroupName"], p["logStreamName"]
        self._stream(call, group, name)
        key = (call.caller.account, call.region, group, name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM log_events WHERE account=? AND region=? AND log_group=? "
                         "AND log_stream=?", key)
            conn.execute("DELETE FROM log_streams WHERE account=? AND region=? AND "
                         "log_group=? AND name=?", key)
        return {}

    def DescribeLogStreams(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(p)
        self._group(call, group)
        prefix = p.get("logStreamNamePrefix")
        order = p.get("orderBy") or "LogStreamName"
        if prefix and order == "LastEventTime":
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = p.get("limit") or 50
        rows = self.db.query("SELECT * FROM log_streams WHERE account=? AND region=? AND "
                             "log_group=?", (call.caller.account, call.region, group))
        streams = [r for r in rows if not prefix or r["name"].startswith(prefix)]
        if order == "LastEventTime":
            streams.sort(key=lambda r: (r["last_event"] or 0, r["name"]))
        else:
            streams.sort(key=lambda r: r["name"])
        if p.get("descending"):
            streams.reverse()
        offset = _page_offset(p.get("nextToken"))
        page = streams[offset:offset + limit]
        out: dict[str, Any] = {"logStreams": [self._stream_out(call, group, r) for r in page]}
        if offset + limit < len(streams):
            out["nextToken"] = _page_token(offset + limit)
        return out

    def _stream_out(self, call: Call, group: str, r: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "logStreamName": r["name"], "creationTime": r["created"],
            "arn": f"arn:aws:logs:{call.region}:{call.caller.account}:log-group:{group}:"
                   f"log-stream:{r['name']}",
            "storedBytes": r["stored_bytes"]}
        if r["first_event"] is not None:
            out.update(firstEventTimestamp=r["first_event"], lastEventTimestamp=r["last_event"],
                       lastIngestionTime=r["last_ingestion"],
                       uploadSequenceToken=str(r["last_ingestion"]))
        return out

    # --- events -------------------------------------------------------------------------

    def PutLogEvents(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group, name = p["logGroupName"], p["logStreamName"]
        events = p["logEvents"]
        if not events:
            raise invalid("1 validation error detected: Value '[]' at 'logEvents' failed to "
                          "satisfy constraint: Member must have length greater than or equal "
                          "to 1")
        if len(events) > MAX_BATCH_EVENTS:
            raise invalid(f"1 validation error detected: Value at 'logEvents' failed to "
                          f"satisfy constraint: Member must have length less than or equal to "
                          f"{MAX_BATCH_EVENTS}")
        size = sum(len(e["message"].encode()) + EVENT_OVERHEAD for e in events)
        if size > MAX_BATCH_BYTES:
            raise invalid("Upload too large: " + f"{size} bytes exceeds limit of "
                          f"{MAX_BATCH_BYTES}")
        stamps = [int(e["timestamp"]) for e in events]
        if any(b < a for a, b in itertools.pairwise(stamps)):
            raise invalid("Log events in a single PutLogEvents request must be in "
                          "chronological order.")
        if stamps[-1] - stamps[0] > DAY_MS:
            raise invalid("The batch of log events in a single PutLogEvents request cannot "
                          "span more than 24 hours.")
        group_row = self._group(call, group)
        self._stream(call, group, name)
        now = _now_ms()
        oldest = now - (group_row["retention_days"] * DAY_MS if group_row["retention_days"]
                        else TOO_OLD_MS)
        too_old = [i for i, t in enumerate(stamps) if t < oldest]
        too_new = [i for i, t in enumerate(stamps) if t > now + TOO_NEW_MS]
        accepted = [(t, e["message"]) for i, (t, e) in enumerate(zip(stamps, events, strict=True))
                    if t >= oldest and t <= now + TOO_NEW_MS]
        key = (call.caller.account, call.region, group, name)
        with self.db.transaction() as conn:
            conn.executemany("INSERT INTO log_events(account, region, log_group, log_stream, "
                             "timestamp, ingestion, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(*key, t, now, m) for t, m in accepted])
            if accepted:
                conn.execute(
                    "UPDATE log_streams SET first_event=MIN(COALESCE(first_event, ?), ?), "
                    "last_event=MAX(COALESCE(last_event, ?), ?), last_ingestion=?, "
                    "stored_bytes=stored_bytes+? WHERE account=? AND region=? AND log_group=? "
                    "AND name=?",
                    (accepted[0][0], accepted[0][0], accepted[-1][0], accepted[-1][0], now,
                     sum(len(m.encode()) for _, m in accepted), *key))
        out: dict[str, Any] = {"nextSequenceToken": f"{now:056d}"}
        rejected: dict[str, int] = {}
        if too_old:
            rejected["tooOldLogEventEndIndex"] = too_old[-1] + 1
        if too_new:
            rejected["tooNewLogEventStartIndex"] = too_new[0]
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    def GetLogEvents(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(p)
        name = p["logStreamName"]
        self._group(call, group)
        self._stream(call, group, name)
        limit = min(p.get("limit") or 10_000, 10_000)
        start, end = p.get("startTime"), p.get("endTime")
        where = "account=? AND region=? AND log_group=? AND log_stream=?"
        args: list[Any] = [call.caller.account, call.region, group, name]
        if start is not None:
            where += " AND timestamp >= ?"
            args.append(int(start))
        if end is not None:
            where += " AND timestamp < ?"
            args.append(int(end))
        rows = self.db.query(f"SELECT id, timestamp, ingestion, message FROM log_events "
                             f"WHERE {where} ORDER BY timestamp, id", tuple(args))
        # Positions in the stream's ordered events: tokens point between two of them.
        token = p.get("nextToken")
        if token:
            kind, position = _read_token(token)
            forward = kind == "f"
        else:
            forward = bool(p.get("startFromHead"))
            position = 0 if forward else len(rows)
        position = max(0, min(position, len(rows)))
        if forward:
            page = rows[position:position + limit]
            first, last = position, position + len(page)
        else:
            page = rows[max(0, position - limit):position]
            first, last = max(0, position - limit), position
        return {"events": [{"timestamp": r["timestamp"], "message": r["message"],
                            "ingestionTime": r["ingestion"]} for r in page],
                "nextForwardToken": _token("f", last),
                "nextBackwardToken": _token("b", first)}

    def FilterLogEvents(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(p)
        self._group(call, group)
        names = p.get("logStreamNames")
        prefix = p.get("logStreamNamePrefix")
        if names and prefix:
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive")
        where = "account=? AND region=? AND log_group=?"
        args: list[Any] = [call.caller.account, call.region, group]
        if p.get("startTime") is not None:
            where += " AND timestamp >= ?"
            args.append(int(p["startTime"]))
        if p.get("endTime") is not None:
            where += " AND timestamp <= ?"
            args.append(int(p["endTime"]))
        offset = _page_offset(p.get("nextToken"))
        limit = min(p.get("limit") or 10_000, 10_000)
        rows = self.db.query(f"SELECT id, log_stream, timestamp, ingestion, message FROM "
                             f"log_events WHERE {where} ORDER BY timestamp, id", tuple(args))
        terms = _filter_terms(p.get("filterPattern") or "")
        matched = [r for r in rows
                   if (not names or r["log_stream"] in names)
                   and (not prefix or r["log_stream"].startswith(prefix))
                   and all(t in r["message"] for t in terms)]
        page = matched[offset:offset + limit]
        out: dict[str, Any] = {
            "events": [{"logStreamName": r["log_stream"], "timestamp": r["timestamp"],
                        "message": r["message"], "ingestionTime": r["ingestion"],
                        "eventId": f"{r['id']:056d}"} for r in page],
            "searchedLogStreams": []}
        if offset + limit < len(matched):
            out["nextToken"] = _page_token(offset + limit)
        return out


def _filter_terms(pattern: str) -> list[str]:
    """Plain-term filter patterns: every term must occur (quoted terms taken whole)."""
    pattern = pattern.strip()
    if not pattern:
        return []
    return [q or w for q, w in re.findall(r'"([^"]*)"|(\S+)', pattern)]
