"""What every service provider shares: AWS errors, the caller, ids and timestamps."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class AWSError(Exception):
    """An error with AWS's code and message; the wire turns it into the protocol's format."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


def no_such_entity(message: str) -> AWSError:
    return AWSError("NoSuchEntity", message, 404)


def already_exists(message: str) -> AWSError:
    return AWSError("EntityAlreadyExists", message, 409)


def delete_conflict(message: str) -> AWSError:
    return AWSError("DeleteConflict", message, 409)


def limit_exceeded(message: str) -> AWSError:
    return AWSError("LimitExceeded", message, 409)


def invalid_input(message: str) -> AWSError:
    return AWSError("InvalidInput", message, 400)


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of one request."""

    arn: str  # user, root or assumed-role session ARN ("anonymous" when unsigned)
    account: str
    access_key_id: str | None = None
    user_name: str | None = None  # IAM user (long-term keys or GetSessionToken)
    role_name: str | None = None  # assumed-role sessions
    session: dict[str, Any] | None = None  # the STS session record, for temporary credentials
    user_id: str | None = None  # aws:userid

    @property
    def is_root(self) -> bool:
        return self.arn.endswith(":root")

    @property
    def is_anonymous(self) -> bool:
        return self.arn == "anonymous"


@dataclass
class Call:
    """One API call: who, from where, and when."""

    caller: Caller
    region: str
    request_id: str
    source_ip: str = "127.0.0.1"
    secure_transport: bool = False
    user_agent: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


_UPPER_DIGITS = string.ascii_uppercase + string.digits
# IAM unique-id prefixes (reference_identifiers.html, "Unique identifiers").
ID_PREFIX = {"user": "AIDA", "role": "AROA", "group": "AGPA", "policy": "ANPA",
             "access_key": "AKIA", "temporary_key": "ASIA", "instance_profile": "AIPA"}


def new_id(kind: str, length: int = 21) -> str:
    prefix = ID_PREFIX[kind]
    return prefix + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(length - len(prefix)))


def new_secret() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
