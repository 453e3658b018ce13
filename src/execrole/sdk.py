"""`get_execution_role`: the SageMaker Python SDK's way of finding the execution role, with
clear errors.

The resolution order is the SDK's (`sagemaker.get_execution_role` in 2.x,
`sagemaker.core.helper.session_helper.get_execution_role` in 3.x):

1. The notebook metadata file, ``/opt/ml/metadata/resource-metadata.json`` on SageMaker
   notebook instances and Studio (the ``metadata_path`` argument, else the environment
   variable ``EXECROLE_NOTEBOOK_METADATA``, overrides it). Its ``ExecutionRoleArn`` if it has
   one; else, for a notebook instance (``ResourceName``, no ``DomainId``),
   ``sagemaker:DescribeNotebookInstance`` → ``RoleArn``; else, for Studio (``DomainId`` and
   ``UserProfileName``), ``sagemaker:DescribeUserProfile`` → ``UserSettings.ExecutionRole``,
   falling back to ``sagemaker:DescribeDomain`` → ``DefaultUserSettings.ExecutionRole``.
   An error from SageMaker moves on to step 2, as in the SDK.
2. ``sts:GetCallerIdentity``. An assumed-role session
   (``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``) becomes the role's ARN, with the
   role's path from ``iam:GetRole(RoleName=NAME)``; if GetRole fails, the ARN without a
   path is kept (``/service-role/`` for names containing ``AmazonSageMaker-ExecutionRole``,
   the SDK's guess for console-made roles). A role ARN is returned as it is.
3. Anything else (an IAM user, a federated user, the root user) is not a role:
   ValueError with the SDK's message and how to get a role.

Unlike the SDK, the clients are plain ``boto_session.client(...)`` clients, so
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` are honoured (the SDK pins STS to the
regional AWS endpoint), and a missing region, missing credentials or an unreachable endpoint
raise `ExecutionRoleError` (a ValueError) saying what to configure, instead of the SDK's
generic region error.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

__all__ = ["METADATA_ENV", "NOTEBOOK_METADATA_FILE", "ExecutionRoleError",
           "get_execution_role"]

logger = logging.getLogger(__name__)

NOTEBOOK_METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
METADATA_ENV = "EXECROLE_NOTEBOOK_METADATA"

NOT_A_ROLE = ("The current AWS identity is not a role: {}, therefore it cannot be used as a "
              "SageMaker execution role")
HOW_TO_GET_A_ROLE = (
    "To get one, create an execution role that SageMaker may assume (`execrole role create`, "
    "or `execrole plan` for its policies) and pass its ARN explicitly, for example "
    "role=\"arn:aws:iam::{account}:role/MySageMakerExecutionRole\"; or run with credentials "
    "of a role (an assumed-role session), e.g. AWS_PROFILE set to a profile with role_arn.")
NO_REGION = (
    "No AWS region configured: set AWS_DEFAULT_REGION (or AWS_REGION), add `region = ...` to "
    "your profile in ~/.aws/config (`aws configure`), or pass "
    "boto_session=boto3.Session(region_name=...).")
NO_CREDENTIALS = (
    "No AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
    "AWS_SESSION_TOKEN for temporary credentials), or AWS_PROFILE to a profile in "
    "~/.aws/credentials or ~/.aws/config (`aws configure`, `aws sso login`), or pass "
    "boto_session=boto3.Session(...) with credentials.")
NO_ENDPOINT = (
    "Could not connect to the AWS endpoint {url}: check AWS_ENDPOINT_URL / "
    "AWS_ENDPOINT_URL_{service} (for a local endpoint such as `execrole serve`, is it "
    "running?) and your network.")

_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):sts::(?P<account>[^:]*):assumed-role/(?P<name>[^/]+)/.+$")
_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]+::(\d+):")


class ExecutionRoleError(ValueError):
    """No execution role could be found; the message says why and what to do."""


def _metadata_file(metadata_path: str | os.PathLike[str] | None) -> Path:
    if metadata_path is not None:
        return Path(metadata_path)
    return Path(os.environ.get(METADATA_ENV) or NOTEBOOK_METADATA_FILE)


class _Clients:
    """boto3 clients from one session, created on first use, with the configuration problems
    turned into ExecutionRoleError."""

    def __init__(self, boto_session: Any, sagemaker_client: Any = None) -> None:
        self.session = boto_session
        self.cache: dict[str, Any] = {}
        if sagemaker_client is not None:
            self.cache["sagemaker"] = sagemaker_client

    def get(self, service: str) -> Any:
        if service in self.cache:
            return self.cache[service]
        if not self.session.region_name:
            raise ExecutionRoleError(NO_REGION)
        if self.session.get_credentials() is None:
            raise ExecutionRoleError(NO_CREDENTIALS)
        try:
            client = self.session.client(service)
        except NoRegionError:
            raise ExecutionRoleError(NO_REGION) from None
        self.cache[service] = client
        return client

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        client = self.get(service)
        try:
            result: dict[str, Any] = getattr(client, operation)(**params)
        except (NoCredentialsError, PartialCredentialsError) as e:
            raise ExecutionRoleError(f"{NO_CREDENTIALS} ({e})") from e
        except NoRegionError:
            raise ExecutionRoleError(NO_REGION) from None
        except EndpointConnectionError as e:
            url = e.kwargs.get("endpoint_url") or client.meta.endpoint_url
            raise ExecutionRoleError(NO_ENDPOINT.format(
                url=url, service=service.upper().replace("-", "_"))) from e
        return result


def _from_metadata(path: Path, clients: _Clients) -> str | None:
    """The role named by the notebook metadata file, or None to go on to the caller."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ExecutionRoleError(f"Cannot read the notebook metadata file {path}: {e}") from e
    try:
        metadata = json.loads(text)
    except ValueError as e:
        raise ExecutionRoleError(
            f"The notebook metadata file {path} is not valid JSON: {e}") from e
    if not isinstance(metadata, dict):
        raise ExecutionRoleError(f"The notebook metadata file {path} is not a JSON object")
    role = metadata.get("ExecutionRoleArn")
    if role:
        return str(role)
    instance = metadata.get("ResourceName")
    domain = metadata.get("DomainId")
    profile = metadata.get("UserProfileName")
    try:
        if domain is None and instance:
            described = clients.call("sagemaker", "describe_notebook_instance",
                                     NotebookInstanceName=instance)
            return str(described["RoleArn"])
        if domain and profile:
            user = clients.call("sagemaker", "describe_user_profile",
                                DomainId=domain, UserProfileName=profile)
            role = (user.get("UserSettings") or {}).get("ExecutionRole")
            if role:
                return str(role)
            described = clients.call("sagemaker", "describe_domain", DomainId=domain)
            role = (described.get("DefaultUserSettings") or {}).get("ExecutionRole")
            if role:
                return str(role)
    except ClientError as e:
        logger.debug("Couldn't find the execution role from %s (%s); using the caller's "
                     "identity", path, e)
    return None


def _from_caller(clients: _Clients) -> str:
    arn = str(clients.call("sts", "get_caller_identity")["Arn"])
    session = _ASSUMED_ROLE.match(arn)
    if session is None:
        return arn
    name = session["name"]
    try:
        return str(clients.call("iam", "get_role", RoleName=name)["Role"]["Arn"])
    except ClientError as e:
        path = "/service-role/" if "AmazonSageMaker-ExecutionRole" in name else "/"
        logger.warning("Couldn't call iam:GetRole for the role %s to get its path (%s); "
                       "assuming the path %s", name, e, path)
        return f"arn:{session['partition']}:iam::{session['account']}:role{path}{name}"


def get_execution_role(sagemaker_session: Any = None, *, boto_session: Any = None,
                       metadata_path: str | os.PathLike[str] | None = None) -> str:
    """The ARN of the execution role for SageMaker work started from here (see the module's
    docstring for the order in which it is looked for).

    `sagemaker_session` may be a SageMaker SDK Session (or anything with a `boto_session`
    and, optionally, a `sagemaker_client`); `boto_session` (a boto3.Session) takes
    precedence over it; by default a new boto3.Session() is used. Raises ExecutionRoleError
    (a ValueError) when the identity is not a role or AWS access is not configured."""
    sagemaker_client = None
    if boto_session is None and sagemaker_session is not None:
        boto_session = sagemaker_session.boto_session
        sagemaker_client = getattr(sagemaker_session, "sagemaker_client", None)
    if boto_session is None:
        import boto3  # not needed when a session is given

        boto_session = boto3.Session()
    clients = _Clients(boto_session, sagemaker_client)
    role = _from_metadata(_metadata_file(metadata_path), clients)
    if role is None:
        role = _from_caller(clients)
    if ":role/" in role:  # the SDK's test
        return role
    account = _ACCOUNT.match(role)
    hint = HOW_TO_GET_A_ROLE.format(account=account[1] if account else "<account>")
    raise ExecutionRoleError(f"{NOT_A_ROLE.format(role)}.\n{hint}")
