"""Bucket operations: create, head, list, delete, location, policy and tagging.

Sources: the S3 API reference pages of each operation (botocore's s3 model for the
parameters and results); CreateBucket's rules as AWS applies them (names are global across
accounts; another account's name is BucketAlreadyExists; your own is
BucketAlreadyOwnedByYou, except in us-east-1 where CreateBucket answers 200 again; no
LocationConstraint outside us-east-1 is IllegalLocationConstraintException "The unspecified
location constraint ...", LocationConstraint us-east-1 is InvalidLocationConstraint, as
LocalStack's AWS-validated provider records them).
"""

from __future__ import annotations

import json
from typing import Any

from ..base import Call
from .bucket_policy import check_bucket_policy
from .common import (
    LOCATION_ALIASES,
    OWNERSHIPS,
    US_EAST_1,
    at_second,
    check_tags,
    decode_token,
    encode_token,
    error,
    invalid_argument,
    malformed_xml,
    owner,
    valid_bucket_name,
    valid_region,
)
from .core import S3Core

MAX_BUCKETS = 10_000


def _location_url(name: str, region: str) -> str:
    return f"/{name}" if region == US_EAST_1 else f"http://{name}.s3.amazonaws.com/"


class BucketOperations(S3Core):
    def CreateBucket(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("Bucket", ""))
        if not valid_bucket_name(name):
            raise error("InvalidBucketName", "The specified bucket is not valid.")
        config = p.get("CreateBucketConfiguration") or {}
        location = config.get("LocationConstraint") or None
        if location is None:
            if call.region != US_EAST_1:
                raise error("IllegalLocationConstraintException",
                            "The unspecified location constraint is incompatible for the "
                            "region specific endpoint this request was sent to.")
            region = US_EAST_1
        else:
            location = str(location)
            region = LOCATION_ALIASES.get(location, location)
            if location == US_EAST_1 or not valid_region(region):
                raise error("InvalidLocationConstraint",
                            "The specified location-constraint is not valid")
            # The us-east-1 (global) endpoint creates a bucket in any Region; a regional
            # endpoint only in its own.
            if region != call.region and call.region != US_EAST_1:
                raise error("IllegalLocationConstraintException",
                            f"The {location} location constraint is incompatible for the "
                            "region specific endpoint this request was sent to.")
        ownership = p.get("ObjectOwnership") or "BucketOwnerEnforced"
        if ownership not in OWNERSHIPS:
            raise invalid_argument(f"Invalid x-amz-object-ownership header: {ownership}")
        acl = p.get("ACL")
        grants = any(p.get(g) for g in ("GrantFullControl", "GrantRead", "GrantReadACP",
                                         "GrantWrite", "GrantWriteACP"))
        if ownership == "BucketOwnerEnforced" and ((acl and acl != "private") or grants):
            raise error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set "
                        "with ObjectOwnership's BucketOwnerEnforced setting")
        tags = check_tags(config["Tags"], bucket=True) if config.get("Tags") else None
        with self.db.transaction() as conn:
            existing = self._bucket_row(name)
            if existing is not None:
                if existing["account"] != call.caller.account:
                    raise error("BucketAlreadyExists", "The requested bucket name is not "
                                "available. The bucket namespace is shared by all users of the "
                                "system. Please select a different name and try again.", 409)
                if region == US_EAST_1 and existing["region"] == US_EAST_1:
                    return {"Location": _location_url(name, region)}
                raise error("BucketAlreadyOwnedByYou", "Your previous request to create the "
                            "named bucket succeeded and you already own it.", 409)
            conn.execute("INSERT INTO s3_buckets(name, account, region, location, ownership, "
                         "created, tags) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (name, call.caller.account, region, location, ownership,
                          call.time.timestamp(), None if tags is None else json.dumps(tags)))
        return {"Location": _location_url(name, region)}

    def HeadBucket(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        return {"BucketRegion": bucket["region"], "AccessPointAlias": False}

    def ListBuckets(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """The caller's account's buckets by name; MaxBuckets pages with an opaque
        ContinuationToken; Prefix and BucketRegion filter (ListBuckets, 2024 additions)."""
        prefix = str(p.get("Prefix") or "")
        region = p.get("BucketRegion")
        limit = p.get("MaxBuckets")
        if limit is not None and not 1 <= int(limit) <= MAX_BUCKETS:
            raise invalid_argument("Argument max-buckets must be an integer between 1 and "
                                   "10000")
        after = decode_token(str(p["ContinuationToken"]))[0] if p.get("ContinuationToken") \
            else ""
        rows = self.db.query("SELECT name, region, created FROM s3_buckets WHERE account=? "
                             "AND name > ? ORDER BY name", (call.caller.account, after))
        rows = [r for r in rows if r["name"].startswith(prefix)
                and (not region or r["region"] == region)]
        page = rows if limit is None else rows[:int(limit)]
        out: dict[str, Any] = {
            "Buckets": [{"Name": r["name"], "CreationDate": at_second(r["created"]),
                         "BucketRegion": r["region"]} for r in page],
            "Owner": owner(call.caller.account)}
        if limit is not None and len(rows) > len(page):
            out["ContinuationToken"] = encode_token(page[-1]["name"], False)
        if p.get("Prefix") is not None:
            out["Prefix"] = prefix
        return out

    def DeleteBucket(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """A bucket must hold no objects; its in-progress multipart uploads go with it."""
        dropped: list[tuple[str, float]] = []
        with self.db.transaction() as conn:
            bucket = self._bucket(p)
            name = bucket["name"]
            if conn.execute("SELECT 1 FROM s3_objects WHERE bucket=? LIMIT 1",
                            (name,)).fetchone():
                raise error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409)
            uploads = [r["upload_id"] for r in conn.execute(
                "SELECT upload_id FROM s3_uploads WHERE bucket=?", (name,))]
            for upload_id in uploads:
                dropped += [(r["blob"], r["stored"]) for r in conn.execute(
                    "SELECT blob, stored FROM s3_parts WHERE upload_id=?", (upload_id,))]
                conn.execute("DELETE FROM s3_parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM s3_uploads WHERE bucket=?", (name,))
            conn.execute("DELETE FROM s3_buckets WHERE name=?", (name,))
        self._release(dropped)
        return {}

    def GetBucketLocation(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """None for us-east-1 (an empty LocationConstraint), else the constraint as given
        ("EU" stays "EU")."""
        return {"LocationConstraint": self._bucket(p)["location"]}

    # --- policy ------------------------------------------------------------------------------

    def PutBucketPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        text = p.get("Policy")
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        check_bucket_policy(text, bucket["name"], self.db)
        self.db.execute("UPDATE s3_buckets SET policy=? WHERE name=?", (text, bucket["name"]))
        return {}

    def GetBucketPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        if not bucket["policy"]:
            raise error("NoSuchBucketPolicy", "The bucket policy does not exist", 404)
        return {"Policy": bucket["policy"]}

    def DeleteBucketPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        self.db.execute("UPDATE s3_buckets SET policy=NULL WHERE name=?", (bucket["name"],))
        return {}

    # --- tagging -----------------------------------------------------------------------------

    def PutBucketTagging(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        tagging = p.get("Tagging")
        if not isinstance(tagging, dict) or "TagSet" not in tagging:
            raise malformed_xml()
        tags = check_tags(tagging["TagSet"], bucket=True)
        self.db.execute("UPDATE s3_buckets SET tags=? WHERE name=?",
                        (json.dumps(tags), bucket["name"]))
        return {}

    def GetBucketTagging(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        tags = json.loads(bucket["tags"]) if bucket["tags"] else []
        if not tags:
            raise error("NoSuchTagSet", "The TagSet does not exist", 404)
        return {"TagSet": tags}

    def DeleteBucketTagging(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(p)
        self.db.execute("UPDATE s3_buckets SET tags=NULL WHERE name=?", (bucket["name"],))
        return {}

