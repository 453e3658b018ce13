#!/usr/bin/env python3
"""Set up and run execrole on a fresh machine that has only Python 3.11+.

    python3 dev.py run    # create .venv, install execrole, run the main job: `execrole serve`
    python3 dev.py demo   # the policy engine explaining a SageMaker role, in one screen
    python3 dev.py test   # create .venv, install execrole with test tools (and Debian's
                          # Chromium for the console's browser tests), run the whole suite
    python3 dev.py bench  # run the benchmarks in bench/ (not part of the tests)

Arguments after the first are passed on (`python3 dev.py run --port 4600`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def sh(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def setup(extras: str) -> None:
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed{extras}"
    pyproject = ROOT / "pyproject.toml"
    if not stamp.exists() or stamp.stat().st_mtime < pyproject.stat().st_mtime:
        sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "-e", f".{extras}")
        stamp.touch()


CHROMIUM = Path(os.environ.get("EXECROLE_CHROMIUM", "/usr/bin/chromium"))


def ensure_chromium() -> None:
    """The console's browser tests drive Debian's Chromium (package `chromium`); install it
    when it is missing and this machine can (root with apt-get). No browser download from
    the internet: Playwright is pointed at this executable."""
    if CHROMIUM.exists():
        return
    apt = Path("/usr/bin/apt-get")
    if not apt.exists() or os.geteuid() != 0:
        raise SystemExit(f"the console tests need Chromium at {CHROMIUM}: install Debian's "
                         "`chromium` package (or set EXECROLE_CHROMIUM to a Chromium binary)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("+ apt-get install chromium (for the console's browser tests)", flush=True)
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "run"
    rest = sys.argv[2:]
    try:
        if what in ("run", "demo"):
            setup("")
            command = "serve" if what == "run" else "demo"
            exe = str(BIN / "execrole")
            print("+", exe, command, *rest, flush=True)
            # Become the server: signals (Ctrl-C, SIGTERM) then reach it directly.
            os.execv(exe, [exe, command, *rest])
        elif what == "test":
            setup("[dev]")
            ensure_chromium()
            sh(PY, "-m", "ruff", "check", "src", "tests", "bench", "dev.py")
            sh(PY, "-m", "mypy")
            sh(PY, "-m", "pytest", *rest)
        elif what == "bench":
            setup("[dev]")
            for script in sorted((ROOT / "bench").glob("[!_]*.py")):
                sh(PY, script, *rest)
        else:
            print(__doc__)
            return 2
    except subprocess.CalledProcessError as e:
        return e.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
