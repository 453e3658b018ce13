"""Object operations: put, get, head, delete (one or many), copy, and object tagging.

Sources: the S3 API reference pages of each operation (botocore's s3 model for parameters and
results): PutObject (ETag is the quoted hex md5 of the body; x-amz-tagging in URL query
form; Content-MD5 and x-amz-checksum-* checked against the body, BadDigest otherwise);
GetObject (Range, partNumber, the four conditional headers and how they combine, 206/304/
412/416, response-* overrides refused for anonymous requests, x-amz-tagging-count,
InvalidObjectState for archived objects); DeleteObject (deleting a missing key succeeds);
DeleteObjects (at most 1,000 keys, Quiet); CopyObject (x-amz-copy-source, MetadataDirective
and TaggingDirective COPY|REPLACE, copy-source conditions, "copy to itself" and 5 GB limits);
Put/Get/DeleteObjectTagging (10 tags per object).
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..base import Call
from .common import (
    CONTENT_FIELDS,
    MAX_COPY_SIZE,
    MAX_DELETE_KEYS,
    RESPONSE_OVERRIDES,
    BodyRange,
    at_second,
    check_tags,
    content_range,
    error,
    etag_matches,
    evaluate_conditions,
    invalid_argument,
    invalid_request,
    malformed_xml,
    no_such_key,
    parse_range,
    precondition_failed,
    quoted,
    tags_from_header,
    to_datetime,
)
from .core import Row, S3Core, check_readable, check_version, encryption_out

DIRECTIVES = ("COPY", "REPLACE")


class ObjectOperations(S3Core):
    # --- writing -----------------------------------------------------------------------------

    def PutObject(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        blob = self._body(p)
        try:
            self._bucket(p)
            key = self._key(p)
            checksums = self._verify_body(blob, p)
            tags = check_tags(tags_from_header(p["Tagging"]), bucket=False) \
                if p.get("Tagging") else []
            with self.db.transaction() as conn:
                bucket = self._bucket(p)
                self._check_acl(bucket, p)
                attrs = {**self._content(p), **self._placement(call, bucket, p)}
                if checksums:
                    attrs["Checksums"] = checksums
                old = self._object_row(bucket["name"], key)
                self._check_write(p, old)
                self._require_blob(blob.sha256)
                self._write_object(conn, bucket["name"], key, blob=blob.sha256,
                                   size=blob.size, md5=blob.md5, etag=blob.md5,
                                   modified=int(call.time.timestamp()), attrs=attrs, tags=tags)
        except Exception:
            # Nothing records the body: give it back (unless stored again meanwhile).
            self._release([(blob.sha256, started)])
            raise
        self._replaced(old, blob.sha256)
        return {"ETag": quoted(blob.md5), **encryption_out(attrs), **checksums}

    # --- reading -----------------------------------------------------------------------------

    def GetObject(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._read(call, p, head=False)

    def HeadObject(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._read(call, p, head=True)

    def _read(self, call: Call, p: dict[str, Any], *, head: bool) -> dict[str, Any]:
        bucket = self._bucket(p)
        row = self._object(bucket["name"], self._key(p), p.get("VersionId"))
        attrs: dict[str, Any] = json.loads(row["attrs"])
        if head:
            check_readable({k: v for k, v in attrs.items() if k != "StorageClass"}, p)
        else:
            check_readable(attrs, p)
        modified = at_second(row["modified"])
        outcome = evaluate_conditions(p, row["etag"], modified, call.time)
        if outcome == 412:
            raise precondition_failed()
        if outcome == 304:
            return {"_status": 304, "ETag": quoted(row["etag"]), "LastModified": modified}
        overrides = {field: p[param] for param, field in RESPONSE_OVERRIDES.items()
                     if p.get(param)}
        if overrides and call.caller.is_anonymous:
            raise invalid_request("Request specific response headers cannot be used for "
                                  "anonymous GET requests.")
        if p.get("Range") and p.get("PartNumber") is not None:
            raise invalid_request("Cannot specify both Range header and partNumber query "
                                  "parameter")
        size = row["size"]
        out = object_headers(row, attrs)
        start, end, partial = 0, size, False
        if p.get("Range"):
            span = parse_range(str(p["Range"]), size)
            if span is not None:
                (start, end), partial = span, True
        elif p.get("PartNumber") is not None:
            start, end = self._part_span(row, int(p["PartNumber"]))
            partial = size > 0
            if row["parts"]:
                out["PartsCount"] = len(json.loads(row["parts"]))
        out["ContentLength"] = end - start
        if partial:
            out["ContentRange"] = content_range(start, end, size)
            out["_status"] = 206
        elif str(p.get("ChecksumMode") or "").upper() == "ENABLED":
            out.update(attrs.get("Checksums") or {})
        tags = json.loads(row["tags"])
        if tags:
            out["TagCount"] = len(tags)
        for field, value in overrides.items():
            out[field] = (to_datetime(value) or value) if field == "Expires" else value
        if not head:
            out["Body"] = BodyRange(row["blob"], start, end)
        return out

    @staticmethod
    def _part_span(row: Row, number: int) -> tuple[int, int]:
        """The bytes of part ``number`` (an object not uploaded in parts is its part 1)."""
        sizes: list[int] = json.loads(row["parts"]) if row["parts"] else [row["size"]]
        if not 1 <= number <= len(sizes):
            raise error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416)
        start = sum(sizes[:number - 1])
        return start, start + sizes[number - 1]

    # --- deleting ----------------------------------------------------------------------------

    def DeleteObject(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """Deleting a key that does not exist succeeds (204)."""
        check_version(p.get("VersionId"))
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            key = self._key(p)
            row = self._object_row(bucket["name"], key)
            if p.get("IfMatch"):
                if row is None:
                    raise no_such_key()
                if not etag_matches(p["IfMatch"], row["etag"]):
                    raise precondition_failed()
            if row is not None:
                conn.execute("DELETE FROM s3_objects WHERE bucket=? AND key=?",
                             (bucket["name"], key))
        if row is not None:
            self._release([(row["blob"], row["stored"])])
        return {}

    def DeleteObjects(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """Each key is deleted or reported in Errors; Quiet leaves out the Deleted list."""
        delete = p.get("Delete") or {}
        objects = delete.get("Objects") or []
        if not objects or len(objects) > MAX_DELETE_KEYS:
            raise malformed_xml()
        quiet = bool(delete.get("Quiet"))
        deleted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        dropped: list[tuple[str, float]] = []
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            for item in objects:
                key = str(item.get("Key", ""))
                version_id = item.get("VersionId")
                if version_id and version_id != "null":
                    errors.append({"Key": key, "VersionId": version_id, "Code": "NoSuchVersion",
                                   "Message": "The specified version does not exist."})
                    continue
                row = self._object_row(bucket["name"], key)
                if row is not None:
                    conn.execute("DELETE FROM s3_objects WHERE bucket=? AND key=?",
                                 (bucket["name"], key))
                    dropped.append((row["blob"], row["stored"]))
                entry: dict[str, Any] = {"Key": key}
                if version_id:
                    entry["VersionId"] = version_id
                deleted.append(entry)
        self._release(dropped)
        out: dict[str, Any] = {}
        if not quiet:
            out["Deleted"] = deleted
        if errors:
            out["Errors"] = errors
        return out

    # --- copying -----------------------------------------------------------------------------

    def CopyObject(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        directive = p.get("MetadataDirective") or "COPY"
        if directive not in DIRECTIVES:
            raise invalid_argument("Unknown metadata directive.")
        tag_directive = p.get("TaggingDirective") or "COPY"
        if tag_directive not in DIRECTIVES:
            raise invalid_argument("Unknown tagging directive.")
        request_tags = check_tags(tags_from_header(p["Tagging"]), bucket=False) \
            if p.get("Tagging") and tag_directive == "REPLACE" else []
        key = self._key(p)
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            self._check_acl(bucket, p)
            src_bucket, src, src_attrs = self._source(call, p)
            if src["size"] > MAX_COPY_SIZE:
                raise invalid_request("The specified copy source is larger than the maximum "
                                      f"allowable size for a copy source: {MAX_COPY_SIZE}")
            same = src_bucket["name"] == bucket["name"] and src["key"] == key
            changes = (directive == "REPLACE", p.get("StorageClass"),
                       p.get("WebsiteRedirectLocation"), p.get("ServerSideEncryption"),
                       p.get("SSEKMSKeyId"), p.get("SSECustomerAlgorithm"))
            if same and not any(changes):
                raise invalid_request(
                    "This copy request is illegal because it is trying to copy an object to "
                    "itself without changing the object's metadata, storage class, website "
                    "redirect location or encryption attributes.")
            content = self._content(p) if directive == "REPLACE" else {
                k: v for k, v in src_attrs.items() if k in (*CONTENT_FIELDS, "Metadata")}
            attrs = {**content, **self._placement(call, bucket, p)}
            if src_attrs.get("Checksums"):
                attrs["Checksums"] = src_attrs["Checksums"]
            tags = request_tags if tag_directive == "REPLACE" else json.loads(src["tags"])
            old = self._object_row(bucket["name"], key)
            modified = int(call.time.timestamp())
            # A copy is a new single-part object: its ETag is the md5 of the content.
            self._write_object(conn, bucket["name"], key, blob=src["blob"], size=src["size"],
                               md5=src["md5"], etag=src["md5"], modified=modified,
                               attrs=attrs, tags=tags)
        self._replaced(old, src["blob"])
        return {"CopyObjectResult": {"ETag": quoted(src["md5"]),
                                     "LastModified": at_second(modified)},
                **encryption_out(attrs)}

    # --- tagging -----------------------------------------------------------------------------

    def PutObjectTagging(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        tagging = p.get("Tagging")
        if not isinstance(tagging, dict) or "TagSet" not in tagging:
            raise malformed_xml()
        tags = check_tags(tagging["TagSet"], bucket=False)
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            row = self._object(bucket["name"], self._key(p), p.get("VersionId"))
            conn.execute("UPDATE s3_objects SET tags=? WHERE bucket=? AND key=?",
                         (json.dumps(tags), bucket["name"], row["key"]))
        return {}

    def GetObjectTagging(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        row = self._object(bucket["name"], self._key(p), p.get("VersionId"))
        return {"TagSet": json.loads(row["tags"])}

    def DeleteObjectTagging(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            row = self._object(bucket["name"], self._key(p), p.get("VersionId"))
            conn.execute("UPDATE s3_objects SET tags='[]' WHERE bucket=? AND key=?",
                         (bucket["name"], row["key"]))
        return {}


def object_headers(row: Row, attrs: dict[str, Any]) -> dict[str, Any]:
    """What GetObject and HeadObject report about a stored object."""
    out: dict[str, Any] = {"AcceptRanges": "bytes", "LastModified": at_second(row["modified"]),
                           "ContentLength": row["size"], "ETag": quoted(row["etag"]),
                           "Metadata": dict(attrs.get("Metadata") or {})}
    for name in CONTENT_FIELDS:
        value = attrs.get(name)
        if value:
            out[name] = (to_datetime(value) or value) if name == "Expires" else value
    if attrs.get("WebsiteRedirectLocation"):
        out["WebsiteRedirectLocation"] = attrs["WebsiteRedirectLocation"]
    if attrs.get("StorageClass", "STANDARD") != "STANDARD":
        out["StorageClass"] = attrs["StorageClass"]
    out.update(encryption_out(attrs))
    return out
