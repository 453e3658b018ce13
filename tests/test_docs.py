"""The examples in README.md and docs/*.md run and print what the documents say they print."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONSOLE = re.compile(r"```console\n(.*?)```", re.DOTALL)


def _console_examples() -> list[tuple[str, str, str]]:
    out = []
    for doc in DOCS:
        for block in CONSOLE.findall(doc.read_text()):
            command: str | None = None
            expected: list[str] = []
            for line in block.splitlines():
                if line.startswith("$ "):
                    if command is not None:
                        out.append((doc.name, command, "\n".join(expected)))
                    command, expected = line[2:], []
                else:
                    expected.append(line)
            if command is not None:
                out.append((doc.name, command, "\n".join(expected)))
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_examples(doc: Path) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = doctest.testfile(str(doc), module_relative=False,
                                  optionflags=doctest.ELLIPSIS)
    finally:
        os.chdir(cwd)
    assert result.failed == 0


@pytest.mark.parametrize("doc,command,expected", _console_examples(),
                         ids=lambda v: v if isinstance(v, str) and len(v) < 60 else None)
def test_console_examples(doc: str, command: str, expected: str) -> None:
    assert command.startswith("execrole ")
    shell = f"{sys.executable} -m execrole {command[len('execrole '):]}"
    result = subprocess.run(["bash", "-c", shell], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.rstrip("\n") == expected.rstrip("\n"), (doc, command, result.stderr)


def test_there_are_examples() -> None:
    assert len(_console_examples()) >= 5
