"""Listing: ListObjectsV2, ListObjects (v1) and ListMultipartUploads.

Sources: the S3 API reference pages. Keys come back in UTF-8 binary order; Prefix limits
them; Delimiter rolls keys that contain it after the prefix into CommonPrefixes, each counting
as one entry toward MaxKeys (default and most 1,000); StartAfter (v2) and Marker (v1) start
after a key; v2's ContinuationToken is opaque (ours names the last entry returned and whether
it was a common prefix); v1's NextMarker is returned only with a Delimiter;
EncodingType=url percent-encodes Key, Prefix, Delimiter, StartAfter/Marker and
CommonPrefixes in the response (botocore asks for it and decodes them); FetchOwner (v2) adds
Owner, which v1 always gives. ListMultipartUploads orders uploads by key, then by initiation
time, with KeyMarker / UploadIdMarker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..base import Call
from .common import (
    MAX_KEYS,
    after_prefix,
    at_second,
    common_prefix,
    decode_token,
    encode_token,
    invalid_argument,
    max_count,
    owner,
    quoted,
    url_encode,
)
from .core import Row, S3Core

_BATCH = 1000


def _encoder(p: dict[str, Any]) -> Callable[[str], str]:
    encoding = p.get("EncodingType")
    if encoding and encoding != "url":
        raise invalid_argument("Invalid Encoding Method specified in Request")
    return url_encode if encoding else (lambda value: value)


class ListingOperations(S3Core):
    def _walk(self, bucket: str, prefix: str, delimiter: str, after: str | None,
              after_common: bool, limit: int) -> tuple[list[Row], list[str], bool, str, bool]:
        """Up to ``limit`` entries (objects and common prefixes) in key order after ``after``:
        (objects, common prefixes, truncated, last entry, whether it was a common prefix)."""
        contents: list[Row] = []
        prefixes: list[str] = []
        last, last_common = "", False
        skip: str | None = None  # keys under this common prefix are already reported
        cursor, inclusive = after or "", False
        if after_common and after:
            skip = after
            following = after_prefix(after)
            if following is not None:
                cursor, inclusive = following, True
        if prefix and cursor < prefix:
            cursor, inclusive = prefix, True
        while True:
            rows = self.db.query(
                f"SELECT * FROM s3_objects WHERE bucket=? AND key {'>=' if inclusive else '>'} "
                "? ORDER BY key LIMIT ?", (bucket, cursor, _BATCH))
            if not rows:
                return contents, prefixes, False, last, last_common
            cursor, inclusive = rows[-1]["key"], False
            for row in rows:
                key: str = row["key"]
                if not key.startswith(prefix):
                    return contents, prefixes, False, last, last_common
                if skip is not None and key.startswith(skip):
                    continue
                rolled = common_prefix(key, prefix, delimiter)
                if len(contents) + len(prefixes) >= limit:
                    return contents, prefixes, True, last, last_common
                if rolled is None:
                    contents.append(row)
                    last, last_common = key, False
                    continue
                prefixes.append(rolled)
                last, last_common, skip = rolled, True, rolled
                following = after_prefix(rolled)
                if following is not None:
                    cursor, inclusive = following, True
                    break

    def _entry(self, row: Row, bucket_owner: str | None,
               encode: Callable[[str], str]) -> dict[str, Any]:
        attrs = json.loads(row["attrs"])
        entry: dict[str, Any] = {"Key": encode(row["key"]),
                                 "LastModified": at_second(row["modified"]),
                                 "ETag": quoted(row["etag"]), "Size": row["size"],
                                 "StorageClass": attrs.get("StorageClass", "STANDARD")}
        checksums = attrs.get("Checksums") or {}
        if checksums:
            entry["ChecksumAlgorithm"] = sorted(k.removeprefix("Checksum") for k in checksums)
        if bucket_owner is not None:
            entry["Owner"] = owner(bucket_owner)
        return entry

    def ListObjectsV2(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        encode = _encoder(p)
        limit = max_count(p.get("MaxKeys"), "maxKeys")
        prefix = str(p.get("Prefix") or "")
        delimiter = str(p.get("Delimiter") or "")
        token = p.get("ContinuationToken")
        start_after = p.get("StartAfter")
        after: str | None = str(start_after) if start_after else None
        after_common = False
        if token is not None:
            if token == "":
                raise invalid_argument("The continuation token provided is incorrect")
            after, after_common = decode_token(str(token))
        contents, prefixes, truncated, last, last_common = self._walk(
            bucket["name"], prefix, delimiter, after, after_common, limit) \
            if limit else ([], [], False, "", False)
        fetch = bucket["account"] if p.get("FetchOwner") else None
        out: dict[str, Any] = {"Name": bucket["name"], "Prefix": encode(prefix),
                               "MaxKeys": limit, "KeyCount": len(contents) + len(prefixes),
                               "IsTruncated": truncated}
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if contents:
            out["Contents"] = [self._entry(r, fetch, encode) for r in contents]
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": encode(cp)} for cp in prefixes]
        if token is not None:
            out["ContinuationToken"] = token
        if start_after:
            out["StartAfter"] = encode(str(start_after))
        if truncated:
            out["NextContinuationToken"] = encode_token(last, last_common)
        if p.get("EncodingType"):
            out["EncodingType"] = "url"
        return out

    def ListObjects(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        encode = _encoder(p)
        limit = max_count(p.get("MaxKeys"), "maxKeys")
        prefix = str(p.get("Prefix") or "")
        delimiter = str(p.get("Delimiter") or "")
        marker = str(p.get("Marker") or "")
        # A marker that is a reported common prefix resumes after everything under it.
        resume_common = bool(delimiter) and marker.endswith(delimiter) \
            and marker.startswith(prefix) \
            and common_prefix(marker, prefix, delimiter) == marker
        contents, prefixes, truncated, last, _ = self._walk(
            bucket["name"], prefix, delimiter, marker or None, resume_common, limit) \
            if limit else ([], [], False, "", False)
        out: dict[str, Any] = {"Name": bucket["name"], "Prefix": encode(prefix),
                               "Marker": encode(marker), "MaxKeys": limit,
                               "IsTruncated": truncated}
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if contents:
            out["Contents"] = [self._entry(r, bucket["account"], encode) for r in contents]
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": encode(cp)} for cp in prefixes]
        if truncated and delimiter:
            out["NextMarker"] = encode(last)
        if p.get("EncodingType"):
            out["EncodingType"] = "url"
        return out

    def ListMultipartUploads(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        encode = _encoder(p)
        limit = max_count(p.get("MaxUploads"), "max-uploads", MAX_KEYS)
        prefix = str(p.get("Prefix") or "")
        delimiter = str(p.get("Delimiter") or "")
        key_marker = str(p.get("KeyMarker") or "")
        id_marker = str(p.get("UploadIdMarker") or "") if key_marker else ""
        rows = self.db.query("SELECT * FROM s3_uploads WHERE bucket=? AND key >= ? ORDER BY "
                             "key, initiated, upload_id", (bucket["name"], key_marker))
        if id_marker:
            ids = [r["upload_id"] for r in rows if r["key"] == key_marker]
            if id_marker not in ids:
                raise invalid_argument("Invalid uploadId marker")
            passed = ids[:ids.index(id_marker) + 1]
            rows = [r for r in rows if r["key"] != key_marker or r["upload_id"] not in passed]
        elif key_marker:
            rows = [r for r in rows if r["key"] > key_marker]
        uploads: list[Row] = []
        prefixes: list[str] = []
        truncated = False
        for row in rows:
            key = row["key"]
            if not key.startswith(prefix):
                continue
            rolled = common_prefix(key, prefix, delimiter)
            if rolled is not None and rolled in prefixes:
                continue
            if len(uploads) + len(prefixes) >= limit:
                truncated = True
                break
            if rolled is not None:
                prefixes.append(rolled)
            else:
                uploads.append(row)
        out: dict[str, Any] = {"Bucket": bucket["name"], "KeyMarker": encode(key_marker),
                               "UploadIdMarker": id_marker, "MaxUploads": limit,
                               "IsTruncated": truncated}
        if truncated and uploads:
            out["NextKeyMarker"] = encode(uploads[-1]["key"])
            out["NextUploadIdMarker"] = uploads[-1]["upload_id"]
        elif truncated and prefixes:
            out["NextKeyMarker"] = encode(prefixes[-1])
        if prefix:
            out["Prefix"] = encode(prefix)
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if uploads:
            out["Uploads"] = [upload_entry(r, bucket["account"], encode) for r in uploads]
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": encode(cp)} for cp in prefixes]
        if p.get("EncodingType"):
            out["EncodingType"] = "url"
        return out


def initiator(arn: str, account: str) -> dict[str, str]:
    """Initiator: an IAM principal's ARN, or the account's canonical ID for its root
    (ListParts / ListMultipartUploads, Initiator)."""
    return owner(account) if arn.endswith(":root") or arn == "anonymous" else {"ID": arn}


def upload_entry(row: Row, bucket_owner: str, encode: Callable[[str], str]) -> dict[str, Any]:
    attrs = json.loads(row["attrs"])
    return {"UploadId": row["upload_id"], "Key": encode(row["key"]),
            "Initiated": at_second(row["initiated"]),
            "StorageClass": attrs.get("StorageClass", "STANDARD"),
            "Owner": owner(bucket_owner), "Initiator": initiator(row["initiator"], row["account"])}
