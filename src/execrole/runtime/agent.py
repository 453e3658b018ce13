"""The job agent: one process per job, started by the supervisor, doing what SageMaker's
host agent does for one instance — as the job's role session, through the endpoint:

    python -m execrole.runtime.agent <spec.json>

The spec names the job kind; the kind's module (training.py, processing.py) holds the
steps. The agent reports to the supervisor in JSON lines on its stdout:

    {"event": "status", "set": {...document fields...}, "secondary": [status, message]}
    {"event": "process", "pgid": N}            the job's process group
    {"event": "finished", "status": "Completed" | "Failed" | "Stopped", "reason": ...,
     "set": {...}}

Signals from the supervisor: SIGTERM asks for a stop (the job's processes get SIGTERM, then
SIGKILL after the grace period, 120 s as SageMaker gives); SIGUSR1 means the server is
shutting down (kill at once). When the supervisor dies without a word (a crash), the agent
kills the job's processes and exits, so nothing outlives the server.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from .jobrun import JobContext, JobFailure, StopKind

_OUT: IO[str] = sys.stdout
JOB_NICENESS = 10
# The module holding each job kind's steps (its `run(ctx) -> result`).
STEPS = {"training-job": "execrole.runtime.training",
         "processing-job": "execrole.runtime.processing"}


def emit(event: dict[str, Any]) -> None:
    _OUT.write(json.dumps(event, default=str) + "\n")
    _OUT.flush()


def _watch_parent(ctx: JobContext, parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            ctx.kill_now()
            os._exit(3)


def main(argv: list[str] | None = None) -> int:
    global _OUT
    args = sys.argv[1:] if argv is None else argv
    # Jobs yield the CPU to the control plane, which in SageMaker has machines of its own:
    # Describe calls stay fast while jobs run on the same cores. The job inherits it.
    with contextlib.suppress(OSError):
        os.nice(JOB_NICENESS)
    spec_path = Path(args[0])
    spec = json.loads(spec_path.read_text())
    spec_path.unlink()  # it holds the role session's secret: read once, then gone
    # The job's own output never reaches the supervisor's pipe: only events do.
    _OUT = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    ctx = JobContext(spec, emit)
    signal.signal(signal.SIGTERM, lambda *_: ctx.request_stop(StopKind.USER))
    signal.signal(signal.SIGUSR1, lambda *_: ctx.request_stop(StopKind.SHUTDOWN))
    threading.Thread(target=_watch_parent, args=(ctx, os.getppid()), daemon=True).start()
    kind = spec["kind"]
    if kind not in STEPS:
        emit({"event": "finished", "status": "Failed",
              "reason": f"InternalServerError: unknown job kind {kind}"})
        return 1
    try:
        return _run(ctx, kind)
    finally:
        _tidy(Path(spec["dir"]))


def _tidy(job_dir: Path) -> None:
    """What the job's instance held (the image, the data, the packed artifacts) goes with
    it, as a SageMaker instance's volume does; agent.log stays. EXECROLE_KEEP_JOB_FILES=1
    keeps everything, for a look inside."""
    if os.environ.get("EXECROLE_KEEP_JOB_FILES") == "1":
        return
    for name in ("image", "opt", "rootfs"):
        shutil.rmtree(job_dir / name, ignore_errors=True)
    for packed in job_dir.glob("*.tar.gz"):
        packed.unlink(missing_ok=True)


def _run(ctx: JobContext, kind: str) -> int:
    try:
        result = importlib.import_module(STEPS[kind]).run(ctx)
    except JobFailure as e:
        ctx.close()
        emit({"event": "finished", "status": "Failed", "reason": e.reason[:1024],
              "set": e.fields})
        return 0
    except Exception as e:
        ctx.close()
        emit({"event": "finished", "status": "Failed",
              "reason": f"InternalServerError: {type(e).__name__}: {e}"[:1024]})
        return 1
    ctx.close()
    emit({"event": "finished", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
