"""The services the endpoint serves: model name -> provider factory, in one table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..policy import Policy
from ..store import Database
from ..store.blobs import BlobStore
from .authz import AccessControl
from .cloudwatch import CloudWatchService
from .ec2 import EC2Service
from .ecr import ECRService
from .iam import IAMService
from .kms import KMSService
from .logs import LogsService
from .s3 import S3Service
from .sagemaker import SageMakerService
from .sts import STSService

Factory = Callable[[Database, AccessControl], Any]


@dataclass(frozen=True)
class ResourceSide:
    """What a provider adds to an authorization: the resource's own policy (a key policy,
    a bucket policy), the account that owns the resource, and condition keys read from the
    resource (tags, object tags). Providers expose it as
    `authorization(call, operation, params, action, resource) -> ResourceSide | None`."""

    policy: Policy | None = None
    account: str | None = None
    context: dict[str, Any] | None = None
    resource: str | None = None  # the resource the decision is really about (a key ARN
    # behind an alias), when the request names it only indirectly


PROVIDERS: dict[str, Factory] = {
    "iam": lambda db, access: IAMService(db),
    "sts": lambda db, access: STSService(db, access),
    "logs": lambda db, access: LogsService(db),
    "cloudwatch": lambda db, access: CloudWatchService(db),
    "kms": lambda db, access: KMSService(db, access),
    "ec2": lambda db, access: EC2Service(db, access),
    # Object bodies live in a content-addressed blob directory beside the database.
    "s3": lambda db, access: S3Service(db, BlobStore(db.path.parent / "blobs")),
    # Image layers have a blob directory of their own: S3 reclaims blobs it does not know.
    "ecr": lambda db, access: ECRService(db, BlobStore(db.path.parent / "ecr-layers"), access),
    "sagemaker": lambda db, access: SageMakerService(db, access),
}
