"""What every part of the SageMaker provider shares: the database, the access control, the
role checks, the endpoint's other providers and the job runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...store import Database
from ..authz import AccessControl
from .checks import RoleChecks


class Base:
    name = "sagemaker"

    def __init__(self, db: Database, access: AccessControl) -> None:
        self.db = db
        self.access = access
        self.peers: Mapping[str, Any] = {}
        self.checks = RoleChecks(db, access, lambda name: self.peers.get(name))
        self.runtime: Any = None  # the job runtime (runtime.supervisor), set by the server

    def attach(self, peers: Mapping[str, Any]) -> None:
        """The endpoint's other providers (ECR, for image checks)."""
        self.peers = peers
