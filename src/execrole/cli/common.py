"""Arguments several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import config


def connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", help="endpoint URL (default: the local endpoint, "
                        f"http://127.0.0.1:{config.DEFAULT_PORT}, with its root key)")
    parser.add_argument("--profile", help="AWS profile (a real account)")
    parser.add_argument("--aws", action="store_true",
                        help="use boto3's own configuration (AWS_* environment, config files) "
                        "instead of the data directory's root key")
    parser.add_argument("--data-dir", type=Path, default=None)
