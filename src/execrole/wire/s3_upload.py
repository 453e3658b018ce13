"""S3 upload bodies (PutObject, UploadPart), streamed into the blob store as they arrive.

The signature is checked on the headers before the first body byte is stored; aws-chunked
bodies are decoded and their chunk signatures verified while streaming; a body sent with a
hex `x-amz-content-sha256` is compared with its hash when it has all arrived. Nothing is
visible until the provider records the object; an interrupted upload leaves at most an
unreferenced blob, removed by the store's garbage collection.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..services.base import AWSError
from . import protocols, sigv4
from .chunked import ChunkedDecoder

if TYPE_CHECKING:
    from .app import EndpointApp, HttpRequest

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
UPLOADS = frozenset({"PutObject", "UploadPart"})


class ClientGone(Exception):
    """The connection closed before the body ended."""
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


# Virtual-hosted-style S3 requests name the bucket in the Host: "<bucket>.localhost" (the
# endpoint under a local name) or AWS's own S3 host names (S3 User Guide, "Virtual hosting
# of buckets").
_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])\."
                    r"(?:localhost|s3(?:\.dualstack)?[.\-][a-z0-9\-]+\.amazonaws\.com"
                    r"|s3\.amazonaws\.com)$")


def s3_path(req: HttpRequest) -> str:
    """The request's path in path style: "/<bucket>/<key>" also for virtual-hosted requests."""
    host = req.headers.get("host", "").rsplit(":", 1)[0].lower()
    m = _VHOST.match(host)
    if m is None:
        return req.raw_path
    return "/" + m.group("bucket") + (req.raw_path if req.raw_path != "/" else "")


def s3_upload(req: HttpRequest) -> tuple[sigv4.SignedRequest, str] | None:
    """(signature, operation) when the request is a signed S3 upload with a body."""
    if req.method != "PUT" or "x-amz-copy-source" in req.headers:
        return None
    try:
        signed = sigv4.parse_signature(req.method, req.raw_path, req.raw_query, req.headers)
    except sigv4.AuthError:
        return None  # the ordinary path reports it
    if signed is None or signed.credential.service != "s3":
        return None
    model = protocols.service_model("s3")
    query = parse_qs(req.raw_query, keep_blank_values=True)
    operation = protocols.find_operation(model, req.method, s3_path(req), query, req.headers,
                                         b"")
    if operation not in UPLOADS:
        return None
    return signed, operation


async def receive_upload(app: EndpointApp, req: HttpRequest,
                         upload: tuple[sigv4.SignedRequest, str],
                         receive: Receive) -> Any:
    """The stored Blob, or an error response (status, headers, body)."""
    signed, _ = upload
    model = protocols.service_model("s3")
    request_id = str(uuid.uuid4())
    blobs = app.providers["s3"].blobs
    try:
        record = app.authenticate(signed)
        declared = signed.payload_hash
        sigv4.verify(signed, record.secret, req.method, req.raw_path, req.raw_query,
                     req.headers, b"", datetime.now(UTC), s3=True,
                     body_sha256=declared.lower() if _HEX64.match(declared) else None)
        decoder = None
        if declared.startswith("STREAMING-"):
            key = sigv4.signing_key(record.secret, signed.credential.date,
                                    signed.credential.region, signed.credential.service)
            try:
                decoder = ChunkedDecoder.for_request(
                    signed, key, x_amz_trailer=req.headers.get("x-amz-trailer"))
            except ValueError:
                # e.g. STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD (SigV4a), not served.
                raise AWSError("InvalidRequest", "Unsupported x-amz-content-sha256 value: "
                               f"{declared}", 400) from None
        with blobs.writer() as writer:
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    # The client went away: nothing of this upload becomes visible.
                    raise ClientGone
                data = message.get("body", b"")
                if data:
                    writer.write(decoder.feed(data) if decoder is not None else data)
                if not message.get("more_body"):
                    break
            if decoder is not None:
                decoder.finish()
                expected = req.headers.get("x-amz-decoded-content-length")
                if expected is not None and (not (expected.isascii() and expected.isdigit())
                                             or int(expected) != decoder.decoded_size):
                    raise AWSError("IncompleteBody", "The request body terminated "
                                   "unexpectedly", 400)
            blob = writer.commit()
        if _HEX64.match(declared) and blob.sha256 != declared.lower():
            raise sigv4.AuthError("XAmzContentSHA256Mismatch", "The provided "
                                  "'x-amz-content-sha256' header does not match what was "
                                  "computed.", 400)
        md5 = req.headers.get("content-md5")
        if md5 is not None and md5 != base64.b64encode(blob.md5_digest).decode():
            raise AWSError("BadDigest", "The Content-MD5 you specified did not match what we "
                           "received.", 400)
        return blob
    except ClientGone:
        return protocols.serialize_error(model, "IncompleteBody", "The request body terminated "
                                         "unexpectedly", 400, request_id, True)
    except sigv4.AuthError as e:
        return protocols.serialize_error(model, e.code, e.message, e.status, request_id, True)
    except AWSError as e:
        return protocols.serialize_error(model, e.code, e.message, e.status, request_id,
                                         e.sender)
