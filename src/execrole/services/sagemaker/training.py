"""Training jobs: CreateTrainingJob (the role checks, then the job queued on the runtime),
DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

Texts: `Training job names must be unique within an AWS account and region, and a training
job with this name already exists (<arn>)` (ResourceInUse), `Requested resource not found.`
(ValidationException, Describe/Stop of an unknown job), `The request was rejected because the
training job is in status <status>.` (Stop of a finished job) — SageMaker's as users report
them. Input modes: File; FastFile runs as File (the data is all there before the process
starts); Pipe is refused (docs/fidelity.md).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..base import AWSError, Call
from .jobs import PRIVATE, Jobs, name_in_use
from .resources import Resources, described, pick, resource_arn, validation

KIND = "training-job"
_REQUEST_KEYS = ("TrainingJobName", "HyperParameters", "AlgorithmSpecification", "RoleArn",
                 "InputDataConfig", "OutputDataConfig", "ResourceConfig", "VpcConfig",
                 "StoppingCondition", "EnableNetworkIsolation",
                 "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
                 "CheckpointConfig", "DebugHookConfig", "ExperimentConfig", "Environment",
                 "RetryStrategy", "TensorBoardOutputConfig", "ProfilerConfig",
                 "RemoteDebugConfig", "InfraCheckConfig", "SessionChainingConfig")
DEFAULTS = {"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": False,
            "EnableManagedSpotTraining": False}


def not_found() -> AWSError:
    return validation("Requested resource not found.")


class Training(Jobs):
    @property
    def training_jobs(self) -> Resources:
        return Resources(self.db, KIND)

    def CreateTrainingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["TrainingJobName"]
        arn = resource_arn(call, KIND, name)
        exists = name_in_use("training job", arn)
        if self.training_jobs.of(call, name) is not None:
            raise exists
        algo = p["AlgorithmSpecification"]
        image = algo.get("TrainingImage")
        if not image:
            raise validation("execrole runs training jobs from a TrainingImage; algorithm "
                             "resources (AlgorithmName) are not served.")
        if algo.get("TrainingInputMode") == "Pipe" or any(
                c.get("InputMode") == "Pipe" for c in p.get("InputDataConfig") or []):
            raise validation("execrole does not serve Pipe input mode; use File or FastFile.")
        for channel in p.get("InputDataConfig") or []:
            source = channel["DataSource"].get("S3DataSource")
            if source and source.get("S3DataType") == "AugmentedManifestFile":
                raise validation("execrole does not serve AugmentedManifestFile channels.")
            if not source:
                raise validation("execrole serves S3 data sources only (channel "
                                 f"{channel['ChannelName']}).")
        for d in algo.get("MetricDefinitions") or []:
            try:
                re.compile(d["Regex"])
            except re.error as e:
                raise validation(f"Invalid regex for metric {d['Name']}: {e}") from None
        self.checks.run(call, "CreateTrainingJob", p, arn, [image])
        now = time.time()
        doc = pick(p, _REQUEST_KEYS)
        doc.update(DEFAULTS | {k: p[k] for k in DEFAULTS if k in p})
        doc["AlgorithmSpecification"] = {"EnableSageMakerMetricsTimeSeries": False, **algo}
        doc.update(TrainingJobArn=arn, TrainingJobStatus="InProgress",
                   SecondaryStatus="Starting", CreationTime=now, LastModifiedTime=now,
                   SecondaryStatusTransitions=[{"Status": "Starting", "StartTime": now,
                                                "StatusMessage": "Launching requested ML "
                                                "instances"}],
                   Tags=list(p.get("Tags") or []))
        doc[PRIVATE] = {"state": "queued"}
        if not self.training_jobs.create(call, name, arn, doc):
            raise exists
        self.submit_job(call, KIND, arn, name, p)
        return {"TrainingJobArn": arn}

    def DescribeTrainingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        doc = self.training_jobs.of(call, p["TrainingJobName"])
        if doc is None:
            raise not_found()
        return described(doc)

    def ListTrainingJobs(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self.training_jobs.listing(
            call, p, name_key="TrainingJobName", list_key="TrainingJobSummaries",
            status_key="TrainingJobStatus",
            summary=lambda d: pick(d, ("TrainingJobName", "TrainingJobArn", "CreationTime",
                                       "TrainingEndTime", "LastModifiedTime",
                                       "TrainingJobStatus", "SecondaryStatus")))

    def StopTrainingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self.stop_job(call, KIND, p["TrainingJobName"], not_found())
        return {}

    def DeleteTrainingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self.delete_job(call, KIND, p["TrainingJobName"], not_found())
        return {}
