"""The one error type the policy layer raises: AWS's error code and message."""

from __future__ import annotations


class PolicyError(Exception):
    """A policy document was rejected, with the code and message IAM would return."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def malformed(message: str) -> PolicyError:
    return PolicyError("MalformedPolicyDocument", message)
