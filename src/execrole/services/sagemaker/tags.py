"""AddTags, ListTags, DeleteTags on any SageMaker resource, by ARN (SageMaker API reference:
at most 50 tags per resource; a key may appear once)."""

from __future__ import annotations

import json
from typing import Any

from ..base import Call
from .resources import validation
from .service import Base

MAX_TAGS = 50


class Tags(Base):
    def _tagged(self, arn: str) -> str:
        row = self.db.one("SELECT kind FROM sagemaker_resources WHERE arn=?", (arn,))
        if row is None:
            raise validation(f"Resource {arn} does not exist.") if arn.startswith(
                "arn:aws:sagemaker:") else validation(f"Invalid ARN: {arn}")
        return str(row["kind"])

    def _retag(self, arn: str, change: Any) -> None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT data FROM sagemaker_resources WHERE arn=?",
                               (arn,)).fetchone()
            data = json.loads(row["data"])
            data["Tags"] = change(list(data.get("Tags") or []))
            conn.execute("UPDATE sagemaker_resources SET data=? WHERE arn=?",
                         (json.dumps(data), arn))

    def AddTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["ResourceArn"]
        self._tagged(arn)
        new = {t["Key"]: t.get("Value", "") for t in p["Tags"]}

        def change(tags: list[dict[str, str]]) -> list[dict[str, str]]:
            merged = {t["Key"]: t["Value"] for t in tags} | new
            if len(merged) > MAX_TAGS:
                raise validation(f"Tag limit exceeded. Resources can have at most {MAX_TAGS} "
                                 "tags.")
            return [{"Key": k, "Value": v} for k, v in merged.items()]

        self._retag(arn, change)
        return {"Tags": [{"Key": k, "Value": v} for k, v in new.items()]}

    def DeleteTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["ResourceArn"]
        self._tagged(arn)
        gone = set(p["TagKeys"])
        self._retag(arn, lambda tags: [t for t in tags if t["Key"] not in gone])
        return {}

    def ListTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["ResourceArn"]
        self._tagged(arn)
        row = self.db.one("SELECT data FROM sagemaker_resources WHERE arn=?", (arn,))
        tags = list(json.loads(row["data"]).get("Tags") or []) if row else []
        start = int(p.get("NextToken") or 0) if str(p.get("NextToken") or "0").isdigit() else 0
        limit = int(p.get("MaxResults") or 50)
        out: dict[str, Any] = {"Tags": tags[start:start + limit]}
        if start + limit < len(tags):
            out["NextToken"] = str(start + limit)
        return out
