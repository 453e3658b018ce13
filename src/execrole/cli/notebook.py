"""`execrole notebook run|ls`: run a command in a notebook instance's environment, and list
notebook instances.

`run` is what opening a notebook does, for a command instead of Jupyter: the caller (the
usual connection arguments) calls CreatePresignedNotebookInstanceUrl, so it needs
sagemaker:CreatePresignedNotebookInstanceUrl on the notebook, as a console user opening it
does. The endpoint redeems the URL's token once, at `<endpoint>/_execrole/sagemaker/notebook/
<name>?authToken=<token>`, for credentials of the notebook role's `SageMaker` session. The
command then runs with only that session (no profile, no config files), pointed at the
endpoint, with the resource metadata file a notebook instance has
(/opt/ml/metadata/resource-metadata.json) written to a temporary directory and named by
EXECROLE_RESOURCE_METADATA (and by the variable `execrole.get_execution_role()` reads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .. import clienthook, config
from ..clients import endpoint_client
from ..sdk import METADATA_ENV
from .common import connection_args

ROUTE = "/_execrole/sagemaker/notebook/"
RESOURCE_METADATA_ENV = "EXECROLE_RESOURCE_METADATA"
METADATA_FILE = "resource-metadata.json"


class NotebookError(Exception):
    """A failure to report in one line (no traceback)."""


def register(commands: Any) -> None:
    n = commands.add_parser(
        "notebook", help="run commands as a notebook instance's role; list notebook instances",
        description="Notebook instances of the endpoint: run a command in a notebook's "
        "environment (its execution role's session), or list them.")
    sub = n.add_subparsers(dest="notebook_command", metavar="SUBCOMMAND")
    r = sub.add_parser(
        "run", help="run a command with the notebook's role session",
        description="Open the notebook as the caller (CreatePresignedNotebookInstanceUrl), "
        "then run CMD with the credentials of the notebook role's `SageMaker` session, "
        "AWS_ENDPOINT_URL and the region set, no AWS config files, and the notebook's "
        "resource metadata file named by EXECROLE_RESOURCE_METADATA. Exits with CMD's code.",
        epilog="example: execrole notebook run my-notebook -- python -c \"import boto3; "
        "print(boto3.client('sts').get_caller_identity()['Arn'])\"")
    r.add_argument("name", help="the notebook instance's name")
    r.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                   help="the command and its arguments, after --")
    r.add_argument("--region", default=None, help=f"Region (default {config.DEFAULT_REGION}, "
                   "or boto3's with --aws)")
    connection_args(r)
    r.set_defaults(handler=cmd_run, run_parser=r)

    ls = sub.add_parser("ls", help="list notebook instances",
                        description="List the notebook instances of the account and region.",
                        epilog="example: execrole notebook ls --json")
    ls.add_argument("--region", default=None, help=f"Region (default {config.DEFAULT_REGION}, "
                    "or boto3's with --aws)")
    ls.add_argument("--json", action="store_true", help="one JSON object per notebook")
    connection_args(ls)
    ls.set_defaults(handler=cmd_ls)
    n.set_defaults(handler=lambda _args: (n.print_help(), 2)[1])


def _client(args: argparse.Namespace) -> Any:
    return endpoint_client("sagemaker", region=args.region, endpoint=args.endpoint,
                           profile=args.profile, use_aws=args.aws, data_dir=args.data_dir)


def _fail(error: Exception) -> int:
    response = getattr(error, "response", None)
    if response:
        err = response.get("Error", {})
        print(f"execrole: {err.get('Code')}: {err.get('Message')}", file=sys.stderr)
    else:
        print(f"execrole: {error}", file=sys.stderr)
    return 1


def open_notebook(client: Any, name: str) -> dict[str, Any]:
    """The notebook's session: CreatePresignedNotebookInstanceUrl as the caller, then the
    token redeemed at the endpoint the client talks to."""
    url = client.create_presigned_notebook_instance_url(NotebookInstanceName=name)
    token = (parse_qs(urlsplit(url["AuthorizedUrl"]).query).get("authToken") or [""])[0]
    endpoint = str(client.meta.endpoint_url).rstrip("/")
    target = f"{endpoint}{ROUTE}{quote(name, safe='')}?authToken={quote(token, safe='')}"
    try:
        with urllib.request.urlopen(target, timeout=30) as answer:
            body: dict[str, Any] = json.load(answer)
            return body
    except urllib.error.HTTPError as e:
        raise NotebookError(_http_error_text(e, endpoint)) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise NotebookError(f"could not open the notebook at {endpoint}: {e}") from None


def _http_error_text(error: urllib.error.HTTPError, endpoint: str) -> str:
    try:
        err = json.loads(error.read())["Error"]
        return f"{err['Code']}: {err['Message']}"
    except (ValueError, KeyError, TypeError):
        return (f"{endpoint} answered {error.code} for the notebook URL (is it an execrole "
                "endpoint? A real AWS notebook cannot be opened this way)")


def notebook_environment(session: dict[str, Any], endpoint: str,
                         metadata_file: Path) -> dict[str, str]:
    """The command's environment: the caller's, without any AWS_* setting, plus the role
    session, the endpoint, the region and the metadata file."""
    creds, region = session["Credentials"], session["Region"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        RESOURCE_METADATA_ENV: str(metadata_file),
        # execrole.get_execution_role() reads the file, as the SDK reads it on an instance.
        METADATA_ENV: str(metadata_file),
    })
    # The SageMaker SDK's explicit STS endpoints reach execrole too (docs/endpoint.md).
    env.update(clienthook.environment(endpoint, base=env))
    return env


def _command(args: argparse.Namespace) -> list[str]:
    """CMD from after `--`. argparse hands everything after NAME to the command, so options
    written between NAME and `--` are parsed here."""
    command = list(args.command)
    if "--" in command:
        cut = command.index("--")
        options, command = command[:cut], command[cut + 1:]
        if options:
            args.run_parser.parse_args([*options, args.name], namespace=args)
    return command


def cmd_run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    command = _command(args)
    if not command:
        print("execrole: give the command to run after --, e.g. execrole notebook run "
              f"{args.name} -- python script.py", file=sys.stderr)
        return 2
    try:
        client = _client(args)
        session = open_notebook(client, args.name)
        endpoint = str(client.meta.endpoint_url).rstrip("/")
    except (NotebookError, RuntimeError, ClientError, BotoCoreError) as e:
        return _fail(e)
    with tempfile.TemporaryDirectory(prefix="execrole-notebook-") as temp:
        metadata_file = Path(temp) / METADATA_FILE
        metadata_file.write_text(json.dumps(session["ResourceMetadata"]))
        try:
            done = subprocess.run(command, env=notebook_environment(session, endpoint,
                                                                    metadata_file))
        except OSError as e:
            print(f"execrole: cannot run {command[0]}: {e.strerror or e}", file=sys.stderr)
            return 127
    return done.returncode


def cmd_ls(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = _client(args)
        notebooks = [n for page in client.get_paginator("list_notebook_instances").paginate()
                     for n in page["NotebookInstances"]]
    except (RuntimeError, ClientError, BotoCoreError) as e:
        return _fail(e)
    rows = [{"NotebookInstanceName": n["NotebookInstanceName"],
             "NotebookInstanceStatus": n.get("NotebookInstanceStatus", ""),
             "InstanceType": n.get("InstanceType", ""),
             "CreationTime": n["CreationTime"].isoformat() if n.get("CreationTime") else "",
             "NotebookInstanceArn": n["NotebookInstanceArn"]} for n in notebooks]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    table = [("NAME", "STATUS", "INSTANCE TYPE", "CREATED")]
    table += [(r["NotebookInstanceName"], r["NotebookInstanceStatus"], r["InstanceType"],
               r["CreationTime"]) for r in rows]
    widths = [max(len(line[c]) for line in table) for c in range(3)]
    for line in table:
        print("  ".join(v.ljust(w) for v, w in zip(line[:3], widths, strict=True)) + "  "
              + line[3])
    return 0
