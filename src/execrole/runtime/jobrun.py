"""What every job kind's steps share inside the agent: clients signed with the job's role
session, status reports, the job's process (its own process group, stopped with SIGTERM and
then SIGKILL after the grace period), and cleanup."""

from __future__ import annotations

import contextlib
import ctypes
import enum
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .. import clienthook

STOP_GRACE_S = 120.0  # StopTrainingJob: "SageMaker sends the algorithm the SIGTERM signal,
# which delays job termination for 120 seconds" (SageMaker API reference)
_PR_SET_PDEATHSIG = 1


class StopKind(enum.Enum):
    USER = "stop"  # StopTrainingJob / StopProcessingJob
    MAX_RUNTIME = "max_runtime"  # StoppingCondition.MaxRuntimeInSeconds
    SHUTDOWN = "shutdown"  # the server is going away


class JobFailure(Exception):
    """The job fails with SageMaker's FailureReason."""

    def __init__(self, reason: str, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = dict(fields or {})


def error_text(error: Exception) -> str:
    """`Code: Message` of a client error, as SageMaker quotes them in FailureReasons."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code', 'Unknown')}: {err.get('Message', '')}"
    return f"{type(error).__name__}: {error}"


@dataclass
class ProcessResult:
    code: int
    stopped: StopKind | None
    elapsed: float


def _die_with_parent() -> None:
    """In the job's process, before exec: its own session, and SIGKILL if the agent dies."""
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the agent's parent watch still applies
        pass


@dataclass
class JobContext:
    spec: dict[str, Any]
    emit: Callable[[dict[str, Any]], None]
    stop_kind: StopKind | None = None
    process: subprocess.Popen[bytes] | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        creds = self.spec["credentials"]
        self.session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=self.spec["region"])
        self.dir = Path(self.spec["dir"])
        self.request: dict[str, Any] = self.spec["request"]
        self.name: str = self.spec["name"]
        self.started = time.time()
        self._clients: dict[str, Any] = {}
        grace = os.environ.get("EXECROLE_STOP_GRACE_SECONDS")
        self.grace = float(grace) if grace else STOP_GRACE_S

    # --- clients as the role session -------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.spec["endpoint"],
                config=Config(retries={"max_attempts": 2, "mode": "standard"},
                              user_agent_extra="execrole-sagemaker-runtime",
                              s3={"addressing_style": "path"}))
        return self._clients[service]

    def role_environment(self) -> dict[str, str]:
        """What the job's process gets: the role session, pointed at the endpoint."""
        creds = self.spec["credentials"]
        return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"],
                "AWS_ENDPOINT_URL": self.spec["endpoint"],
                "AWS_DEFAULT_REGION": self.spec["region"], "AWS_REGION": self.spec["region"],
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                # SDK code in the job whose clients name AWS endpoints reaches execrole.
                **clienthook.environment(self.spec["endpoint"], base={})}

    # --- status ------------------------------------------------------------------------------

    def status(self, secondary: str | None = None, message: str = "", **fields: Any) -> None:
        event: dict[str, Any] = {"event": "status", "set": fields}
        if secondary is not None:
            event["secondary"] = [secondary, message]
        self.emit(event)

    # --- stopping ----------------------------------------------------------------------------

    def request_stop(self, kind: StopKind) -> None:
        with self._lock:
            if self.stop_kind is None or kind == StopKind.SHUTDOWN:
                self.stop_kind = kind
        if kind == StopKind.SHUTDOWN:
            self.kill_now()

    def kill_now(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def check_stop(self) -> None:
        """Between steps: a stop asked for before the process started ends the job here."""
        if self.stop_kind is not None:
            raise Stopped(self.stop_kind)

    # --- the job's process ---------------------------------------------------------------

    def run_process(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path,
                    on_line: Callable[[str], None], max_runtime: float | None) -> ProcessResult:
        start = time.monotonic()
        self.check_stop()
        self.process = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        self.emit({"event": "process", "pgid": self.process.pid})
        reader = threading.Thread(target=self._pump, args=(self.process, on_line), daemon=True)
        reader.start()
        deadline = start + max_runtime if max_runtime else None
        stopped: StopKind | None = None
        term_at: float | None = None
        while self.process.poll() is None:
            now = time.monotonic()
            if stopped is None and deadline is not None and now >= deadline:
                self.request_stop(StopKind.MAX_RUNTIME)
            if stopped is None and self.stop_kind is not None:
                stopped = self.stop_kind
                term_at = now
                self._signal(signal.SIGTERM)
            if term_at is not None and now - term_at >= self.grace:
                self._signal(signal.SIGKILL)
            time.sleep(0.05)
        code = self.process.wait()
        if stopped is None and self.stop_kind is not None:
            stopped = self.stop_kind  # killed at once (shutdown) before the loop saw it
        reader.join(timeout=5)
        return ProcessResult(code, stopped, time.monotonic() - start)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    @staticmethod
    def _pump(process: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            on_line(raw.decode("utf-8", "replace").rstrip("\n"))

    # --- cleanup -------------------------------------------------------------------------------

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            # A cleanup that is denied is in the decision log; the job's result holds.
            with contextlib.suppress(ClientError, BotoCoreError, OSError):
                cleanup()
        self.cleanups.clear()


class Stopped(Exception):
    def __init__(self, kind: StopKind) -> None:
        super().__init__(kind.value)
        self.kind = kind
