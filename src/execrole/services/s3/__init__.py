"""The S3 provider (see service.py for the contract with the HTTP layer)."""

from .common import BodyRange
from .schema import SCHEMA, create_schema
from .service import S3Service

__all__ = ["SCHEMA", "BodyRange", "S3Service", "create_schema"]
