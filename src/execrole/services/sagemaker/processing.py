"""Processing jobs: CreateProcessingJob (the role checks, then the job queued on the runtime),
DescribeProcessingJob, ListProcessingJobs, StopProcessingJob.

Texts: `Processing job names must be unique within an AWS account and region, and a
processing job with this name already exists (<arn>)` (ResourceInUse, the training job's
pattern with "processing"); `Could not find requested job with name <name>`
(ValidationException, Describe/Stop of an unknown job) and `The request was rejected because
the processing job is in status <status>.` (Stop of a finished job) are execrole's guesses:
no public report quotes them (docs/fidelity.md).

What runs: S3 inputs in File mode (Pipe, Gzip and the Athena/Redshift dataset definitions
are refused with a ValidationException that names the gap), S3 outputs (Feature Store
outputs are refused), one instance (build-your-own-processing-container.md).
"""

from __future__ import annotations

import time
from typing import Any

from ...runtime.processing import S3_INPUT_DEFAULTS
from ..base import AWSError, Call
from .jobs import PRIVATE, Jobs, name_in_use
from .resources import Resources, described, pick, resource_arn, validation

KIND = "processing-job"
PROCESSING_ROOT = "/opt/ml/processing/"  # where every LocalPath must be (the contract page)
_REQUEST_KEYS = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingJobName",
                 "ProcessingResources", "StoppingCondition", "AppSpecification",
                 "Environment", "NetworkConfig", "RoleArn", "ExperimentConfig")
SUMMARY_KEYS = ("ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime",
                "LastModifiedTime", "ProcessingJobStatus", "FailureReason", "ExitMessage")


def not_found(name: str) -> AWSError:
    return validation(f"Could not find requested job with name {name}")


def _check_inputs(inputs: list[dict[str, Any]]) -> None:
    for item in inputs:
        name = item.get("InputName", "")
        if item.get("DatasetDefinition"):
            raise validation("execrole serves S3 processing inputs only: DatasetDefinition "
                             f"(Athena, Redshift) is not served (input {name}).")
        source = item.get("S3Input")
        if not source:
            raise validation(f"Processing input {name} has no S3Input.")
        if source.get("S3InputMode") == "Pipe":
            raise validation("execrole does not serve Pipe input mode; use File "
                             f"(input {name}).")
        # Gzip is only valid with Pipe (API reference, ProcessingS3Input.S3CompressionType).
        if source.get("S3CompressionType", "None") != "None":
            raise validation("S3CompressionType Gzip can only be used with Pipe input mode, "
                             f"which execrole does not serve (input {name}).")
        _check_local_path(source.get("LocalPath"), f"input {name}")


def _check_outputs(config: dict[str, Any] | None) -> None:
    for item in (config or {}).get("Outputs") or []:
        name = item.get("OutputName", "")
        if not item.get("S3Output"):
            raise validation("execrole serves S3 processing outputs only: FeatureStoreOutput "
                             f"is not served (output {name}).")
        _check_local_path(item["S3Output"].get("LocalPath"), f"output {name}")


def _check_local_path(path: str | None, what: str) -> None:
    # "the path in the processing container must begin with /opt/ml/processing/"
    # (build-your-own-processing-container.md); the runtime maps it into the job's dir.
    if not path or not path.startswith(PROCESSING_ROOT) or ".." in path.split("/"):
        raise validation(f"LocalPath {path!r} of {what} must be a path under "
                         f"{PROCESSING_ROOT}.")


def _document(p: dict[str, Any], arn: str, now: float) -> dict[str, Any]:
    doc = pick(p, _REQUEST_KEYS)
    if p.get("ProcessingInputs"):
        doc["ProcessingInputs"] = [
            {**item, "S3Input": {**S3_INPUT_DEFAULTS, **item["S3Input"]}}
            for item in p["ProcessingInputs"]]
    doc.update(ProcessingJobArn=arn, ProcessingJobStatus="InProgress", CreationTime=now,
               LastModifiedTime=now, Tags=list(p.get("Tags") or []))
    doc[PRIVATE] = {"state": "queued"}
    return doc


class Processing(Jobs):
    @property
    def processing_jobs(self) -> Resources:
        return Resources(self.db, KIND)

    def CreateProcessingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ProcessingJobName"]
        arn = resource_arn(call, KIND, name)
        exists = name_in_use("processing job", arn)
        if self.processing_jobs.of(call, name) is not None:
            raise exists
        _check_inputs(list(p.get("ProcessingInputs") or []))
        _check_outputs(p.get("ProcessingOutputConfig"))
        image = p["AppSpecification"]["ImageUri"]
        self.checks.run(call, "CreateProcessingJob", p, arn, [image])
        if not self.processing_jobs.create(call, name, arn, _document(p, arn, time.time())):
            raise exists
        self.submit_job(call, KIND, arn, name, p)
        return {"ProcessingJobArn": arn}

    def DescribeProcessingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        doc = self.processing_jobs.of(call, p["ProcessingJobName"])
        if doc is None:
            raise not_found(p["ProcessingJobName"])
        return described(doc)

    def ListProcessingJobs(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self.processing_jobs.listing(
            call, p, name_key="ProcessingJobName", list_key="ProcessingJobSummaries",
            status_key="ProcessingJobStatus", summary=lambda d: pick(d, SUMMARY_KEYS))

    def StopProcessingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self.stop_job(call, KIND, p["ProcessingJobName"], not_found(p["ProcessingJobName"]))
        return {}

    def DeleteProcessingJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self.delete_job(call, KIND, p["ProcessingJobName"], not_found(p["ProcessingJobName"]))
        return {}
