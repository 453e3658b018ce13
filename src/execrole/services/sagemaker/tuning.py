"""Hyperparameter tuning jobs: CreateHyperParameterTuningJob (the role checks of every training
job definition, then a small real search), DescribeHyperParameterTuningJob,
ListHyperParameterTuningJobs, StopHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob (botocore's sagemaker model for the shapes).

The search runs in the server: a "tuning driver" thread per job polls its training jobs every
POLL_S, creates the next ones through the provider's own CreateTrainingJob (so each is a real
training job, with the caller's account, region and identity, run by the job runtime), at most
MaxParallelTrainingJobs at once, up to MaxNumberOfTrainingJobs. Random draws the values
(RandomSeed when given); Grid runs the cartesian product of the categorical values; Bayesian
and Hyperband run as Random (docs/fidelity.md). Training jobs are named
`<tuning>-<NNN>-<8 hex>` as SageMaker names them and carry TuningJobArn.

Texts, SageMaker's as users report them: `A hyperparameter tuning job with the name, <name>,
already exists. Choose a different name.` (ResourceInUse), `Amazon SageMaker can't find a
tuning job called <name>. Type another name.` (ResourceNotFound), `A metric is required for
this hyperparameter tuning job objective. Provide a metric in the metric definitions.`, `No
training job succeeded after <n> attempts. Please take a look at the training job failures to
get more details.` (FailureReason). Guessed: the Stop of a finished job (worded as
StopTrainingJob's) and the Grid refusal of non-categorical ranges.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ...runtime.supervisor import RUNNING, SERVER_STOPPED
from ..base import AWSError, Call
from .resources import (
    Resources,
    described,
    in_use,
    paginate,
    pick,
    resource_arn,
    validation,
)
from .training import Training

log = logging.getLogger("execrole.jobs")

KIND = "hyper-parameter-tuning-job"
POLL_S = 0.2
RECORD = "_tuning"  # the driver's plan and launched jobs, kept beside the document
ENDED = ("Completed", "Failed", "Stopped")
# One driver step or one Stop at a time: a Stop never misses a training job being created.
_LOCK = threading.Lock()
_DEFINITION_KEYS = ("RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig",
                    "ResourceConfig", "StoppingCondition", "EnableNetworkIsolation",
                    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
                    "CheckpointConfig", "RetryStrategy", "Environment")


def tuning_not_found(name: str) -> AWSError:
    return AWSError("ResourceNotFound", f"Amazon SageMaker can't find a tuning job called "
                    f"{name}. Type another name.", 400)


# --- the search ---------------------------------------------------------------------------

def definitions_of(p: dict[str, Any]) -> list[dict[str, Any]]:
    if p.get("TrainingJobDefinition"):
        return [p["TrainingJobDefinition"]]
    return list(p.get("TrainingJobDefinitions") or [])


def objective_of(config: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    return dict(definition.get("TuningObjective") or
                config.get("HyperParameterTuningJobObjective") or {})


def ranges_of(config: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    return dict(definition.get("HyperParameterRanges") or config.get("ParameterRanges") or {})


def _draw(low: float, high: float, scaling: str, rng: random.Random) -> float:
    if scaling == "Logarithmic" and low > 0:
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scaling == "ReverseLogarithmic" and high < 1:
        return 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
    return rng.uniform(low, high)  # Linear; Auto picks Linear here


def sample(ranges: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One Random choice: every range drawn with its ScalingType; values as strings."""
    out: dict[str, str] = {}
    for r in ranges.get("IntegerParameterRanges") or []:
        low, high = int(r["MinValue"]), int(r["MaxValue"])
        value = round(_draw(low, high, r.get("ScalingType", "Auto"), rng))
        out[r["Name"]] = str(min(high, max(low, value)))
    for r in ranges.get("ContinuousParameterRanges") or []:
        low_f, high_f = float(r["MinValue"]), float(r["MaxValue"])
        out[r["Name"]] = repr(_draw(low_f, high_f, r.get("ScalingType", "Auto"), rng))
    for r in ranges.get("CategoricalParameterRanges") or []:
        out[r["Name"]] = str(rng.choice(r["Values"]))
    return out


def grid(ranges: dict[str, Any]) -> list[dict[str, str]]:
    """Grid: every combination of the categorical values, in order."""
    cats = ranges.get("CategoricalParameterRanges") or []
    names = [r["Name"] for r in cats]
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*[r["Values"] for r in cats])]


def plan(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The training jobs to run, in order: the definition's index and the tuned values. Each
    definition takes its turn (a tuning job with several definitions shares the budget)."""
    config = p["HyperParameterTuningJobConfig"]
    defs = definitions_of(p)
    limit = (config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs")
    if config.get("Strategy") == "Grid":
        combos = [{"definition": i, "tuned": t}
                  for i, d in enumerate(defs) for t in grid(ranges_of(config, d))]
        return combos[:limit] if limit else combos
    seed = config.get("RandomSeed")
    rng = random.Random(seed if seed is not None else secrets.randbits(32))
    return [{"definition": i % len(defs),
             "tuned": sample(ranges_of(config, defs[i % len(defs)]), rng)}
            for i in range(int(limit or 1))]


def _validate(p: dict[str, Any]) -> None:
    config = p["HyperParameterTuningJobConfig"]
    defs = definitions_of(p)
    if not defs:
        raise validation("Either TrainingJobDefinition or TrainingJobDefinitions must be "
                         "specified.")
    limits = config.get("ResourceLimits") or {}
    if config.get("Strategy") != "Grid" and not limits.get("MaxNumberOfTrainingJobs"):
        raise validation("MaxNumberOfTrainingJobs is required for the "
                         f"{config.get('Strategy')} strategy.")
    for d in defs:
        if not d["AlgorithmSpecification"].get("TrainingImage"):
            raise validation("execrole runs training jobs from a TrainingImage; algorithm "
                             "resources (AlgorithmName) are not served.")
        objective = objective_of(config, d)
        metrics = {m["Name"] for m in d["AlgorithmSpecification"].get("MetricDefinitions")
                   or []}
        if not objective or objective.get("MetricName") not in metrics:
            raise validation("A metric is required for this hyperparameter tuning job "
                             "objective. Provide a metric in the metric definitions.")
        ranges = ranges_of(config, d)
        if config.get("Strategy") == "Grid" and (ranges.get("IntegerParameterRanges") or
                                                 ranges.get("ContinuousParameterRanges")):
            raise validation("The Grid strategy takes categorical parameter ranges only.")


# --- the counters and the best job ---------------------------------------------------------

def objective_value(training: dict[str, Any], metric: str) -> float | None:
    for m in training.get("FinalMetricDataList") or []:
        if m.get("MetricName") == metric:
            return float(m["Value"])
    return None


def job_summary(tuning: dict[str, Any], entry: dict[str, Any], training: dict[str, Any]
                ) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary (epoch times, as stored)."""
    definition = definitions_of(tuning)[entry["definition"]]
    objective = objective_of(tuning["HyperParameterTuningJobConfig"], definition)
    status = training.get("TrainingJobStatus", "InProgress")
    out = pick(training, ("TrainingJobName", "TrainingJobArn", "CreationTime",
                          "TrainingStartTime", "TrainingEndTime", "TrainingJobStatus",
                          "FailureReason"))
    out.update(TuningJobName=tuning["HyperParameterTuningJobName"],
               TunedHyperParameters=dict(entry["tuned"]))
    if definition.get("DefinitionName"):
        out["TrainingJobDefinitionName"] = definition["DefinitionName"]
    value = objective_value(training, objective["MetricName"])
    if value is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": objective["MetricName"], "Value": value}
    out["ObjectiveStatus"] = ("Pending" if status in RUNNING else
                              "Succeeded" if value is not None and status == "Completed"
                              else "Failed")
    return out


def counters(summaries: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    jobs = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0,
            "Stopped": 0}
    objective = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for s in summaries:
        status = s["TrainingJobStatus"]
        key = ("InProgress" if status in RUNNING else
               "NonRetryableError" if status == "Failed" else status)
        jobs[key] = jobs.get(key, 0) + 1
        objective[s["ObjectiveStatus"]] += 1
    return jobs, objective


def best(tuning: dict[str, Any], summaries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The completed job with the best objective value, per the objective's Type."""
    done = [s for s in summaries if s["ObjectiveStatus"] == "Succeeded"]
    if not done:
        return None
    maximize = objective_of(tuning["HyperParameterTuningJobConfig"],
                            definitions_of(tuning)[0]).get("Type") == "Maximize"
    return (max if maximize else min)(
        done, key=lambda s: float(s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]))


# --- the provider --------------------------------------------------------------------------

class Tuning(Training):
    @property
    def tuning_jobs(self) -> Resources:
        return Resources(self.db, KIND)

    def CreateHyperParameterTuningJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["HyperParameterTuningJobName"]
        arn = resource_arn(call, KIND, name)
        exists = in_use(f"A hyperparameter tuning job with the name, {name}, already exists. "
                        "Choose a different name.")
        if self.tuning_jobs.of(call, name) is not None:
            raise exists
        _validate(p)
        images = sorted({d["AlgorithmSpecification"]["TrainingImage"]
                         for d in definitions_of(p)})
        self.checks.run(call, "CreateHyperParameterTuningJob", p, arn, images)
        now = time.time()
        doc = pick(p, ("HyperParameterTuningJobName", "HyperParameterTuningJobConfig",
                       "TrainingJobDefinition", "TrainingJobDefinitions", "WarmStartConfig",
                       "Autotune"))
        jobs, objective = counters([])
        doc.update(HyperParameterTuningJobArn=arn, HyperParameterTuningJobStatus="InProgress",
                   CreationTime=now, LastModifiedTime=now, TrainingJobStatusCounters=jobs,
                   ObjectiveStatusCounters=objective, Tags=list(p.get("Tags") or []))
        doc[RECORD] = {"plan": plan(p), "jobs": []}
        if not self.tuning_jobs.create(call, name, arn, doc):
            raise exists
        if self.runtime is not None:  # without a runtime (tests of the wire) nothing runs
            threading.Thread(target=self._drive, args=(call, arn), daemon=True,
                             name=f"tuning {arn}").start()
        return {"HyperParameterTuningJobArn": arn}

    # --- the driver -----------------------------------------------------------------------

    def _drive(self, call: Call, arn: str) -> None:
        while True:
            time.sleep(POLL_S)
            try:
                with _LOCK:
                    if self._tuning_step(call, arn):
                        return
            except Exception as e:
                log.exception("tuning job %s: the driver stopped", arn)
                self._end_failed(arn, f"InternalServerError: {e}")
                return

    def _tuning_step(self, call: Call, arn: str) -> bool:
        """One poll: launch what fits, refresh the counters, end the job when it is over.
        True when the driver is done."""
        if getattr(self.runtime, "closed", False):
            return True  # the server is going away; recover_tuning fails the job at start
        doc = self.tuning_jobs.by_arn(arn)
        if doc is None or doc["HyperParameterTuningJobStatus"] in ENDED:
            return True
        if doc["HyperParameterTuningJobStatus"] == "InProgress":
            try:
                self._launch(call, doc)
            except AWSError as e:
                self._stop_children(call, doc)
                self._end_failed(arn, e.message)
                return True
            doc = self.tuning_jobs.by_arn(arn) or doc
        return self._refresh(arn, doc)

    def _summaries(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for entry in doc[RECORD]["jobs"]:
            training = self.training_jobs.by_arn(entry["arn"])
            if training is not None:
                out.append(job_summary(doc, entry, training))
        return out

    def _launch(self, call: Call, doc: dict[str, Any]) -> None:
        config = doc["HyperParameterTuningJobConfig"]
        parallel = int(config["ResourceLimits"].get("MaxParallelTrainingJobs") or 1)
        running = sum(1 for s in self._summaries(doc) if s["TrainingJobStatus"] in RUNNING)
        record = doc[RECORD]
        while running < parallel and len(record["jobs"]) < len(record["plan"]):
            index = len(record["jobs"])
            entry = self._create_child(call, doc, index)
            record["jobs"].append(entry)
            running += 1

    def _create_child(self, call: Call, doc: dict[str, Any], index: int) -> dict[str, Any]:
        tuning_arn = doc["HyperParameterTuningJobArn"]
        step = doc[RECORD]["plan"][index]
        definition = definitions_of(doc)[step["definition"]]
        name = f"{doc['HyperParameterTuningJobName']}-{index + 1:03d}-{secrets.token_hex(4)}"
        request = training_request(definition, step["tuned"], name)
        # The caller's identity, account and region, at the time SageMaker creates the job.
        arn = self.CreateTrainingJob(replace(call, time=datetime.now(UTC)),
                                     request)["TrainingJobArn"]
        self.training_jobs.update(arn, lambda d: d.update(TuningJobArn=tuning_arn))
        entry = {"name": name, "arn": arn, "definition": step["definition"],
                 "tuned": step["tuned"]}
        # Recorded at once: a failure creating the next one must not lose this one.
        self.tuning_jobs.update(tuning_arn, lambda d: d[RECORD]["jobs"].append(entry))
        return entry

    def _refresh(self, arn: str, doc: dict[str, Any]) -> bool:
        summaries = self._summaries(doc)
        jobs, objective = counters(summaries)
        top = best(doc, summaries)
        status = doc["HyperParameterTuningJobStatus"]
        end = None
        reason = None
        if not jobs["InProgress"]:
            if status == "Stopping":
                end = "Stopped"
            elif len(doc[RECORD]["jobs"]) >= len(doc[RECORD]["plan"]):
                end = "Completed" if top is not None else "Failed"
                if top is None:
                    reason = (f"No training job succeeded after {len(summaries)} attempts. "
                              "Please take a look at the training job failures to get more "
                              "details.")
        changed = (jobs != doc.get("TrainingJobStatusCounters") or top != doc.get(
            "BestTrainingJob") or objective != doc.get("ObjectiveStatusCounters") or end)
        if changed:
            def change(d: dict[str, Any]) -> None:
                d.update(TrainingJobStatusCounters=jobs, ObjectiveStatusCounters=objective,
                         LastModifiedTime=time.time())
                if top is not None:
                    d["BestTrainingJob"] = top
                if end is not None:
                    d.update(HyperParameterTuningJobStatus=end,
                             HyperParameterTuningEndTime=time.time())
                if reason is not None:
                    d["FailureReason"] = reason

            self.tuning_jobs.update(arn, change)
        return end is not None

    def _end_failed(self, arn: str, reason: str) -> None:
        def change(d: dict[str, Any]) -> None:
            if d.get("HyperParameterTuningJobStatus") in ENDED:
                return
            now = time.time()
            d.update(HyperParameterTuningJobStatus="Failed", FailureReason=reason,
                     HyperParameterTuningEndTime=now, LastModifiedTime=now)

        try:
            self.tuning_jobs.update(arn, change)
        except Exception:  # the store is closing with the server: recover_tuning will do it
            log.exception("tuning job %s: could not record the failure", arn)

    def _stop_children(self, call: Call, doc: dict[str, Any]) -> None:
        for s in self._summaries(doc):
            if s["TrainingJobStatus"] == "InProgress":
                with contextlib.suppress(AWSError):  # it ended meanwhile
                    self.StopTrainingJob(call, {"TrainingJobName": s["TrainingJobName"]})

    def recover_tuning(self) -> None:
        """At a start of the server: tuning jobs still in progress lost their driver (and
        their training jobs failed with the supervisor's recovery): they fail, as SageMaker
        fails a job after an internal error."""
        for doc in self.tuning_jobs.all():
            if doc.get("HyperParameterTuningJobStatus") not in ENDED:
                self._end_failed(doc["HyperParameterTuningJobArn"], SERVER_STOPPED)

    # --- Describe, List, Stop ---------------------------------------------------------------

    def _tuning_of(self, call: Call, name: str) -> dict[str, Any]:
        doc = self.tuning_jobs.of(call, name)
        if doc is None:
            raise tuning_not_found(name)
        return doc

    def DescribeHyperParameterTuningJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        doc = self._tuning_of(call, p["HyperParameterTuningJobName"])
        return described(doc)

    def ListHyperParameterTuningJobs(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        def summary(d: dict[str, Any]) -> dict[str, Any]:
            out = pick(d, ("HyperParameterTuningJobName", "HyperParameterTuningJobArn",
                           "HyperParameterTuningJobStatus", "CreationTime",
                           "HyperParameterTuningEndTime", "LastModifiedTime",
                           "TrainingJobStatusCounters", "ObjectiveStatusCounters"))
            config = d["HyperParameterTuningJobConfig"]
            out.update(Strategy=config["Strategy"], ResourceLimits=config["ResourceLimits"])
            return out

        return self.tuning_jobs.listing(
            call, p, name_key="HyperParameterTuningJobName",
            list_key="HyperParameterTuningJobSummaries",
            status_key="HyperParameterTuningJobStatus", summary=summary)

    def StopHyperParameterTuningJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        with _LOCK:
            doc = self._tuning_of(call, p["HyperParameterTuningJobName"])
            status = doc["HyperParameterTuningJobStatus"]
            if status != "InProgress":
                raise validation("The request was rejected because the tuning job is in "
                                 f"status {status}.")
            arn = doc["HyperParameterTuningJobArn"]
            self.tuning_jobs.update(arn, lambda d: d.update(
                HyperParameterTuningJobStatus="Stopping", LastModifiedTime=time.time()))
            self._stop_children(call, doc)
            if self.runtime is None:  # no driver: nothing else will end it
                self._refresh(arn, self.tuning_jobs.by_arn(arn) or doc)
        return {}

    def DeleteHyperParameterTuningJob(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """Only the tuning job's entry goes; its training jobs stay (API reference)."""
        with _LOCK:
            doc = self._tuning_of(call, p["HyperParameterTuningJobName"])
            status = doc["HyperParameterTuningJobStatus"]
            if status in ("InProgress", "Stopping"):
                raise validation("The request was rejected because the tuning job is in "
                                 f"status {status}.")
            self.tuning_jobs.delete(call, p["HyperParameterTuningJobName"])
        return {}

    def ListTrainingJobsForHyperParameterTuningJob(self, call: Call, p: dict[str, Any]
                                                   ) -> dict[str, Any]:
        doc = self._tuning_of(call, p["HyperParameterTuningJobName"])
        items = self._summaries(doc)
        if p.get("StatusEquals"):
            items = [s for s in items if s["TrainingJobStatus"] == p["StatusEquals"]]
        sort_by = p.get("SortBy") or "Name"  # the default, per the API reference
        key: Callable[[dict[str, Any]], Any]
        if sort_by == "FinalObjectiveMetricValue":
            # "any training jobs that did not return an objective metric are not listed"
            items = [s for s in items if "FinalHyperParameterTuningJobObjectiveMetric" in s]
            key = lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]  # noqa: E731
        else:
            field = {"Name": "TrainingJobName", "CreationTime": "CreationTime",
                     "Status": "TrainingJobStatus"}.get(sort_by, "TrainingJobName")
            key = lambda s: s.get(field) or 0  # noqa: E731
        items.sort(key=key, reverse=p.get("SortOrder") == "Descending")
        return paginate(items, p, "TrainingJobSummaries")


def training_request(definition: dict[str, Any], tuned: dict[str, str], name: str
                     ) -> dict[str, Any]:
    """The CreateTrainingJob request for one choice: the definition's settings, its static
    hyperparameters and the tuned ones."""
    request = pick(definition, _DEFINITION_KEYS)
    algo = {k: v for k, v in definition["AlgorithmSpecification"].items()}
    request.update(TrainingJobName=name, AlgorithmSpecification=algo,
                   HyperParameters={**(definition.get("StaticHyperParameters") or {}),
                                    **tuned})
    pooled = definition.get("HyperParameterTuningResourceConfig")
    if "ResourceConfig" not in request and pooled:
        first = (pooled.get("InstanceConfigs") or [{}])[0]
        request["ResourceConfig"] = {
            "InstanceType": pooled.get("InstanceType") or first.get("InstanceType"),
            "InstanceCount": pooled.get("InstanceCount") or first.get("InstanceCount") or 1,
            "VolumeSizeInGB": pooled.get("VolumeSizeInGB") or first.get("VolumeSizeInGB")
            or 30}
    return request

