"""`execrole log`, `execrole account create|list` and `execrole env` on a served data directory
(issue 3: the decision log is queryable; several accounts; the credentials file)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server


def execrole(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "execrole", *args], capture_output=True,
                          text=True, timeout=60)


def test_credentials_file_is_private_and_usable(server: Server) -> None:
    path = server.data_dir / "credentials"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "[execrole]" in path.read_text()
    env = execrole("env", "--data-dir", str(server.data_dir), "--port", str(server.port))
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{server.port}" in env.stdout
    assert f"export AWS_ACCESS_KEY_ID={server.key}" in env.stdout


def test_decision_log_is_queryable(server: Server) -> None:
    iam: Any = server.client("iam")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody: Any = server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError):
        nobody.list_users()
    out = execrole("log", "--data-dir", str(server.data_dir), "--principal", "user/nobody",
                   "--decision", "deny", "--json", "--since", "10m")
    entries = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["action"], e["decision"], e["denied_by"]) for e in entries] == [
        ("iam:ListUsers", "implicit_deny", ["identity"])]
    assert entries[0]["message"].endswith("because no identity-based policy allows the "
                                          "iam:ListUsers action")
    text = execrole("log", "--data-dir", str(server.data_dir), "--action", "IAM:LISTUSERS")
    assert "implicit_deny" in text.stdout and "iam:ListUsers" in text.stdout


def test_second_account_for_cross_account_work(server: Server) -> None:
    created = execrole("account", "create", "--id", "444455556666", "--data-dir",
                       str(server.data_dir))
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    other: Any = server.client("sts", info["AccessKeyId"], info["SecretAccessKey"])
    assert other.get_caller_identity()["Account"] == "444455556666"
    listed = execrole("account", "list", "--data-dir", str(server.data_dir))
    assert "444455556666" in listed.stdout.split()
    again = execrole("account", "create", "--id", "444455556666", "--data-dir",
                     str(server.data_dir))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert execrole("account", "create", "--id", "12", "--data-dir",
                    str(server.data_dir)).returncode == 2
