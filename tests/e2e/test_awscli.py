"""The AWS CLI (from PyPI), unmodified, against the endpoint via AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def aws(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert exe, "the AWS CLI is installed with the test tools (pyproject [dev])"
    return subprocess.run([exe, *args], env=server.env(), capture_output=True, text=True,
                          timeout=120)


def test_cli_creates_and_reads_the_execution_role(server: Server, tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(TRUST))
    created = aws(server, "iam", "create-role", "--role-name", "CliRole",
                  "--assume-role-policy-document", f"file://{trust}")
    assert created.returncode == 0, created.stderr
    attached = aws(server, "iam", "attach-role-policy", "--role-name", "CliRole",
                   "--policy-arn", "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    assert attached.returncode == 0, attached.stderr
    arn = aws(server, "iam", "get-role", "--role-name", "CliRole", "--query", "Role.Arn",
              "--output", "text")
    assert arn.stdout.strip().endswith(":role/CliRole")
    me = json.loads(aws(server, "sts", "get-caller-identity").stdout)
    assert me["Arn"].endswith(":root")


def test_cli_shows_aws_errors(server: Server) -> None:
    missing = aws(server, "iam", "get-role", "--role-name", "nope")
    assert missing.returncode != 0
    assert ("An error occurred (NoSuchEntity) when calling the GetRole operation: "
            "The role with name nope cannot be found.") in missing.stderr


@pytest.mark.parametrize("args", [["iam", "list-roles", "--max-items", "1"],
                                  ["iam", "list-policies", "--scope", "Local"]])
def test_cli_lists(server: Server, args: list[str]) -> None:
    result = aws(server, *args)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)
