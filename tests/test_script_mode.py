"""The script-mode entrypoint of the framework images, run as a real subprocess over a
temporary SM_ROOT (SageMaker developer guide: hyperparameters.json with JSON-encoded values,
inputdataconfig.json, /opt/ml/model, /opt/ml/output/data, /opt/ml/output/failure; the
training toolkit's SM_* variables)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from execrole.runtime.script_mode import cmd_args

TRAIN = """\
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int)
p.add_argument("--lr", type=float)
p.add_argument("--name")
p.add_argument("--layers")
a = p.parse_args()
out = {"epochs": a.epochs, "lr": a.lr, "name": a.name, "layers": json.loads(a.layers),
       "cwd": os.getcwd(), "train": os.environ["SM_CHANNEL_TRAIN"],
       "channels": json.loads(os.environ["SM_CHANNELS"]),
       "data": os.environ["SM_OUTPUT_DATA_DIR"]}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump(out, f)
"""

FAIL = """\
import sys
print("loading data", file=sys.stderr)
raise ValueError("the learning rate must be positive")
"""


def write_config(root: Path, hps: dict[str, object], channels: tuple[str, ...] = ()) -> None:
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(
        json.dumps({k: json.dumps(v) for k, v in hps.items()}))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {c: {"TrainingInputMode": "File"} for c in channels}))


def script_mode(root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update(SM_ROOT=str(root), **extra)
    return subprocess.run([sys.executable, "-m", "execrole.runtime.script_mode"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_runs_the_entry_script_from_a_directory(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    root = tmp_path / "ml"
    write_config(root, {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code),
                        "sagemaker_region": "us-east-1", "epochs": 3, "lr": 0.1,
                        "name": "run-1", "layers": [64, 32]}, channels=("train", "test"))
    result = script_mode(root)
    assert result.returncode == 0, result.stderr
    model = json.loads((root / "model" / "model.json").read_text())
    assert model == {"epochs": 3, "lr": 0.1, "name": "run-1", "layers": [64, 32],
                     "cwd": str(code), "train": str(root / "input" / "data" / "train"),
                     "channels": ["test", "train"], "data": str(root / "output" / "data")}
    assert not (root / "output" / "failure").exists()


def test_unpacks_a_tar_gz_submit_directory(tmp_path: Path) -> None:
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = TRAIN.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    root = tmp_path / "ml"
    write_config(root, {"sagemaker_program": "train.py",
                        "sagemaker_submit_directory": str(archive), "epochs": 1, "lr": 1,
                        "name": "x", "layers": []}, channels=("train",))
    result = script_mode(root)
    assert result.returncode == 0, result.stderr
    assert json.loads((root / "model" / "model.json").read_text())["cwd"] == str(root / "code")


def test_failure_lands_in_output_failure(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "train.py").write_text(FAIL)
    root = tmp_path / "ml"
    write_config(root, {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)})
    result = script_mode(root)
    assert result.returncode == 1
    assert "ValueError: the learning rate must be positive" in result.stderr
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ExecuteUserScriptError: train.py exited with code 1\n")
    assert "loading data" in failure
    assert failure.rstrip().endswith("ValueError: the learning rate must be positive")
    assert len(failure) <= 1024


def test_sm_variables_win_and_missing_program_fails(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "entry.py").write_text(TRAIN)
    root = tmp_path / "ml"
    write_config(root, {"sagemaker_program": "missing.py"})
    model = tmp_path / "elsewhere"
    result = script_mode(root, SM_USER_ENTRY_POINT="entry.py", SM_MODULE_DIR=str(code),
                         SM_MODEL_DIR=str(model), SM_CHANNELS='["train"]',
                         SM_HPS=json.dumps({"epochs": 2, "lr": 0.5, "name": "n",
                                            "layers": [1]}))
    assert result.returncode == 0, result.stderr
    assert json.loads((model / "model.json").read_text())["epochs"] == 2
    result = script_mode(root)
    assert result.returncode == 1
    assert "missing.py" in (root / "output" / "failure").read_text()


def test_cmd_args() -> None:
    assert cmd_args({"sagemaker_program": "t.py", "a": 1, "b": True, "c": "x y",
                     "d": {"k": [1]}}) == ["--a", "1", "--b", "True", "--c", "x y",
                                           "--d", '{"k": [1]}']
