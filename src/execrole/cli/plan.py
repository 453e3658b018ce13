"""`execrole plan`, `execrole check`, `execrole role create`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import config
from ..catalog import sagemaker
from .common import connection_args

FORMATS = ["json", "terraform", "cloudformation", "cdk-json"]


def register(commands: Any) -> None:
    apis = ", ".join(sagemaker.APIS)
    p = commands.add_parser(
        "plan", help="the least-privilege execution role (and caller policy) for a request",
        description="Print the execution role's trust policy and permission policy, and the "
        "caller's policy, for one SageMaker request (boto3-shaped JSON). Each statement says "
        "which request field caused it. Every document is validated by the engine. "
        f"APIs: {apis}.",
        epilog="example: execrole plan CreateTrainingJob request.json --format terraform")
    p.add_argument("api", choices=sagemaker.APIS, metavar="API")
    p.add_argument("request", type=Path, help="the request, as boto3 would take it (JSON)")
    p.add_argument("--account", default=config.DEFAULT_ACCOUNT,
                   help=f"account id the ARNs use (default {config.DEFAULT_ACCOUNT})")
    p.add_argument("--region", default=config.DEFAULT_REGION)
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--scope", choices=["least", "seed"], default="least",
                   help="least privilege (default), or the seed's broad policies (actions on "
                   "\"*\")")
    p.add_argument("--kms-input", action="append", default=[], metavar="KEY",
                   help="a KMS key (id, ARN) the request's S3 inputs are encrypted with "
                   "(SSE-KMS): adds kms:Decrypt; repeatable")
    p.add_argument("--role-name", help="role name for terraform/cloudformation output")
    p.set_defaults(handler=cmd_plan)

    c = commands.add_parser(
        "check", help="will this role work for this request? (preflight)",
        description="Decide every requirement of the request with the engine against the "
        "role's and the caller's real policies (inline, managed incl. AWS managed, boundary, "
        "the trust policy) and print a table plus the error SageMaker would return first. "
        "Exit 0 when everything is allowed, 1 otherwise.",
        epilog="examples: execrole check CreateTrainingJob req.json --role MyRole; "
        "execrole check CreateTrainingJob req.json --role MyRole --source aws --profile prod; "
        "execrole check CreateTrainingJob req.json --role MyRole --source file:auth.json")
    c.add_argument("api", choices=sagemaker.APIS, metavar="API")
    c.add_argument("request", type=Path)
    c.add_argument("--role", help="role name or ARN (default: the request's role)")
    c.add_argument("--caller", help="the principal that will call SageMaker (user, role or "
                   "role session ARN); without it the caller's needs are listed, not checked")
    c.add_argument("--source", default="local",
                   help="local (the execrole data directory), aws (read-only IAM calls with "
                   "boto3), or file:AUTH.json (aws iam get-account-authorization-details output)")
    c.add_argument("--endpoint", help="endpoint URL for --source aws (any AWS-compatible API)")
    c.add_argument("--profile", help="AWS profile for --source aws")
    c.add_argument("--region", default=config.DEFAULT_REGION)
    c.add_argument("--data-dir", type=Path, default=None, help="for --source local")
    c.add_argument("--kms-input", action="append", default=[], metavar="KEY")
    c.add_argument("--json", action="store_true", help="machine-readable report")
    c.set_defaults(handler=cmd_check)

    r = commands.add_parser("role", help="create execution roles (the seed's procedure)",
                            description="Execution roles.")
    sub = r.add_subparsers(dest="role_command", metavar="SUBCOMMAND")
    rc = sub.add_parser(
        "create", help="create an execution role as the seed's console procedure does",
        description="Create a role trusted by sagemaker.amazonaws.com with "
        "AmazonSageMakerFullAccess attached (the seed's 'Create execution role'), optionally "
        "with the seed's extra-S3 policy for your buckets, or from a plan. Works against the "
        "local endpoint (default) or any account boto3 can reach; prints the role ARN.",
        epilog="example: execrole role create MyRole --s3-bucket corp-datasets")
    rc.add_argument("name")
    rc.add_argument("--managed", action="append", default=None, metavar="POLICY",
                    help="AWS managed policy name or ARN to attach (default "
                    "AmazonSageMakerFullAccess; repeatable)")
    rc.add_argument("--s3-bucket", action="append", default=[], metavar="BUCKET",
                    help="add the seed's extra-S3 inline policy for these buckets")
    rc.add_argument("--from-plan", type=Path, help="use a plan's trust and role policies "
                    "(execrole plan ... > plan.json) instead of the managed policy")
    rc.add_argument("--path", default="/")
    connection_args(rc)
    rc.set_defaults(handler=cmd_role_create)
    r.set_defaults(handler=lambda _args: (r.print_help(), 2)[1])


def _load_request(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"execrole: cannot read the request {path}: {e}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"execrole: {path} must hold a JSON object (the request)")
    return data


def cmd_plan(args: argparse.Namespace) -> int:
    from ..planner.plan import plan
    from ..planner.render import render

    request = _load_request(args.request)
    try:
        result = plan(args.api, request, account=args.account, region=args.region,
                      scope=args.scope, kms_inputs=args.kms_input)
    except sagemaker.RequestError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(render(result.to_dict(), args.format, role_name=args.role_name))
    return 0


def _details(args: argparse.Namespace) -> Any:
    from ..planner import sources

    source: str = args.source
    if source == "local":
        data_dir = Path(args.data_dir) if args.data_dir else config.default_data_dir()
        account = None
        if args.role and args.role.startswith("arn:"):
            account = args.role.split(":")[4]
        return sources.from_local(data_dir, account)
    if source == "aws":
        return sources.from_aws(profile=args.profile, endpoint=args.endpoint,
                                region=args.region)
    if source.startswith("file:"):
        return sources.from_file(Path(source[5:]))
    raise SystemExit(f"execrole: --source is local, aws or file:PATH, not {source!r}")


def cmd_check(args: argparse.Namespace) -> int:
    from ..planner.check import check
    from ..planner.sources import SourceError

    request = _load_request(args.request)
    try:
        details = _details(args)
        report = check(args.api, request, details, role=args.role, caller=args.caller,
                       region=args.region, kms_inputs=args.kms_input)
    except sagemaker.RequestError as e:
        print(str(e), file=sys.stderr)
        return 2
    except SourceError as e:
        print(f"execrole: {e}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as e:
        print(f"execrole: the authorization details are not in the shape of IAM's "
              f"GetAccountAuthorizationDetails ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    print(f"{report.api} with role {report.role_arn}")
    for row in report.rows:
        r = row.requirement
        if row.decision is None:
            verdict, why = "SKIP", "not checked: give --caller"
        elif row.decision.allowed:
            verdict = "ALLOW"
            m = row.decision.matched[0] if row.decision.matched else None
            why = f"{m.policy} statement {m.statement}" + (f" ({m.sid})" if m and m.sid
                                                          else "") if m else "allowed"
        else:
            verdict = row.decision.outcome.value.upper()
            why = "no statement allows" if not row.decision.matched or \
                row.decision.outcome.value == "implicit_deny" else \
                ", ".join(f"{m.policy} statement {m.statement}" for m in row.decision.matched)
        print(f"  {verdict:<13} {r.who:<6} {r.action} on {r.resource}")
        print(f"                because {r.reason}; {why}")
        if row.decision is not None and not row.decision.allowed:
            print(f"                {row.decision.message}")
    if report.sagemaker_error:
        print(f"\nSageMaker would answer: {report.sagemaker_error}")
        return 1
    print("\nEverything the request needs is allowed.")
    return 0


def cmd_role_create(args: argparse.Namespace) -> int:
    from ..planner.role import create_role

    try:
        arn = create_role(args.name, managed=args.managed, buckets=args.s3_bucket,
                          plan_path=args.from_plan, path=args.path, endpoint=args.endpoint,
                          profile=args.profile, use_aws=args.aws, data_dir=args.data_dir)
    except RuntimeError as e:
        print(f"execrole: {e}", file=sys.stderr)
        return 1
    print(arn)
    return 0
