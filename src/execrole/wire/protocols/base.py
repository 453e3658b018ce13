"""The interface every protocol implements, and the request plumbing they share."""

from __future__ import annotations

import functools
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, ServiceModel

from .shapes import ProtocolError

# A decompressed request body larger than this is refused (a gzip bomb, not an API call).
MAX_INFLATED_BODY = 64 * 1024 * 1024

Headers = list[tuple[str, str]]
Response = tuple[int, Headers, bytes]


@dataclass(frozen=True)
class ParsedRequest:
    """An HTTP request turned into the operation's input, typed as a boto3 caller passed it."""

    operation: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request the protocols look at; header names are lower-cased."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


class Protocol(ABC):
    """One AWS protocol (botocore's ``metadata.protocol``), for any service that speaks it."""

    name: str

    @abstractmethod
    def find_operation(self, model: ServiceModel, request: Request) -> str | None:
        """The operation the request is for, or None; raises nothing but ProtocolError."""

    @abstractmethod
    def parse_request(self, model: ServiceModel, request: Request) -> ParsedRequest:
        """The operation and its input params; raises nothing but ProtocolError."""

    @abstractmethod
    def serialize_response(self, model: ServiceModel, operation: OperationModel,
                           result: Mapping[str, Any], request_id: str) -> tuple[int, Headers,
                                                                                bytes]:
        """Status, headers and body of a successful answer."""

    @abstractmethod
    def serialize_error(self, model: ServiceModel, code: str, message: str, status: int,
                        request_id: str, sender: bool) -> tuple[int, Headers, bytes]:
        """Status, headers and body of an error answer."""


@functools.lru_cache(maxsize=128)
def operation_names(model: ServiceModel) -> frozenset[str]:
    return frozenset(model.operation_names)


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def content_encodings(headers: Mapping[str, str]) -> list[str]:
    value = headers.get("content-encoding", "")
    return [token.strip().lower() for token in value.split(",") if token.strip()]


def inflate(body: bytes, encoding: str) -> bytes:
    """A gzip/deflate-compressed request body (botocore's ``requestcompression`` trait)."""
    wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, MAX_INFLATED_BODY)
    except zlib.error as exc:
        raise ProtocolError("InvalidRequest", f"The {encoding} request body is corrupt") from exc
    if inflater.unconsumed_tail:
        raise ProtocolError("RequestEntityTooLarge", "The request body is too large", 413)
    return data


def decoded_body(headers: Mapping[str, str], body: bytes) -> bytes:
    """The request body with any ``Content-Encoding: gzip``/``deflate`` undone."""
    for encoding in reversed(content_encodings(headers)):
        if encoding in ("gzip", "x-gzip", "deflate"):
            body = inflate(body, encoding)
    return body
