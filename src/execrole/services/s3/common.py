"""Values, errors and small rules the S3 operations share.

Error codes, statuses and messages are S3's (S3 API reference, "Error responses", and each
operation's page; texts AWS returns as recorded in public issue threads and AWS-validated
emulator snapshots where the reference gives none). Range requests follow RFC 9110 §14 as
S3 applies them (a syntactically invalid or multi-range header is ignored, an unsatisfiable
one is 416 InvalidRange); conditional requests follow RFC 9110 §13.2.2's order, which is
what the GetObject and CopyObject pages describe for header combinations.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote

from ..base import AWSError

US_EAST_1 = "us-east-1"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_COPY_SIZE = 5 * 1024**3
MAX_PART_NUMBER = 10_000
MAX_KEYS = 1000
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_DELETE_KEYS = 1000
STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"})
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
OWNERSHIPS = frozenset({"BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"})
# Location constraints that name a region differently (CreateBucket, LocationConstraint).
LOCATION_ALIASES = {"EU": "eu-west-1"}
# Content headers stored with an object and copied by MetadataDirective COPY.
CONTENT_FIELDS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                  "ContentLanguage", "Expires")
# The checksums a request may carry; the blob store computes SHA256 always, CRC32 and SHA1
# when the HTTP layer asked for them, the others are recorded as given.
CHECKSUM_FIELDS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1",
                   "ChecksumSHA256")
RESPONSE_OVERRIDES = {"ResponseCacheControl": "CacheControl",
                      "ResponseContentDisposition": "ContentDisposition",
                      "ResponseContentEncoding": "ContentEncoding",
                      "ResponseContentLanguage": "ContentLanguage",
                      "ResponseContentType": "ContentType", "ResponseExpires": "Expires"}
DEFAULT_CONTENT_TYPE = "binary/octet-stream"

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Tag characters (S3 user guide, "Categorizing your storage using tags": Unicode letters,
# digits, white space and _ . : / = + - @).
_TAG_CHARS = re.compile(r"^[\w\s.:/=+\-@]*$")


@dataclass(frozen=True)
class BodyRange:
    """The bytes ``[start, end)`` of a stored blob: what GetObject hands the HTTP layer to
    stream."""

    sha256: str
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


# --- errors --------------------------------------------------------------------------------


def error(code: str, message: str, status: int = 400) -> AWSError:
    return AWSError(code, message, status)


def no_such_bucket() -> AWSError:
    return error("NoSuchBucket", "The specified bucket does not exist", 404)


def no_such_key() -> AWSError:
    return error("NoSuchKey", "The specified key does not exist.", 404)


def no_such_upload() -> AWSError:
    return error("NoSuchUpload", "The specified upload does not exist. The upload ID may be "
                 "invalid, or the upload may have been aborted or completed.", 404)


def precondition_failed() -> AWSError:
    return error("PreconditionFailed",
                 "At least one of the pre-conditions you specified did not hold", 412)


def invalid_argument(message: str) -> AWSError:
    return error("InvalidArgument", message)


def invalid_request(message: str) -> AWSError:
    return error("InvalidRequest", message)


def malformed_xml() -> AWSError:
    return error("MalformedXML", "The XML you provided was not well-formed or did not "
                 "validate against our published schema")


def access_denied() -> AWSError:
    return error("AccessDenied", "Access Denied", 403)


def invalid_range() -> AWSError:
    return error("InvalidRange", "The requested range is not satisfiable", 416)


def internal_error() -> AWSError:
    return AWSError("InternalError", "We encountered an internal error. Please try again.",
                    500, sender=False)


# --- names ---------------------------------------------------------------------------------


def valid_bucket_name(name: str) -> bool:
    """General purpose bucket naming rules (S3 user guide, "Bucket naming rules")."""
    return bool(_BUCKET_NAME.match(name)) and ".." not in name \
        and not _IP_ADDRESS.match(name) and not name.startswith(_RESERVED_PREFIXES) \
        and not name.endswith(_RESERVED_SUFFIXES)


def valid_region(region: str) -> bool:
    return bool(_REGION.match(region))


def canonical_id(account: str) -> str:
    """A stable 64-hex-digit canonical user ID for an account (S3's Owner.ID has that form;
    AWS's own value cannot be derived, so ours is a hash of the account ID)."""
    return hashlib.sha256(f"execrole-s3-canonical-user:{account}".encode()).hexdigest()


def owner(account: str) -> dict[str, str]:
    """An Owner element. S3 stopped returning DisplayName in 2025, so only the ID is given."""
    return {"ID": canonical_id(account)}


# --- times and ETags -------------------------------------------------------------------------


def to_datetime(value: Any) -> datetime | None:
    """A request timestamp (datetime, HTTP date, ISO 8601 or epoch seconds) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def at_second(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def quoted(etag: str) -> str:
    return f'"{etag}"'


def bare_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def etag_matches(header: str, etag: str) -> bool:
    """An If-Match / If-None-Match list (comma-separated, quoted or not, or "*")."""
    return any(item.strip() == "*" or bare_etag(item) == etag
               for item in str(header).split(",") if item.strip())


def evaluate_conditions(p: dict[str, Any], etag: str, modified: datetime, now: datetime,
                        prefix: str = "") -> int | None:
    """None when the request goes ahead, else 412 or 304 (RFC 9110 §13.2.2: If-Match, else
    If-Unmodified-Since; then If-None-Match, else If-Modified-Since). A date later than now
    is not valid and is ignored, as RFC 9110 says of If-Modified-Since."""
    if_match = p.get(prefix + "IfMatch")
    if if_match:
        if not etag_matches(if_match, etag):
            return 412
    else:
        since = to_datetime(p.get(prefix + "IfUnmodifiedSince"))
        if since is not None and modified > since.replace(microsecond=0):
            return 412
    if_none = p.get(prefix + "IfNoneMatch")
    if if_none:
        if etag_matches(if_none, etag):
            return 304
    else:
        since = to_datetime(p.get(prefix + "IfModifiedSince"))
        if since is not None and since <= now and modified <= since.replace(microsecond=0):
            return 304
    return None


# --- ranges ----------------------------------------------------------------------------------


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, end)`` for a single satisfiable ``bytes=`` range; None when S3 ignores the
    header (not one well-formed range); InvalidRange when no byte of it exists."""
    match = _RANGE.match(str(header).strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = int(match[2]) if match[2] else size - 1
        if match[2] and last < first:
            return None
        if first >= size:
            raise invalid_range()
        return first, min(last, size - 1) + 1
    suffix = int(match[2])
    if suffix == 0 or size == 0:
        raise invalid_range()
    return max(0, size - suffix), size


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"


# --- tags ------------------------------------------------------------------------------------

TAGGING_HEADER_MESSAGE = ("The header 'x-amz-tagging' shall be encoded as UTF-8 then "
                          "URLEncoded URL query parameters without tag name duplicates.")


def tags_from_header(value: str) -> list[dict[str, str]]:
    """The ``x-amz-tagging`` header (URL query form, "k1=v1&k2=v2"; a key without "="
    holds the empty value)."""
    for piece in str(value).split("&"):
        if piece.count("=") > 1:
            raise invalid_argument(TAGGING_HEADER_MESSAGE)
    pairs = parse_qsl(str(value), keep_blank_values=True)
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise invalid_argument(TAGGING_HEADER_MESSAGE)
    return [{"Key": k, "Value": v} for k, v in pairs]


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_tags(tags: Any, *, bucket: bool) -> list[dict[str, str]]:
    """Validate a TagSet (S3's limits: 10 tags per object, 50 per bucket; keys 1-128 and
    values 0-256 characters, counted in UTF-16; unique keys; no "aws:" keys) and return it
    sorted by key, the order S3 gives tag sets back in."""
    items = list(tags or [])
    limit = MAX_BUCKET_TAGS if bucket else MAX_OBJECT_TAGS
    if len(items) > limit:
        raise error("BadRequest", "Bucket tag count cannot be greater than 50" if bucket
                    else "Object tags cannot be greater than 10")
    out: dict[str, str] = {}
    for tag in items:
        key = tag.get("Key") if isinstance(tag, dict) else None
        value = tag.get("Value", "") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not key or not _TAG_CHARS.match(key):
            raise error("InvalidTag", "The TagKey you have provided is invalid")
        if value is None:
            value = ""
        if not isinstance(value, str) or not _TAG_CHARS.match(value):
            raise error("InvalidTag", "The TagValue you have provided is invalid")
        if _utf16_length(key) > 128:
            raise error("InvalidTag", "The TagKey you have provided is too long, max 128")
        if _utf16_length(value) > 256:
            raise error("InvalidTag", "The TagValue you have provided is too long, max 256")
        if key.lower().startswith("aws:"):
            raise error("InvalidTag", "System tags cannot be added/updated by requester")
        if key in out:
            raise error("InvalidTag", "Cannot provide multiple Tags with the same key")
        out[key] = value
    return [{"Key": k, "Value": out[k]} for k in sorted(out)]


# --- listing helpers -------------------------------------------------------------------------


def url_encode(value: str) -> str:
    """EncodingType=url: percent-encode as S3 does for Key, Prefix, Delimiter, StartAfter and
    CommonPrefixes (botocore decodes them with unquote_plus, so "+" must be escaped)."""
    return quote(value, safe="/")


def max_count(value: Any, name: str, cap: int = MAX_KEYS) -> int:
    """MaxKeys / MaxUploads / MaxParts: default and cap 1000; negative is an error."""
    if value is None or value == "":
        return cap
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_argument(f"Provided {name} not an integer or within integer "
                               "range") from None
    if number < 0:
        raise invalid_argument(f"Argument {name} must be an integer between 0 and "
                               "2147483647")
    return min(number, cap)


def encode_token(last: str, common_prefix: bool) -> str:
    raw = json.dumps({"k": last, "p": common_prefix}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, bool]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return str(data["k"]), bool(data["p"])
    except (ValueError, KeyError, TypeError):
        raise invalid_argument("The continuation token provided is incorrect") from None


def after_prefix(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (its last
    character incremented); None when there is none to be had."""
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000
    if following > 0x10FFFF:
        return None
    return prefix[:-1] + chr(following)


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[:at + len(delimiter)]


# --- copy source -----------------------------------------------------------------------------


def parse_copy_source(value: Any) -> tuple[str, str, str | None]:
    """CopySource: "bucket/key" (or "/bucket/key"), URL-encoded, optionally with
    "?versionId=..."; boto3 also accepts {"Bucket", "Key", "VersionId"}."""
    if isinstance(value, dict):
        bucket, key = str(value.get("Bucket", "")), str(value.get("Key", ""))
        version = value.get("VersionId")
        version_id = str(version) if version else None
    else:
        text = str(value or "")
        path, _, query = text.partition("?")
        versions = parse_qs(query).get("versionId") if query else None
        version_id = versions[0] if versions else None
        bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise invalid_argument("Copy Source must mention the source bucket and key: "
                               "sourcebucket/sourcekey")
    return bucket, key, version_id
