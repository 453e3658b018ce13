"""CloudWatch metrics: PutMetricData, ListMetrics, GetMetricData, GetMetricStatistics —
enough for SageMaker's training metrics (CloudWatch API reference, via botocore's model).
PutMetricData takes at most 1,000 datums; a namespace may not start with "AWS/"."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from ..store import Database
from .base import AWSError, Call

MAX_DATUMS = 1000
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def _dims(dimensions: list[dict[str, str]] | None) -> str:
    return json.dumps(sorted(({"Name": d["Name"], "Value": d["Value"]}
                              for d in dimensions or []), key=lambda d: d["Name"]))


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _stat(values: list[float], stat: str) -> float:
    if stat == "SampleCount":
        return float(len(values))
    if stat == "Sum":
        return math.fsum(values)
    if stat == "Minimum":
        return min(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Average":
        return math.fsum(values) / len(values)
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = float(stat[1:]) / 100 * (len(ordered) - 1)
        return ordered[round(rank)]
    raise AWSError("InvalidParameterValue", f"The value {stat} for parameter Stat is not "
                   "valid.", 400)


class CloudWatchService:
    name = "cloudwatch"

    def __init__(self, db: Database) -> None:
        self.db = db

    def PutMetricData(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        namespace = p["Namespace"]
        if namespace.startswith("AWS/"):
            raise AWSError("InvalidParameterValue", "The value AWS/ for parameter Namespace "
                           "is invalid.", 400)
        data = p.get("MetricData") or []
        if len(data) > MAX_DATUMS:
            raise AWSError("InvalidParameterValue", "The collection MetricData must not have a "
                           f"size greater than {MAX_DATUMS}.", 400)
        rows = []
        now = datetime.now(UTC).timestamp()
        for datum in data:
            stamp = _epoch(datum["Timestamp"]) if datum.get("Timestamp") else now
            values = list(datum.get("Values") or [])
            counts = list(datum.get("Counts") or [1.0] * len(values))
            if "Value" in datum:
                values, counts = [datum["Value"]], [1.0]
            for value, count in zip(values, counts, strict=False):
                for _ in range(max(1, int(count))):
                    rows.append((call.caller.account, call.region, namespace,
                                 datum["MetricName"], _dims(datum.get("Dimensions")), stamp,
                                 float(value), datum.get("Unit")))
        with self.db.transaction() as conn:
            conn.executemany("INSERT INTO metric_data(account, region, namespace, metric, "
                             "dimensions, timestamp, value, unit) VALUES (?,?,?,?,?,?,?,?)", rows)
        return {}

    def ListMetrics(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        rows = self.db.query("SELECT DISTINCT namespace, metric, dimensions FROM metric_data "
                             "WHERE account=? AND region=? ORDER BY namespace, metric",
                             (call.caller.account, call.region))
        wanted = {(d["Name"], d.get("Value")) for d in p.get("Dimensions") or []}
        metrics = []
        for r in rows:
            if p.get("Namespace") and r["namespace"] != p["Namespace"]:
                continue
            if p.get("MetricName") and r["metric"] != p["MetricName"]:
                continue
            dims = json.loads(r["dimensions"])
            have = {(d["Name"], d["Value"]) for d in dims} | {(d["Name"], None) for d in dims}
            if not wanted <= have:
                continue
            metrics.append({"Namespace": r["namespace"], "MetricName": r["metric"],
                            "Dimensions": dims})
        return {"Metrics": metrics}

    def _points(self, call: Call, metric: dict[str, Any], start: float,
                end: float) -> list[Any]:
        return self.db.query(
            "SELECT timestamp, value FROM metric_data WHERE account=? AND region=? AND "
            "namespace=? AND metric=? AND dimensions=? AND timestamp>=? AND timestamp<? "
            "ORDER BY timestamp", (call.caller.account, call.region, metric["Namespace"],
                                   metric["MetricName"], _dims(metric.get("Dimensions")),
                                   start, end))

    def GetMetricData(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        start, end = _epoch(p["StartTime"]), _epoch(p["EndTime"])
        results = []
        for query in p["MetricDataQueries"]:
            stat = query.get("MetricStat")
            if stat is None:
                raise AWSError("InvalidParameterValue", "execrole evaluates MetricStat "
                               "queries only; metric math Expressions are not supported.", 400)
            period = stat["Period"]
            buckets: dict[float, list[float]] = {}
            for r in self._points(call, stat["Metric"], start, end):
                slot = start + ((r["timestamp"] - start) // period) * period
                buckets.setdefault(slot, []).append(r["value"])
            order = sorted(buckets, reverse=p.get("ScanBy") != "TimestampAscending")
            results.append({
                "Id": query["Id"], "Label": query.get("Label") or stat["Metric"]["MetricName"],
                "Timestamps": [datetime.fromtimestamp(t, UTC) for t in order],
                "Values": [_stat(buckets[t], stat["Stat"]) for t in order],
                "StatusCode": "Complete"})
        return {"MetricDataResults": results, "Messages": []}

    def GetMetricStatistics(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        start, end, period = _epoch(p["StartTime"]), _epoch(p["EndTime"]), p["Period"]
        metric = {"Namespace": p["Namespace"], "MetricName": p["MetricName"],
                  "Dimensions": p.get("Dimensions")}
        buckets: dict[float, list[float]] = {}
        for r in self._points(call, metric, start, end):
            slot = start + ((r["timestamp"] - start) // period) * period
            buckets.setdefault(slot, []).append(r["value"])
        points = []
        for slot in sorted(buckets):
            point: dict[str, Any] = {"Timestamp": datetime.fromtimestamp(slot, UTC)}
            for stat in p.get("Statistics") or []:
                point[stat] = _stat(buckets[slot], stat)
            for stat in p.get("ExtendedStatistics") or []:
                point.setdefault("ExtendedStatistics", {})[stat] = _stat(buckets[slot], stat)
            if p.get("Unit"):
                point["Unit"] = p["Unit"]
            points.append(point)
        return {"Label": p["MetricName"], "Datapoints": points}
