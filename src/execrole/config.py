"""Where execrole keeps its data, and the defaults a fresh data directory gets."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_REGION = "us-east-1"
DEFAULT_PORT = 4599
PROFILE = "execrole"


def default_data_dir() -> Path:
    """$EXECROLE_DATA_DIR, else $XDG_DATA_HOME/execrole, else ~/.local/share/execrole."""
    explicit = os.environ.get("EXECROLE_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "execrole"


def database_path(data_dir: Path) -> Path:
    return data_dir / "execrole.db"


def credentials_path(data_dir: Path) -> Path:
    return data_dir / "credentials"
