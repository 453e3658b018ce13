"""SageMaker models: CreateModel (with the role checks), DescribeModel, ListModels, DeleteModel.

Messages follow SageMaker's as users report them: `Cannot create already existing model
"<arn>".`, `Could not find model "<arn>".`
"""

from __future__ import annotations

import time
from typing import Any

from ..base import Call
from .resources import Resources, described, pick, resource_arn, validation
from .service import Base


class Models(Base):
    @property
    def models(self) -> Resources:
        return Resources(self.db, "model")

    def CreateModel(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ModelName"]
        arn = resource_arn(call, "model", name)
        if self.models.of(call, name) is not None:
            raise validation(f'Cannot create already existing model "{arn}".')
        containers = ([p["PrimaryContainer"]] if p.get("PrimaryContainer") else []) + \
            list(p.get("Containers") or [])
        if not containers and not p.get("InferenceExecutionConfig"):
            raise validation("Either PrimaryContainer or Containers must be specified.")
        images = [c["Image"] for c in containers if c.get("Image")]
        self.checks.run(call, "CreateModel", p, arn, images)
        model = pick(p, ("ModelName", "PrimaryContainer", "Containers",
                         "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig",
                         "EnableNetworkIsolation"))
        model.update(ModelArn=arn, CreationTime=time.time(), Tags=list(p.get("Tags") or []))
        if not self.models.create(call, name, arn, model):
            raise validation(f'Cannot create already existing model "{arn}".')
        return {"ModelArn": arn}

    def DescribeModel(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        model = self.models.of(call, p["ModelName"])
        if model is None:
            arn = resource_arn(call, "model", p["ModelName"])
            raise validation(f'Could not find model "{arn}".')
        return {"EnableNetworkIsolation": False, **described(model)}

    def ListModels(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self.models.listing(
            call, p, name_key="ModelName", list_key="Models",
            summary=lambda m: pick(m, ("ModelName", "ModelArn", "CreationTime")))

    def DeleteModel(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        if not self.models.delete(call, p["ModelName"]):
            arn = resource_arn(call, "model", p["ModelName"])
            raise validation(f'Could not find model "{arn}".')
        return {}
