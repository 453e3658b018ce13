"""A real `execrole serve` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    port: int
    key: str
    secret: str
    process: subprocess.Popen[str] | None = None

    def client(self, service: str, key: str | None = None, secret: str | None = None,
               token: str | None = None, region: str = "us-east-1") -> object:
        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id=key or self.key,
                            aws_secret_access_key=secret or self.secret,
                            aws_session_token=token,
                            config=Config(retries={"max_attempts": 1}))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ENDPOINT_URL=self.url, AWS_ACCESS_KEY_ID=self.key,
                   AWS_SECRET_ACCESS_KEY=self.secret, AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        return env

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "execrole", "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_execrole/health", timeout=1) as r:
                    if json.load(r)["status"] == "ok":
                        return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("server exited: " + self.process.stderr.read()) from None
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _read_root_key(data_dir: Path) -> tuple[str, str]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(data_dir / "credentials")
    return parser["execrole"]["aws_access_key_id"], parser["execrole"]["aws_secret_access_key"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("execrole-data")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", data_dir, port, "", "")
    srv.start()
    srv.key, srv.secret = _read_root_key(data_dir)
    try:
        yield srv
    finally:
        srv.stop()


# --- SageMaker jobs: images, planned roles, log streams -------------------------------------

def push_image(server: Server, uri: str, directory: Path, entrypoint: str) -> None:
    """`execrole image push` (src/execrole/cli/image.py) as the root key; the repository
    must exist first."""
    pushed = subprocess.run(
        [sys.executable, "-m", "execrole", "image", "push", uri, "--dir", str(directory),
         "--entrypoint", entrypoint, "--endpoint", server.url, "--data-dir",
         str(server.data_dir)], env=server.env(), capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr


def planned_role(server: Server, api: str, request: dict[str, Any], name: str, *,
                 account: str, drop: tuple[str, ...] = (),
                 kms_inputs: tuple[str, ...] = ()) -> str:
    """A role with the planner's least-privilege trust and permissions for `request`, minus
    the actions in `drop`; its ARN."""
    import copy

    from execrole.planner.plan import plan

    p = plan(api, request, account=account, region="us-east-1", kms_inputs=kms_inputs)
    policy = copy.deepcopy(p.role_policy)
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        st["Action"] = [a for a in actions if a not in drop]
    policy["Statement"] = [st for st in policy["Statement"] if st["Action"]]
    iam: Any = server.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        p.trust_policy))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="least", PolicyDocument=json.dumps(policy))
    return str(arn)


def job_log_lines(server: Server, group: str, name: str) -> list[str]:
    """The lines of a job's one log stream `<job>/algo-1-<epoch>` in `group`."""
    logs: Any = server.client("logs")
    streams = logs.describe_log_streams(logGroupName=group,
                                        logStreamNamePrefix=f"{name}/")["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{name}/algo-1-")
    return [e["message"] for e in logs.get_log_events(
        logGroupName=group, logStreamName=streams[0]["logStreamName"],
        startFromHead=True)["events"]]


# --- the console in a real browser (Debian's Chromium, driven by Playwright) -----------------

CHROMIUM = os.environ.get("EXECROLE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Flags that keep Chromium off the network (this machine's is closed) and quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


# Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
# is open, and later tests call asyncio.run(), which refuses to run inside one.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: `python3 dev.py test` installs "
                           "Debian's chromium package (or set EXECROLE_CHROMIUM)")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()


def console_url(server: Server, path: str = "/") -> str:
    return f"{server.url}/_execrole/console{path}"


def sign_in(page: Any, server: Server, key: str | None = None,
            secret: str | None = None) -> None:
    """Sign in through the form, as a person would (keyboard and clicks)."""
    page.goto(console_url(server, "/signin"))
    page.get_by_label("Access key ID").fill(key or server.key)
    page.get_by_label("Secret access key").fill(secret or server.secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page: Any, name: str) -> Path:
    """A screenshot of the page for the README (docs/screenshots/<name>.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
