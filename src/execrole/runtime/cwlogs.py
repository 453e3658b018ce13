"""A job's log stream in CloudWatch Logs, written as the role session: the log group
`/aws/sagemaker/TrainingJobs` (ProcessingJobs, ...), the stream `<job>/algo-1-<epoch>`
(`<job>/algo-1-<epoch>` for processing too), each line the process prints one event,
sent in batches as they come (every 200 ms at most)."""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .jobrun import JobContext, JobFailure, error_text

FLUSH_S = 0.2
MAX_BATCH = 1000  # PutLogEvents: at most 10,000 events per call; smaller batches keep it live


class LogStream:
    def __init__(self, ctx: JobContext, group: str, stream: str) -> None:
        self.ctx = ctx
        self.group = group
        self.stream = stream
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.failed: str | None = None
        self.thread: threading.Thread | None = None

    def open(self) -> None:
        logs = self.ctx.client("logs")
        try:
            logs.create_log_group(logGroupName=self.group)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                self._fail("create the log group", e)
        except BotoCoreError as e:
            self._fail("create the log group", e)
        try:
            logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except (ClientError, BotoCoreError) as e:
            self._fail(f"create the log stream {self.stream}", e)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="logs")
        self.thread.start()

    def _fail(self, what: str, error: Exception) -> None:
        raise JobFailure(f"ClientError: Unable to {what} in CloudWatch Logs group "
                         f"{self.group} as the execution role ({error_text(error)})")

    def write(self, line: str) -> None:
        with self.lock:
            self.pending.append({"timestamp": int(time.time() * 1000), "message": line})

    def _loop(self) -> None:
        while not self.closed.wait(FLUSH_S):
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
        if not batch or self.failed:
            return
        try:
            self.ctx.client("logs").put_log_events(
                logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
        except (ClientError, BotoCoreError) as e:
            # Lines that cannot be delivered are dropped; the denial is in the decision log.
            self.failed = error_text(e)

    def close(self) -> None:
        self.closed.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        while self.pending and not self.failed:
            self.flush()
