"""AutoML (Autopilot) jobs: authorized and refused. CreateAutoMLJob and CreateAutoMLJobV2 make
the checks SageMaker makes before it accepts a job — the caller's sagemaker:CreateAutoMLJob(V2)
(the endpoint), iam:PassRole and the role's trust policy (RoleChecks) — so a bad caller or a
bad role fails exactly as on AWS; a request that passes them is refused with a
ValidationException starting `execrole does not run AutoML jobs:` (AWS has no error for "not
supported"; docs/fidelity.md). No AutoML job is ever stored: Describe, Stop and
ListCandidates answer as SageMaker does for a name it does not know (`Amazon SageMaker can't
find an AutoML job called <name>.`, ResourceNotFound, as users report it) and ListAutoMLJobs
is empty.
"""

from __future__ import annotations

from typing import Any

from ..base import AWSError, Call
from .resources import resource_arn, validation
from .service import Base

KIND = "automl-job"
REFUSAL = ("execrole does not run AutoML jobs: Autopilot's candidate generation, its "
           "algorithm images and its managed pipelines are not served. The caller's "
           "authorization and the role checks (iam:PassRole, the trust policy) passed; run "
           "the candidates as training jobs or a hyperparameter tuning job instead.")


def automl_not_found(name: str) -> AWSError:
    return AWSError("ResourceNotFound", f"Amazon SageMaker can't find an AutoML job called "
                    f"{name}.", 400)


class AutoML(Base):
    def _refuse_automl(self, call: Call, api: str, p: dict[str, Any]) -> dict[str, Any]:
        arn = resource_arn(call, KIND, p["AutoMLJobName"])
        # AutoML's images are SageMaker's own (AWS-owned registries): no image of the request
        # to pull as the role.
        self.checks.run(call, api, p, arn, [])
        raise validation(REFUSAL)

    def CreateAutoMLJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._refuse_automl(call, "CreateAutoMLJob", p)

    def CreateAutoMLJobV2(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._refuse_automl(call, "CreateAutoMLJobV2", p)

    def DescribeAutoMLJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        raise automl_not_found(p["AutoMLJobName"])

    def DescribeAutoMLJobV2(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        raise automl_not_found(p["AutoMLJobName"])

    def StopAutoMLJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        raise automl_not_found(p["AutoMLJobName"])

    def ListCandidatesForAutoMLJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        raise automl_not_found(p["AutoMLJobName"])

    def ListAutoMLJobs(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return {"AutoMLJobSummaries": []}
