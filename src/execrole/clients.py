"""boto3 clients for the commands that call AWS APIs (`role create`, `image push`): boto3's
own configuration for a real account, else the local endpoint with the data directory's
root key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import config


def endpoint_client(service: str, *, region: str | None = None, endpoint: str | None = None,
                    profile: str | None = None, use_aws: bool = False,
                    data_dir: Path | None = None) -> Any:
    """With --aws / --profile, boto3's configuration (AWS_ENDPOINT_URL and the AWS_*
    credentials honoured); otherwise the local endpoint and its root key."""
    import boto3

    if use_aws or profile:
        session = boto3.Session(profile_name=profile, region_name=region)
        return session.client(service, endpoint_url=endpoint)
    import configparser

    directory = Path(data_dir) if data_dir else config.default_data_dir()
    creds = configparser.ConfigParser()
    creds.read(config.credentials_path(directory))
    if config.PROFILE not in creds:
        raise RuntimeError(f"no execrole credentials in {directory} (run `execrole serve` "
                           "first, or pass --aws / --profile for a real account)")
    return boto3.client(service, endpoint_url=endpoint or
                        f"http://127.0.0.1:{config.DEFAULT_PORT}",
                        region_name=region or config.DEFAULT_REGION,
                        aws_access_key_id=creds[config.PROFILE]["aws_access_key_id"],
                        aws_secret_access_key=creds[config.PROFILE]["aws_secret_access_key"])
