"""A processing job's steps (build-your-own-processing-container.md, processing-job.md):

network interfaces of a VPC job, the log stream -> the inputs downloaded as the role to their
LocalPath (ProcessingStartTime) -> the image pulled -> `/opt/ml/config/processingjobconfig.json`
and `resourceconfig.json` written -> the process run (ContainerEntrypoint/ContainerArguments
over the image's ENTRYPOINT/CMD, the request's Environment, MaxRuntimeInSeconds) -> the
outputs uploaded as the role from LocalPath to S3Uri -> Completed.

A non-zero exit fails the job with `AlgorithmError: ...` (the first KB of
`/opt/ml/output/message` when the container wrote it, which is also the ExitMessage); a stop
ends in Stopped after the outputs are uploaded. Continuous outputs are uploaded at the end,
as EndOfJob ones (docs/fidelity.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import container, transfer
from .container import HOST
from .cwlogs import LogStream
from .jobrun import JobContext, JobFailure, StopKind, Stopped
from .supervisor import SERVER_STOPPED

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
EXIT_MESSAGE_BYTES = 1024  # "the ExitMessage ... contains the first 1 KB of this file"
# What processingjobconfig.json and DescribeProcessingJob show for an S3 input whose request
# left them out (the processingjobconfig.json example of the contract page).
S3_INPUT_DEFAULTS = {"S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                     "S3CompressionType": "None"}
# The keys of processingjobconfig.json in the contract page's example.
CONFIG_KEYS = ("ProcessingJobName", "AppSpecification", "Environment", "ProcessingInputs",
               "ProcessingOutputConfig", "ProcessingResources", "RoleArn", "StoppingCondition")


def _host_path(path: str, root: Path, image: Path) -> Path:
    return Path(container.local_path(path, root, image))


def _config_files(ctx: JobContext, root: Path) -> None:
    """The two files the contract page shows: the request as processingjobconfig.json (with
    the job's ARN and the input defaults), the hosts as resourceconfig.json."""
    req = ctx.request
    # The example's keys only: after a restart the request is the stored document, which
    # also holds the status fields.
    config = {k: req[k] for k in CONFIG_KEYS if k in req}
    config["ProcessingJobArn"] = ctx.spec["arn"]
    config["ProcessingInputs"] = [
        {**item, "S3Input": {**S3_INPUT_DEFAULTS, **item["S3Input"]}}
        for item in req.get("ProcessingInputs") or []]
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "processingjobconfig.json").write_text(json.dumps(config, default=str))
    cluster = (req.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    container.write_resource_config(config_dir, cluster.get("InstanceType", "ml.m5.xlarge"))


def _download_inputs(ctx: JobContext, root: Path, image: Path) -> None:
    for item in ctx.request.get("ProcessingInputs") or []:
        source = item["S3Input"]  # only S3 inputs pass CreateProcessingJob
        dest = _host_path(source["LocalPath"], root, image)
        transfer.download(ctx, {"S3Uri": source["S3Uri"],
                                "S3DataType": source.get("S3DataType", "S3Prefix")}, dest)


def _prepare_outputs(ctx: JobContext, root: Path, image: Path) -> None:
    """Every output's LocalPath exists before the process starts, as in the container."""
    for item in (ctx.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        _host_path(item["S3Output"]["LocalPath"], root, image).mkdir(parents=True,
                                                                       exist_ok=True)


def _upload_outputs(ctx: JobContext, root: Path, image: Path) -> None:
    config = ctx.request.get("ProcessingOutputConfig") or {}
    kms = config.get("KmsKeyId")
    for item in config.get("Outputs") or []:
        out = item["S3Output"]
        transfer.upload_tree(ctx, _host_path(out["LocalPath"], root, image), out["S3Uri"], kms)


def _exit_message(root: Path) -> str | None:
    """The first KB of /opt/ml/output/message; a file that is not UTF-8 fails the job with a
    ClientError, as the contract page says (the text is execrole's)."""
    path = root / "output" / "message"
    if not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JobFailure("ClientError: /opt/ml/output/message is not UTF-8 encoded text."
                         ) from None
    return text.encode("utf-8")[:EXIT_MESSAGE_BYTES].decode("utf-8", "ignore")


def _environment(ctx: JobContext, root: Path, image: Path) -> dict[str, str]:
    # Values naming /opt/ml paths point into the job's directory, as argv's do.
    env = {k: container.local_path(str(v), root, image)
           for k, v in (ctx.request.get("Environment") or {}).items()}
    return {**ctx.role_environment(), "PROCESSING_JOB_NAME": ctx.name, **env}


def _run(ctx: JobContext, root: Path, image: Path, stream: LogStream) -> tuple[int,
                                                                              StopKind | None]:
    req = ctx.request
    config = transfer.pull_image(ctx, req["AppSpecification"]["ImageUri"], image)
    _config_files(ctx, root)
    _prepare_outputs(ctx, root, image)
    app = req["AppSpecification"]
    try:
        argv = container.command(config, app.get("ContainerEntrypoint"),
                                 app.get("ContainerArguments"), [], root, image)
    except ValueError:
        raise JobFailure("ClientError: The image has no ENTRYPOINT or CMD and the request "
                         "gives no ContainerEntrypoint.") from None
    env = container.environment(config, _environment(ctx, root, image), root, image)
    limit = (req.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    result = ctx.run_process(argv, env, container.working_dir(config, root, image),
                             stream.write, float(limit) if limit else None)
    return result.code, result.stopped


def run(ctx: JobContext) -> dict[str, Any]:
    req = ctx.request
    root = ctx.dir / "opt" / "ml"
    (root / "output").mkdir(parents=True, exist_ok=True)
    image = ctx.dir / "image"
    stream = LogStream(ctx, LOG_GROUP, f"{ctx.name}/{HOST}-{int(ctx.started)}")
    ended: dict[str, Any] = {}
    try:
        cluster = (req.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        transfer.start_instance(ctx, stream, (req.get("NetworkConfig") or {}).get("VpcConfig"),
                                cluster.get("VolumeKmsKeyId"))
        ctx.check_stop()
        ctx.status(ProcessingStartTime=time.time())
        _download_inputs(ctx, root, image)
        ctx.check_stop()
        code, stopped = _run(ctx, root, image, stream)
        message = _exit_message(root)
        if message is not None:
            ended["ExitMessage"] = message
        if stopped is None and code != 0:
            reason = message.strip() if message and message.strip() else \
                f"See job logs for more information (exit code {code})"
            raise JobFailure(f"AlgorithmError: {reason}", _end(ended))
        if stopped == StopKind.SHUTDOWN:
            raise Stopped(StopKind.SHUTDOWN)
        try:
            _upload_outputs(ctx, root, image)
        except JobFailure as e:
            raise JobFailure(e.reason, _end(ended)) from None
        if stopped is not None:
            return _stopped(stopped, _end(ended))
        return {"status": "Completed", "set": _end(ended)}
    except Stopped as s:
        if s.kind == StopKind.SHUTDOWN:
            return {"status": "Failed", "reason": SERVER_STOPPED, "set": ended}
        return _stopped(s.kind, _end(ended))


def _end(ended: dict[str, Any]) -> dict[str, Any]:
    ended.setdefault("ProcessingEndTime", time.time())
    return ended


def _stopped(kind: StopKind, ended: dict[str, Any]) -> dict[str, Any]:
    if kind == StopKind.MAX_RUNTIME:
        # DescribeProcessingJob has no secondary status: the reason says why it stopped.
        return {"status": "Stopped", "set": ended,
                "reason": "Processing job runtime exceeded MaxRuntimeInSeconds provided"}
    return {"status": "Stopped", "set": ended}
