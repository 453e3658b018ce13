"""Script mode: run the user's entry script the way the SageMaker training toolkit does in
the framework images, in the local Python.

The contract (SageMaker developer guide, "How Amazon SageMaker Provides Training
Information" and "How Amazon SageMaker Processes Training Output"; the training toolkit's
environment variables):

- the root is ``$SM_ROOT``, default ``/opt/ml``;
- ``input/config/hyperparameters.json`` holds the hyperparameters, each value a JSON-encoded
  string. ``sagemaker_program`` is the entry script, ``sagemaker_submit_directory`` the code:
  a local directory or a local ``.tar.gz`` (unpacked into ``<root>/code``; fetching it from S3
  is the runtime's job, before this module runs). The other keys not starting with
  ``sagemaker_`` become ``--key value`` arguments, the value JSON-decoded (strings and numbers
  as they are, booleans as Python prints them, lists and objects as JSON);
- ``input/config/inputdataconfig.json`` names the channels: ``SM_CHANNEL_<NAME>`` is
  ``<root>/input/data/<name>``, ``SM_CHANNELS`` their JSON list;
- ``SM_MODEL_DIR`` is ``<root>/model``, ``SM_OUTPUT_DATA_DIR`` ``<root>/output/data``,
  ``SM_OUTPUT_DIR`` ``<root>/output``;
- SM_* variables already set win over the files: ``SM_USER_ENTRY_POINT``, ``SM_MODULE_DIR``,
  ``SM_HPS`` (a JSON object of decoded hyperparameters), ``SM_CHANNELS``, ``SM_MODEL_DIR``,
  ``SM_OUTPUT_DATA_DIR``, ``SM_OUTPUT_DIR``, ``SM_INPUT_DIR``.

The script runs as ``python <program> <args>`` in the code directory; this process exits with
its code. When it fails, the last lines of its stderr go to ``<output>/failure``, whose first
1024 characters SageMaker reports as the job's FailureReason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAILURE_CHARS = 1024  # what DescribeTrainingJob shows of output/failure
TAIL_LINES = 20


class ScriptModeError(Exception):
    """The job cannot start: no entry script, no code, a bad configuration file."""


@dataclass(frozen=True)
class Job:
    program: str
    code_dir: Path
    args: list[str]
    env: dict[str, str]
    output_dir: Path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ScriptModeError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ScriptModeError(f"{path} does not hold a JSON object")
    return data


def _decode(value: Any) -> Any:
    """A hyperparameter value: JSON-encoded text, decoded (plain text stays text)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _arg(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def cmd_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """``--key value`` for every user hyperparameter (not the ``sagemaker_`` ones)."""
    out: list[str] = []
    for key, value in hyperparameters.items():
        if not key.startswith("sagemaker_"):
            out += [f"--{key}", _arg(value)]
    return out


def _code_dir(root: Path, submit: str | None) -> Path:
    """The directory the script runs in: the submit directory itself, or the tar.gz
    unpacked into <root>/code, or <root>/code when nothing was submitted."""
    target = root / "code"
    if not submit:
        return target
    if "://" in submit:
        raise ScriptModeError(f"sagemaker_submit_directory {submit} is not local: the runtime "
                              "fetches it before script mode runs")
    path = Path(submit)
    if path.is_dir():
        return path
    if path.is_file() and tarfile.is_tarfile(path):
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path) as tar:
            tar.extractall(target, filter="data")
        return target
    raise ScriptModeError(f"sagemaker_submit_directory {submit} is neither a directory nor a "
                          "tar.gz archive")


def prepare(environ: Mapping[str, str]) -> Job:
    """Everything the run needs, from the SM_* variables and the files under the root."""
    root = Path(environ.get("SM_ROOT") or "/opt/ml")
    input_dir = Path(environ.get("SM_INPUT_DIR") or root / "input")
    config_dir = input_dir / "config"
    output_dir = Path(environ.get("SM_OUTPUT_DIR") or root / "output")
    if "SM_HPS" in environ:
        try:
            hps = json.loads(environ["SM_HPS"])
        except ValueError:
            raise ScriptModeError("SM_HPS is not valid JSON") from None
        if not isinstance(hps, dict):
            raise ScriptModeError("SM_HPS is not a JSON object")
        raw = _read_json(config_dir / "hyperparameters.json")
        hps = {k: _decode(v) for k, v in raw.items() if k.startswith("sagemaker_")} | hps
    else:
        hps = {k: _decode(v) for k, v in _read_json(config_dir / "hyperparameters.json").items()}
    program = environ.get("SM_USER_ENTRY_POINT") or hps.get("sagemaker_program")
    if not program:
        raise ScriptModeError("no entry script: sagemaker_program is not set")
    if "SM_MODULE_DIR" in environ:
        code_dir = Path(environ["SM_MODULE_DIR"])
    else:
        submit = hps.get("sagemaker_submit_directory")
        code_dir = _code_dir(root, str(submit) if submit else None)
    if not (code_dir / str(program)).is_file():
        raise ScriptModeError(f"the entry script {program} is not in {code_dir}")
    if "SM_CHANNELS" in environ:
        try:
            channels = [str(c) for c in json.loads(environ["SM_CHANNELS"])]
        except (ValueError, TypeError):
            raise ScriptModeError("SM_CHANNELS is not a JSON list") from None
    else:
        channels = sorted(_read_json(config_dir / "inputdataconfig.json"))
    env = dict(environ)
    env.setdefault("SM_MODEL_DIR", str(root / "model"))
    env.setdefault("SM_OUTPUT_DATA_DIR", str(output_dir / "data"))
    env.setdefault("SM_OUTPUT_DIR", str(output_dir))
    env.setdefault("SM_INPUT_DIR", str(input_dir))
    env.setdefault("SM_INPUT_CONFIG_DIR", str(config_dir))
    env.setdefault("SM_CHANNELS", json.dumps(channels))
    env.setdefault("SM_HPS", json.dumps({k: v for k, v in hps.items()
                                         if not k.startswith("sagemaker_")}))
    env.setdefault("SM_USER_ENTRY_POINT", str(program))
    env.setdefault("SM_MODULE_DIR", str(code_dir))
    for channel in channels:
        env.setdefault(f"SM_CHANNEL_{channel.upper()}", str(input_dir / "data" / channel))
    return Job(str(program), code_dir, cmd_args(hps), env, output_dir)


def write_failure(output_dir: Path, header: str, tail: str = "") -> None:
    """The failure file: the header, then as much of the end of `tail` as fits in what
    DescribeTrainingJob shows."""
    output_dir.mkdir(parents=True, exist_ok=True)
    room = max(FAILURE_CHARS - len(header), 0)
    (output_dir / "failure").write_text(header + (tail[-room:] if room else ""))


def run(job: Job) -> int:
    """Run the script, forwarding its output; its exit code (128+N for signal N)."""
    for key in ("SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR"):
        Path(job.env[key]).mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with subprocess.Popen([sys.executable, job.program, *job.args], cwd=job.code_dir,
                          env=job.env, stderr=subprocess.PIPE, text=True,
                          errors="replace") as process:
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(line)
            tail.append(line)
    code = process.returncode
    if code < 0:
        code = 128 - code
    if code != 0:
        write_failure(job.output_dir, f"ExecuteUserScriptError: {job.program} exited with "
                                      f"code {code}\n", "".join(tail))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # script mode takes its configuration from the environment and files
    environ = dict(os.environ)
    try:
        job = prepare(environ)
    except ScriptModeError as e:
        root = Path(environ.get("SM_ROOT") or "/opt/ml")
        write_failure(Path(environ.get("SM_OUTPUT_DIR") or root / "output"), f"{e}\n")
        print(f"script mode: {e}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return run(job)


if __name__ == "__main__":
    sys.exit(main())
