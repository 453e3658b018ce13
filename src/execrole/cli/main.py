"""Entry point: `execrole <command> ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from . import demo, image, notebook, plan, policy, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execrole",
        description="SageMaker execution roles, locally and exactly: an IAM policy engine "
        "with AWS's semantics that explains every decision.",
    )
    parser.add_argument("--version", action="version", version=f"execrole {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    policy.register(commands)
    demo.register(commands)
    serve.register(commands)
    plan.register(commands)
    image.register(commands)
    notebook.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
