"""The job supervisor, inside `execrole serve`: it queues jobs, starts one agent process per
job (`python -m execrole.runtime.agent`) up to a concurrency limit, applies the events the
agent reports (status changes, pids, results) to the job's stored document, stops jobs, and
after a crash of the server fails the jobs that were running and kills what is left of them.

Agents talk to the supervisor with JSON lines on their stdout (see agent.py); the supervisor
talks to an agent with signals (SIGTERM: stop the job). Everything else an agent does goes
through the endpoint over HTTP, signed with the job's role session, so it is authorized and
logged like any other call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("execrole.jobs")

# The reason a job gets when the server stopped under it (SageMaker's text for an internal
# failure, with what happened).
SERVER_STOPPED = ("InternalServerError: We encountered an internal error. Please try again. "
                  "(execrole: the server stopped while the job was running)")
RUNNING = ("InProgress", "Stopping")


class StartFailure(Exception):
    """A job that cannot start, with the FailureReason it gets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Spec = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass
class Job:
    arn: str
    kind: str  # resource kind: training-job, processing-job
    spec: Spec  # what the agent needs (agent.py reads it), or how to make it at start
    process: subprocess.Popen[bytes] | None = None
    stop_requested: bool = False


Apply = Callable[[str, str, dict[str, Any]], None]  # (kind, arn, event)


class Supervisor:
    def __init__(self, jobs_dir: Path, *, endpoint: str, limit: int, apply: Apply,
                 python: str = sys.executable) -> None:
        self.endpoint = endpoint  # the URL agents and jobs call the endpoint at
        self.jobs_dir = jobs_dir
        self.limit = max(1, limit)
        self.apply = apply
        self.python = python
        self.queue: deque[Job] = deque()
        self.running: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.closed = False

    # --- submitting and stopping -----------------------------------------------------------

    def submit(self, arn: str, kind: str, spec: Spec) -> None:
        with self.lock:
            self.queue.append(Job(arn, kind, spec))
        self._start_queued()

    def stop(self, arn: str) -> bool:
        """Ask a job to stop; True when it was queued or running here."""
        with self.lock:
            for job in list(self.queue):
                if job.arn == arn:
                    self.queue.remove(job)
                    self.apply(job.kind, arn, {"event": "stopped_before_start"})
                    return True
            running = self.running.get(arn)
            if running is None:
                return False
            running.stop_requested = True
            process = running.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return True

    def active(self) -> int:
        with self.lock:
            return len(self.running) + len(self.queue)

    # --- the agents --------------------------------------------------------------------------

    def _start_queued(self) -> None:
        while True:
            with self.lock:
                if self.closed or not self.queue or len(self.running) >= self.limit:
                    return
                job = self.queue.popleft()
                self.running[job.arn] = job
            try:
                self._launch(job)
            except Exception as e:
                if not isinstance(e, StartFailure):
                    log.exception("job %s could not start", job.arn)
                with self.lock:
                    self.running.pop(job.arn, None)
                reason = e.reason if isinstance(e, StartFailure) else \
                    f"InternalServerError: {e}"
                self.apply(job.kind, job.arn, {"event": "finished", "status": "Failed",
                                               "reason": reason})

    def _launch(self, job: Job) -> None:
        if callable(job.spec):
            job.spec = job.spec()
        job_dir = self.jobs_dir / job.arn.rsplit(":", 1)[-1].replace("/", "_")
        job_dir.mkdir(parents=True, exist_ok=True)
        spec_path = job_dir / "spec.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**job.spec, "dir": str(job_dir), "kind": job.kind, "arn": job.arn}, f)
        job.process = subprocess.Popen(
            [self.python, "-m", "execrole.runtime.agent", str(spec_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
            stderr=open(job_dir / "agent.log", "ab"),  # noqa: SIM115 - the child owns it
            env={**os.environ, "EXECROLE_SUPERVISOR_PID": str(os.getpid())})
        # The agent leads a process group of its own: a terminal's Ctrl-C reaches the server,
        # which stops jobs in order, not every job at once.
        self.apply(job.kind, job.arn, {"event": "agent", "agent_pgid": job.process.pid,
                                       "dir": str(job_dir)})
        threading.Thread(target=self._watch, args=(job,), daemon=True,
                         name=f"job {job.arn}").start()

    def _watch(self, job: Job) -> None:
        assert job.process is not None and job.process.stdout is not None
        finished = False
        for raw in job.process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            finished = finished or event.get("event") == "finished"
            try:
                self.apply(job.kind, job.arn, event)
            except Exception:
                log.exception("job %s: could not apply %r", job.arn, event)
        code = job.process.wait()
        if not finished and job.stop_requested and not self.closed:
            # Stopped before the agent could take the signal in hand.
            self.apply(job.kind, job.arn, {"event": "stopped_before_start"})
        elif not finished and not self.closed:
            self.apply(job.kind, job.arn, {
                "event": "finished", "status": "Failed",
                "reason": f"InternalServerError: the job's agent exited with code {code}"})
        with self.lock:
            self.running.pop(job.arn, None)
        self._start_queued()

    # --- crash recovery and shutdown -----------------------------------------------------

    def recover(self, running: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Jobs the store says are running, after a start of the server: (kind, arn, runtime
        record). Their processes, if any survived, are killed; the jobs fail."""
        for kind, arn, record in running:
            for key in ("pgid", "agent_pgid"):
                pgid = record.get(key)
                if isinstance(pgid, int) and pgid > 1:
                    _kill_group(pgid)
            self.apply(kind, arn, {"event": "finished", "status": "Failed",
                                   "reason": SERVER_STOPPED})

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every job (the server is going away: no process may outlive it)."""
        with self.lock:
            self.closed = True
            queued = list(self.queue)
            self.queue.clear()
            running = list(self.running.values())
        for job in queued:
            self.apply(job.kind, job.arn, {"event": "finished", "status": "Failed",
                                           "reason": SERVER_STOPPED})
        for job in running:
            if job.process is not None and job.process.poll() is None:
                job.process.send_signal(signal.SIGUSR1)  # agent: kill the job now, report
        deadline = time.monotonic() + timeout
        for job in running:
            if job.process is None:
                continue
            try:
                job.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(job.process.pid)
                job.process.kill()
            self.apply(job.kind, job.arn, {"event": "finished", "status": "Failed",
                                           "reason": SERVER_STOPPED, "if_running": True})


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
