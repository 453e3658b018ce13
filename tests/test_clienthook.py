"""The client hook (execrole.clienthook): in real Python processes started with its
environment, botocore clients created with an explicit AWS endpoint (what the SageMaker
Python SDK does for STS) go to the execrole endpoint; nothing changes without it; a
sitecustomize the hook shadows still runs. No request is sent: the tests look at the
clients' endpoints only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from execrole import clienthook
from execrole.cli.serve import export_lines
from execrole.clienthook.sitecustomize import rewrite

TARGET = "http://127.0.0.1:4599"
STS = "https://sts.us-east-1.amazonaws.com"

# Prints, as JSON: whether botocore was loaded at startup (the hook must not load it), the
# endpoint of clients created the ways the SDKs do, and the sitecustomize module in effect.
PROBE = """
import json, sys
loaded_at_start = "botocore" in sys.modules
import boto3, botocore.session
out = {"loaded_at_start": loaded_at_start}
def host(**kw):
    return boto3.client(kw.pop("service", "sts"), region_name="us-east-1",
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", **kw
                        )._endpoint.host
out["sts"] = host(endpoint_url="https://sts.us-east-1.amazonaws.com")
out["china"] = host(endpoint_url="https://sts.cn-north-1.amazonaws.com.cn")
out["s3_resource"] = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="x").resource(
    "s3", endpoint_url="https://s3.us-east-1.amazonaws.com").meta.client._endpoint.host
out["other"] = host(endpoint_url="https://vpce-1.example.com")
out["implicit"] = host()
# botocore's own API, endpoint_url passed positionally
out["positional"] = botocore.session.get_session().create_client(
    "sts", "us-east-1", None, True, None, "https://sts.us-east-1.amazonaws.com",
    "AKIDEXAMPLE", "x")._endpoint.host
mod = sys.modules.get("sitecustomize")
out["sitecustomize"] = getattr(mod, "__file__", None)
out["marker"] = getattr(mod, "MARKER", None)
print(json.dumps(out))
"""


def probe(env_extra: dict[str, str], *, drop: tuple[str, ...] = ()) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("PYTHONPATH", clienthook.ENV_VAR, *drop)}
    # No user configuration: the implicit endpoint is botocore's default.
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(env_extra)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Error in sitecustomize" not in result.stderr, result.stderr
    assert "client hook not installed" not in result.stderr, result.stderr
    out: dict[str, object] = json.loads(result.stdout)
    return out


def test_rewrite() -> None:
    assert rewrite(STS, TARGET) == TARGET
    assert rewrite("https://sts.amazonaws.com", TARGET) == TARGET
    assert rewrite("https://STS.US-EAST-1.AMAZONAWS.COM.", TARGET) == TARGET
    assert rewrite("https://sts.cn-north-1.amazonaws.com.cn", TARGET) == TARGET
    assert rewrite("https://sts.us-east-1.api.aws", TARGET) == TARGET
    assert rewrite("https://s3.us-east-1.amazonaws.com:443/path", TARGET) == TARGET
    # Not AWS hosts, or no target: as given.
    assert rewrite("https://amazonaws.com.evil.example", TARGET) == \
        "https://amazonaws.com.evil.example"
    assert rewrite("https://notamazonaws.com", TARGET) == "https://notamazonaws.com"
    assert rewrite("http://localhost:4566", TARGET) == "http://localhost:4566"
    assert rewrite(None, TARGET) is None
    assert rewrite(STS, None) == STS
    assert rewrite(STS, "") == STS


def test_environment() -> None:
    env = clienthook.environment(TARGET, base={})
    assert env == {"EXECROLE_ENDPOINT_URL": TARGET, "PYTHONPATH": clienthook.HOOK_DIR}
    assert (Path(clienthook.HOOK_DIR) / "sitecustomize.py").is_file()
    joined = os.pathsep.join(["/a", clienthook.HOOK_DIR, "/b"])
    env = clienthook.environment(TARGET, base={"PYTHONPATH": joined})
    # The hook first, once; the rest kept in order.
    assert env["PYTHONPATH"] == os.pathsep.join([clienthook.HOOK_DIR, "/a", "/b"])


def test_export_lines_carry_the_hook(tmp_path: Path) -> None:
    lines = export_lines(tmp_path, "0.0.0.0", 4600, "us-east-1", "AKID", "SECRET").splitlines()
    assert "export EXECROLE_ENDPOINT_URL=http://127.0.0.1:4600" in lines
    assert f'export PYTHONPATH={clienthook.HOOK_DIR}"${{PYTHONPATH:+:$PYTHONPATH}}"' in lines


def test_hook_redirects_explicit_aws_endpoints() -> None:
    out = probe(clienthook.environment(TARGET, base={}))
    assert out["loaded_at_start"] is False  # patched on import, not at startup
    assert out["sts"] == out["china"] == out["s3_resource"] == out["positional"] == TARGET
    assert out["other"] == "https://vpce-1.example.com"
    # No explicit endpoint: botocore's resolution as usual (AWS_ENDPOINT_URL is unset here).
    assert out["implicit"] == "https://sts.us-east-1.amazonaws.com"
    assert out["sitecustomize"] == str(Path(clienthook.HOOK_DIR) / "sitecustomize.py")


def test_without_the_hook_nothing_changes() -> None:
    # Neither variable.
    out = probe({})
    assert out["sts"] == out["positional"] == STS
    assert out["sitecustomize"] != str(Path(clienthook.HOOK_DIR) / "sitecustomize.py")
    # The directory on PYTHONPATH but no EXECROLE_ENDPOINT_URL: the hook stays off.
    out = probe({"PYTHONPATH": clienthook.HOOK_DIR})
    assert out["sts"] == out["positional"] == STS
    assert out["china"] == "https://sts.cn-north-1.amazonaws.com.cn"


def test_a_shadowed_sitecustomize_still_runs(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        "import os\nMARKER = 'theirs:' + os.environ.get('EXECROLE_ENDPOINT_URL', '')\n")
    env = clienthook.environment(TARGET, base={"PYTHONPATH": str(tmp_path)})
    out = probe(env)
    assert out["marker"] == f"theirs:{TARGET}"
    assert out["sitecustomize"] == str(tmp_path / "sitecustomize.py")
    assert out["sts"] == TARGET
    # The hook listed twice (`eval "$(execrole env)"` run twice): the other one runs once.
    twice = os.pathsep.join([clienthook.HOOK_DIR, env["PYTHONPATH"]])
    out = probe({**env, "PYTHONPATH": twice})
    assert out["marker"] == f"theirs:{TARGET}" and out["sts"] == TARGET


def test_eval_of_execrole_env(tmp_path: Path) -> None:
    """What a user does: eval the export lines in a shell, then run SDK-style code."""
    script = (f'eval "$({sys.executable} -m execrole env --data-dir {tmp_path / "data"} '
              f'--port 4601)" && {sys.executable} -c "{PROBE_SHORT}"')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", clienthook.ENV_VAR)}
    # `python -m execrole` must still find execrole where pytest found it.
    env["PYTHONPATH"] = str(Path(clienthook.__file__).resolve().parents[2])
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:4601"


PROBE_SHORT = ("import boto3; print(boto3.client('sts', region_name='us-east-1', "
               "endpoint_url='https://sts.us-east-1.amazonaws.com')._endpoint.host)")


@pytest.mark.parametrize("flag", ["-I", "-E"])
def test_isolated_interpreters_are_not_hooked(flag: str) -> None:
    """Documented limit: -I / -E ignore PYTHONPATH and the variable."""
    env = {**os.environ, **clienthook.environment(TARGET, base={})}
    result = subprocess.run([sys.executable, flag, "-c", PROBE_SHORT], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STS
