"""AddTags, ListTags, DeleteTags on any SageMaker resource, by ARN (SageMaker API reference:
at most 50 tags per resource; a key may appear once)."""

from __future__ import annotations

import json
from typing import Any

from ..base import Call
from .resources import paginate, validation
from .service import Base

MAX_TAGS = 50


class Tags(Base):
    def tags_of(self, arn: str) -> list[dict[str, str]]:
        # Only the tags, read by SQLite: this runs for every authorization of a resource.
        row = self.db.one("SELECT json_extract(data, '$.Tags') AS tags FROM "
                          "sagemaker_resources WHERE arn=?", (arn,))
        return [] if row is None or not row["tags"] else list(json.loads(row["tags"]))

    def _tagged(self, arn: str) -> None:
        """The resource must exist (and the ARN be SageMaker's)."""
        if not arn.startswith("arn:aws:sagemaker:"):
            raise validation(f"Invalid ARN: {arn}")
        if self.db.one("SELECT 1 FROM sagemaker_resources WHERE arn=?", (arn,)) is None:
            raise validation(f"Resource {arn} does not exist.")

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
        return paginate(self.tags_of(arn), p, "Tags", default_limit=MAX_TAGS)
