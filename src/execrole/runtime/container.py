"""The container contract without a container: a per-job directory stands for `/opt/ml`
(your-algorithms-training-algo-running-container.md, build-your-own-processing-container.md)
and the image's files are unpacked beside it. Paths of the image config (entrypoint
arguments, working directory) that name `/opt/ml/...` or a file of the image are rewritten
to where those live here; the job's process also gets `SM_ROOT`, the directory standing for
`/opt/ml`, and the SM_* variables, so code that reads them finds everything.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

OPT_ML = "/opt/ml"
HOST = "algo-1"  # the one host a job runs on here


def local_path(path: str, root: Path, image: Path) -> str:
    """Where a container path lives in the job directory (unchanged if it is neither
    under /opt/ml nor a file of the image)."""
    if path == OPT_ML or path.startswith(OPT_ML + "/"):
        return str(root / path[len(OPT_ML):].lstrip("/"))
    if path.startswith("/"):
        candidate = image / path.lstrip("/")
        if candidate.exists():
            return str(candidate)
    return path


def command(config: Mapping[str, Any], entrypoint: Sequence[str] | None,
            arguments: Sequence[str] | None, default_args: Sequence[str],
            root: Path, image: Path) -> list[str]:
    """The process's argv: the request's ContainerEntrypoint/ContainerArguments, else the
    image's Entrypoint with `default_args` (training runs `<entrypoint> train`) or its Cmd."""
    if entrypoint:
        argv = [*entrypoint, *(arguments or [])]
    else:
        image_entry = list(config.get("Entrypoint") or [])
        tail = list(arguments) if arguments else (list(default_args) if image_entry
                                                  else list(config.get("Cmd") or []))
        argv = [*image_entry, *tail] if image_entry else tail
    if not argv:
        raise ValueError("the image has no entrypoint or command")
    return [local_path(a, root, image) for a in argv]


def working_dir(config: Mapping[str, Any], root: Path, image: Path) -> Path:
    workdir = str(config.get("WorkingDir") or "/")
    path = Path(local_path(workdir, root, image))
    if not path.is_absolute() or not path.exists():
        path = image / workdir.lstrip("/")
    path.mkdir(parents=True, exist_ok=True)
    return path


def environment(config: Mapping[str, Any], extra: Mapping[str, str], root: Path,
                image: Path) -> dict[str, str]:
    """The process environment: this machine's basics, the image's Env, the job's values
    (`/opt/ml/...` values rewritten like the arguments).
    The Python that runs execrole comes first on PATH, so `python` in an entrypoint is one
    that has execrole's runtime (the built-in framework image needs it)."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = local_path(value, root, image)
    env.update({k: local_path(v, root, image) for k, v in extra.items()})
    env["SM_ROOT"] = str(root)
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the log stream as they are printed
    return env


def write_resource_config(config_dir: Path, instance_type: str) -> None:
    """resourceconfig.json: one host, one instance group (training and processing alike)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "resourceconfig.json").write_text(json.dumps({
        "current_host": HOST, "hosts": [HOST], "current_group_name": "homogeneousCluster",
        "current_instance_type": instance_type, "network_interface_name": "eth0",
        "instance_groups": [{"instance_group_name": "homogeneousCluster",
                             "instance_type": instance_type, "hosts": [HOST]}]}))
