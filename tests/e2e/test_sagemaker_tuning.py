"""Hyperparameter tuning jobs through the endpoint: a small real search whose training jobs run
as local processes under the execution role. Sources: botocore's sagemaker model
(CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob — "BestTrainingJob: A
TrainingJobSummary object that describes the training job that completed with the best
current HyperParameterTuningJobObjective", ListTrainingJobsForHyperParameterTuningJob,
StopHyperParameterTuningJob — "Stops a running hyperparameter tuning job and all running
training jobs that the tuning job launched"), the seed ("Passing Roles") for the role checks,
and SageMaker's messages as users report them (tuning.py)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server, push_image

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
BUCKET = "sagemaker-tuning-e2e"
# The loss is (x - 3)^2 of the hyperparameter x: the best job is the one whose x is nearest 3.
TRAIN = """import json, os, time
hps = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "hyperparameters.json")))
x = float(os.environ.get("SM_HP_X") or hps["x"])
time.sleep(float(hps.get("sleep", "0")))
print(f"loss={(x - 3) ** 2}")
"""


def error_of(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


@pytest.fixture(scope="module")
def env(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    iam: Any = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    role = iam.create_role(RoleName="TuningRole",
                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="TuningRole",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    untrusted = iam.create_role(RoleName="TuningEc2Role", AssumeRolePolicyDocument=json.dumps(
        json.loads(json.dumps(TRUST).replace("sagemaker", "ec2"))))["Role"]["Arn"]
    server.client("s3").create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    server.client("ecr").create_repository(  # type: ignore[attr-defined]
        repositoryName="tune")
    program = tmp_path_factory.mktemp("tune-program")
    (program / "train.py").write_text(TRAIN)
    image = f"{account}.dkr.ecr.us-east-1.amazonaws.com/tune:v1"
    push_image(server, image, program, "python train.py")
    return {"account": account, "role": role, "untrusted": untrusted, "image": image}


def tuning_request(name: str, env: dict[str, Any], *, jobs: int = 4, parallel: int = 2,
                   static: dict[str, str] | None = None, role: str | None = None
                   ) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "RandomSeed": 7,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "10"}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": static or {},
            "AlgorithmSpecification": {
                "TrainingImage": env["image"], "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.eE+-]+)"}]},
            "RoleArn": role or env["role"],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300}}}


def wait_for(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    """The tuning job once it has ended; never more than MaxParallelTrainingJobs running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        assert job["TrainingJobStatusCounters"].get("InProgress", 0) <= 2
        if job["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return dict(job)
        time.sleep(0.3)
    raise AssertionError(f"tuning job {name} did not end")


def test_random_search_finds_the_lowest_loss(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = sm.create_hyper_parameter_tuning_job(**tuning_request("Tune-Loss", env))[
        "HyperParameterTuningJobArn"]
    assert arn == (f"arn:aws:sagemaker:us-east-1:{env['account']}:"
                   "hyper-parameter-tuning-job/tune-loss")
    job = wait_for(sm, "Tune-Loss")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TrainingJobStatusCounters"]["Completed"] == 4
    assert job["ObjectiveStatusCounters"]["Succeeded"] == 4
    listed = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Tune-Loss")["TrainingJobSummaries"]
    assert len(listed) == 4
    for s in listed:
        assert re.fullmatch(r"Tune-Loss-00[1-4]-[0-9a-f]{8}", s["TrainingJobName"])
        x = float(s["TunedHyperParameters"]["x"])
        assert s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == \
            pytest.approx((x - 3) ** 2, rel=1e-6)
        assert s["TrainingJobStatus"] == "Completed" and s["ObjectiveStatus"] == "Succeeded"
    lowest = min(listed,
                 key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert job["BestTrainingJob"]["TrainingJobName"] == lowest["TrainingJobName"]
    training = sm.describe_training_job(TrainingJobName=lowest["TrainingJobName"])
    assert training["TuningJobArn"] == arn
    assert training["HyperParameters"] == {"x": lowest["TunedHyperParameters"]["x"]}
    by_value = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Tune-Loss", SortBy="FinalObjectiveMetricValue",
        SortOrder="Ascending", MaxResults=1)
    assert by_value["TrainingJobSummaries"][0]["TrainingJobName"] == lowest["TrainingJobName"]
    assert "NextToken" in by_value
    summaries = sm.list_hyper_parameter_tuning_jobs(NameContains="tune-loss")[
        "HyperParameterTuningJobSummaries"]
    assert [(s["HyperParameterTuningJobName"], s["Strategy"]) for s in summaries] == [
        ("Tune-Loss", "Random")]
    with pytest.raises(ClientError) as e:
        sm.create_hyper_parameter_tuning_job(**tuning_request("Tune-Loss", env))
    assert error_of(e) == ("ResourceInUse", "A hyperparameter tuning job with the name, "
                           "Tune-Loss, already exists. Choose a different name.")


def test_grid_runs_every_combination(server: Server, env: dict[str, Any]) -> None:
    """Grid: the cartesian product of the categorical values (HyperParameterTuningJobConfig
    .Strategy; MaxNumberOfTrainingJobs may be left out)."""
    sm: Any = server.client("sagemaker")
    request = tuning_request("Tune-Grid", env)
    config = request["HyperParameterTuningJobConfig"]
    config.update(Strategy="Grid", ResourceLimits={"MaxParallelTrainingJobs": 2},
                  HyperParameterTuningJobObjective={"Type": "Maximize", "MetricName": "loss"},
                  ParameterRanges={"CategoricalParameterRanges": [
                      {"Name": "x", "Values": ["1", "4", "8"]}]})
    del config["RandomSeed"]
    sm.create_hyper_parameter_tuning_job(**request)
    job = wait_for(sm, "Tune-Grid")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job.get("FailureReason")
    listed = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Tune-Grid")["TrainingJobSummaries"]
    assert sorted(s["TunedHyperParameters"]["x"] for s in listed) == ["1", "4", "8"]
    assert job["BestTrainingJob"]["TunedHyperParameters"] == {"x": "8"}  # loss 25: the most


def test_random_draws_stay_in_their_ranges() -> None:
    import random

    from execrole.services.sagemaker.tuning import sample

    ranges = {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "1000",
                                          "ScalingType": "Logarithmic"}],
              "ContinuousParameterRanges": [{"Name": "m", "MinValue": "0.9",
                                             "MaxValue": "0.999",
                                             "ScalingType": "ReverseLogarithmic"}],
              "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}]}
    rng = random.Random(1)
    for _ in range(200):
        drawn = sample(ranges, rng)
        assert 1 <= int(drawn["n"]) <= 1000
        assert 0.9 <= float(drawn["m"]) <= 0.999
        assert drawn["c"] in ("a", "b")


def test_stop_stops_the_running_training_jobs(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    sm.create_hyper_parameter_tuning_job(**tuning_request(
        "Tune-Stop", env, jobs=3, parallel=2, static={"sleep": "60"}))
    deadline = time.time() + 30
    while time.time() < deadline and not sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="Tune-Stop")["TrainingJobSummaries"]:
        time.sleep(0.2)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="Tune-Stop")
    job = wait_for(sm, "Tune-Stop", timeout=60)
    assert job["HyperParameterTuningJobStatus"] == "Stopped"
    listed = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Tune-Stop")["TrainingJobSummaries"]
    assert 1 <= len(listed) <= 2  # the third was never started
    assert {s["TrainingJobStatus"] for s in listed} == {"Stopped"}
    with pytest.raises(ClientError) as e:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="Tune-Stop")
    assert error_of(e)[0] == "ValidationException"


def test_role_without_trust_fails_synchronously(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_hyper_parameter_tuning_job(**tuning_request(
            "Tune-Untrusted", env, role=env["untrusted"]))
    assert error_of(e) == ("ValidationException", f"Could not assume role {env['untrusted']}. "
                           "Please ensure that the role exists and allows principal "
                           "'sagemaker.amazonaws.com' to assume the role.")
    with pytest.raises(ClientError) as e:
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Tune-Untrusted")
    assert error_of(e) == ("ResourceNotFound", "Amazon SageMaker can't find a tuning job "
                           "called Tune-Untrusted. Type another name.")


def test_objective_must_be_a_metric(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    request = tuning_request("Tune-NoMetric", env)
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"][
        "MetricName"] = "accuracy"
    with pytest.raises(ClientError) as e:
        sm.create_hyper_parameter_tuning_job(**request)
    assert error_of(e) == ("ValidationException", "A metric is required for this "
                           "hyperparameter tuning job objective. Provide a metric in the "
                           "metric definitions.")


def test_recovery_after_restart(server: Server, env: dict[str, Any]) -> None:
    """An in-progress tuning job loses its driver with the server: the next start fails it
    with the supervisor's reason, and its running training job too."""
    from execrole.runtime.supervisor import SERVER_STOPPED

    sm: Any = server.client("sagemaker")
    sm.create_hyper_parameter_tuning_job(**tuning_request(
        "Tune-Restart", env, jobs=2, parallel=1, static={"sleep": "60"}))
    server.restart()
    sm = server.client("sagemaker")
    job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Tune-Restart")
    assert job["HyperParameterTuningJobStatus"] == "Failed"
    assert job["FailureReason"] == SERVER_STOPPED
