"""The S3 provider: one class whose methods are S3's operations, named as in the API.

Each takes (call, params) as boto3 passes the parameters and returns the result as boto3
returns it, never seeing HTTP. Request bodies arrive already stored (PutObject's and
UploadPart's Body is an execrole.store.blobs.Blob); GetObject's Body is a BodyRange the HTTP
layer streams; "_status" carries 206 and 304.
"""

from __future__ import annotations

from .buckets import BucketOperations
from .listing import ListingOperations
from .multipart import MultipartOperations
from .objects import ObjectOperations


class S3Service(BucketOperations, ObjectOperations, ListingOperations, MultipartOperations):
    """S3 buckets, objects, listings, multipart uploads and tagging over SQLite metadata and
    content-addressed blobs."""

    name = "s3"
