"""The SageMaker provider (issue 6, first part): models, with the synchronous checks every
Create call that passes a role makes (checks.py). Jobs and their runtime come next.

Messages follow the SageMaker API reference (botocore's sagemaker model documents the
operations; the texts are SageMaker's as users report them): `Cannot create already existing
model "<arn>".`, `Could not find model "<arn>".`
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...store import Database
from ..authz import AccessControl
from ..base import Call
from .checks import RoleChecks, validation

# Create APIs served so far, and the resources they make (the ARN's resource type).
KIND = {"CreateModel": "model"}


def resource_arn(call: Call, kind: str, name: str) -> str:
    # SageMaker lower-cases resource names in ARNs.
    return f"arn:aws:sagemaker:{call.region}:{call.caller.account}:{kind}/{name.lower()}"


class SageMakerService:
    name = "sagemaker"

    def __init__(self, db: Database, access: AccessControl) -> None:
        self.db = db
        self.access = access
        self.peers: Mapping[str, Any] = {}
        self.checks = RoleChecks(db, access, lambda name: self.peers.get(name))

    def attach(self, peers: Mapping[str, Any]) -> None:
        """The endpoint's other providers (ECR, for image checks)."""
        self.peers = peers

    # --- authorization hook ------------------------------------------------------------

    def authorization(self, call: Call, operation: str, params: dict[str, Any], action: str,
                      resource: str) -> Any:
        from ..registry import ResourceSide

        if operation in KIND:
            req = self.checks.caller_requirement(call, operation, params)
            if req is not None:
                return ResourceSide(resource=req.resource, context=dict(req.context))
        name = params.get("ModelName")
        if operation in ("DescribeModel", "DeleteModel") and isinstance(name, str):
            return ResourceSide(resource=resource_arn(call, "model", name))
        return None

    # --- storage ------------------------------------------------------------------------

    def _get(self, call: Call, kind: str, name: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT data FROM sagemaker_resources WHERE account=? AND region=? "
                          "AND kind=? AND name_key=?",
                          (call.caller.account, call.region, kind, name.lower()))
        return None if row is None else dict(json.loads(row["data"]))

    def _put(self, call: Call, kind: str, name: str, arn: str, data: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO sagemaker_resources(account, region, kind, name_key, arn, "
                        "created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (call.caller.account, call.region, kind, name.lower(), arn,
                         time.time(), json.dumps(data)))

    # --- models -------------------------------------------------------------------------

    def CreateModel(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ModelName"]
        arn = resource_arn(call, "model", name)
        if self._get(call, "model", name) is not None:
            raise validation(f'Cannot create already existing model "{arn}".')
        containers = ([p["PrimaryContainer"]] if p.get("PrimaryContainer") else []) + \
            list(p.get("Containers") or [])
        if not containers and not p.get("InferenceExecutionConfig"):
            raise validation("Either PrimaryContainer or Containers must be specified.")
        images = [c["Image"] for c in containers if c.get("Image")]
        self.checks.run(call, "CreateModel", p, arn, images)
        model = {k: p[k] for k in ("ModelName", "PrimaryContainer", "Containers",
                                   "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig",
                                   "EnableNetworkIsolation") if k in p}
        model["ModelArn"] = arn
        model["CreationTime"] = time.time()
        model["Tags"] = list(p.get("Tags") or [])
        self._put(call, "model", name, arn, model)
        return {"ModelArn": arn}

    def DescribeModel(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        model = self._get(call, "model", p["ModelName"])
        if model is None:
            arn = resource_arn(call, "model", p["ModelName"])
            raise validation(f'Could not find model "{arn}".')
        out = {k: v for k, v in model.items() if k != "Tags"}
        out["CreationTime"] = datetime.fromtimestamp(model["CreationTime"], UTC)
        out.setdefault("EnableNetworkIsolation", False)
        return out

    def ListModels(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        rows = self.db.query("SELECT data FROM sagemaker_resources WHERE account=? AND "
                             "region=? AND kind='model'", (call.caller.account, call.region))
        models = [json.loads(r["data"]) for r in rows]
        needle = (p.get("NameContains") or "").lower()
        before, after = p.get("CreationTimeBefore"), p.get("CreationTimeAfter")
        models = [m for m in models if needle in m["ModelName"].lower()
                  and (before is None or m["CreationTime"] < before.timestamp())
                  and (after is None or m["CreationTime"] > after.timestamp())]
        key = "ModelName" if p.get("SortBy") == "Name" else "CreationTime"
        models.sort(key=lambda m: m[key], reverse=(p.get("SortOrder") or "Descending")
                    == "Descending")
        limit = p.get("MaxResults") or 10
        start = 0
        if p.get("NextToken"):
            try:
                start = int(p["NextToken"])
            except ValueError:
                raise validation("Invalid pagination token.") from None
        page = models[start:start + limit]
        out: dict[str, Any] = {"Models": [
            {"ModelName": m["ModelName"], "ModelArn": m["ModelArn"],
             "CreationTime": datetime.fromtimestamp(m["CreationTime"], UTC)} for m in page]}
        if start + limit < len(models):
            out["NextToken"] = str(start + limit)
        return out

    def DeleteModel(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ModelName"]
        if self._get(call, "model", name) is None:
            arn = resource_arn(call, "model", name)
            raise validation(f'Could not find model "{arn}".')
        self.db.execute("DELETE FROM sagemaker_resources WHERE account=? AND region=? AND "
                        "kind='model' AND name_key=?",
                        (call.caller.account, call.region, name.lower()))
        return {}


__all__ = ["SageMakerService"]
