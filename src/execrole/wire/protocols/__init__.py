"""AWS wire protocols, driven by botocore's service models.

Turns an HTTP request from an unmodified boto3 / AWS CLI into the operation name and its
input params (typed as the boto3 caller passed them: ``int``, ``bool``, ``float``, aware UTC
``datetime``, ``bytes``, lists, maps, nested structures), and a result dict (shaped as
botocore's parser returns it) or an error into the HTTP answer botocore parses. Nothing is
written per operation: every name, location and type comes from ``botocore.model`` shapes.

Protocols: ``query`` (IAM, STS), ``json`` (SageMaker, Logs, ECR, KMS), ``ec2``, ``rest-xml``
(S3, path-style addressing).

>>> model = service_model("sts")
>>> parse_request(model, "POST", "/", {}, {"Content-Type": "application/x-www-form-urlencoded"},
...               b"Action=GetCallerIdentity&Version=2011-06-15")
ParsedRequest(operation='GetCallerIdentity', params={})
>>> status, headers, body = serialize_error(model, "AccessDenied", "Nope", 403, "req-1")
>>> status, body[:60]
(403, b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-')
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import ServiceModel

from .base import ParsedRequest, Protocol, Request, lower_headers
from .ec2 import Ec2Protocol
from .json_ import JsonProtocol
from .query import QueryProtocol
from .restxml import RestXmlProtocol
from .shapes import ProtocolError

__all__ = [
    "ParsedRequest",
    "ProtocolError",
    "find_operation",
    "parse_request",
    "protocol_name",
    "serialize_error",
    "serialize_response",
    "service_model",
]

PROTOCOLS: dict[str, Protocol] = {
    protocol.name: protocol
    for protocol in (QueryProtocol(), JsonProtocol(), Ec2Protocol(), RestXmlProtocol())
}


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of the service (``iam``, ``sts``, ``s3``, ...), loaded once."""
    return _session().get_service_model(name)


def protocol_name(model: ServiceModel) -> str:
    """The protocol a botocore client uses for the service (its ``resolved_protocol``)."""
    try:
        name = model.resolved_protocol
    except Exception:  # botocore knows none of the service's protocols
        name = model.metadata.get("protocol")
    return str(name)


def _protocol(model: ServiceModel) -> Protocol | None:
    return PROTOCOLS.get(protocol_name(model))


def _request(method: str, path: str, query: Mapping[str, list[str]],
             headers: Mapping[str, str], body: bytes) -> Request:
    values: dict[str, list[str]] = {}
    for key, value in query.items():  # tolerate {"k": "v"} for {"k": ["v"]}
        values[str(key)] = [value] if isinstance(value, str) else [str(item) for item in value]
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    return Request(str(method), str(path), values, lower_headers(headers), data)


def find_operation(model: ServiceModel, method: str, path: str,
                   query: Mapping[str, list[str]], headers: Mapping[str, str],
                   body: bytes) -> str | None:
    """The operation an HTTP request is for, or None (never raises on bad input).

    query/ec2: the ``Action`` field (query string or form body); json: ``X-Amz-Target``
    ``<targetPrefix>.<Operation>``; rest-xml: the most specific ``requestUri`` template
    matching the method, path (raw, percent-encoded), query keys and required headers.
    """
    protocol = _protocol(model)
    if protocol is None:
        return None
    try:
        return protocol.find_operation(model, _request(method, path, query, headers, body))
    except (ProtocolError, RecursionError):
        return None


def parse_request(model: ServiceModel, method: str, path: str,
                  query: Mapping[str, list[str]], headers: Mapping[str, str],
                  body: bytes) -> ParsedRequest:
    """The operation and its input params, typed as a boto3 caller passed them.

    ``path`` is the raw (percent-encoded) request path, ``query`` the decoded query string
    (``urllib.parse.parse_qs(..., keep_blank_values=True)``), ``headers`` any case. Raises
    ProtocolError, and nothing else, for any input: unknown operation (``InvalidAction``,
    ``UnknownOperationException``, ``MethodNotAllowed``), malformed values
    (``ValidationError`` for query services, ``SerializationException`` for json,
    ``InvalidParameterValue`` for ec2, ``InvalidArgument``/``MalformedXML`` for rest-xml),
    missing required members (``ValidationError``/``ValidationException``/
    ``MissingParameter``).
    """
    protocol = _protocol(model)
    if protocol is None:
        raise ProtocolError("InternalFailure",
                            f"The {protocol_name(model)} protocol is not supported", 500,
                            sender=False)
    try:
        return protocol.parse_request(model, _request(method, path, query, headers, body))
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError("SerializationException" if protocol.name == "json"
                            else "InvalidRequest", "The request is nested too deeply") from None
    except Exception as exc:  # the contract: only ProtocolError escapes, whatever arrives
        raise ProtocolError("InternalFailure", f"Could not read the request ({exc!r})", 500,
                            sender=False) from exc


def serialize_response(model: ServiceModel, operation: str, result: Mapping[str, Any],
                       request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body answering ``operation`` with ``result``.

    ``result`` is shaped like the output shape, as botocore's parser returns it (keys the
    shape does not model are ignored; timestamps may be datetimes, epoch numbers or ISO text;
    blobs bytes, text or file-like). It is the wire value, before botocore's own after-call
    customizations: IAM policy documents stay URL-encoded JSON text, S3 list keys are
    URL-encoded when the request asked for ``EncodingType=url`` (boto3 always does), EC2
    GetConsoleOutput is base64 text. S3's GetBucketLocation, which the model cannot describe,
    is written as S3 writes it. Headers include the request id (``x-amzn-RequestId``, or
    ``x-amz-request-id`` and ``x-amz-id-2`` for S3) and the Content-Type, and, for S3 header
    members such as ``ContentLength``, Content-Length: the HTTP layer adds none of these again.
    """
    protocol = _protocol(model)
    if protocol is None:
        raise ValueError(f"the {protocol_name(model)} protocol is not supported")
    return protocol.serialize_response(model, model.operation_model(operation), result,
                                       request_id)


def serialize_error(model: ServiceModel, code: str, message: str, status: int,
                    request_id: str, sender: bool = True) -> tuple[int, list[tuple[str, str]],
                                                                   bytes]:
    """Status, headers and body of an AWS error in the service's protocol."""
    protocol = _protocol(model)
    if protocol is None:
        raise ValueError(f"the {protocol_name(model)} protocol is not supported")
    return protocol.serialize_error(model, code, message, status, request_id, sender)
