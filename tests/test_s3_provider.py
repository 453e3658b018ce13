"""The S3 provider called directly (no HTTP): buckets, objects, listings, multipart uploads,
tagging, bucket policies and the resource side of authorization.

Sources, cited per test: the S3 API reference page of each operation (and botocore's s3
model for parameter and result shapes); the S3 user guide (bucket naming rules, object
tagging limits, checking object integrity for the multipart ETag); S3's error texts as
AWS returns them (the API reference's error table and recorded responses quoted in public
issue threads and AWS-validated emulator snapshots); RFC 9110 for ranges and conditionals.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from execrole.policy import Authorizer, Outcome, Policy, PolicySet, Request, parse_policy
from execrole.services.base import AWSError, Call, Caller
from execrole.services.s3 import SCHEMA, BodyRange, S3Service, create_schema
from execrole.store import Database
from execrole.store.blobs import BlobStore, etag_multipart

ALICE = "111122223333"
BOB = "444455556666"
MiB = 1024 * 1024


@pytest.fixture
def s3(tmp_path: Path) -> S3Service:
    db = Database(tmp_path / "x.db")
    create_schema(db)
    return S3Service(db, BlobStore(tmp_path / "blobs"))


def call(account: str = ALICE, region: str = "us-east-1", arn: str | None = None,
         when: datetime | None = None) -> Call:
    caller = Caller(arn or f"arn:aws:iam::{account}:user/alice", account)
    c = Call(caller, region, "req-1")
    if when is not None:
        c.time = when
    return c


def make_bucket(s3: S3Service, name: str = "data", account: str = ALICE,
                region: str = "us-east-1") -> None:
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.CreateBucket(call(account, region), params)


def put(s3: S3Service, key: str, data: bytes, bucket: str = "data", **extra: Any) -> Any:
    return s3.PutObject(call(), {"Bucket": bucket, "Key": key, "Body": s3.blobs.put(data),
                                 **extra})


def body(s3: S3Service, out: dict[str, Any]) -> bytes:
    rng = out["Body"]
    assert isinstance(rng, BodyRange)
    with s3.blobs.open(rng.sha256, rng.start, rng.end) as f:
        return f.read()


def fails(code: str, status: int | None = None) -> Any:
    class _Check:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
            assert isinstance(exc, AWSError), f"expected {code}, got {exc!r}"
            assert exc.code == code, (exc.code, exc.message)
            if status is not None:
                assert exc.status == status
            self.error = exc
            return True

    return _Check()


def error_of(fn: Any, *args: Any) -> AWSError:
    with pytest.raises(AWSError) as e:
        fn(*args)
    return e.value


def md5q(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


# --- schema -----------------------------------------------------------------------------------


def test_schema_export_is_migration_ready(tmp_path: Path) -> None:
    """The DDL runs statement by statement as the migrations do (split on ";"), every table
    is prefixed s3_, and create_schema is idempotent."""
    statements = [s.strip() for s in SCHEMA.split(";") if s.strip()]
    assert all(s.startswith("CREATE ") for s in statements)
    conn = sqlite3.connect(":memory:")
    for s in statements:
        conn.execute(s)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert sorted(tables) == ["s3_buckets", "s3_objects", "s3_parts", "s3_uploads"]
    db = Database(tmp_path / "y.db")
    create_schema(db)
    create_schema(db)


# --- buckets ----------------------------------------------------------------------------------


def test_create_head_location_list(s3: S3Service) -> None:
    """CreateBucket without LocationConstraint in us-east-1: Location "/name";
    GetBucketLocation's LocationConstraint is empty (None) for us-east-1; ListBuckets gives
    the caller's buckets and a 64-hex Owner ID (API reference: CreateBucket,
    GetBucketLocation, ListBuckets, Owner)."""
    assert s3.CreateBucket(call(), {"Bucket": "data"}) == {"Location": "/data"}
    assert s3.HeadBucket(call(), {"Bucket": "data"})["BucketRegion"] == "us-east-1"
    assert s3.GetBucketLocation(call(), {"Bucket": "data"}) == {"LocationConstraint": None}
    out = s3.ListBuckets(call(), {})
    assert [b["Name"] for b in out["Buckets"]] == ["data"]
    assert out["Buckets"][0]["CreationDate"].tzinfo is not None
    assert len(out["Owner"]["ID"]) == 64


def test_create_in_region_with_constraint(s3: S3Service) -> None:
    """A LocationConstraint matching the regional endpoint creates the bucket there."""
    out = s3.CreateBucket(call(region="eu-west-1"),
                          {"Bucket": "eu-data",
                           "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}})
    assert out["Location"] == "http://eu-data.s3.amazonaws.com/"
    assert s3.GetBucketLocation(call(), {"Bucket": "eu-data"}) == \
        {"LocationConstraint": "eu-west-1"}
    assert s3.HeadBucket(call(), {"Bucket": "eu-data"})["BucketRegion"] == "eu-west-1"


def test_location_constraint_errors(s3: S3Service) -> None:
    """No constraint outside us-east-1, a constraint for another Region, and "us-east-1"
    itself (AWS texts, as LocalStack's AWS-validated provider records them)."""
    e = error_of(s3.CreateBucket, call(region="eu-west-1"), {"Bucket": "b1-x"})
    assert e.code == "IllegalLocationConstraintException" and e.message == (
        "The unspecified location constraint is incompatible for the region specific "
        "endpoint this request was sent to.")
    e = error_of(s3.CreateBucket, call(region="us-west-2"),
                 {"Bucket": "b1-x", "CreateBucketConfiguration":
                  {"LocationConstraint": "eu-west-1"}})
    assert e.code == "IllegalLocationConstraintException" and e.message == (
        "The eu-west-1 location constraint is incompatible for the region specific endpoint "
        "this request was sent to.")
    e = error_of(s3.CreateBucket, call(), {"Bucket": "b1-x", "CreateBucketConfiguration":
                                           {"LocationConstraint": "us-east-1"}})
    assert e.code == "InvalidLocationConstraint"


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Data", "my_bucket", "192.168.5.4", "a..b",
                                  "-abc", "abc-", "xn--abc", "sthree-x", "abc-s3alias",
                                  "abc--ol-s3", "abc.mrap"])
def test_invalid_bucket_names(s3: S3Service, name: str) -> None:
    """S3 user guide, "General purpose bucket naming rules"."""
    e = error_of(s3.CreateBucket, call(), {"Bucket": name})
    assert (e.code, e.message, e.status) == ("InvalidBucketName",
                                             "The specified bucket is not valid.", 400)


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "1bucket"])
def test_valid_bucket_names(s3: S3Service, name: str) -> None:
    """Names of 3-63 lowercase letters, digits, dots and hyphens are accepted."""
    s3.CreateBucket(call(), {"Bucket": name})


def test_create_existing_bucket(s3: S3Service) -> None:
    """Your own bucket again: 200 in us-east-1 (legacy), BucketAlreadyOwnedByYou elsewhere;
    another account's name: BucketAlreadyExists (CreateBucket, Errors)."""
    make_bucket(s3, "data")
    assert s3.CreateBucket(call(), {"Bucket": "data"}) == {"Location": "/data"}
    make_bucket(s3, "eu-data", region="eu-west-1")
    e = error_of(s3.CreateBucket, call(region="eu-west-1"),
                 {"Bucket": "eu-data", "CreateBucketConfiguration":
                  {"LocationConstraint": "eu-west-1"}})
    assert (e.code, e.status) == ("BucketAlreadyOwnedByYou", 409)
    assert e.message == ("Your previous request to create the named bucket succeeded and you "
                         "already own it.")
    e = error_of(s3.CreateBucket, call(BOB), {"Bucket": "data"})
    assert (e.code, e.status) == ("BucketAlreadyExists", 409)
    assert e.message.startswith("The requested bucket name is not available.")
    assert s3.ListBuckets(call(BOB), {})["Buckets"] == []


def test_list_buckets_paging_and_prefix(s3: S3Service) -> None:
    """ListBuckets' MaxBuckets / ContinuationToken and Prefix (API reference, ListBuckets)."""
    for name in ("aa1", "aa2", "bb1"):
        make_bucket(s3, name)
    first = s3.ListBuckets(call(), {"MaxBuckets": 2})
    assert [b["Name"] for b in first["Buckets"]] == ["aa1", "aa2"]
    rest = s3.ListBuckets(call(), {"MaxBuckets": 2,
                                   "ContinuationToken": first["ContinuationToken"]})
    assert [b["Name"] for b in rest["Buckets"]] == ["bb1"] and "ContinuationToken" not in rest
    assert [b["Name"] for b in s3.ListBuckets(call(), {"Prefix": "bb"})["Buckets"]] == ["bb1"]


def test_create_bucket_acl_refused(s3: S3Service) -> None:
    """New buckets enforce bucket-owner ownership; an ACL is
    InvalidBucketAclWithObjectOwnership (Object Ownership, error responses)."""
    with fails("InvalidBucketAclWithObjectOwnership", 400):
        s3.CreateBucket(call(), {"Bucket": "data", "ACL": "public-read"})


def test_delete_bucket(s3: S3Service) -> None:
    """DeleteBucket: BucketNotEmpty (409) while objects remain; afterwards the bucket is gone
    (NoSuchBucket, 404)."""
    make_bucket(s3)
    put(s3, "k", b"1")
    e = error_of(s3.DeleteBucket, call(), {"Bucket": "data"})
    assert (e.code, e.message, e.status) == (
        "BucketNotEmpty", "The bucket you tried to delete is not empty", 409)
    s3.DeleteObject(call(), {"Bucket": "data", "Key": "k"})
    assert s3.DeleteBucket(call(), {"Bucket": "data"}) == {}
    e = error_of(s3.HeadBucket, call(), {"Bucket": "data"})
    assert (e.code, e.message, e.status) == (
        "NoSuchBucket", "The specified bucket does not exist", 404)


@pytest.mark.parametrize("operation", ["HeadBucket", "GetBucketLocation", "GetBucketPolicy",
                                       "GetBucketTagging", "ListObjectsV2", "ListObjects",
                                       "GetObject", "HeadObject", "DeleteObject",
                                       "ListMultipartUploads", "DeleteBucket"])
def test_missing_bucket(s3: S3Service, operation: str) -> None:
    """Every operation on a bucket that does not exist is NoSuchBucket."""
    with fails("NoSuchBucket", 404):
        getattr(s3, operation)(call(), {"Bucket": "nope", "Key": "k"})


def test_expected_bucket_owner(s3: S3Service) -> None:
    """ExpectedBucketOwner that is not the owner: 403 Access Denied."""
    make_bucket(s3)
    with fails("AccessDenied", 403):
        s3.HeadBucket(call(), {"Bucket": "data", "ExpectedBucketOwner": BOB})
    s3.HeadBucket(call(), {"Bucket": "data", "ExpectedBucketOwner": ALICE})


# --- bucket policies ---------------------------------------------------------------------------


def _policy(**statement: Any) -> str:
    base: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BOB}:root"},
                            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}
    base.update(statement)
    for k in [k for k, v in base.items() if v is None]:
        del base[k]
    return json.dumps({"Version": "2012-10-17", "Statement": [base]})


def test_bucket_policy_round_trip(s3: S3Service) -> None:
    """PutBucketPolicy / GetBucketPolicy (the document as given) / DeleteBucketPolicy, then
    NoSuchBucketPolicy "The bucket policy does not exist" (404)."""
    make_bucket(s3)
    text = _policy()
    assert s3.PutBucketPolicy(call(), {"Bucket": "data", "Policy": text}) == {}
    assert s3.GetBucketPolicy(call(), {"Bucket": "data"}) == {"Policy": text}
    s3.DeleteBucketPolicy(call(), {"Bucket": "data"})
    e = error_of(s3.GetBucketPolicy, call(), {"Bucket": "data"})
    assert (e.code, e.message, e.status) == (
        "NoSuchBucketPolicy", "The bucket policy does not exist", 404)


@pytest.mark.parametrize(("text", "message"), [
    (_policy(Principal=None), "Missing required field Principal"),
    (_policy(Resource="arn:aws:s3:::other-bucket/*"), "Policy has invalid resource"),
    (_policy(Resource="*"), "Policy has invalid resource"),
    (_policy(Action="iam:PassRole"), "Policy has invalid action"),
    (_policy(Action="s3:NoSuchAction"), "Policy has invalid action"),
    (_policy(Action="s3:ListBucket"), "Action does not apply to any resource(s) in statement"),
    (" " + _policy(), "Policies must be valid JSON and the first byte must be '{'"),
    ("{not json", "This policy contains invalid Json"),
    ('{"Version": "2012-10-17", "Statement": []}',
     "Could not parse the policy: Statement is empty!"),
    ('{"Version": "2012-10-17"}', "Missing required field Statement"),
    (_policy(Principal={"AWS": "not-an-arn"}), "Invalid principal in policy"),
])
def test_bucket_policy_errors(s3: S3Service, text: str, message: str) -> None:
    """S3's MalformedPolicy texts (recorded AWS responses in public issues: aws-samples
    appsync #4, humanmade/S3-Uploads #191, noobaa #10058, cloud-custodian #4948)."""
    make_bucket(s3)
    e = error_of(s3.PutBucketPolicy, call(), {"Bucket": "data", "Policy": text})
    assert (e.code, e.message, e.status) == ("MalformedPolicy", message, 400)


def test_bucket_policy_principal_must_exist(s3: S3Service) -> None:
    """S3 refuses a principal naming an IAM role that does not exist ("Invalid principal in
    policy", AWS knowledge center s3-invalid-principal-in-policy-error); an account that
    execrole does not host is taken as given."""
    make_bucket(s3)
    s3.db.execute("INSERT INTO accounts(id, created) VALUES (?, 0)", (BOB,))
    text = _policy(Principal={"AWS": f"arn:aws:iam::{BOB}:role/missing"})
    e = error_of(s3.PutBucketPolicy, call(), {"Bucket": "data", "Policy": text})
    assert e.message == "Invalid principal in policy"
    s3.db.put_entity(BOB, "role", "reader", {"RoleName": "reader"})
    ok = _policy(Principal={"AWS": f"arn:aws:iam::{BOB}:role/team/reader"})
    s3.PutBucketPolicy(call(), {"Bucket": "data", "Policy": ok})
    other = _policy(Principal={"AWS": "arn:aws:iam::999999999999:role/anything"})
    s3.PutBucketPolicy(call(), {"Bucket": "data", "Policy": other})


# --- bucket tagging -------------------------------------------------------------------------


def test_bucket_tagging(s3: S3Service) -> None:
    """Put/Get/DeleteBucketTagging; no tag set is NoSuchTagSet "The TagSet does not exist"
    (404); more than 50 tags is BadRequest; duplicate keys and aws: keys are InvalidTag."""
    make_bucket(s3)
    e = error_of(s3.GetBucketTagging, call(), {"Bucket": "data"})
    assert (e.code, e.message, e.status) == ("NoSuchTagSet", "The TagSet does not exist", 404)
    tags = [{"Key": "team", "Value": "ml"}, {"Key": "cost", "Value": "42"}]
    s3.PutBucketTagging(call(), {"Bucket": "data", "Tagging": {"TagSet": tags}})
    assert s3.GetBucketTagging(call(), {"Bucket": "data"})["TagSet"] == sorted(
        tags, key=lambda t: t["Key"])
    s3.DeleteBucketTagging(call(), {"Bucket": "data"})
    with fails("NoSuchTagSet", 404):
        s3.GetBucketTagging(call(), {"Bucket": "data"})
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    e = error_of(s3.PutBucketTagging, call(), {"Bucket": "data", "Tagging": {"TagSet": many}})
    assert (e.code, e.message) == ("BadRequest", "Bucket tag count cannot be greater than 50")
    dup = [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]
    e = error_of(s3.PutBucketTagging, call(), {"Bucket": "data", "Tagging": {"TagSet": dup}})
    assert (e.code, e.message) == ("InvalidTag", "Cannot provide multiple Tags with the same key")
    with fails("InvalidTag"):
        s3.PutBucketTagging(call(), {"Bucket": "data", "Tagging":
                                     {"TagSet": [{"Key": "aws:x", "Value": "1"}]}})


# --- objects ----------------------------------------------------------------------------------


def test_put_get_object(s3: S3Service) -> None:
    """PutObject's ETag is the quoted hex md5; GetObject returns the stored content headers,
    user metadata (lower-cased, as HTTP headers come back), SSE-S3 by default, an aware
    LastModified and the body as a BodyRange (PutObject, GetObject)."""
    make_bucket(s3)
    data = b"x,y\n1,2\n"
    out = put(s3, "train/a.csv", data, ContentType="text/csv", CacheControl="no-cache",
              Metadata={"Origin": "test"})
    assert out["ETag"] == md5q(data) and out["ServerSideEncryption"] == "AES256"
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "train/a.csv"})
    assert body(s3, got) == data
    assert got["ETag"] == md5q(data) and got["ContentLength"] == len(data)
    assert got["ContentType"] == "text/csv" and got["CacheControl"] == "no-cache"
    assert got["Metadata"] == {"origin": "test"} and got["AcceptRanges"] == "bytes"
    assert isinstance(got["LastModified"], datetime) and got["LastModified"].tzinfo is not None
    assert "_status" not in got and "StorageClass" not in got
    plain = put(s3, "b", b"")
    assert plain["ETag"] == md5q(b"")
    assert s3.HeadObject(call(), {"Bucket": "data", "Key": "b"})["ContentType"] == \
        "binary/octet-stream"


def test_put_object_kms_and_errors(s3: S3Service) -> None:
    """SSE-KMS: a bare key ID is echoed as the key's ARN; SSEKMSKeyId without aws:kms and an
    unknown algorithm are InvalidArgument; an invalid storage class is InvalidStorageClass."""
    make_bucket(s3)
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    out = put(s3, "k", b"1", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert out["ServerSideEncryption"] == "aws:kms"
    assert out["SSEKMSKeyId"] == f"arn:aws:kms:us-east-1:{ALICE}:key/{key_id}"
    head = s3.HeadObject(call(), {"Bucket": "data", "Key": "k"})
    assert head["SSEKMSKeyId"] == out["SSEKMSKeyId"]
    with fails("InvalidArgument"):
        put(s3, "k2", b"1", SSEKMSKeyId=key_id)
    with fails("InvalidArgument"):
        put(s3, "k2", b"1", ServerSideEncryption="rot13")
    with fails("InvalidStorageClass"):
        put(s3, "k2", b"1", StorageClass="CHEAP")


def test_put_object_digests(s3: S3Service) -> None:
    """Content-MD5 that does not match is BadDigest, one that is not an md5 InvalidDigest;
    x-amz-checksum-sha256 is checked and returned with ChecksumMode ENABLED (PutObject,
    GetObject; "The SHA256 you specified did not match the calculated checksum.")."""
    make_bucket(s3)
    data = b"payload"
    good_md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with fails("BadDigest", 400):
        put(s3, "k", data, ContentMD5=bad_md5)
    with fails("InvalidDigest", 400):
        put(s3, "k", data, ContentMD5="bm9wZQ==")
    put(s3, "k", data, ContentMD5=good_md5)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    with pytest.raises(AWSError) as exc:
        put(s3, "k", data, ChecksumSHA256=wrong)
    assert exc.value.message == "The SHA256 you specified did not match the calculated checksum."
    out = put(s3, "k", data, ChecksumSHA256=sha)
    assert out["ChecksumSHA256"] == sha
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "k", "ChecksumMode": "ENABLED"})
    assert got["ChecksumSHA256"] == sha
    assert "ChecksumSHA256" not in s3.GetObject(call(), {"Bucket": "data", "Key": "k"})


def test_get_missing_key(s3: S3Service) -> None:
    """NoSuchKey "The specified key does not exist." (404), for GET and HEAD."""
    make_bucket(s3)
    for op in (s3.GetObject, s3.HeadObject):
        e = error_of(op, call(), {"Bucket": "data", "Key": "nope"})
        assert (e.code, e.message, e.status) == (
            "NoSuchKey", "The specified key does not exist.", 404)


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-4", 0, 5), ("bytes=5-", 5, 10), ("bytes=-3", 7, 10), ("bytes=3-1000", 3, 10),
    ("bytes=-100", 0, 10), ("bytes=0-", 0, 10)])
def test_ranges(s3: S3Service, header: str, start: int, end: int) -> None:
    """Range "bytes=a-b", "bytes=a-", suffix "bytes=-n" (RFC 9110 §14.1.2): 206 with
    Content-Range "bytes first-last/size"; a last position past the end is clipped."""
    make_bucket(s3)
    data = b"0123456789"
    put(s3, "k", data)
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "k", "Range": header})
    assert body(s3, got) == data[start:end]
    assert got["_status"] == 206 and got["ContentLength"] == end - start
    assert got["ContentRange"] == f"bytes {start}-{end - 1}/10"


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=-"])
def test_ignored_ranges(s3: S3Service, header: str) -> None:
    """A Range that is not one well-formed byte range is ignored: the whole object, 200."""
    make_bucket(s3)
    put(s3, "k", b"0123456789")
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "k", "Range": header})
    assert body(s3, got) == b"0123456789" and "_status" not in got


@pytest.mark.parametrize(("data", "header"), [(b"0123456789", "bytes=10-"),
                                              (b"0123456789", "bytes=-0"), (b"", "bytes=0-0")])
def test_unsatisfiable_range(s3: S3Service, data: bytes, header: str) -> None:
    """No byte of the range exists: InvalidRange "The requested range is not satisfiable"
    (416)."""
    make_bucket(s3)
    put(s3, "k", data)
    e = error_of(s3.GetObject, call(), {"Bucket": "data", "Key": "k", "Range": header})
    assert (e.code, e.message, e.status) == (
        "InvalidRange", "The requested range is not satisfiable", 416)


def test_conditional_get(s3: S3Service) -> None:
    """GetObject conditionals: If-Match false 412; If-None-Match true 304; If-Modified-Since
    not modified 304; If-Unmodified-Since modified 412; If-Match true with
    If-Unmodified-Since false is 200; If-None-Match false with If-Modified-Since false is 200
    (GetObject, "Considerations for conditional requests"; RFC 9110 §13.2.2)."""
    make_bucket(s3)
    put(s3, "k", b"abc")
    etag = md5q(b"abc")
    modified = s3.HeadObject(call(), {"Bucket": "data", "Key": "k"})["LastModified"]
    base = {"Bucket": "data", "Key": "k"}
    with fails("PreconditionFailed", 412):
        s3.GetObject(call(), {**base, "IfMatch": '"0000"'})
    assert s3.GetObject(call(), {**base, "IfMatch": etag})["ETag"] == etag
    assert s3.GetObject(call(), {**base, "IfNoneMatch": etag})["_status"] == 304
    assert "Body" not in s3.GetObject(call(), {**base, "IfNoneMatch": "*"})
    later = modified + timedelta(seconds=5)
    earlier = modified - timedelta(days=1)
    now = call(when=later + timedelta(seconds=5))
    assert s3.GetObject(now, {**base, "IfModifiedSince": later})["_status"] == 304
    assert "_status" not in s3.GetObject(now, {**base, "IfModifiedSince": earlier})
    with fails("PreconditionFailed", 412):
        s3.HeadObject(now, {**base, "IfUnmodifiedSince": earlier})
    assert "_status" not in s3.GetObject(now, {**base, "IfMatch": etag,
                                               "IfUnmodifiedSince": earlier})
    assert "_status" not in s3.GetObject(now, {**base, "IfNoneMatch": '"other"',
                                               "IfModifiedSince": later})


def test_head_object(s3: S3Service) -> None:
    """HeadObject: GetObject's headers without a Body; a Range gives 206 and its length."""
    make_bucket(s3)
    put(s3, "k", b"0123456789", Metadata={"a": "1"}, Tagging="x=1")
    head = s3.HeadObject(call(), {"Bucket": "data", "Key": "k"})
    assert "Body" not in head and head["ContentLength"] == 10 and head["Metadata"] == {"a": "1"}
    assert head["TagCount"] == 1
    ranged = s3.HeadObject(call(), {"Bucket": "data", "Key": "k", "Range": "bytes=0-1"})
    assert ranged["_status"] == 206 and ranged["ContentLength"] == 2


def test_response_overrides(s3: S3Service) -> None:
    """response-content-type and friends replace the stored headers; anonymous requests may
    not use them (GetObject, "Overriding response header values")."""
    make_bucket(s3)
    put(s3, "k", b"1", ContentType="text/plain")
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "k",
                                "ResponseContentType": "application/json"})
    assert got["ContentType"] == "application/json"
    anonymous = Call(Caller("anonymous", ""), "us-east-1", "r")
    with fails("InvalidRequest"):
        s3.GetObject(anonymous, {"Bucket": "data", "Key": "k",
                                 "ResponseContentType": "application/json"})


def test_put_object_conditions_and_limits(s3: S3Service) -> None:
    """If-None-Match "*" on an existing key is 412, If-Match on a missing key 404 (PutObject,
    conditional writes); keys over 1,024 bytes are KeyTooLongError; user metadata over 2 KB is
    MetadataTooLarge."""
    make_bucket(s3)
    put(s3, "k", b"1")
    with fails("PreconditionFailed", 412):
        put(s3, "k", b"2", IfNoneMatch="*")
    with fails("NoSuchKey", 404):
        put(s3, "new", b"2", IfMatch='"abc"')
    put(s3, "k", b"3", IfMatch=md5q(b"1"))
    with fails("KeyTooLongError", 400):
        put(s3, "k" * 1025, b"1")
    with fails("MetadataTooLarge", 400):
        put(s3, "m", b"1", Metadata={"big": "x" * 2100})


def test_delete_object(s3: S3Service) -> None:
    """DeleteObject: removing a missing key succeeds; a version ID other than "null" on an
    unversioned bucket is InvalidArgument."""
    make_bucket(s3)
    assert s3.DeleteObject(call(), {"Bucket": "data", "Key": "never"}) == {}
    put(s3, "k", b"1")
    s3.DeleteObject(call(), {"Bucket": "data", "Key": "k"})
    with fails("NoSuchKey"):
        s3.GetObject(call(), {"Bucket": "data", "Key": "k"})
    with fails("InvalidArgument"):
        s3.DeleteObject(call(), {"Bucket": "data", "Key": "k", "VersionId": "v1"})


def test_delete_objects(s3: S3Service) -> None:
    """DeleteObjects: existing and missing keys both appear in Deleted; Quiet leaves the list
    out; a version that does not exist is an Errors entry NoSuchVersion; more than 1,000 keys
    is MalformedXML."""
    make_bucket(s3)
    put(s3, "a", b"1")
    put(s3, "b", b"2")
    out = s3.DeleteObjects(call(), {"Bucket": "data", "Delete": {
        "Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "b", "VersionId": "v9"}]}})
    assert out["Deleted"] == [{"Key": "a"}, {"Key": "missing"}]
    assert out["Errors"][0]["Code"] == "NoSuchVersion" and out["Errors"][0]["Key"] == "b"
    quiet = s3.DeleteObjects(call(), {"Bucket": "data", "Delete": {
        "Objects": [{"Key": "b"}], "Quiet": True}})
    assert quiet == {}
    assert "Contents" not in s3.ListObjectsV2(call(), {"Bucket": "data"})
    with fails("MalformedXML"):
        s3.DeleteObjects(call(), {"Bucket": "data", "Delete": {
            "Objects": [{"Key": str(i)} for i in range(1001)]}})


def test_shared_blob_survives_until_last_reference(s3: S3Service) -> None:
    """Bodies are content-addressed: deleting or overwriting one object never removes a body
    another object still uses; the last reference going removes it."""
    make_bucket(s3)
    put(s3, "a", b"same")
    put(s3, "b", b"same")
    sha = hashlib.sha256(b"same").hexdigest()
    s3.DeleteObject(call(), {"Bucket": "data", "Key": "a"})
    assert s3.blobs.exists(sha)
    assert body(s3, s3.GetObject(call(), {"Bucket": "data", "Key": "b"})) == b"same"
    put(s3, "b", b"different")
    assert not s3.blobs.exists(sha)
    put(s3, "c", b"kept")
    s3.CopyObject(call(), {"Bucket": "data", "Key": "d", "CopySource": "data/c"})
    s3.DeleteObject(call(), {"Bucket": "data", "Key": "c"})
    assert body(s3, s3.GetObject(call(), {"Bucket": "data", "Key": "d"})) == b"kept"


def test_unrecorded_body_is_released(s3: S3Service) -> None:
    """A PutObject that fails leaves no body behind (nothing records it)."""
    make_bucket(s3)
    blob = s3.blobs.put(b"orphan")
    with fails("KeyTooLongError"):
        s3.PutObject(call(), {"Bucket": "data", "Key": "k" * 2000, "Body": blob})
    assert not s3.blobs.exists(blob.sha256)


# --- copy -------------------------------------------------------------------------------------


def test_copy_object_copy_directive(s3: S3Service) -> None:
    """CopyObject with MetadataDirective COPY (the default) keeps content headers, metadata
    and tags; the result is CopyObjectResult {ETag, LastModified}."""
    make_bucket(s3)
    put(s3, "src", b"hello", ContentType="text/plain", Metadata={"a": "1"}, Tagging="t=1")
    out = s3.CopyObject(call(), {"Bucket": "data", "Key": "dst", "CopySource": "data/src",
                                 "Metadata": {"ignored": "yes"}})
    assert out["CopyObjectResult"]["ETag"] == md5q(b"hello")
    assert out["CopyObjectResult"]["LastModified"].tzinfo is not None
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "dst"})
    assert body(s3, got) == b"hello"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"a": "1"}
    assert s3.GetObjectTagging(call(), {"Bucket": "data", "Key": "dst"})["TagSet"] == \
        [{"Key": "t", "Value": "1"}]


def test_copy_object_replace_and_encoded_source(s3: S3Service) -> None:
    """MetadataDirective REPLACE takes metadata and content headers from the request;
    TaggingDirective REPLACE the request's tags; x-amz-copy-source is URL-encoded and may
    carry ?versionId (CopyObject)."""
    make_bucket(s3)
    make_bucket(s3, "other")
    put(s3, "dir/a b+c.txt", b"x", ContentType="text/plain", Metadata={"a": "1"},
        Tagging="t=1")
    s3.CopyObject(call(), {"Bucket": "other", "Key": "copy",
                           "CopySource": "/data/dir/a%20b%2Bc.txt?versionId=null",
                           "MetadataDirective": "REPLACE", "Metadata": {"B": "2"},
                           "ContentType": "application/json", "TaggingDirective": "REPLACE",
                           "Tagging": "u=2"})
    got = s3.HeadObject(call(), {"Bucket": "other", "Key": "copy"})
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "application/json"
    assert s3.GetObjectTagging(call(), {"Bucket": "other", "Key": "copy"})["TagSet"] == \
        [{"Key": "u", "Value": "2"}]
    s3.CopyObject(call(), {"Bucket": "other", "Key": "dict",
                           "CopySource": {"Bucket": "data", "Key": "dir/a b+c.txt"}})


def test_copy_object_errors(s3: S3Service) -> None:
    """Copying an object onto itself unchanged is InvalidRequest; a missing source key or
    bucket is NoSuchKey / NoSuchBucket; a source without a key is InvalidArgument; a failed
    x-amz-copy-source-if-match is 412; an unknown directive is InvalidArgument."""
    make_bucket(s3)
    put(s3, "k", b"1")
    e = error_of(s3.CopyObject, call(), {"Bucket": "data", "Key": "k", "CopySource": "data/k"})
    assert e.code == "InvalidRequest" and "copy an object to itself" in e.message
    s3.CopyObject(call(), {"Bucket": "data", "Key": "k", "CopySource": "data/k",
                           "MetadataDirective": "REPLACE", "Metadata": {"n": "1"}})
    with fails("NoSuchKey", 404):
        s3.CopyObject(call(), {"Bucket": "data", "Key": "x", "CopySource": "data/missing"})
    with fails("NoSuchBucket", 404):
        s3.CopyObject(call(), {"Bucket": "data", "Key": "x", "CopySource": "nope/k"})
    with fails("InvalidArgument", 400):
        s3.CopyObject(call(), {"Bucket": "data", "Key": "x", "CopySource": "data"})
    with fails("PreconditionFailed", 412):
        s3.CopyObject(call(), {"Bucket": "data", "Key": "x", "CopySource": "data/k",
                               "CopySourceIfMatch": '"nope"'})
    with fails("InvalidArgument"):
        s3.CopyObject(call(), {"Bucket": "data", "Key": "x", "CopySource": "data/k",
                               "MetadataDirective": "MERGE"})


# --- object tagging -----------------------------------------------------------------------------


def test_object_tagging(s3: S3Service) -> None:
    """Put/Get/DeleteObjectTagging; more than 10 tags is BadRequest "Object tags cannot be
    greater than 10" (also through x-amz-tagging); an untagged object has an empty TagSet;
    tags on a missing key are NoSuchKey; a duplicated header key is InvalidArgument."""
    make_bucket(s3)
    put(s3, "k", b"1")
    assert s3.GetObjectTagging(call(), {"Bucket": "data", "Key": "k"}) == {"TagSet": []}
    tags = [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": ""}]
    s3.PutObjectTagging(call(), {"Bucket": "data", "Key": "k", "Tagging": {"TagSet": tags}})
    assert s3.GetObjectTagging(call(), {"Bucket": "data", "Key": "k"})["TagSet"] == \
        [{"Key": "a", "Value": ""}, {"Key": "b", "Value": "2"}]
    s3.DeleteObjectTagging(call(), {"Bucket": "data", "Key": "k"})
    assert s3.GetObjectTagging(call(), {"Bucket": "data", "Key": "k"}) == {"TagSet": []}
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    e = error_of(s3.PutObjectTagging, call(), {"Bucket": "data", "Key": "k",
                                               "Tagging": {"TagSet": eleven}})
    assert (e.code, e.message, e.status) == (
        "BadRequest", "Object tags cannot be greater than 10", 400)
    with fails("BadRequest"):
        put(s3, "k2", b"1", Tagging="&".join(f"k{i}=v" for i in range(11)))
    with fails("InvalidArgument"):
        put(s3, "k2", b"1", Tagging="a=1&a=2")
    with fails("InvalidTag"):
        put(s3, "k2", b"1", Tagging="k" * 129 + "=v")
    with fails("NoSuchKey", 404):
        s3.GetObjectTagging(call(), {"Bucket": "data", "Key": "missing"})
    put(s3, "k3", b"1", Tagging="foo=bar&bar")
    assert s3.GetObjectTagging(call(), {"Bucket": "data", "Key": "k3"})["TagSet"] == \
        [{"Key": "bar", "Value": ""}, {"Key": "foo", "Value": "bar"}]


# --- listing ----------------------------------------------------------------------------------


def _fill(s3: S3Service, keys: list[str]) -> None:
    make_bucket(s3)
    for key in keys:
        put(s3, key, b"1")


KEYS = ["logs/2024/a", "logs/2024/b", "logs/2025/c", "logs/top", "readme", "zeta/x"]


def test_list_v2_prefix_and_delimiter(s3: S3Service) -> None:
    """ListObjectsV2: Prefix limits keys; Delimiter rolls keys into CommonPrefixes; KeyCount
    counts both; Contents entries carry Key, LastModified, ETag, Size, StorageClass."""
    _fill(s3, KEYS)
    out = s3.ListObjectsV2(call(), {"Bucket": "data", "Prefix": "logs/", "Delimiter": "/"})
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["logs/2024/", "logs/2025/"]
    assert [o["Key"] for o in out["Contents"]] == ["logs/top"]
    assert out["KeyCount"] == 3 and out["IsTruncated"] is False and out["MaxKeys"] == 1000
    entry = out["Contents"][0]
    assert entry["ETag"] == md5q(b"1") and entry["Size"] == 1
    assert entry["StorageClass"] == "STANDARD" and "Owner" not in entry
    top = s3.ListObjectsV2(call(), {"Bucket": "data", "Delimiter": "/"})
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["logs/", "zeta/"]
    assert [o["Key"] for o in top["Contents"]] == ["readme"]
    assert s3.ListObjectsV2(call(), {"Bucket": "data", "Prefix": "nothing"})["KeyCount"] == 0


def test_list_v2_pagination(s3: S3Service) -> None:
    """MaxKeys pages through keys and common prefixes alike; NextContinuationToken resumes
    exactly after the last entry; every entry appears once."""
    _fill(s3, KEYS)
    seen: list[str] = []
    params: dict[str, Any] = {"Bucket": "data", "Delimiter": "/", "MaxKeys": 1}
    while True:
        out = s3.ListObjectsV2(call(), params)
        assert out["KeyCount"] <= 1
        seen += [o["Key"] for o in out.get("Contents", [])]
        seen += [p["Prefix"] for p in out.get("CommonPrefixes", [])]
        if not out["IsTruncated"]:
            break
        params["ContinuationToken"] = out["NextContinuationToken"]
        assert out["NextContinuationToken"] != out.get("ContinuationToken")
    assert seen == ["logs/", "readme", "zeta/"]
    flat: list[str] = []
    params = {"Bucket": "data", "MaxKeys": 2}
    while True:
        out = s3.ListObjectsV2(call(), params)
        flat += [o["Key"] for o in out.get("Contents", [])]
        if not out["IsTruncated"]:
            break
        params["ContinuationToken"] = out["NextContinuationToken"]
    assert flat == KEYS


def test_list_v2_start_after_and_limits(s3: S3Service) -> None:
    """StartAfter starts after a key (echoed); MaxKeys 0 lists nothing; a negative MaxKeys and
    a bad ContinuationToken are InvalidArgument."""
    _fill(s3, KEYS)
    out = s3.ListObjectsV2(call(), {"Bucket": "data", "StartAfter": "logs/top"})
    assert [o["Key"] for o in out["Contents"]] == ["readme", "zeta/x"]
    assert out["StartAfter"] == "logs/top"
    empty = s3.ListObjectsV2(call(), {"Bucket": "data", "MaxKeys": 0})
    assert empty["KeyCount"] == 0 and empty["IsTruncated"] is False and "Contents" not in empty
    with fails("InvalidArgument"):
        s3.ListObjectsV2(call(), {"Bucket": "data", "MaxKeys": -1})
    for token in ("", "!!garbage!!"):
        e = error_of(s3.ListObjectsV2, call(), {"Bucket": "data", "ContinuationToken": token})
        assert e.message == "The continuation token provided is incorrect"


def test_list_v2_url_encoding_and_owner(s3: S3Service) -> None:
    """EncodingType=url encodes Key, Prefix, Delimiter, StartAfter and CommonPrefixes (botocore
    decodes them with unquote_plus, so "+" and spaces must be escaped); FetchOwner adds
    Owner."""
    _fill(s3, ["a b/c+d", "a b/e", "x+y"])
    out = s3.ListObjectsV2(call(), {"Bucket": "data", "EncodingType": "url", "Delimiter": " ",
                                    "Prefix": "", "StartAfter": "+", "FetchOwner": True})
    assert out["EncodingType"] == "url" and out["Delimiter"] == "%20"
    assert out["StartAfter"] == "%2B"
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["a%20"]
    assert [o["Key"] for o in out["Contents"]] == ["x%2By"]
    assert unquote_plus(out["Contents"][0]["Key"]) == "x+y"
    assert out["Contents"][0]["Owner"]["ID"]
    flat = s3.ListObjectsV2(call(), {"Bucket": "data", "EncodingType": "url",
                                     "Prefix": "a b/"})
    assert out["Prefix"] == "" and flat["Prefix"] == "a%20b/"
    assert [o["Key"] for o in flat["Contents"]] == ["a%20b/c%2Bd", "a%20b/e"]


def test_list_order_is_utf8_binary(s3: S3Service) -> None:
    """Keys are listed in UTF-8 binary order (ListObjectsV2)."""
    keys = ["z", "B", "a", "é", "\U0001f600", "ﬀ"]
    _fill(s3, keys)
    out = s3.ListObjectsV2(call(), {"Bucket": "data"})
    assert [o["Key"] for o in out["Contents"]] == sorted(keys, key=lambda k: k.encode())


def test_list_objects_v1(s3: S3Service) -> None:
    """ListObjects (v1): Marker starts after a key; NextMarker only with a Delimiter; Owner
    always present."""
    _fill(s3, KEYS)
    out = s3.ListObjects(call(), {"Bucket": "data", "MaxKeys": 2})
    assert [o["Key"] for o in out["Contents"]] == KEYS[:2]
    assert out["IsTruncated"] is True and "NextMarker" not in out and out["Marker"] == ""
    assert all("Owner" in o for o in out["Contents"])
    nxt = s3.ListObjects(call(), {"Bucket": "data", "Marker": out["Contents"][-1]["Key"]})
    assert [o["Key"] for o in nxt["Contents"]] == KEYS[2:]
    page = s3.ListObjects(call(), {"Bucket": "data", "Delimiter": "/", "MaxKeys": 1})
    assert page["CommonPrefixes"] == [{"Prefix": "logs/"}] and page["NextMarker"] == "logs/"
    rest = s3.ListObjects(call(), {"Bucket": "data", "Delimiter": "/",
                                   "Marker": page["NextMarker"]})
    assert [o["Key"] for o in rest["Contents"]] == ["readme"]
    assert rest["CommonPrefixes"] == [{"Prefix": "zeta/"}]


# --- multipart --------------------------------------------------------------------------------


def _upload(s3: S3Service, key: str = "big") -> str:
    return str(s3.CreateMultipartUpload(call(), {"Bucket": "data", "Key": key})["UploadId"])


def _part(s3: S3Service, upload_id: str, number: int, data: bytes,
          key: str = "big") -> str:
    out = s3.UploadPart(call(), {"Bucket": "data", "Key": key, "UploadId": upload_id,
                                 "PartNumber": number, "Body": s3.blobs.put(data)})
    return str(out["ETag"])


def _complete(s3: S3Service, upload_id: str, parts: list[tuple[int, str]],
              key: str = "big") -> dict[str, Any]:
    return s3.CompleteMultipartUpload(call(), {
        "Bucket": "data", "Key": key, "UploadId": upload_id,
        "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]}})


def test_multipart_round_trip(s3: S3Service) -> None:
    """CreateMultipartUpload, UploadPart (ETag = quoted md5 of the part), ListParts,
    CompleteMultipartUpload: the object is the parts in order and its ETag is md5 of the
    binary part md5s plus "-N" (user guide, "Checking object integrity"); GetObject's
    partNumber serves one part with PartsCount."""
    make_bucket(s3)
    one, two = b"a" * (5 * MiB), b"tail"
    upload_id = _upload(s3)
    # Nothing of the upload is visible until it is completed:
    with fails("NoSuchKey"):
        s3.HeadObject(call(), {"Bucket": "data", "Key": "big"})
    e1, e2 = _part(s3, upload_id, 1, one), _part(s3, upload_id, 2, two)
    assert e1 == md5q(one) and e2 == md5q(two)
    parts = s3.ListParts(call(), {"Bucket": "data", "Key": "big", "UploadId": upload_id})
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * MiB), (2, 4)]
    out = _complete(s3, upload_id, [(1, e1), (2, e2)])
    expected = etag_multipart([hashlib.md5(one).digest(), hashlib.md5(two).digest()])
    assert out["ETag"] == f'"{expected}"' and out["ETag"].endswith('-2"')
    assert out["Location"] == "https://data.s3.amazonaws.com/big"
    got = s3.GetObject(call(), {"Bucket": "data", "Key": "big"})
    assert body(s3, got) == one + two and got["ContentLength"] == 5 * MiB + 4
    second = s3.GetObject(call(), {"Bucket": "data", "Key": "big", "PartNumber": 2})
    assert body(s3, second) == two and second["PartsCount"] == 2 and second["_status"] == 206
    with fails("InvalidPartNumber", 416):
        s3.GetObject(call(), {"Bucket": "data", "Key": "big", "PartNumber": 3})
    assert "Uploads" not in s3.ListMultipartUploads(call(), {"Bucket": "data"})
    with fails("NoSuchUpload", 404):
        s3.ListParts(call(), {"Bucket": "data", "Key": "big", "UploadId": upload_id})


def test_multipart_entity_too_small(s3: S3Service) -> None:
    """Every part but the last must be at least 5 MiB: EntityTooSmall "Your proposed upload
    is smaller than the minimum allowed size"; the upload stays, nothing is listed."""
    make_bucket(s3)
    upload_id = _upload(s3)
    e1, e2 = _part(s3, upload_id, 1, b"small"), _part(s3, upload_id, 2, b"tail")
    e = error_of(_complete, s3, upload_id, [(1, e1), (2, e2)])
    assert (e.code, e.message, e.status) == (
        "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400)
    assert "Contents" not in s3.ListObjectsV2(call(), {"Bucket": "data"})
    uploads = s3.ListMultipartUploads(call(), {"Bucket": "data"})["Uploads"]
    assert [u["UploadId"] for u in uploads] == [upload_id]
    single = _complete(s3, upload_id, [(2, e2)])  # one part may be any size
    assert single["ETag"] == '"' + etag_multipart([hashlib.md5(b"tail").digest()]) + '"'


def test_multipart_part_errors(s3: S3Service) -> None:
    """CompleteMultipartUpload: a wrong ETag or a part never uploaded is InvalidPart; parts out
    of order are InvalidPartOrder; no parts is InvalidRequest. UploadPart: part numbers
    outside 1-10,000 are InvalidArgument; an unknown upload ID (or another key's) is
    NoSuchUpload."""
    make_bucket(s3)
    upload_id = _upload(s3)
    e1 = _part(s3, upload_id, 1, b"x" * (5 * MiB))
    e2 = _part(s3, upload_id, 2, b"y")
    e = error_of(_complete, s3, upload_id, [(1, '"0123456789abcdef0123456789abcdef"'), (2, e2)])
    assert e.code == "InvalidPart" and e.message.startswith(
        "One or more of the specified parts could not be found.")
    with fails("InvalidPart"):
        _complete(s3, upload_id, [(1, e1), (3, e2)])
    e = error_of(_complete, s3, upload_id, [(2, e2), (1, e1)])
    assert (e.code, e.message) == ("InvalidPartOrder", "The list of parts was not in ascending "
                                   "order. The parts list must be specified in order by part "
                                   "number.")
    with fails("InvalidRequest"):
        _complete(s3, upload_id, [])
    for number in (0, 10001):
        with fails("InvalidArgument", 400):
            _part(s3, upload_id, number, b"z")
    e = error_of(_part, s3, "bogus", 1, b"z")
    assert (e.code, e.status) == ("NoSuchUpload", 404) and e.message.startswith(
        "The specified upload does not exist.")
    with fails("NoSuchUpload"):
        _part(s3, upload_id, 1, b"z", key="other")
    assert "Contents" not in s3.ListObjectsV2(call(), {"Bucket": "data"})


def test_abort_leaves_nothing(s3: S3Service) -> None:
    """AbortMultipartUpload: the upload and its parts are gone (their bodies too), nothing is
    listed, and completing it afterwards is NoSuchUpload."""
    make_bucket(s3)
    upload_id = _upload(s3)
    etag = _part(s3, upload_id, 1, b"part-body")
    sha = hashlib.sha256(b"part-body").hexdigest()
    assert s3.blobs.exists(sha)
    assert s3.AbortMultipartUpload(call(), {"Bucket": "data", "Key": "big",
                                            "UploadId": upload_id}) == {}
    assert not s3.blobs.exists(sha)
    assert "Uploads" not in s3.ListMultipartUploads(call(), {"Bucket": "data"})
    assert "Contents" not in s3.ListObjectsV2(call(), {"Bucket": "data"})
    with fails("NoSuchUpload", 404):
        _complete(s3, upload_id, [(1, etag)])
    with fails("NoSuchUpload", 404):
        s3.AbortMultipartUpload(call(), {"Bucket": "data", "Key": "big",
                                         "UploadId": upload_id})


def test_reupload_part_and_list_parts_paging(s3: S3Service) -> None:
    """Uploading a part number again replaces it; ListParts pages with MaxParts /
    PartNumberMarker / NextPartNumberMarker."""
    make_bucket(s3)
    upload_id = _upload(s3)
    for n in (1, 2, 3):
        _part(s3, upload_id, n, f"v1-{n}".encode())
    new = _part(s3, upload_id, 2, b"v2")
    base = {"Bucket": "data", "Key": "big", "UploadId": upload_id}
    first = s3.ListParts(call(), {**base, "MaxParts": 2})
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["Parts"][1]["ETag"] == new and first["IsTruncated"] is True
    rest = s3.ListParts(call(), {**base, "PartNumberMarker": first["NextPartNumberMarker"]})
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and rest["IsTruncated"] is False
    assert rest["Initiator"] == {"ID": f"arn:aws:iam::{ALICE}:user/alice"}


def test_list_multipart_uploads(s3: S3Service) -> None:
    """ListMultipartUploads: by key then initiation; Prefix and Delimiter; KeyMarker and
    UploadIdMarker paging."""
    make_bucket(s3)
    ids = [_upload(s3, k) for k in ("b/1", "a", "a", "c")]
    out = s3.ListMultipartUploads(call(), {"Bucket": "data"})
    assert [(u["Key"], u["UploadId"]) for u in out["Uploads"]] == \
        [("a", ids[1]), ("a", ids[2]), ("b/1", ids[0]), ("c", ids[3])]
    grouped = s3.ListMultipartUploads(call(), {"Bucket": "data", "Delimiter": "/"})
    assert grouped["CommonPrefixes"] == [{"Prefix": "b/"}]
    page = s3.ListMultipartUploads(call(), {"Bucket": "data", "MaxUploads": 1})
    assert page["IsTruncated"] is True and page["NextUploadIdMarker"] == ids[1]
    nxt = s3.ListMultipartUploads(call(), {"Bucket": "data", "KeyMarker": page["NextKeyMarker"],
                                           "UploadIdMarker": page["NextUploadIdMarker"]})
    assert [u["UploadId"] for u in nxt["Uploads"]] == [ids[2], ids[0], ids[3]]
    after_a = s3.ListMultipartUploads(call(), {"Bucket": "data", "KeyMarker": "a"})
    assert [u["Key"] for u in after_a["Uploads"]] == ["b/1", "c"]
    assert [u["Key"] for u in s3.ListMultipartUploads(
        call(), {"Bucket": "data", "Prefix": "b/"})["Uploads"]] == ["b/1"]


def test_upload_part_copy(s3: S3Service) -> None:
    """UploadPartCopy copies a whole object or a CopySourceRange "bytes=first-last" into a
    part (CopyPartResult {ETag, LastModified})."""
    make_bucket(s3)
    put(s3, "src", b"0123456789")
    upload_id = _upload(s3)
    base = {"Bucket": "data", "Key": "big", "UploadId": upload_id, "CopySource": "data/src"}
    whole = s3.UploadPartCopy(call(), {**base, "PartNumber": 1})
    ranged = s3.UploadPartCopy(call(), {**base, "PartNumber": 2,
                                        "CopySourceRange": "bytes=2-4"})
    assert whole["CopyPartResult"]["ETag"] == md5q(b"0123456789")
    assert ranged["CopyPartResult"]["ETag"] == md5q(b"234")
    with fails("InvalidArgument"):
        s3.UploadPartCopy(call(), {**base, "PartNumber": 3, "CopySourceRange": "2-4"})
    out = _complete(s3, upload_id, [(2, ranged["CopyPartResult"]["ETag"])])
    assert out["ETag"].endswith('-1"')
    assert body(s3, s3.GetObject(call(), {"Bucket": "data", "Key": "big"})) == b"234"


# --- authorization ------------------------------------------------------------------------------


def test_authorization_none_for_create_and_missing(s3: S3Service) -> None:
    """No resource side for CreateBucket, ListBuckets or a bucket that does not exist."""
    assert s3.authorization(call(), "CreateBucket", {"Bucket": "data"}, "s3:CreateBucket",
                            "arn:aws:s3:::data") is None
    assert s3.authorization(call(), "GetObject", {"Bucket": "nope", "Key": "k"},
                            "s3:GetObject", "arn:aws:s3:::nope/k") is None


def test_authorization_policy_owner_and_tags(s3: S3Service) -> None:
    """The resource side: the bucket policy parsed, the owner's account, s3:ResourceAccount,
    and s3:ExistingObjectTag/<key> for actions that take it (Service Authorization Reference:
    s3:GetObject does, s3:PutObject does not) on an existing object."""
    make_bucket(s3)
    put(s3, "k", b"1", Tagging="SageMaker=true&team=ml")
    side = s3.authorization(call(BOB), "GetObject", {"Bucket": "data", "Key": "k"},
                            "s3:GetObject", "arn:aws:s3:::data/k")
    assert side is not None and side.policy is None and side.account == ALICE
    assert side.context == {"s3:ResourceAccount": ALICE, "s3:ExistingObjectTag/SageMaker": "true",
                            "s3:ExistingObjectTag/team": "ml"}
    put_side = s3.authorization(call(), "PutObject", {"Bucket": "data", "Key": "k"},
                                "s3:PutObject", "arn:aws:s3:::data/k")
    assert put_side is not None and put_side.context == {"s3:ResourceAccount": ALICE}
    s3.PutBucketPolicy(call(), {"Bucket": "data", "Policy": _policy()})
    side = s3.authorization(call(BOB), "ListObjectsV2", {"Bucket": "data"}, "s3:ListBucket",
                            "arn:aws:s3:::data")
    assert side is not None and isinstance(side.policy, Policy)
    assert side.policy == parse_policy(_policy(), "resource")
    assert side.context == {"s3:ResourceAccount": ALICE}


def test_authorization_copy_source_and_decision(s3: S3Service) -> None:
    """For CopyObject's source the resource ARN names another bucket: its policy and owner
    apply. The side feeds the engine: a bucket policy granting another account's principal
    s3:GetObject only on objects tagged SageMaker=true (seed: the s3:ExistingObjectTag path)
    allows the tagged object and not the other."""
    make_bucket(s3, "src-bucket", account=BOB)
    s3.PutObject(call(BOB), {"Bucket": "src-bucket", "Key": "tagged",
                             "Body": s3.blobs.put(b"1"), "Tagging": "SageMaker=true"})
    s3.PutObject(call(BOB), {"Bucket": "src-bucket", "Key": "plain", "Body": s3.blobs.put(b"2")})
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ALICE}:root"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::src-bucket/*",
        "Condition": {"StringEquals": {"s3:ExistingObjectTag/SageMaker": "true"}}}]})
    s3.PutBucketPolicy(call(BOB), {"Bucket": "src-bucket", "Policy": document})
    make_bucket(s3)
    identity = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    principal = f"arn:aws:iam::{ALICE}:user/alice"
    outcomes = []
    for key in ("tagged", "plain"):
        resource = f"arn:aws:s3:::src-bucket/{key}"
        side = s3.authorization(call(), "CopyObject",
                                {"Bucket": "data", "Key": "x",
                                 "CopySource": f"src-bucket/{key}"}, "s3:GetObject", resource)
        assert side is not None and side.account == BOB
        decision = Authorizer(PolicySet(identity=[identity], resource=side.policy)).authorize(
            Request(principal, "s3:GetObject", resource, side.account, side.context))
        outcomes.append(decision.outcome)
    assert outcomes == [Outcome.ALLOW, Outcome.IMPLICIT_DENY]
