"""What the job kinds share in the control plane: the job's role session (SageMaker assumes
the role when the job starts), the runtime's events applied to the stored document, and the
runtime record kept beside it (never shown by Describe).

Each kind's document fields are data (JOB_FIELDS): the status field, its end-time field,
whether it has secondary statuses.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ...runtime.supervisor import RUNNING, StartFailure
from ..base import AWSError, Call, Caller, iso, utc_now
from ..credentials import assumed_role_data, create_session
from .resources import Resources
from .service import Base


@dataclass(frozen=True)
class JobFields:
    status: str
    start: str
    end: str
    secondary: bool
    billable: bool


JOB_FIELDS = {
    "training-job": JobFields("TrainingJobStatus", "TrainingStartTime", "TrainingEndTime",
                              True, True),
    "processing-job": JobFields("ProcessingJobStatus", "ProcessingStartTime",
                                "ProcessingEndTime", False, False),
}
# Per kind: the document's ARN and name fields.
ARN_KEY = {"training-job": "TrainingJobArn", "processing-job": "ProcessingJobArn"}
NAME_KEY = {"training-job": "TrainingJobName", "processing-job": "ProcessingJobName"}
SESSION_NAME = "SageMaker"
SESSION_MARGIN_S = 3600  # the role session outlives the job's time limit by this much
MAX_SESSION_S = 12 * 3600
DEFAULT_MAX_RUNTIME_S = 86400  # StoppingCondition.MaxRuntimeInSeconds: 1 day unless given
PRIVATE = "_runtime"


def name_in_use(what: str, arn: str) -> AWSError:
    """A Create call naming an existing job (`what`: "training job", "processing job")."""
    return AWSError("ResourceInUse", f"{what.capitalize()} names must be unique within an AWS "
                    f"account and region, and a {what} with this name already exists ({arn})",
                    400)


def rejected(kind: str, status: str) -> AWSError:
    """A Stop or Delete the job's status does not allow (StopTrainingJob's text)."""
    return AWSError("ValidationException", "The request was rejected because the "
                    f"{kind.replace('-', ' ')} is in status {status}.", 400)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class Jobs(Base):
    """Mixed into the provider: runtime events and role sessions for every job kind."""

    def runtime_apply(self, kind: str, arn: str, event: dict[str, Any]) -> None:
        fields = JOB_FIELDS[kind]
        now = time.time()

        def change(doc: dict[str, Any]) -> None:
            runtime = doc.setdefault(PRIVATE, {})
            name = event.get("event")
            if name in ("agent", "process"):
                runtime.update({k: v for k, v in event.items() if k != "event"})
                runtime["state"] = "running"
                return
            if name == "status":
                doc.update(event.get("set") or {})
                if fields.secondary and event.get("secondary"):
                    transition(doc, event["secondary"][0], event["secondary"][1], now)
            elif name == "stopped_before_start":
                doc[fields.status] = "Stopped"
                if fields.secondary:
                    transition(doc, "Stopped", "Training job stopped", now)
                doc[fields.end] = now
                runtime["state"] = "done"
            elif name == "finished":
                if event.get("if_running") and doc.get(fields.status) not in RUNNING:
                    return
                doc.update(event.get("set") or {})
                status = str(event["status"])
                doc[fields.status] = status
                if event.get("reason"):
                    doc["FailureReason"] = event["reason"]
                if fields.secondary:
                    secondary = event.get("secondary") or [
                        status, event.get("reason") or status]
                    transition(doc, secondary[0], secondary[1], now, final=True)
                doc.setdefault(fields.end, now)
                if fields.billable and doc.get(fields.start):
                    seconds = max(1, math.ceil(doc[fields.end] - doc[fields.start]))
                    doc["TrainingTimeInSeconds"] = seconds
                    doc["BillableTimeInSeconds"] = seconds
                runtime["state"] = "done"
            doc["LastModifiedTime"] = now

        Resources(self.db, kind).update(arn, change)

    def stop_job(self, call: Call, kind: str, name: str, missing: AWSError) -> None:
        """StopTrainingJob / StopProcessingJob: an InProgress job becomes Stopping and its
        runtime stops it (one still waiting for a slot ends Stopped at once)."""
        fields = JOB_FIELDS[kind]
        doc = Resources(self.db, kind).of(call, name)
        if doc is None:
            raise missing
        if doc[fields.status] != "InProgress":
            raise rejected(kind, doc[fields.status])

        def stopping(d: dict[str, Any]) -> None:
            now = time.time()
            d[fields.status] = "Stopping"
            if fields.secondary:
                transition(d, "Stopping", "Stopping the training job", now)
            d["LastModifiedTime"] = now

        arn = str(doc[ARN_KEY[kind]])
        Resources(self.db, kind).update(arn, stopping)
        if self.runtime is None or not self.runtime.stop(arn):
            self.runtime_apply(kind, arn, {"event": "stopped_before_start"})

    def delete_job(self, call: Call, kind: str, name: str, missing: AWSError) -> None:
        """DeleteTrainingJob / DeleteProcessingJob: only a job in a terminal state (Completed,
        Failed, Stopped) goes, with all its metadata; its name is free again (API
        reference)."""
        jobs = Resources(self.db, kind)
        doc = jobs.of(call, name)
        if doc is None:
            raise missing
        status = doc[JOB_FIELDS[kind].status]
        if status in RUNNING:
            raise rejected(kind, status)
        jobs.delete(call, name)

    def submit_job(self, call: Call, kind: str, arn: str, name: str, p: dict[str, Any]
                   ) -> None:
        """Queue a job on the runtime. What the agent gets is made when the job starts, not
        now: the role's trust may change while the job waits."""
        runtime = self.runtime
        if runtime is None:
            return  # served in-process without a runtime (tests of the wire): stays queued
        limit = (p.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") \
            or DEFAULT_MAX_RUNTIME_S
        duration = min(MAX_SESSION_S, int(limit) + SESSION_MARGIN_S)

        def spec() -> dict[str, Any]:
            return {"name": name, "request": p, "endpoint": runtime.endpoint,
                    "region": call.region, "account": call.caller.account,
                    "role_arn": p["RoleArn"],
                    "credentials": self.role_session(call, p["RoleArn"], arn, duration)}

        runtime.submit(arn, kind, spec)

    def role_session(self, call: Call, role_arn: str, source_arn: str, duration: int
                     ) -> dict[str, Any]:
        """Credentials of the role session SageMaker opens for a job, after the trust policy
        lets it (checked again when the job starts: the role may have changed since)."""
        role = self.checks.role_of(role_arn)
        now = replace(call, time=datetime.now(UTC))  # when the job starts
        if role is None or not self.checks.trust_allows(now, role, source_arn):
            raise StartFailure(f"ClientError: SageMaker was unable to assume the role "
                               f"'{role_arn}'")
        account = role_arn.split(":")[4]
        data = assumed_role_data(role, SESSION_NAME, source_arn=source_arn,
                                 issued=iso(utc_now()))
        creds = create_session(self.db, account, data, duration)
        return {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}

    def recover_jobs(self) -> None:
        """After a start of the server: jobs that were waiting for a slot are queued again;
        jobs that were running fail (their processes, if any survived, are killed)."""
        runtime = self.runtime
        if runtime is None:
            return
        for kind, fields in JOB_FIELDS.items():
            for doc in Resources(self.db, kind).all():
                if doc.get(fields.status) not in RUNNING:
                    continue
                arn = str(doc[ARN_KEY[kind]])
                record = dict(doc.get(PRIVATE) or {})
                if record.get("state") == "queued" and doc[fields.status] == "InProgress":
                    _, _, _, region, account, _ = arn.split(":", 5)
                    call = Call(Caller(f"arn:aws:iam::{account}:root", account), region,
                                "recovery")
                    self.submit_job(call, kind, arn, doc[NAME_KEY[kind]], public(doc))
                else:
                    runtime.recover([(kind, arn, record)])


def transition(doc: dict[str, Any], status: str, message: str, now: float,
                final: bool = False) -> None:
    transitions = doc.setdefault("SecondaryStatusTransitions", [])
    if transitions and transitions[-1]["Status"] == status:
        transitions[-1]["StatusMessage"] = message
    else:
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    if final:
        transitions[-1].setdefault("EndTime", now)
    doc["SecondaryStatus"] = status
