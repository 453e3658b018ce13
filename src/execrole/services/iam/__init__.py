"""The IAM provider: one class, its operations grouped by what they work on."""

from __future__ import annotations

from ...store import Database
from .entities import EntityOperations
from .keys import KeyOperations
from .policies import PolicyOperations
from .simulate import SimulateOperations


class IAMService(EntityOperations, PolicyOperations, KeyOperations, SimulateOperations):
    """Operations are methods named as in the API (CreateRole, ...), taking the call and
    the request parameters as boto3 passes them, returning the result as boto3 returns it."""

    name = "iam"

    def __init__(self, db: Database) -> None:
        super().__init__(db)


__all__ = ["IAMService"]
