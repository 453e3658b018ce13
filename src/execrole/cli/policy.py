"""`execrole policy validate|evaluate|test`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..cases import Case, CaseError, iter_case_files, load_file, mismatches, result_of
from ..catalog.actions import policy_warnings
from ..policy import PolicyError, PolicyType, parse_policy

_TYPES = [t.value for t in PolicyType]


def register(commands: Any) -> None:
    group = commands.add_parser(
        "policy", help="validate policies, evaluate decision cases, run policy tests",
        description="Work with IAM policy documents and decision cases (docs/cases.md).")
    sub = group.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")

    v = sub.add_parser(
        "validate", help="validate a policy document as IAM would",
        description="Validate a policy document with IAM's rules. Exit 0 when valid "
        "(warnings, such as actions unknown to the Service Authorization Reference, go to "
        "stderr); exit 1 with 'CODE: MESSAGE' (AWS's error code and message) on stdout.",
        epilog="example: execrole policy validate role-policy.json --type identity")
    v.add_argument("file", help="policy document (JSON); '-' reads standard input")
    v.add_argument("--type", choices=_TYPES, default="identity",
                   help="document type (default: identity)")
    v.add_argument("--managed", action="store_true",
                   help="check an identity policy as a customer managed policy (CreatePolicy: "
                   "Version 2012-10-17, alphanumeric Sids, 6,144 characters) rather than an "
                   "inline one; boundaries are always checked as managed policies")
    v.set_defaults(handler=cmd_validate)

    e = sub.add_parser(
        "evaluate", help="decide decision cases and print one JSON line per case",
        description="Evaluate decision cases (docs/cases.md). Prints one JSON object per "
        "case: {case, decision, denied_by, message, matched}. A case that cannot be read "
        "prints {case, error} and the others still run. Exit 1 if any case had an error.",
        epilog="example: execrole policy evaluate cases/read-training-data.json")
    e.add_argument("cases", nargs="+", help="case files or directories")
    e.set_defaults(handler=cmd_evaluate)

    t = sub.add_parser(
        "test", help="run policy tests: cases that carry an expect object",
        description="Run case files that carry `expect` (files or directories, searched "
        "recursively for *.json); cases without `expect` are listed as SKIP and not counted. "
        "Prints PASS/FAIL per case and a closing 'N passed, N failed' line; exits 1 on any "
        "failure. Put this in your CI.",
        epilog="example: execrole policy test tests/policies/")
    t.add_argument("paths", nargs="+", help="case files or directories")
    t.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    t.set_defaults(handler=cmd_test)
    group.set_defaults(handler=lambda _args: (group.print_help(), 2)[1])


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        text = _read(args.file)
    except (OSError, UnicodeDecodeError) as e:
        print(f"execrole: cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    try:
        policy = parse_policy(text, args.type, managed=True if args.managed else None)
    except PolicyError as e:
        print(f"{e.code}: {e.message}")
        return 1
    for warning in policy_warnings(policy):
        print(warning, file=sys.stderr)
    return 0


def _run(case: Case) -> dict[str, Any]:
    try:
        return result_of(case)
    except CaseError as e:
        return {"case": case.id, "error": str(e)}


def _cases(paths: list[str]) -> list[Case | tuple[str, str]]:
    out: list[Case | tuple[str, str]] = []
    for path in iter_case_files(paths):
        out.extend(load_file(path))
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    status = 0
    for item in _cases(args.cases):
        if isinstance(item, tuple):
            result: dict[str, Any] = {"case": item[0], "error": item[1]}
        else:
            result = _run(item)
        if "error" in result:
            status = 1
        print(json.dumps(result), flush=False)
    return status


def cmd_test(args: argparse.Namespace) -> int:
    passed = failed = 0
    for item in _cases(args.paths):
        if isinstance(item, tuple):
            failed += 1
            print(f"FAIL {item[0]}: {item[1]}")
            continue
        if item.expect is None:
            print(f"SKIP {item.id}: no expect object (use `execrole policy evaluate`)")
            continue
        result = _run(item)
        problems = [result["error"]] if "error" in result else mismatches(item, result)
        if problems:
            failed += 1
            print(f"FAIL {item.id}: " + "; ".join(problems))
        else:
            passed += 1
            if not args.quiet:
                print(f"PASS {item.id}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
