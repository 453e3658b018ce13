"""Multipart uploads: create, upload a part (or copy one), list parts, complete, abort.

Sources: the S3 API reference pages. Part numbers run 1-10,000; a part is at most 5 GiB and
every part but the last at least 5 MiB (checked at completion: EntityTooSmall); a part's ETag
is the quoted md5 of its content; CompleteMultipartUpload names parts in ascending order
(InvalidPartOrder) by number and ETag (InvalidPart when either does not match an uploaded
part); the object's ETag is the md5 of the parts' binary md5s, "-" and the part count
(S3 user guide, "Checking object integrity"). Nothing of an upload is an object until it is
completed; completing or aborting it removes its parts.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from typing import Any
from urllib.parse import quote

from ...store.blobs import etag_multipart
from ..base import Call
from .common import (
    CHECKSUM_FIELDS,
    MAX_KEYS,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    at_second,
    bare_etag,
    check_tags,
    error,
    invalid_argument,
    invalid_request,
    malformed_xml,
    max_count,
    no_such_upload,
    owner,
    quoted,
    tags_from_header,
)
from .core import Row, S3Core, encryption_out
from .listing import initiator

_COPY_RANGE = "bytes="


def _new_upload_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")


def _part_number(p: dict[str, Any]) -> int:
    value = p.get("PartNumber")
    try:
        number = int(value) if value is not None else 0
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
    return number


def _location(bucket: Row, key: str) -> str:
    host = "s3.amazonaws.com" if bucket["region"] == "us-east-1" \
        else f"s3.{bucket['region']}.amazonaws.com"
    return f"https://{bucket['name']}.{host}/{quote(key, safe='/')}"


class MultipartOperations(S3Core):
    def _upload(self, bucket: str, key: str, upload_id: Any) -> Row:
        row = self.db.one("SELECT * FROM s3_uploads WHERE upload_id=?", (str(upload_id),))
        if row is None or row["bucket"] != bucket or row["key"] != key:
            raise no_such_upload()
        return row

    def CreateMultipartUpload(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        key = self._key(p)
        self._check_acl(bucket, p)
        attrs = {**self._content(p), **self._placement(call, bucket, p)}
        if p.get("ChecksumAlgorithm"):
            attrs["ChecksumAlgorithm"] = str(p["ChecksumAlgorithm"]).upper()
        tags = check_tags(tags_from_header(p["Tagging"]), bucket=False) \
            if p.get("Tagging") else []
        upload_id = _new_upload_id()
        with self.db.transaction() as conn:
            self._bucket(p)
            conn.execute("INSERT INTO s3_uploads(upload_id, bucket, key, initiated, initiator, "
                         "account, attrs, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (upload_id, bucket["name"], key, time.time(), call.caller.arn,
                          call.caller.account, json.dumps(attrs), json.dumps(tags)))
        out: dict[str, Any] = {"Bucket": bucket["name"], "Key": key, "UploadId": upload_id,
                               **encryption_out(attrs)}
        if attrs.get("ChecksumAlgorithm"):
            out["ChecksumAlgorithm"] = attrs["ChecksumAlgorithm"]
        return out

    def UploadPart(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        blob = self._body(p)
        try:
            bucket = self._bucket(p)
            key = self._key(p)
            self._upload(bucket["name"], key, p.get("UploadId"))
            number = _part_number(p)
            if blob.size > MAX_PART_SIZE:
                raise error("EntityTooLarge", "Your proposed upload exceeds the maximum "
                            "allowed size")
            checksums = self._verify_body(blob, p)
            upload, old = self._record_part(bucket["name"], key, p.get("UploadId"), number,
                                            blob.sha256, blob.size, blob.md5,
                                            int(call.time.timestamp()), checksums)
        except Exception:
            self._release([(blob.sha256, started)])
            raise
        if old is not None and old["blob"] != blob.sha256:
            self._release([(old["blob"], old["stored"])])
        attrs = json.loads(upload["attrs"])
        return {"ETag": quoted(blob.md5), **encryption_out(attrs), **checksums}

    def _record_part(self, bucket: str, key: str, upload_id: Any, number: int, sha256: str,
                     size: int, md5: str, modified: int,
                     checksums: dict[str, str]) -> tuple[Row, Row | None]:
        with self.db.transaction() as conn:
            upload = self._upload(bucket, key, upload_id)
            old = conn.execute("SELECT blob, stored FROM s3_parts WHERE upload_id=? AND "
                               "part_number=?", (upload["upload_id"], number)).fetchone()
            self._require_blob(sha256)
            conn.execute("INSERT OR REPLACE INTO s3_parts(upload_id, part_number, blob, size, "
                         "md5, modified, stored, checksums) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (upload["upload_id"], number, sha256, size, md5, modified,
                          time.time(), json.dumps(checksums)))
        return upload, old

    def UploadPartCopy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """A part copied from an object, whole or a CopySourceRange "bytes=first-last"."""
        bucket = self._bucket(p)
        key = self._key(p)
        self._upload(bucket["name"], key, p.get("UploadId"))
        number = _part_number(p)
        _, src, _ = self._source(call, p)
        size = src["size"]
        span = p.get("CopySourceRange")
        first, stop = 0, size
        if span:
            text = str(span)
            pieces = text[len(_COPY_RANGE):].split("-") if text.startswith(_COPY_RANGE) else []
            if len(pieces) != 2 or not all(x.isdigit() for x in pieces) \
                    or int(pieces[1]) < int(pieces[0]):
                raise invalid_argument("The x-amz-copy-source-range value must be of the form "
                                       "bytes=first-last where first and last are the "
                                       "zero-based offsets of the first and last bytes to copy")
            first, stop = int(pieces[0]), int(pieces[1]) + 1
            if stop > size:
                raise invalid_request(f"Range specified is not valid for source object of "
                                      f"size: {size}")
        if stop - first > MAX_PART_SIZE:
            raise error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                        "size")
        if (first, stop) == (0, size):
            sha256, md5 = src["blob"], src["md5"]
        else:
            with self.blobs.writer() as writer:
                for chunk in self.blobs.iter_range(src["blob"], first, stop):
                    writer.write(chunk)
                made = writer.commit()
            sha256, md5 = made.sha256, made.md5
        started = time.time()  # after the part's blob was written: see _release
        modified = int(call.time.timestamp())
        try:
            _, old = self._record_part(bucket["name"], key, p.get("UploadId"), number, sha256,
                                       stop - first, md5, modified, {})
        except Exception:
            if sha256 != src["blob"]:
                self._release([(sha256, started)])
            raise
        if old is not None and old["blob"] != sha256:
            self._release([(old["blob"], old["stored"])])
        return {"CopyPartResult": {"ETag": quoted(md5), "LastModified": at_second(modified)}}

    def ListParts(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        key = self._key(p)
        upload = self._upload(bucket["name"], key, p.get("UploadId"))
        limit = max_count(p.get("MaxParts"), "max-parts", MAX_KEYS)
        marker = int(p.get("PartNumberMarker") or 0)
        rows = self.db.query("SELECT * FROM s3_parts WHERE upload_id=? AND part_number > ? "
                             "ORDER BY part_number LIMIT ?",
                             (upload["upload_id"], marker, limit + 1))
        page = rows[:limit]
        attrs = json.loads(upload["attrs"])
        out: dict[str, Any] = {
            "Bucket": bucket["name"], "Key": key, "UploadId": upload["upload_id"],
            "PartNumberMarker": marker, "MaxParts": limit, "IsTruncated": len(rows) > limit,
            "Initiator": initiator(upload["initiator"], upload["account"]),
            "Owner": owner(bucket["account"]),
            "StorageClass": attrs.get("StorageClass", "STANDARD"),
            "Parts": [{"PartNumber": r["part_number"], "LastModified": at_second(r["modified"]),
                       "ETag": quoted(r["md5"]), "Size": r["size"], **json.loads(r["checksums"])}
                      for r in page]}
        if page:
            out["NextPartNumberMarker"] = page[-1]["part_number"]
        if attrs.get("ChecksumAlgorithm"):
            out["ChecksumAlgorithm"] = attrs["ChecksumAlgorithm"]
        return out

    def CompleteMultipartUpload(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        key = self._key(p)
        upload = self._upload(bucket["name"], key, p.get("UploadId"))
        given = (p.get("MultipartUpload") or {}).get("Parts")
        if given is None:
            raise malformed_xml()
        if not given:
            raise invalid_request("You must specify at least one part")
        numbers = [int(part.get("PartNumber") or 0) for part in given]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise error("InvalidPartOrder", "The list of parts was not in ascending order. The "
                        "parts list must be specified in order by part number.")
        stored = {r["part_number"]: r for r in self.db.query(
            "SELECT * FROM s3_parts WHERE upload_id=?", (upload["upload_id"],))}
        chosen: list[Row] = []
        for number, part in zip(numbers, given, strict=True):
            row = stored.get(number)
            if row is None or bare_etag(str(part.get("ETag") or "")) != row["md5"]:
                raise error("InvalidPart", "One or more of the specified parts could not be "
                            "found.  The part may not have been uploaded, or the specified "
                            "entity tag may not match the part's entity tag.")
            chosen.append(row)
        if any(r["size"] < MIN_PART_SIZE for r in chosen[:-1]):
            raise error("EntityTooSmall", "Your proposed upload is smaller than the minimum "
                        "allowed size")
        if len(chosen) == 1:
            sha256, md5 = chosen[0]["blob"], chosen[0]["md5"]
        else:
            made = self.blobs.concat([r["blob"] for r in chosen])
            sha256, md5 = made.sha256, made.md5
        started = time.time()  # after the object's blob was written: see _release
        etag = etag_multipart([bytes.fromhex(r["md5"]) for r in chosen])
        attrs = json.loads(upload["attrs"])
        checksums = {f: v for f in CHECKSUM_FIELDS if (v := p.get(f))}
        if checksums:
            attrs["Checksums"] = checksums
        try:
            with self.db.transaction() as conn:
                current = self._upload(bucket["name"], key, upload["upload_id"])
                now_parts = {r["part_number"]: r["blob"] for r in conn.execute(
                    "SELECT part_number, blob FROM s3_parts WHERE upload_id=?",
                    (current["upload_id"],))}
                if any(now_parts.get(r["part_number"]) != r["blob"] for r in chosen):
                    raise error("InvalidPart", "One or more of the specified parts could not "
                                "be found.  The part may not have been uploaded, or the "
                                "specified entity tag may not match the part's entity tag.")
                old = self._object_row(bucket["name"], key)
                self._check_write(p, old)
                self._require_blob(sha256)
                self._write_object(conn, bucket["name"], key, blob=sha256,
                                   size=sum(r["size"] for r in chosen), md5=md5, etag=etag,
                                   modified=int(call.time.timestamp()), attrs=attrs,
                                   tags=json.loads(upload["tags"]),
                                   parts=[r["size"] for r in chosen])
                dropped = [(r["blob"], r["stored"]) for r in conn.execute(
                    "SELECT blob, stored FROM s3_parts WHERE upload_id=?",
                    (current["upload_id"],))]
                conn.execute("DELETE FROM s3_parts WHERE upload_id=?", (current["upload_id"],))
                conn.execute("DELETE FROM s3_uploads WHERE upload_id=?",
                             (current["upload_id"],))
        except Exception:
            if len(chosen) > 1:
                self._release([(sha256, started)])
            raise
        if old is not None and old["blob"] != sha256:
            dropped.append((old["blob"], old["stored"]))
        self._release(dropped)
        return {"Location": _location(bucket, key), "Bucket": bucket["name"], "Key": key,
                "ETag": quoted(etag), **encryption_out(attrs), **checksums}

    def AbortMultipartUpload(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            upload = self._upload(bucket["name"], self._key(p), p.get("UploadId"))
            dropped = [(r["blob"], r["stored"]) for r in conn.execute(
                "SELECT blob, stored FROM s3_parts WHERE upload_id=?", (upload["upload_id"],))]
            conn.execute("DELETE FROM s3_parts WHERE upload_id=?", (upload["upload_id"],))
            conn.execute("DELETE FROM s3_uploads WHERE upload_id=?", (upload["upload_id"],))
        self._release(dropped)
        return {}
