"""`execrole serve`, `execrole account create|list`, `execrole log`."""

from __future__ import annotations

import argparse
import configparser
import json
import os
import sys
from pathlib import Path
from typing import Any

from .. import config
from ..services import credentials
from ..store import Database


def register(commands: Any) -> None:
    s = commands.add_parser(
        "serve", help="run the AWS-compatible endpoint (IAM, STS, S3, Logs, CloudWatch, KMS, "
        "EC2, ECR, SageMaker) on one local port",
        description="Serve IAM, STS, S3, CloudWatch Logs and metrics, KMS, EC2, ECR and "
        "SageMaker, with SigV4 authentication and IAM authorization on every call, for "
        "unmodified boto3 / AWS CLI / SageMaker Python SDK code. SageMaker jobs run as local "
        "processes under their execution role's session (see --max-jobs). On first start of "
        "an empty data "
        "directory, creates the default account and its root access key, written to "
        "<data-dir>/credentials (profile 'execrole').",
        epilog="example: execrole serve --port 4599, then in another shell: "
        "eval \"$(execrole env)\"; aws sts get-caller-identity")
    _data_dir_arg(s)
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, loopback only)")
    s.add_argument("--port", type=int, default=config.DEFAULT_PORT,
                   help=f"port (default {config.DEFAULT_PORT})")
    s.add_argument("--account-id", default=config.DEFAULT_ACCOUNT,
                   help="id of the default account created in an empty data directory "
                   f"(default {config.DEFAULT_ACCOUNT})")
    s.add_argument("--region", default=config.DEFAULT_REGION,
                   help=f"region printed in the export lines (default {config.DEFAULT_REGION})")
    s.add_argument("--quiet", action="store_true", help="no per-request log lines")
    s.add_argument("--console-remote", action="store_true",
                   help="let clients on other machines open the web console at "
                   "/_execrole/console/ (default: loopback clients only)")
    s.add_argument("--max-jobs", type=int,
                   default=int(os.environ.get("EXECROLE_MAX_JOBS") or 0) or None,
                   help="SageMaker jobs run at once as local processes; the rest queue "
                   "(default: $EXECROLE_MAX_JOBS, else the number of CPUs)")
    s.set_defaults(handler=cmd_serve)

    e = commands.add_parser(
        "env", help="print the export lines that point AWS clients at the endpoint",
        description="Print shell export lines for the default account's root key and the "
        "endpoint URL: eval \"$(execrole env)\".")
    _data_dir_arg(e)
    e.add_argument("--port", type=int, default=config.DEFAULT_PORT)
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--region", default=config.DEFAULT_REGION)
    e.set_defaults(handler=cmd_env)

    a = commands.add_parser("account", help="create and list accounts",
                            description="Accounts of the local endpoint (for cross-account work).")
    sub = a.add_subparsers(dest="account_command", metavar="SUBCOMMAND")
    c = sub.add_parser("create", help="create an account with a root access key",
                       description="Create an account and its root user's access key; the "
                       "key is added to <data-dir>/credentials as profile execrole-<id>.",
                       epilog="example: execrole account create --id 444455556666")
    _data_dir_arg(c)
    c.add_argument("--id", required=True, help="12-digit account id")
    c.add_argument("--alias", help="account alias")
    c.set_defaults(handler=cmd_account_create)
    ls = sub.add_parser("list", help="list accounts")
    _data_dir_arg(ls)
    ls.set_defaults(handler=cmd_account_list)
    a.set_defaults(handler=lambda _args: (a.print_help(), 2)[1])

    lg = commands.add_parser(
        "log", help="query the decision log (every authorization decision)",
        description="Every authorization decision the endpoint took: time, principal, action, "
        "resource, decision, the layers that denied, the deciding statements, AWS's message.",
        epilog="examples: execrole log --decision implicit_deny --since 10m; "
        "execrole log --job churn-1 --decision deny")
    _data_dir_arg(lg)
    lg.add_argument("--principal", help="principal ARN (substring match)")
    lg.add_argument("--action", help="action, e.g. s3:GetObject (case-insensitive)")
    lg.add_argument("--decision", choices=["allow", "implicit_deny", "explicit_deny", "deny"],
                    help="'deny' matches both kinds of denial")
    lg.add_argument("--since", help="ISO 8601 time, or an age such as 30s, 10m, 2h, 1d")
    lg.add_argument("--job", help="decisions taken for a SageMaker job or resource: its ARN, "
                    "or its name (e.g. a training job's name)")
    lg.add_argument("--limit", type=int, default=100, help="most recent N (default 100)")
    lg.add_argument("--json", action="store_true", help="one JSON object per line")
    lg.set_defaults(handler=cmd_log)


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data directory (default: $EXECROLE_DATA_DIR, else "
                        "$XDG_DATA_HOME/execrole, else ~/.local/share/execrole)")


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) if args.data_dir else config.default_data_dir()


def open_database(data_dir: Path) -> Database:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Database(config.database_path(data_dir))


def ensure_default_account(db: Database, data_dir: Path, account: str) -> tuple[str, str, str]:
    """(account, access key, secret) of the first account, creating it on an empty store."""
    existing = credentials.accounts(db)
    if not existing:
        key, secret = credentials.create_account(db, account)
        write_profile(data_dir, config.PROFILE, key, secret)
        return account, key, secret
    first = existing[0]
    found = credentials.root_key(db, first)
    if found is None:
        raise SystemExit(f"execrole: account {first} has no active root access key")
    if not config.credentials_path(data_dir).exists():
        write_profile(data_dir, config.PROFILE, *found)
    return first, found[0], found[1]


def write_profile(data_dir: Path, profile: str, key: str, secret: str) -> None:
    path = config.credentials_path(data_dir)
    parser = configparser.ConfigParser()
    if path.exists():
        parser.read(path)
    parser[profile] = {"aws_access_key_id": key, "aws_secret_access_key": secret}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        parser.write(f)
    os.chmod(path, 0o600)


def export_lines(data_dir: Path, host: str, port: int, region: str, key: str,
                 secret: str) -> str:
    from .. import clienthook

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return "\n".join([
        f"export AWS_ENDPOINT_URL=http://{shown_host}:{port}",
        f"export AWS_ACCESS_KEY_ID={key}",
        f"export AWS_SECRET_ACCESS_KEY={secret}",
        f"export AWS_DEFAULT_REGION={region}",
        "unset AWS_SESSION_TOKEN AWS_PROFILE",
        f"# or: export AWS_SHARED_CREDENTIALS_FILE={config.credentials_path(data_dir)} "
        f"AWS_PROFILE={config.PROFILE}",
        # Python code that passes an explicit AWS endpoint_url (the SageMaker SDK's STS
        # clients) ignores AWS_ENDPOINT_URL; the client hook redirects it (docs/endpoint.md).
        *clienthook.shell_exports(f"http://{shown_host}:{port}"),
    ])


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from ..wire.app import EndpointApp

    data_dir = _dir(args)
    db = open_database(data_dir)
    account, key, secret = ensure_default_account(db, data_dir, args.account_id)
    print(f"execrole {__import__('execrole').__version__}: data in {data_dir}, "
          f"default account {account}", flush=True)
    print(export_lines(data_dir, args.host, args.port, args.region, key, secret), flush=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    request_log = logging.getLogger("execrole.requests")
    request_log.addHandler(handler)
    request_log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    request_log.propagate = False
    app = EndpointApp(db, default_region=args.region, console_remote=args.console_remote)
    local_host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    app.run_jobs(f"http://{local_host}:{args.port}", data_dir / "jobs",
                 args.max_jobs or os.cpu_count() or 2)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port,
                                           log_level="warning", access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=10))
    server.run()
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    data_dir = _dir(args)
    db = open_database(data_dir)
    _, key, secret = ensure_default_account(db, data_dir, config.DEFAULT_ACCOUNT)
    print(export_lines(data_dir, args.host, args.port, args.region, key, secret))
    return 0


def cmd_account_create(args: argparse.Namespace) -> int:
    if not (len(args.id) == 12 and args.id.isdigit()):
        print("execrole: an account id is 12 digits", file=sys.stderr)
        return 2
    data_dir = _dir(args)
    db = open_database(data_dir)
    from ..services.base import AWSError

    try:
        key, secret = credentials.create_account(db, args.id, args.alias)
    except AWSError as e:
        print(f"execrole: {e.message}", file=sys.stderr)
        return 1
    write_profile(data_dir, f"{config.PROFILE}-{args.id}", key, secret)
    print(json.dumps({"Account": args.id, "AccessKeyId": key, "SecretAccessKey": secret,
                      "Profile": f"{config.PROFILE}-{args.id}"}))
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    db = open_database(_dir(args))
    for account in credentials.accounts(db):
        print(account)
    return 0


def _since(text: str) -> float:
    from ..decisionlog import parse_since

    try:
        return parse_since(text)
    except ValueError:
        raise SystemExit(f"execrole: --since wants an ISO 8601 time or an age like 10m, "
                         f"not {text!r}") from None


def cmd_log(args: argparse.Namespace) -> int:
    from ..decisionlog import Filters, query
    from ..decisionlog import entry as log_entry

    db = open_database(_dir(args))
    filters = Filters(principal=args.principal or "", action=args.action or "",
                      decision=args.decision or "",
                      since=_since(args.since) if args.since else None, job=args.job or "")
    rows = list(reversed(query(db, filters, args.limit)))
    for r in rows:
        entry = log_entry(r)
        if args.json:
            print(json.dumps(entry))
        else:
            print(f"{entry['time']}  {entry['decision']:<13} {entry['action']:<28} "
                  f"{entry['principal']} -> {entry['resource']}")
            if entry["message"]:
                print(f"    {entry['message']}")
    return 0
