"""AWS Signature Version 4, verified the way AWS verifies it.

The server side of SigV4: :func:`parse_signature` reads the signature a request carries (the
``Authorization`` header or the presigned ``X-Amz-*`` query parameters), :func:`verify` checks it
against a secret key, the clock and the request itself, and :func:`decode_aws_chunked` unwraps
(and verifies) an ``aws-chunked`` S3 upload body. Everything refused is an :class:`AuthError`
carrying AWS's own error code, message and HTTP status.

Written from the specification, not from a client library:

* Signing process, canonical request, string to sign, signing key:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
* S3's variant (paths encoded once and not normalised, ``x-amz-content-sha256``):
  https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
* Presigned URLs: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
* Chunked uploads: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html and
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html

Where the specification is silent (the exact error texts and the order the checks run in), the
messages below are AWS's own as quoted in public bug reports and in open-source reimplementations
that copied them from live responses; each constant names its source.

Two families of behaviour are modelled, chosen by the ``s3`` flag:

* the AWS service framework shared by query (IAM, STS) and JSON (SageMaker) services, whose
  signature errors are ``IncompleteSignature`` / ``SignatureDoesNotMatch`` in the query protocol
  (:meth:`AuthError.for_json_protocol` gives the JSON protocol's ``...Exception`` spellings);
* Amazon S3, which has its own codes, messages and XML members (:attr:`AuthError.details`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_SKEW",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AuthError",
    "Credential",
    "SignedRequest",
    "canonical_request",
    "decode_aws_chunked",
    "decode_aws_chunked_with_trailers",
    "parse_signature",
    "signing_key",
    "string_to_sign",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# "The request reached the service more than 15 minutes after the date stamp on the request ...,
# or the date stamp on the request is more than 15 minutes in the future." (RequestExpired,
# https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html)
MAX_SKEW = timedelta(minutes=15)
# "The minimum value you can set is 1, and the maximum is 604800 (seven days)."
# (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html)
MAX_PRESIGN_EXPIRES = 604800
# "The chunk size must be at least 8 KB ... The last chunk you send can be smaller than 8 KB."
# (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html)
MIN_CHUNK = 8192
MAX_CHUNK_HEADER = 4096  # bytes of one "size;chunk-signature=..." line

_BASIC = "%Y%m%dT%H%M%SZ"
_EXTENDED = "%Y-%m-%dT%H:%M:%SZ"
_UTF8 = "utf-8"
_SURROGATES = "surrogatepass"  # header and path text is never refused for being odd Unicode

# ---------------------------------------------------------------------------------------------
# Messages of the service framework behind the query and JSON protocols (IAM, STS, SageMaker).
# ---------------------------------------------------------------------------------------------

# Quoted in https://github.com/aws/aws-cli/issues/135 (EC2) and
# https://github.com/boto/boto/issues/476 (SES); dynalite records the same for DynamoDB
# (https://github.com/mhart/dynalite, index.js, copied from live responses).
MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
# "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature'
# parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires
# existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Basic ..." -- API Gateway,
# https://github.com/aws/chalice/issues/828; SES, https://github.com/brendanhay/amazonka/issues/316
# (which shows the whole header value after "Authorization="); CloudFront,
# https://github.com/aws/aws-sdk-ruby/issues/317.
MSG_REQUIRES_CREDENTIAL = "Authorization header requires 'Credential' parameter."
MSG_REQUIRES_SIGNATURE = "Authorization header requires 'Signature' parameter."
MSG_REQUIRES_SIGNED_HEADERS = "Authorization header requires 'SignedHeaders' parameter."
MSG_REQUIRES_DATE = (
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
)
# "'/20210706/us-east-2/dynamodb/aws4_request' not a valid key=value pair (missing equal-sign) in
# Authorization header: 'AWS4-HMAC-SHA256 Credential=<cred> /2021...'." --
# https://github.com/awslabs/fhir-works-on-aws-deployment/issues/379 and
# https://github.com/aws/aws-sdk-go/issues/289 (the stray space splits a token off).
MSG_NOT_KEY_VALUE = (
    "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
)
# dynalite (index.js), from live DynamoDB responses; scratchstack-aws-signature
# (https://github.com/dacut/scratchstack-aws-signature, src/canonical.rs) has the same text.
MSG_DATE_FORMAT = (
    "Date must be in ISO-8601 'basic format'. Got '{date}'. "
    "See http://en.wikipedia.org/wiki/ISO_8601"
)
# "Signature expired: 20220127T001427Z is now earlier than 20220127T014428Z (20220127T015928Z - 15
# min.)" -- STS, https://github.com/aws/aws-cli/issues/6676. The "not yet current" twin is listed at
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html and spelt out
# in full by scratchstack-aws-signature (src/auth.rs).
MSG_EXPIRED = "Signature expired: {req} is now earlier than {limit} ({now} - 15 min.)"
MSG_NOT_YET = "Signature not yet current: {req} is still later than {limit} ({now} + 15 min.)"
# scratchstack-aws-signature (src/canonical.rs); dynalite records the older "'Host' must be a
# 'SignedHeader' in the AWS Authorization." for DynamoDB.
MSG_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
# dynalite (index.js), from DynamoDB: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only
# AWS4-HMAC-SHA256 for now). " -- the trailing space is AWS's.
MSG_ALGORITHM = "Unsupported AWS 'algorithm': '{alg}' (only AWS4-HMAC-SHA256 for now). "
# dynalite (index.js): "Credential must have exactly 5 slash-delimited elements, e.g.
# keyid/date/region/service/term, got 'a/b/c/d'".
MSG_CREDENTIAL_PARTS = (
    "Credential must have exactly 5 slash-delimited elements, e.g. "
    "keyid/date/region/service/term, got '{credential}'"
)
# Each scope fault is a sentence followed by a space, and they are run together (dynalite records
# all four at once). Single ones, trailing space and all: "Credential should be scoped to a valid
# region, not 'eu-west-1'. " (https://github.com/joona/aws-es-curl/issues/15) and "Credential should
# be scoped to correct service: 'batch'. " (https://github.com/cllunsford/aws-signing-proxy/issues/25).
MSG_SCOPE_REGION = "Credential should be scoped to a valid region, not '{region}'."
MSG_SCOPE_SERVICE = "Credential should be scoped to correct service: '{service}'."
MSG_SCOPE_TERMINATOR = (
    "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
)
MSG_SCOPE_DATE = (
    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
    "'{scope_date}' != '{request_date}', from '{amz_date}'."
)
# Presigned (query-string) requests: scratchstack-aws-signature, src/canonical.rs.
MSG_MISSING_TOKEN = "Request is missing Authentication Token"
MSG_QUERY_MUST_INCLUDE = "AWS query-string parameters must include '{name}'."
MSG_REEXAMINE_QUERY = "Re-examine the query-string parameters."
# Malformed escapes are reported with Java's URLDecoder wording (scratchstack-aws-signature,
# src/canonical.rs); InvalidURIPath is 400 and MalformedQueryString 404 in the common errors
# (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
MSG_ILLEGAL_HEX = "Illegal hex character in escape % pattern: %{pair}"
MSG_TRAILING_ESCAPE = "Incomplete trailing escape % sequence"
MSG_PATH_NOT_ABSOLUTE = "Path is not absolute: {path}"
MSG_PATH_ABOVE_ROOT = "Relative path entry '..' navigates above root: {path}"
# Shown to query-protocol callers in older responses, e.g. STS in
# https://github.com/boto/boto3/issues/756 and SageMaker in
# https://github.com/DavidMuller/aws-requests-auth/issues/33.
MSG_MISMATCH_VERBOSE = (
    "{message}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
    "The String-to-Sign should have been\n'{string_to_sign}'\n"
)

# ---------------------------------------------------------------------------------------------
# Amazon S3's messages. Unless noted, as measured against s3.us-east-1.amazonaws.com and recorded
# (with the order S3 checks in) in the public "backlot" S3 emulator's auth module, whose texts
# agree with the issue reports cited beside them.
# ---------------------------------------------------------------------------------------------

# https://github.com/akka/alpakka/issues/357; localstack (services/s3/presigned_url.py).
S3_MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
# https://github.com/aws/aws-sdk-ruby/issues/2887 family; localstack and minio carry the same text.
S3_MSG_SKEWED = "The difference between the request time and the current time is too large."
S3_MSG_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
S3_MSG_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
S3_MSG_ONE_SPACE = "Authorization header is invalid -- one and only one ' ' (space) required"
S3_MSG_UNSUPPORTED_TYPE = "Unsupported Authorization Type"
# https://github.com/danialfarid/ng-file-upload/issues/833 (SigV2 sent to a SigV4-only region).
S3_MSG_USE_V4 = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)
S3_MSG_MISSING_HEADER = "Missing required header for this request: {name}"
S3_MSG_BAD_PAYLOAD_HASH = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or "
    "a valid sha256 value."
)
S3_MALFORMED = "The authorization header is malformed; "
S3_QUERY_CREDENTIAL = "Error parsing the X-Amz-Credential parameter; "
S3_MSG_THREE_COMPONENTS = (
    "the authorization header requires three components: Credential, SignedHeaders, and Signature."
)
# https://github.com/aws/aws-sdk-php/issues/780 and
# https://github.com/deliciousbrains/wp-amazon-s3-and-cloudfront/issues/460.
S3_MSG_CREDENTIAL_SHAPE = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
S3_MSG_CREDENTIAL_DATE_FORMAT = (
    'incorrect date format "{date}". This date in the credential must be in the format "yyyyMMdd".'
)
S3_MSG_EMPTY_REGION = "a non-empty region must be provided in the credential."
# https://github.com/TTLabs/EvaporateJS/issues/364, https://github.com/jsoma/flatware/issues/10.
S3_MSG_WRONG_REGION = "the region '{region}' is wrong; expecting '{expected}'"
S3_MSG_WRONG_SERVICE = 'incorrect service "{service}". This endpoint belongs to "s3".'
S3_MSG_WRONG_TERMINAL = 'incorrect terminal "{terminal}". This endpoint uses "aws4_request".'
S3_MSG_HEADER_DATE = "Invalid credential date. Date is not the same as X-Amz-Date."
S3_MSG_QUERY_DATE = (
    'Invalid credential date "{scope_date}". This date is not the same as X-Amz-Date: '
    '"{request_date}".'
)
# localstack presigned_url.py (snapshot-tested against AWS); minio cmd/api-errors.go.
S3_MSG_UNSIGNED_HEADERS = "There were headers present in the request which were not signed"
S3_MSG_QUERY_PARAMS = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
S3_MSG_QUERY_ALGORITHM = (
    'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"'
)
S3_MSG_QUERY_DATE_FORMAT = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
S3_MSG_EXPIRES_NUMBER = "X-Amz-Expires should be a number"
S3_MSG_EXPIRES_NEGATIVE = "X-Amz-Expires must be non-negative"
# https://github.com/bryanjos/aws_auth/issues/31, https://github.com/aws/aws-cli/issues/5464.
S3_MSG_EXPIRES_WEEK = (
    "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
    "less than 604800 seconds"
)
# https://github.com/aws/aws-sdk-php/issues/1333 (with X-Amz-Expires, Expires, ServerTime members)
# and https://github.com/dmjio/s3-signer/issues/16 ("Request is not yet valid", whose X-Amz-Date
# member is in epoch milliseconds).
S3_MSG_EXPIRED = "Request has expired"
S3_MSG_NOT_YET_VALID = "Request is not yet valid"
# https://github.com/grosskur/lua-resty-aws/issues/2 (with ClientComputedContentSHA256 and
# S3ComputedContentSHA256 members).
S3_MSG_CONTENT_SHA256 = (
    "The provided 'x-amz-content-sha256' header does not match what was computed."
)
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (InvalidURI).
S3_MSG_INVALID_URI = "Couldn't parse the specified URI."
# aws-chunked bodies: https://github.com/aws/aws-sdk-java-v2/issues/180 and
# https://github.com/versity/versitygw/issues/1666 (any malformed framing is IncompleteBody);
# versitygw #2085 (InvalidChunkSizeError with Chunk and BadChunkSize members); versitygw #1690
# (MalformedTrailerError); #1692 (invalid trailing value); #1653 / #1694 and
# https://github.com/aws/aws-sdk-ruby/issues/3322 (BadDigest).
S3_MSG_INCOMPLETE_BODY = "The request body terminated unexpectedly"
S3_MSG_CHUNK_SIZE = "Only the last chunk is allowed to have a size less than 8192 bytes"
S3_MSG_MALFORMED_TRAILER = (
    "The request contained trailing data that was not well-formed or did not conform to our "
    "published schema."
)
S3_MSG_TRAILER_VALUE = "Value for {name} trailing header is invalid."
S3_MSG_BAD_DIGEST = "The {algorithm} you specified did not match the calculated checksum."

_JSON_CODES = {
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "IncompleteSignature": "IncompleteSignatureException",
    "MissingAuthenticationToken": "MissingAuthenticationTokenException",
}


class AuthError(Exception):
    """A request AWS would refuse: its error code, message, HTTP status and, for S3, the extra
    members of the XML error body (``<StringToSign>``, ``<HeadersNotSigned>``, ...) in order."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 403,
        *,
        details: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details: tuple[tuple[str, str], ...] = tuple(details)

    def detail(self, name: str) -> str | None:
        """The value of one of :attr:`details`, or None."""
        for key, value in self.details:
            if key == name:
                return value
        return None

    def for_json_protocol(self) -> AuthError:
        """The same refusal as a JSON-protocol service names it (``InvalidSignatureException``,
        ``IncompleteSignatureException``, ``MissingAuthenticationTokenException``): the query
        protocol's ``SignatureDoesNotMatch`` is the framework's ``InvalidSignatureException``
        (https://github.com/aws/aws-sdk-js/issues/254, dynalite's ``__type`` values)."""
        code = _JSON_CODES.get(self.code, self.code)
        return AuthError(code, self.message, self.status, details=self.details)

    def verbose_message(self) -> str:
        """The message with the canonical request and string to sign appended, as some services
        word a signature mismatch (see :data:`MSG_MISMATCH_VERBOSE`); the plain message when this
        error carries neither."""
        canonical = self.detail("CanonicalRequest")
        to_sign = self.detail("StringToSign")
        if canonical is None or to_sign is None:
            return self.message
        return MSG_MISMATCH_VERBOSE.format(
            message=self.message, canonical=canonical, string_to_sign=to_sign
        )

    def __repr__(self) -> str:
        return f"AuthError({self.code!r}, {self.message!r}, {self.status!r})"


@dataclass(frozen=True)
class Credential:
    """``<access key>/<YYYYMMDD>/<region>/<service>/aws4_request`` as the request sent it."""

    access_key: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        """The credential scope of the string to sign: date/region/service/terminator."""
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True)
class SignedRequest:
    """The signature a request carries, read by :func:`parse_signature`."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: datetime
    session_token: str | None
    presigned: bool
    expires: int | None
    payload_hash: str
    algorithm: str = ALGORITHM
    date_as_sent: str = ""
    authorization: str = ""
    s3: bool = False  # read by S3's rules (and so verified by them unless verify() says otherwise)

    @property
    def timestamp(self) -> str:
        """The request time as the string to sign has it (``YYYYMMDDTHHMMSSZ``)."""
        return self.amz_date.strftime(_BASIC)

    @property
    def access_key(self) -> str:
        return self.credential.access_key


# ---------------------------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ENCODED = [chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256)]


def _utf8(text: str) -> bytes:
    return text.encode(_UTF8, _SURROGATES)


def _uri_encode(raw: bytes) -> str:
    """RFC 3986 encoding as SigV4 defines it: unreserved bytes as they are, every other byte as
    ``%XX`` in upper case."""
    return "".join([_ENCODED[b] for b in raw])


class _EscapeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _percent_decode(text: str, *, plus_is_space: bool) -> bytes:
    raw = _utf8(text)
    if b"%" not in raw and not (plus_is_space and b"+" in raw):
        return raw
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x25:  # %
            if i + 2 >= n:
                raise _EscapeError(MSG_TRAILING_ESCAPE)
            pair = raw[i + 1 : i + 3]
            if pair[0] not in _HEX or pair[1] not in _HEX:
                raise _EscapeError(MSG_ILLEGAL_HEX.format(pair=pair.decode("latin-1")))
            out.append(int(pair, 16))
            i += 3
        elif c == 0x2B and plus_is_space:  # + in a query is a space
            out.append(0x20)
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _decode_text(raw: bytes) -> str:
    return raw.decode(_UTF8, "replace")


def _query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    """The query's parameters, decoded, in order; a parameter without ``=`` has an empty value and
    empty components are skipped."""
    pairs: list[tuple[bytes, bytes]] = []
    if not raw_query:
        return pairs
    for component in raw_query.split("&"):
        if not component:
            continue
        key, _, value = component.partition("=")
        pairs.append(
            (
                _percent_decode(key, plus_is_space=True),
                _percent_decode(value, plus_is_space=True),
            )
        )
    return pairs


def _query_errors(raw_query: str, s3: bool) -> list[tuple[bytes, bytes]]:
    try:
        return _query_pairs(raw_query)
    except _EscapeError as exc:
        if s3:
            raise AuthError("InvalidURI", S3_MSG_INVALID_URI, 400) from None
        raise AuthError("MalformedQueryString", exc.message, 404) from None


def _first(pairs: Sequence[tuple[bytes, bytes]], name: str) -> str | None:
    wanted = name.encode("ascii")
    for key, value in pairs:
        if key == wanted:
            return _decode_text(value)
    return None


def _canonical_uri(raw_path: str, s3: bool) -> str:
    """The canonical URI. S3 encodes each segment once and leaves ``.``, ``..`` and empty segments
    alone; other services remove them and encode each segment twice (the SigV4 spec's "URI-encode
    each path segment twice", which is what the SDKs' signers send)."""
    if raw_path in ("", "/"):
        return "/"
    if not raw_path.startswith("/"):
        if s3:
            raise AuthError("InvalidURI", S3_MSG_INVALID_URI, 400)
        raise AuthError("InvalidURIPath", MSG_PATH_NOT_ABSOLUTE.format(path=raw_path), 400)
    try:
        segments = [_percent_decode(s, plus_is_space=False) for s in raw_path.split("/")[1:]]
    except _EscapeError as exc:
        if s3:
            raise AuthError("InvalidURI", S3_MSG_INVALID_URI, 400) from None
        raise AuthError("InvalidURIPath", exc.message, 400) from None
    if s3:
        return "/" + "/".join(_uri_encode(s) for s in segments)
    kept: list[bytes] = []
    for segment in segments:
        if segment in (b"", b"."):
            continue
        if segment == b"..":
            if not kept:
                raise AuthError("InvalidURIPath", MSG_PATH_ABOVE_ROOT.format(path=raw_path), 400)
            kept.pop()
            continue
        kept.append(segment)
    trailing = "/" if raw_path.endswith("/") and kept else ""
    once = "/" + "/".join(_uri_encode(s) for s in kept) + trailing
    return once.replace("%", "%25")


def _canonical_query(pairs: Sequence[tuple[bytes, bytes]], presigned: bool) -> str:
    encoded = [
        (_uri_encode(key), _uri_encode(value))
        for key, value in pairs
        if not (presigned and key == b"X-Amz-Signature")
    ]
    encoded.sort()
    return "&".join(f"{key}={value}" for key, value in encoded)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased; a name given more than once (in different cases) has its values
    joined with commas, in the order given."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        text = value if isinstance(value, str) else str(value)
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _trimall(value: str) -> str:
    """Trim, and collapse each run of whitespace inside, as the spec's Trimall does."""
    return " ".join(value.split())


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in _utf8(text))


def _parse_basic(value: str) -> datetime | None:
    """``YYYYMMDDTHHMMSSZ`` exactly (ASCII digits only), as a UTC datetime."""
    if len(value) != 16 or not re.fullmatch(r"[0-9]{8}T[0-9]{6}Z", value):
        return None
    try:
        return datetime.strptime(value, _BASIC).replace(tzinfo=UTC)
    except ValueError:
        return None


def _parse_http_date(value: str) -> datetime | None:
    """A ``Date`` header: the ISO 8601 basic form or an RFC 7231 / RFC 2822 date (what the SDKs
    put in ``Date`` when they sign with it)."""
    basic = _parse_basic(value.strip())
    if basic is not None:
        return basic
    if not value.strip() or not value.isascii():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _split_credential(value: str) -> list[str]:
    """Split on ``/`` dropping trailing empty parts, as Java's ``String.split`` does (AWS ignores
    trailing slashes, per dynalite)."""
    parts = value.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _s3_credential_date_ok(text: str) -> bool:
    """Whether a scope date reads as ``yyyyMMdd`` does to a strict Java date parser."""
    match = re.match(r"([0-9]{4})([0-9]{2})([0-9]+)", text)
    if match is None:
        return False
    try:
        datetime(int(match[1]), int(match[2]), int(match[3][:9]))
    except ValueError:
        return False
    return True


def _java_long(raw: str) -> int | None:
    """``X-Amz-Expires`` as Java's ``Long.parseLong`` reads it (an optional sign, then digits)."""
    match = re.fullmatch(r"([+-]?)([0-9]+)", raw)
    if match is None:
        return None
    digits = match[2].lstrip("0") or "0"
    if len(digits) > 19:
        return None
    value = int(digits) * (-1 if match[1] == "-" else 1)
    return value if -(2**63) <= value < 2**63 else None


def _to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def parse_signature(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    *,
    s3: bool | None = None,
) -> SignedRequest | None:
    """Read the SigV4 signature a request carries, or None for an anonymous request (no
    ``Authorization`` header and no ``X-Amz-Algorithm`` query parameter).

    ``raw_path`` and ``raw_query`` are as received on the wire (still percent-encoded).
    ``s3`` picks S3's rules and messages; None (the default) picks them when the credential
    scope names the ``s3`` service. Raises :class:`AuthError` for a signature that is malformed;
    :func:`verify` does the checks that need the secret key, the clock, or the expected region
    and service.
    """
    del method  # the method only enters the canonical request, in verify()
    hdrs = _lower_headers(headers)
    if s3 is None:
        s3 = _scoped_to_s3(raw_query, hdrs)
    pairs = _query_errors(raw_query, s3)
    authorization = hdrs.get("authorization")
    query_algorithm = _first(pairs, "X-Amz-Algorithm")
    v2_query = s3 and _first(pairs, "Signature") is not None
    if authorization is None and query_algorithm is None:
        if v2_query:
            # A Signature Version 2 presigned URL: S3 takes only SigV4 in new regions.
            raise AuthError("InvalidRequest", S3_MSG_USE_V4, 400)
        return None
    _canonical_uri(raw_path, s3)  # a path that cannot be read is refused before anything else
    if s3:
        if authorization is not None and (query_algorithm is not None or v2_query):
            raise AuthError(
                "InvalidArgument",
                S3_MSG_ONE_MECHANISM,
                400,
                details=(("ArgumentName", "Authorization"), ("ArgumentValue", authorization)),
            )
        if authorization is not None:
            return _parse_s3_header(authorization, hdrs)
        if v2_query:
            raise AuthError(
                "InvalidArgument",
                S3_MSG_ONE_MECHANISM,
                400,
                details=(("ArgumentName", "Authorization"),),
            )
        return _parse_s3_query(pairs, hdrs)
    if authorization is not None and query_algorithm is not None:
        # Both forms at once (scratchstack-aws-signature, rule 5: SignatureDoesNotMatch).
        raise AuthError("SignatureDoesNotMatch", MSG_MISMATCH, 403)
    if authorization is not None:
        return _parse_header(authorization, hdrs)
    return _parse_query(pairs, hdrs)


def _scoped_to_s3(raw_query: str, hdrs: Mapping[str, str]) -> bool:
    """Whether the credential scope the request carries names the ``s3`` service."""
    authorization = hdrs.get("authorization")
    if authorization is not None:
        match = re.search(r"Credential=([^,\s]*)", authorization)
        credential = match[1] if match else ""
    else:
        try:
            credential = _first(_query_pairs(raw_query), "X-Amz-Credential") or ""
        except _EscapeError:
            return False
    parts = credential.split("/")
    return len(parts) > 3 and parts[3] == "s3"


def _header_params(authorization: str) -> tuple[str, dict[str, str]]:
    """The algorithm and the ``key=value`` parameters of an Authorization header, split on commas
    and on whitespace; a later duplicate wins."""
    stripped = authorization.strip()
    head = re.split(r"\s+", stripped, maxsplit=1)
    algorithm = head[0]
    rest = head[1] if len(head) > 1 else ""
    params: dict[str, str] = {}
    for token in re.split(r"[\s,]+", rest):
        if not token:
            continue
        if "=" not in token:
            raise AuthError(
                "IncompleteSignature",
                MSG_NOT_KEY_VALUE.format(token=token, auth=authorization),
                400,
            )
        key, _, value = token.partition("=")
        params[key] = value
    return algorithm, params


def _check_host_signed(signed_headers: Sequence[str]) -> None:
    if "host" not in signed_headers and ":authority" not in signed_headers:
        raise AuthError("SignatureDoesNotMatch", MSG_HOST_NOT_SIGNED, 403)


def _credential(value: str) -> Credential:
    parts = _split_credential(value)
    if len(parts) != 5:
        raise AuthError("IncompleteSignature", MSG_CREDENTIAL_PARTS.format(credential=value), 400)
    return Credential(parts[0], parts[1], parts[2], parts[3], parts[4])


def _signed_header_names(value: str) -> tuple[str, ...]:
    return tuple(sorted(name for name in value.split(";") if name))


def _parse_header(authorization: str, hdrs: Mapping[str, str]) -> SignedRequest:
    """The service framework's order (dynalite, from live responses): key=value syntax; the three
    parameters and a date; the date's format; [the clock, in verify]; Host signed; the algorithm;
    the credential's shape; [the scope and the signature, in verify]."""
    algorithm, params = _header_params(authorization)
    missing: list[str] = []
    if not params.get("Credential"):
        missing.append(MSG_REQUIRES_CREDENTIAL)
    if not params.get("Signature"):
        missing.append(MSG_REQUIRES_SIGNATURE)
    if "SignedHeaders" not in params:
        missing.append(MSG_REQUIRES_SIGNED_HEADERS)
    date_value = hdrs.get("x-amz-date")
    if date_value is None:
        date_value = hdrs.get("date")
    if date_value is None:
        missing.append(MSG_REQUIRES_DATE)
    if missing or date_value is None:
        raise AuthError(
            "IncompleteSignature", " ".join(missing) + " Authorization=" + authorization, 400
        )
    parse = _parse_basic if "x-amz-date" in hdrs else _parse_http_date
    amz_date = parse(date_value)
    if amz_date is None:
        raise AuthError("IncompleteSignature", MSG_DATE_FORMAT.format(date=date_value), 400)
    signed = _signed_header_names(params["SignedHeaders"])
    _check_host_signed(signed)
    if algorithm != ALGORITHM:
        raise AuthError("IncompleteSignature", MSG_ALGORITHM.format(alg=algorithm), 400)
    credential = _credential(params["Credential"])
    return SignedRequest(
        credential=credential,
        signed_headers=signed,
        signature=params["Signature"],
        amz_date=amz_date,
        session_token=hdrs.get("x-amz-security-token"),
        presigned=False,
        expires=None,
        payload_hash=hdrs.get("x-amz-content-sha256", ""),
        algorithm=algorithm,
        date_as_sent=date_value,
        authorization=authorization,
    )


def _parse_query(pairs: Sequence[tuple[bytes, bytes]], hdrs: Mapping[str, str]) -> SignedRequest:
    """A presigned URL for the service framework (scratchstack-aws-signature, rules 7a-7d)."""
    if _first(pairs, "X-Amz-Algorithm") != ALGORITHM:
        raise AuthError("MissingAuthenticationToken", MSG_MISSING_TOKEN, 403)
    values = {
        name: _first(pairs, name)
        for name in ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
    }
    missing = [MSG_QUERY_MUST_INCLUDE.format(name=n) for n, v in values.items() if v is None]
    if missing:
        raise AuthError("IncompleteSignature", " ".join([*missing, MSG_REEXAMINE_QUERY]), 400)
    credential_value = values["X-Amz-Credential"] or ""
    signature = values["X-Amz-Signature"] or ""
    signed_value = values["X-Amz-SignedHeaders"] or ""
    date_value = values["X-Amz-Date"] or ""
    amz_date = _parse_basic(date_value)
    if amz_date is None:
        raise AuthError("IncompleteSignature", MSG_DATE_FORMAT.format(date=date_value), 400)
    signed = _signed_header_names(signed_value)
    _check_host_signed(signed)
    credential = _credential(credential_value)
    expires_raw = _first(pairs, "X-Amz-Expires")
    expires = _java_long(expires_raw) if expires_raw is not None else None
    return SignedRequest(
        credential=credential,
        signed_headers=signed,
        signature=signature,
        amz_date=amz_date,
        session_token=_first(pairs, "X-Amz-Security-Token"),
        presigned=True,
        expires=expires,
        payload_hash=hdrs.get("x-amz-content-sha256", ""),
        date_as_sent=date_value,
    )


_PAYLOAD_KEYWORDS = frozenset(
    {
        UNSIGNED_PAYLOAD,
        STREAMING_UNSIGNED_TRAILER,
        STREAMING_SIGNED,
        STREAMING_SIGNED_TRAILER,
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    }
)


def _s3_credential(value: str, prefix: str, code: str) -> Credential:
    parts = value.split("/")
    if len(parts) != 5:
        raise AuthError(code, prefix + S3_MSG_CREDENTIAL_SHAPE, 400)
    if not _s3_credential_date_ok(parts[1]):
        raise AuthError(code, prefix + S3_MSG_CREDENTIAL_DATE_FORMAT.format(date=parts[1]), 400)
    return Credential(parts[0], parts[1], parts[2], parts[3], parts[4])


def _parse_s3_header(authorization: str, hdrs: Mapping[str, str]) -> SignedRequest:
    """S3's order: one space after the scheme; the scheme; ``x-amz-content-sha256`` present and
    well formed; a readable date; [the clock, in verify]; the three components; the credential's
    shape and date format; [region, service, terminal, scope date, unsigned headers and the
    signature, in verify]."""
    argument = (("ArgumentName", "Authorization"), ("ArgumentValue", authorization))
    scheme, space, rest = authorization.partition(" ")
    if not space:
        raise AuthError("InvalidArgument", S3_MSG_ONE_SPACE, 400, details=argument)
    upper = scheme.upper()
    if upper in ("AWS", "AWS4-ECDSA-P256-SHA256"):
        raise AuthError("InvalidRequest", S3_MSG_USE_V4, 400)
    if upper != ALGORITHM:
        raise AuthError("InvalidArgument", S3_MSG_UNSUPPORTED_TYPE, 400, details=argument)
    payload_hash = hdrs.get("x-amz-content-sha256")
    if payload_hash is None:
        raise AuthError(
            "InvalidRequest", S3_MSG_MISSING_HEADER.format(name="x-amz-content-sha256"), 400
        )
    if payload_hash not in _PAYLOAD_KEYWORDS and not re.fullmatch(r"[0-9a-fA-F]{64}", payload_hash):
        raise AuthError(
            "InvalidArgument",
            S3_MSG_BAD_PAYLOAD_HASH,
            400,
            details=(("ArgumentName", "x-amz-content-sha256"), ("ArgumentValue", payload_hash)),
        )
    date_value = hdrs["x-amz-date"] if "x-amz-date" in hdrs else hdrs.get("date", "")
    parse = _parse_basic if "x-amz-date" in hdrs else _parse_http_date
    amz_date = parse(date_value.strip())
    if amz_date is None:
        raise AuthError("AccessDenied", S3_MSG_NO_DATE, 403)
    params: dict[str, str] = {}
    for component in rest.split(","):
        key, equals, value = component.strip().partition("=")
        if equals:
            params[key] = value
    if not all(params.get(k) for k in ("Credential", "SignedHeaders", "Signature")):
        raise AuthError("AuthorizationHeaderMalformed", S3_MALFORMED + S3_MSG_THREE_COMPONENTS, 400)
    credential = _s3_credential(params["Credential"], S3_MALFORMED, "AuthorizationHeaderMalformed")
    return SignedRequest(
        credential=credential,
        signed_headers=_signed_header_names(params["SignedHeaders"]),
        signature=params["Signature"],
        amz_date=amz_date,
        session_token=hdrs.get("x-amz-security-token"),
        presigned=False,
        expires=None,
        payload_hash=payload_hash,
        algorithm=scheme,
        date_as_sent=date_value,
        authorization=authorization,
        s3=True,
    )


def _parse_s3_query(pairs: Sequence[tuple[bytes, bytes]], hdrs: Mapping[str, str]) -> SignedRequest:
    """S3's order: the algorithm; the six parameters; the date's format; ``X-Amz-Expires`` a
    number, not negative, a week at most; the credential's shape and date format; [not yet valid,
    expired, region, service, terminal, scope date, unsigned headers and the signature, in
    verify]."""
    code = "AuthorizationQueryParametersError"
    if _first(pairs, "X-Amz-Algorithm") != ALGORITHM:
        raise AuthError(code, S3_MSG_QUERY_ALGORITHM, 400)
    names = (
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    values = {name: _first(pairs, name) for name in names}
    if any(v is None for v in values.values()):
        raise AuthError(code, S3_MSG_QUERY_PARAMS, 400)
    date_value = values["X-Amz-Date"] or ""
    amz_date = _parse_basic(date_value)
    if amz_date is None:
        raise AuthError(code, S3_MSG_QUERY_DATE_FORMAT, 400)
    expires = _java_long(values["X-Amz-Expires"] or "")
    if expires is None:
        raise AuthError(code, S3_MSG_EXPIRES_NUMBER, 400)
    if expires < 0:
        raise AuthError(code, S3_MSG_EXPIRES_NEGATIVE, 400)
    if expires > MAX_PRESIGN_EXPIRES:
        raise AuthError(code, S3_MSG_EXPIRES_WEEK, 400)
    credential = _s3_credential(values["X-Amz-Credential"] or "", S3_QUERY_CREDENTIAL, code)
    return SignedRequest(
        credential=credential,
        signed_headers=_signed_header_names(values["X-Amz-SignedHeaders"] or ""),
        signature=values["X-Amz-Signature"] or "",
        amz_date=amz_date,
        session_token=_first(pairs, "X-Amz-Security-Token"),
        presigned=True,
        expires=expires,
        payload_hash=hdrs.get("x-amz-content-sha256", UNSIGNED_PAYLOAD),
        date_as_sent=date_value,
        s3=True,
    )


# ---------------------------------------------------------------------------------------------
# Signing
# ---------------------------------------------------------------------------------------------


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, _utf8(message), hashlib.sha256).digest()


@lru_cache(maxsize=4096)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    k_date = _hmac(_utf8("AWS4" + secret), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, TERMINATOR)


def _payload_line(req: SignedRequest, body: bytes, s3: bool) -> str:
    if s3:
        return req.payload_hash or (UNSIGNED_PAYLOAD if req.presigned else EMPTY_SHA256)
    # The service framework signs the body's own hash (an STS presigned URL's canonical request
    # ends in e3b0c442..., https://github.com/boto/boto3/issues/756); a header claiming another
    # value cannot stand in for it.
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    req: SignedRequest,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    s3: bool | None = None,
) -> str:
    """The canonical request: method, URI, query, headers, signed header list, payload hash."""
    if s3 is None:
        s3 = req.s3
    hdrs = _lower_headers(headers)
    pairs = _query_errors(raw_query, s3)
    lines = [method.upper(), _canonical_uri(raw_path, s3), _canonical_query(pairs, req.presigned)]
    for name in req.signed_headers:
        value = hdrs.get(name)
        if value is not None:
            lines.append(f"{name}:{_trimall(value)}")
    lines.append("")
    lines.append(";".join(req.signed_headers))
    lines.append(_payload_line(req, body, s3))
    return "\n".join(lines)


def string_to_sign(req: SignedRequest, canonical: str, *, s3: bool | None = None) -> str:
    """Algorithm, request time, credential scope, and the canonical request's SHA-256."""
    algorithm = req.algorithm if (req.s3 if s3 is None else s3) else ALGORITHM
    digest = hashlib.sha256(_utf8(canonical)).hexdigest()
    return "\n".join([algorithm, req.timestamp, req.credential.scope, digest])


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------


def verify(
    req: SignedRequest,
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    *,
    s3: bool | None = None,
    region: str | None = None,
    service: str | None = None,
    body_sha256: str | None = None,
) -> None:
    """Check ``req`` (from :func:`parse_signature` on the same request) against ``secret_key``,
    the clock and the request; raise :class:`AuthError` as AWS would, or return.

    ``s3`` picks S3's rules; None (the default) follows the rules ``req`` was parsed by.
    ``region`` and ``service`` are what this endpoint expects in the credential scope; each is
    left unchecked when None (S3's service is always ``s3``). ``now`` is naive UTC or aware.

    For a ``STREAMING-*`` S3 payload this checks the seed signature only: pass the body to
    :func:`decode_aws_chunked` for the chunks.

    ``body_sha256`` is the hex SHA-256 of a body that was streamed elsewhere (S3 uploads go
    straight to the blob store); when given, ``body`` is not hashed.
    """
    if s3 is None:
        s3 = req.s3
    now = _to_utc(now)
    hdrs = _lower_headers(headers)
    if s3:
        _check_s3_time(req, now)
        _check_s3_scope(req, region)
        _check_s3_unsigned_headers(req, hdrs)
    else:
        _check_skew(req, now)
        _check_scope(req, region, service)
    canonical = canonical_request(req, method, raw_path, raw_query, headers, body, s3=s3)
    to_sign = string_to_sign(req, canonical, s3=s3)
    key = signing_key(
        secret_key, req.credential.date, req.credential.region, req.credential.service
    )
    expected = hmac.new(key, _utf8(to_sign), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), _utf8(req.signature)):
        if s3:
            raise AuthError(
                "SignatureDoesNotMatch",
                S3_MSG_MISMATCH,
                403,
                details=(
                    ("AWSAccessKeyId", req.credential.access_key),
                    ("StringToSign", to_sign),
                    ("SignatureProvided", req.signature),
                    ("StringToSignBytes", _hex_bytes(to_sign)),
                    ("CanonicalRequest", canonical),
                    ("CanonicalRequestBytes", _hex_bytes(canonical)),
                ),
            )
        raise AuthError(
            "SignatureDoesNotMatch",
            MSG_MISMATCH,
            403,
            details=(("CanonicalRequest", canonical), ("StringToSign", to_sign)),
        )
    if s3 and re.fullmatch(r"[0-9a-fA-F]{64}", req.payload_hash):
        computed = body_sha256 or hashlib.sha256(body).hexdigest()
        if computed != req.payload_hash.lower():
            raise AuthError(
                "XAmzContentSHA256Mismatch",
                S3_MSG_CONTENT_SHA256,
                400,
                details=(
                    ("ClientComputedContentSHA256", req.payload_hash),
                    ("S3ComputedContentSHA256", computed),
                ),
            )


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the calendar's ends rather than overflowing."""
    try:
        return moment + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=UTC)


def _check_skew(req: SignedRequest, now: datetime) -> None:
    """The service framework's 15 minutes either way, for a header and a presigned URL alike
    (STS does not honour X-Amz-Expires: https://github.com/aws/aws-sdk-go/issues/2167)."""
    if now - req.amz_date > MAX_SKEW:
        raise AuthError(
            "SignatureDoesNotMatch",
            MSG_EXPIRED.format(
                req=req.timestamp,
                limit=_shifted(now, -MAX_SKEW).strftime(_BASIC),
                now=now.strftime(_BASIC),
            ),
            403,
        )
    if req.amz_date - now > MAX_SKEW:
        raise AuthError(
            "SignatureDoesNotMatch",
            MSG_NOT_YET.format(
                req=req.timestamp,
                limit=_shifted(now, MAX_SKEW).strftime(_BASIC),
                now=now.strftime(_BASIC),
            ),
            403,
        )


def _check_scope(req: SignedRequest, region: str | None, service: str | None) -> None:
    cred = req.credential
    faults: list[str] = []
    if region is not None and cred.region != region:
        faults.append(MSG_SCOPE_REGION.format(region=cred.region))
    if service is not None and cred.service != service:
        faults.append(MSG_SCOPE_SERVICE.format(service=service))
    if cred.terminator != TERMINATOR:
        faults.append(MSG_SCOPE_TERMINATOR.format(terminator=cred.terminator))
    request_date = req.amz_date.strftime("%Y%m%d")
    if cred.date != request_date:
        faults.append(
            MSG_SCOPE_DATE.format(
                scope_date=cred.date, request_date=request_date, amz_date=req.timestamp
            )
        )
    if faults:
        raise AuthError("SignatureDoesNotMatch", "".join(f + " " for f in faults), 403)


def _server_time(moment: datetime) -> str:
    return moment.strftime(_EXTENDED)


def _check_s3_time(req: SignedRequest, now: datetime) -> None:
    if not req.presigned:
        if abs(now - req.amz_date) > MAX_SKEW:
            raise AuthError(
                "RequestTimeTooSkewed",
                S3_MSG_SKEWED,
                403,
                details=(
                    ("RequestTime", req.date_as_sent or req.timestamp),
                    ("ServerTime", _server_time(now)),
                    ("MaxAllowedSkewMilliseconds", str(int(MAX_SKEW.total_seconds() * 1000))),
                ),
            )
        return
    expires = req.expires if req.expires is not None else 0
    expires_at = _server_time(_shifted(req.amz_date, timedelta(seconds=expires)))
    if (req.amz_date - now) > MAX_SKEW:
        raise AuthError(
            "AccessDenied",
            S3_MSG_NOT_YET_VALID,
            403,
            details=(
                ("X-Amz-Date", str(int(req.amz_date.timestamp() * 1000))),
                ("Expires", expires_at),
                ("ServerTime", _server_time(now)),
            ),
        )
    if (now - req.amz_date).total_seconds() > expires:
        raise AuthError(
            "AccessDenied",
            S3_MSG_EXPIRED,
            403,
            details=(
                ("X-Amz-Expires", str(expires)),
                ("Expires", expires_at),
                ("ServerTime", _server_time(now)),
            ),
        )


def _check_s3_scope(req: SignedRequest, region: str | None) -> None:
    cred = req.credential
    if req.presigned:
        code, prefix = "AuthorizationQueryParametersError", S3_QUERY_CREDENTIAL
    else:
        code, prefix = "AuthorizationHeaderMalformed", S3_MALFORMED
    if not cred.region:
        raise AuthError(code, prefix + S3_MSG_EMPTY_REGION, 400)
    if region is not None and cred.region != region:
        raise AuthError(
            code,
            prefix + S3_MSG_WRONG_REGION.format(region=cred.region, expected=region),
            400,
            details=(("Region", region),),
        )
    if cred.service != "s3":
        raise AuthError(code, prefix + S3_MSG_WRONG_SERVICE.format(service=cred.service), 400)
    if cred.terminator != TERMINATOR:
        raise AuthError(code, prefix + S3_MSG_WRONG_TERMINAL.format(terminal=cred.terminator), 400)
    request_date = req.amz_date.strftime("%Y%m%d")
    if cred.date != request_date:
        if req.presigned:
            raise AuthError(
                code,
                S3_MSG_QUERY_DATE.format(scope_date=cred.date, request_date=request_date),
                400,
            )
        raise AuthError(code, S3_MALFORMED + S3_MSG_HEADER_DATE, 400)


def _java_hash_set_order(names: list[str]) -> list[str]:
    """``names`` in the order a ``java.util.HashSet`` filled in name order iterates them, which is
    the order S3 lists ``HeadersNotSigned`` in: by hash bucket, then by insertion."""
    capacity = 16
    while len(names) > capacity * 3 // 4:
        capacity *= 2

    def bucket(name: str) -> int:
        units = name.encode("utf-16-be", _SURROGATES)
        code = 0
        for i in range(0, len(units), 2):
            code = (31 * code + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
        return (code ^ (code >> 16)) & (capacity - 1)

    return sorted(sorted(names), key=bucket)


def _check_s3_unsigned_headers(req: SignedRequest, hdrs: Mapping[str, str]) -> None:
    """S3 requires ``Host``, ``Content-MD5`` and every ``x-amz-*`` header but
    ``x-amz-content-sha256`` to be signed when they are sent."""
    signed = set(req.signed_headers)
    unsigned = [
        name
        for name in hdrs
        if name not in signed
        and (
            name in ("host", "content-md5")
            or (name.startswith("x-amz-") and name != "x-amz-content-sha256")
        )
    ]
    if unsigned:
        raise AuthError(
            "AccessDenied",
            S3_MSG_UNSIGNED_HEADERS,
            403,
            details=(("HeadersNotSigned", ", ".join(_java_hash_set_order(unsigned))),),
        )


# ---------------------------------------------------------------------------------------------
# aws-chunked bodies
# ---------------------------------------------------------------------------------------------


def _crc_table(poly: int) -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc_table(0x82F63B78)
_CRC64NVME_TABLE = _crc_table(0x9A6C9329AC4BC9B5)


def _crc32c(data: bytes) -> bytes:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return (crc ^ 0xFFFFFFFF).to_bytes(4, "big")


def _crc64nvme(data: bytes) -> bytes:
    mask = 0xFFFFFFFFFFFFFFFF
    crc = mask
    table = _CRC64NVME_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return (crc ^ mask).to_bytes(8, "big")


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# Trailing checksum headers S3 takes, their name in BadDigest, and how to compute them
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
_CHECKSUMS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "x-amz-checksum-crc32": ("CRC32", _crc32),
    "x-amz-checksum-crc32c": ("CRC32C", _crc32c),
    "x-amz-checksum-crc64nvme": ("CRC64NVME", _crc64nvme),
    "x-amz-checksum-sha1": ("SHA1", _sha1),
    "x-amz-checksum-sha256": ("SHA256", _sha256),
}
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


def _incomplete() -> AuthError:
    return AuthError("IncompleteBody", S3_MSG_INCOMPLETE_BODY, 400)


def _malformed_trailer() -> AuthError:
    return AuthError("MalformedTrailerError", S3_MSG_MALFORMED_TRAILER, 400)


def _chunk_signature(
    key: bytes, amz_date: str, scope: str, previous: str, data: bytes
) -> tuple[str, str]:
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz_date,
            scope,
            previous,
            EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(key, _utf8(to_sign), hashlib.sha256).hexdigest(), to_sign


def _signature_mismatch(to_sign: str, provided: str) -> AuthError:
    return AuthError(
        "SignatureDoesNotMatch",
        S3_MSG_MISMATCH,
        403,
        details=(
            ("StringToSign", to_sign),
            ("SignatureProvided", provided),
            ("StringToSignBytes", _hex_bytes(to_sign)),
        ),
    )


def parse_chunk_header(header: bytes, signed: bool) -> tuple[int, str | None]:
    """One aws-chunked "<hex size>[;chunk-signature=<sig>]" line: (size, signature).
    IncompleteBody when it is malformed or a signed stream's chunk carries no signature."""
    size_text, _, extension = header.partition(b";")
    if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_text):
        raise _incomplete()
    provided: str | None = None
    if extension:
        name, equals, value = extension.partition(b"=")
        if name.strip() != b"chunk-signature" or not equals:
            raise _incomplete()
        provided = value.strip().decode("latin-1")
    if signed and provided is None:
        raise _incomplete()
    return int(size_text, 16), provided


def decode_aws_chunked(
    body: bytes,
    seed_signature: str,
    signing_key: bytes,
    amz_date: str,
    scope: str,
    *,
    verify_signatures: bool = True,
) -> bytes:
    """The payload of an ``aws-chunked`` body. See :func:`decode_aws_chunked_with_trailers`."""
    payload, _ = decode_aws_chunked_with_trailers(
        body,
        seed_signature,
        signing_key,
        amz_date,
        scope,
        verify_signatures=verify_signatures,
    )
    return payload


def decode_aws_chunked_with_trailers(
    body: bytes,
    seed_signature: str,
    signing_key: bytes,
    amz_date: str,
    scope: str,
    *,
    verify_signatures: bool = True,
) -> tuple[bytes, dict[str, str]]:
    """Decode an ``aws-chunked`` body into its payload and its trailing headers.

    With ``verify_signatures`` (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``) every chunk must
    carry ``;chunk-signature=``, chained from ``seed_signature`` (the Authorization header's), and
    trailing headers must end with a valid ``x-amz-trailer-signature``. Without it
    (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``) chunk signatures are neither required nor read.
    ``amz_date`` is the request time as signed (``YYYYMMDDTHHMMSSZ``) and ``scope`` the credential
    scope (``date/region/s3/aws4_request``). Trailing ``x-amz-checksum-*`` values are checked
    against the payload either way.
    """
    pieces: list[bytes] = []
    previous = seed_signature
    pos = 0
    n = len(body)
    index = 0
    last_size: int | None = None
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0 or end - pos > MAX_CHUNK_HEADER:
            # A chunk header is short; the streaming decoder bounds it at the same length.
            raise _incomplete()
        size, provided = parse_chunk_header(body[pos:end], verify_signatures)
        pos = end + 2
        index += 1
        if size > 0 and last_size is not None and last_size < MIN_CHUNK:
            raise AuthError(
                "InvalidChunkSizeError",
                S3_MSG_CHUNK_SIZE,
                400,
                details=(("Chunk", str(index - 1)), ("BadChunkSize", str(last_size))),
            )
        if pos + size > n:
            raise _incomplete()
        data = body[pos : pos + size]
        pos += size
        if verify_signatures and provided is not None:
            expected, to_sign = _chunk_signature(signing_key, amz_date, scope, previous, data)
            if not hmac.compare_digest(expected.encode("ascii"), _utf8(provided)):
                raise _signature_mismatch(to_sign, provided)
            previous = provided
        if size == 0:
            break
        if body[pos : pos + 2] != b"\r\n":
            raise _incomplete()
        pos += 2
        pieces.append(data)
        last_size = size
    payload = b"".join(pieces)
    trailers = _read_trailers(body, pos, verify_signatures, signing_key, amz_date, scope, previous)
    _check_trailing_checksums(trailers, payload)
    return payload, trailers


def _read_trailers(
    body: bytes,
    pos: int,
    verify_signatures: bool,
    key: bytes,
    amz_date: str,
    scope: str,
    previous: str,
) -> dict[str, str]:
    """The trailing header lines after the zero-length chunk, up to the closing empty line."""
    trailers: dict[str, str] = {}
    order: list[tuple[str, str]] = []
    signature: str | None = None
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise _incomplete()
        line = body[pos:end]
        pos = end + 2
        if not line.strip():
            break
        name_raw, colon, value_raw = line.partition(b":")
        if not colon:
            raise _malformed_trailer()
        name = name_raw.strip().decode("latin-1").lower()
        value = value_raw.strip().decode("latin-1")
        if signature is not None:
            raise _malformed_trailer()  # nothing may follow the trailer signature
        if name == _TRAILER_SIGNATURE:
            signature = value
            continue
        if name not in _CHECKSUMS or name in trailers:
            raise _malformed_trailer()
        trailers[name] = value
        order.append((name, value))
    if pos != len(body):
        raise _incomplete()
    if verify_signatures and (order or signature is not None):
        if signature is None:
            raise _malformed_trailer()
        canonical = "".join(f"{name}:{value}\n" for name, value in order)
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                amz_date,
                scope,
                previous,
                hashlib.sha256(_utf8(canonical)).hexdigest(),
            ]
        )
        expected = hmac.new(key, _utf8(to_sign), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), _utf8(signature)):
            raise _signature_mismatch(to_sign, signature)
    return trailers


def _check_trailing_checksums(trailers: Mapping[str, str], payload: bytes) -> None:
    for name, value in trailers.items():
        algorithm, compute = _CHECKSUMS[name]
        digest = compute(b"")
        try:
            claimed = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            claimed = b""
        if len(claimed) != len(digest):
            raise AuthError("InvalidRequest", S3_MSG_TRAILER_VALUE.format(name=name), 400)
        if not hmac.compare_digest(claimed, compute(payload)):
            raise AuthError("BadDigest", S3_MSG_BAD_DIGEST.format(algorithm=algorithm), 400)
