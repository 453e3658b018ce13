"""A training job's steps, as SageMaker's secondary statuses name them (botocore's
DescribeTrainingJob documentation; the StatusMessages are those SageMaker reports):

Starting (network interfaces, log stream) -> Downloading (channels, checkpoints) ->
Training (the image pulled, the process run with the container contract) -> Uploading
(model.tar.gz and output.tar.gz to `S3OutputPath/<job>/output/`, checkpoints) -> Completed.
A stop ends in Stopped (MaxRuntimeExceeded when the time limit stopped it), after the model
is uploaded; a failure ends in Failed with FailureReason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tarfile
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import container, transfer
from .container import HOST
from .cwlogs import LogStream
from .jobrun import JobContext, JobFailure, StopKind, Stopped
from .supervisor import SERVER_STOPPED

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRIC_NAMESPACE = "/aws/sagemaker/TrainingJobs"


def _checkpoint_dir(local: str, root: Path) -> Path:
    """Where CheckpointConfig.LocalPath lives here: under the directory standing for /opt/ml,
    or, for another path, under the job's `rootfs/` (never the machine's own path)."""
    if local == container.OPT_ML or local.startswith(container.OPT_ML + "/"):
        return Path(container.local_path(local, root, root))
    return root.parent.parent / "rootfs" / local.lstrip("/")


def _layout(root: Path, checkpoints: str) -> dict[str, Path]:
    paths = {"config": root / "input" / "config", "data": root / "input" / "data",
             "model": root / "model", "output": root / "output",
             "output_data": root / "output" / "data", "code": root / "code",
             "checkpoints": _checkpoint_dir(checkpoints, root)}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    return paths


def _config_files(ctx: JobContext, paths: dict[str, Path]) -> None:
    req = ctx.request
    hps = dict(req.get("HyperParameters") or {})
    (paths["config"] / "hyperparameters.json").write_text(json.dumps(hps))
    channels = {c["ChannelName"]: {
        "ContentType": c.get("ContentType", ""), "TrainingInputMode": c.get(
            "InputMode", req["AlgorithmSpecification"].get("TrainingInputMode", "File")),
        "S3DistributionType": c.get("DataSource", {}).get("S3DataSource", {}).get(
            "S3DataDistributionType", "FullyReplicated"),
        "RecordWrapperType": c.get("RecordWrapperType", "None")}
        for c in req.get("InputDataConfig") or []}
    (paths["config"] / "inputdataconfig.json").write_text(json.dumps(channels))
    container.write_resource_config(
        paths["config"], (req.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large"))


def _sm_environment(ctx: JobContext, paths: dict[str, Path], code: Path | None
                    ) -> dict[str, str]:
    """The variables the SageMaker training toolkit sets (sagemaker-training's environment
    module), rooted in the job directory."""
    req = ctx.request
    hps = dict(req.get("HyperParameters") or {})
    decoded: dict[str, Any] = {}
    for key, value in hps.items():
        try:
            decoded[key] = json.loads(value)
        except ValueError:
            decoded[key] = value
    user = {k: v for k, v in decoded.items() if not k.startswith("sagemaker_")}
    channels = [c["ChannelName"] for c in req.get("InputDataConfig") or []]
    env = {"TRAINING_JOB_NAME": ctx.name, "TRAINING_JOB_ARN": ctx.spec["arn"],
           "SM_MODEL_DIR": str(paths["model"]), "SM_OUTPUT_DIR": str(paths["output"]),
           "SM_OUTPUT_DATA_DIR": str(paths["output_data"]),
           "SM_INPUT_DIR": str(paths["data"].parent),
           "SM_INPUT_CONFIG_DIR": str(paths["config"]),
           "SM_CHANNELS": json.dumps(channels), "SM_HPS": json.dumps(user),
           "SM_CURRENT_HOST": HOST, "SM_HOSTS": json.dumps([HOST]),
           "SM_NUM_CPUS": str(os.cpu_count() or 1), "SM_NUM_GPUS": "0",
           "SM_NETWORK_INTERFACE_NAME": "eth0", "SM_LOG_LEVEL": "20",
           "SM_CHECKPOINT_DIR": str(paths["checkpoints"])}
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = str(paths["data"] / channel)
    for key, value in user.items():
        env[f"SM_HP_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    if code is not None:
        env["SM_MODULE_DIR"] = str(code)
    env.update({k: str(v) for k, v in (req.get("Environment") or {}).items()})
    return env


def _submit_directory(ctx: JobContext, paths: dict[str, Path]) -> Path | None:
    """Script mode's code (`sagemaker_submit_directory`): an S3 tar.gz the role downloads,
    unpacked into `code/` (what the training toolkit does before it runs the entry point)."""
    raw = (ctx.request.get("HyperParameters") or {}).get("sagemaker_submit_directory")
    if not raw:
        return None
    try:
        uri = json.loads(raw)
    except ValueError:
        uri = raw
    if not str(uri).startswith("s3://"):
        return None
    bucket, key = transfer.split_s3(str(uri))
    archive = ctx.dir / "sourcedir.tar.gz"
    transfer.download_object(ctx, bucket, key, archive)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(paths["code"], filter="data")
    except (tarfile.TarError, OSError) as e:
        raise JobFailure(f"ClientError: the source archive {uri} is not a tar.gz: {e}"
                         ) from None
    return paths["code"]


class Metrics:
    """MetricDefinitions applied to each log line: the last value of each is the final
    metric; each value is also put to CloudWatch as the role (`/aws/sagemaker/TrainingJobs`,
    dimension TrainingJobName)."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.rules = []
        for d in ctx.request["AlgorithmSpecification"].get("MetricDefinitions") or []:
            try:
                self.rules.append((d["Name"], re.compile(d["Regex"])))
            except re.error:
                continue  # refused at CreateTrainingJob; never reached
        self.final: dict[str, tuple[float, float]] = {}

    def scan(self, line: str) -> None:
        for name, rule in self.rules:
            m = rule.search(line)
            if not m:
                continue
            try:
                value = float(m.group(1) if m.groups() else m.group(0))
            except (ValueError, IndexError):
                continue
            now = time.time()
            self.final[name] = (value, now)
            # Metrics the role may not put are dropped; the denial is in the decision log.
            with contextlib.suppress(ClientError, BotoCoreError):
                self.ctx.client("cloudwatch").put_metric_data(
                    Namespace=METRIC_NAMESPACE, MetricData=[{
                        "MetricName": name, "Value": value, "Timestamp": now,
                        "Dimensions": [{"Name": "TrainingJobName", "Value": self.ctx.name}]}])

    def final_list(self) -> list[dict[str, Any]]:
        return [{"MetricName": k, "Value": v, "Timestamp": t}
                for k, (v, t) in self.final.items()]


def _upload(ctx: JobContext, paths: dict[str, Path]) -> dict[str, Any]:
    req = ctx.request
    out = req["OutputDataConfig"]
    base = f"{out['S3OutputPath'].rstrip('/')}/{ctx.name}/output"
    kms = out.get("KmsKeyId")
    model = transfer.pack(paths["model"], ctx.dir / "model.tar.gz")
    transfer.upload_file(ctx, model, f"{base}/model.tar.gz", kms)
    if any(paths["output_data"].iterdir()):
        data = transfer.pack(paths["output_data"], ctx.dir / "output.tar.gz")
        transfer.upload_file(ctx, data, f"{base}/output.tar.gz", kms)
    checkpoint = req.get("CheckpointConfig")
    if checkpoint:
        transfer.upload_tree(ctx, paths["checkpoints"], checkpoint["S3Uri"], kms)
    return {"ModelArtifacts": {"S3ModelArtifacts": f"{base}/model.tar.gz"}}


def _failure(paths: dict[str, Path], code: int) -> str:
    failure = paths["output"] / "failure"
    if failure.is_file():
        text = failure.read_text(errors="replace").strip()
        if text:
            return f"AlgorithmError: {text}"
    return f"AlgorithmError: See job logs for more information (exit code {code})"


def run(ctx: JobContext) -> dict[str, Any]:
    req = ctx.request
    root = ctx.dir / "opt" / "ml"
    # CheckpointConfig.LocalPath: "/opt/ml/checkpoints" unless given (API reference).
    paths = _layout(root, (req.get("CheckpointConfig") or {}).get("LocalPath")
                    or "/opt/ml/checkpoints")
    stream = LogStream(ctx, LOG_GROUP, f"{ctx.name}/{HOST}-{int(ctx.started)}")
    ended: dict[str, Any] = {}
    try:
        ctx.status("Starting", "Preparing the instances for training")
        transfer.start_instance(ctx, stream, req.get("VpcConfig"),
                                (req.get("ResourceConfig") or {}).get("VolumeKmsKeyId"))
        ctx.check_stop()
        ctx.status("Downloading", "Downloading input data", TrainingStartTime=time.time())
        for channel in req.get("InputDataConfig") or []:
            source = channel["DataSource"].get("S3DataSource")
            if source:
                transfer.download(ctx, source, paths["data"] / channel["ChannelName"])
        if req.get("CheckpointConfig"):
            bucket, prefix = transfer.split_s3(req["CheckpointConfig"]["S3Uri"])
            transfer.download(ctx, {"S3Uri": f"s3://{bucket}/{prefix}"}, paths["checkpoints"])
        code_dir = _submit_directory(ctx, paths)
        ctx.check_stop()
        ctx.status("Training", "Downloading the training image")
        image_dir = ctx.dir / "image"
        config = transfer.pull_image(ctx, req["AlgorithmSpecification"]["TrainingImage"],
                                     image_dir)
        _config_files(ctx, paths)
        algo = req["AlgorithmSpecification"]
        argv = container.command(config, algo.get("ContainerEntrypoint"),
                                 algo.get("ContainerArguments"), ["train"], root, image_dir)
        env = container.environment(config, {**ctx.role_environment(),
                                             **_sm_environment(ctx, paths, code_dir)},
                                    root, image_dir)
        ctx.status("Training", "Training image download completed. Training in progress.")
        metrics = Metrics(ctx)

        def line(text: str) -> None:
            stream.write(text)
            metrics.scan(text)

        limit = (req.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        result = ctx.run_process(argv, env, container.working_dir(config, root, image_dir),
                                 line, float(limit) if limit else None)
        ended["FinalMetricDataList"] = metrics.final_list()
        if result.stopped is None and result.code != 0:
            raise JobFailure(_failure(paths, result.code), ended)
        if result.stopped == StopKind.SHUTDOWN:
            raise Stopped(StopKind.SHUTDOWN)
        ctx.status("Uploading", "Uploading generated training model")
        try:
            ended.update(_upload(ctx, paths))
        except JobFailure as e:
            raise JobFailure(e.reason, ended) from None
        ended["TrainingEndTime"] = time.time()
        if result.stopped is not None:
            return _stopped(result.stopped, ended)
        return {"status": "Completed", "secondary": ["Completed", "Training job completed"],
                "set": ended}
    except Stopped as s:
        if s.kind == StopKind.SHUTDOWN:
            return {"status": "Failed", "reason": SERVER_STOPPED, "set": ended}
        ended.setdefault("TrainingEndTime", time.time())
        return _stopped(s.kind, ended)


def _stopped(kind: StopKind, ended: dict[str, Any]) -> dict[str, Any]:
    if kind == StopKind.MAX_RUNTIME:
        return {"status": "Stopped", "secondary": [
            "MaxRuntimeExceeded", "Training job runtime exceeded MaxRuntimeInSeconds provided"],
            "set": ended}
    return {"status": "Stopped", "secondary": ["Stopped", "Training job stopped"],
            "set": ended}
