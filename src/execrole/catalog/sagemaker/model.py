"""The values the SageMaker requirement catalog hands out: requirements and request errors."""

from __future__ import annotations

from dataclasses import dataclass, field

ContextValue = str | list[str]

CALLER = "caller"  # the principal that calls the SageMaker API
TRUST = "trust"  # sagemaker.amazonaws.com assuming the execution role (its trust policy)
ROLE = "role"  # the execution role's session, doing the work on the caller's behalf
WHO = (CALLER, TRUST, ROLE)

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"


@dataclass(frozen=True)
class Requirement:
    """One permission a SageMaker request needs.

    `who` says whose policies must allow it: the caller's (identity policies of whoever calls
    the API), the execution role's trust policy (`sts:AssumeRole` by `sagemaker.amazonaws.com`),
    or the execution role's permissions (the role session SageMaker works with).
    `resource` is an ARN (a `*` inside it stands for names SageMaker chooses at run time), or
    `*` alone where the action has no resource type that applies. `context` holds the condition
    keys the request fills. `reason` is the request field that caused it (botocore's path
    notation, `InputDataConfig[0].DataSource.S3DataSource.S3Uri`); `source` the page and heading
    that documents it, or `derived:<source>` where the rule of that page was applied to a field
    the page does not name.
    """

    who: str
    action: str
    resource: str
    context: dict[str, ContextValue] = field(default_factory=dict, hash=False)
    reason: str = ""
    source: str = ""


class RequestError(Exception):
    """A request SageMaker would refuse: every problem found, in botocore's (or, for the
    fields the catalog has to interpret, SageMaker's server-side) wording."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("Parameter validation failed:\n" + "\n".join(self.errors))
