"""The client hook: make Python code that passes an explicit AWS ``endpoint_url`` (the
SageMaker Python SDK's STS clients) talk to execrole, without changing that code.

This directory holds a ``sitecustomize.py`` (see it for how it works). With the directory
first on ``PYTHONPATH`` and ``EXECROLE_ENDPOINT_URL`` set, every Python process started from
that environment rewrites botocore clients whose explicit endpoint is an AWS host
(``*.amazonaws.com``, ``*.amazonaws.com.cn``, ``*.api.aws``) to that URL. The hook needs only
the standard library, so it works in any interpreter that has botocore — the user's own
virtualenv included — not just execrole's.

Not covered: interpreters started with ``-I``, ``-E`` or ``-S`` (they ignore ``PYTHONPATH`` or
skip ``sitecustomize``), and non-Python clients (they honour ``AWS_ENDPOINT_URL`` or need their
own ``--endpoint-url``).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from .sitecustomize import ENV_VAR

__all__ = ["ENV_VAR", "HOOK_DIR", "environment", "shell_exports"]

#: The directory to put first on PYTHONPATH: the one holding ``sitecustomize.py``.
HOOK_DIR = str(Path(__file__).resolve().parent)


def environment(endpoint_url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to add to ``base`` (default: ``os.environ``) for child processes:
    ``EXECROLE_ENDPOINT_URL`` and ``PYTHONPATH`` with the hook directory first (once)."""
    current = (os.environ if base is None else base).get("PYTHONPATH", "")
    rest = [p for p in current.split(os.pathsep) if p and p != HOOK_DIR]
    return {ENV_VAR: endpoint_url, "PYTHONPATH": os.pathsep.join([HOOK_DIR, *rest])}


def shell_exports(endpoint_url: str) -> list[str]:
    """`environment` as POSIX shell lines for ``eval``; PYTHONPATH is extended from the
    shell's own value when evaluated, not from this process's."""
    return [f"export {ENV_VAR}={shlex.quote(endpoint_url)}",
            f'export PYTHONPATH={shlex.quote(HOOK_DIR)}"${{PYTHONPATH:+:$PYTHONPATH}}"']
