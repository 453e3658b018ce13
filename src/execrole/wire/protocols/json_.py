"""The ``json`` protocol (SageMaker, Logs, ECR, KMS, ...): ``POST /`` with
``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON body in
``application/x-amz-json-1.0|1.1``; timestamps are epoch seconds, blobs base64. The other side
is botocore's serialize.JSONSerializer and parsers.JSONParser.

Malformed values answer ``SerializationException`` with the wording of AWS's (Coral) JSON
reader; missing required members ``ValidationException``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from .base import Headers, ParsedRequest, Protocol, Request, decoded_body, operation_names
from .shapes import (
    FLOAT_TYPES,
    INT_RANGES,
    BadValue,
    PathPart,
    ProtocolError,
    as_bool,
    b64,
    epoch_to_datetime,
    format_epoch,
    format_float,
    format_timestamp,
    is_document,
    list_member,
    map_key,
    map_value,
    members,
    missing_required,
    null_problem,
    parse_base64,
    parse_float,
    parse_timestamp,
    timestamp_format,
    type_of,
    validation_message,
    wire_name,
)

_JAVA_TYPES = {
    "string": "String", "character": "String", "boolean": "Boolean", "byte": "Byte",
    "short": "Short", "integer": "Integer", "long": "Long", "float": "Float",
    "double": "Double", "timestamp": "Date", "blob": "ByteBuffer",
}
_FLOAT_WORDS = ("NaN", "Infinity", "-Infinity")


def _token(value: Any) -> str:
    """How AWS's JSON reader names the JSON token it found."""
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, (int, Decimal, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "VALUE"


def _mismatch(value: Any, kind: str) -> ProtocolError:
    if isinstance(value, dict):
        return ProtocolError("SerializationException",
                             "Start of structure or map found where not expected.")
    if isinstance(value, list):
        return ProtocolError("SerializationException", "Start of list found where not expected")
    if kind in ("structure", "map"):
        return ProtocolError("SerializationException",
                             f"{_token(value)} can not be converted to a structure or map")
    if kind == "list":
        return ProtocolError("SerializationException",
                             f"{_token(value)} can not be converted to a list")
    java = _JAVA_TYPES.get(kind, kind)
    article = "an" if java[:1] in "AEIOU" else "a"
    return ProtocolError("SerializationException",
                         f"{_token(value)} can not be converted to {article} {java}")


def _plain(value: Any) -> Any:
    """A document value (``document: true``) with the reader's Decimals made floats."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JsonProtocol(Protocol):
    name = "json"

    # --- request ---------------------------------------------------------------------------

    def find_operation(self, model: ServiceModel, request: Request) -> str | None:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.strip().rpartition(".")
        if prefix != model.metadata.get("targetPrefix") or name not in operation_names(model):
            return None
        return name

    def parse_request(self, model: ServiceModel, request: Request) -> ParsedRequest:
        name = self.find_operation(model, request)
        if name is None:
            target = request.headers.get("x-amz-target", "")
            message = f"Unknown operation {target}" if target else "Missing X-Amz-Target header"
            raise ProtocolError("UnknownOperationException", message)
        shape = model.operation_model(name).input_shape
        document = self.load(decoded_body(request.headers, request.body))
        if shape is None:
            return ParsedRequest(name, {})
        if not isinstance(document, dict):
            raise _mismatch(document, "structure")
        params = self.decode(shape, document, ())
        missing = missing_required(shape, params)
        if missing:
            raise ProtocolError("ValidationException",
                                validation_message([null_problem(path) for path in missing]))
        return ParsedRequest(name, params)

    @staticmethod
    def load(body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            document = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError("SerializationException",
                                "The request body is not valid JSON") from exc
        return {} if document is None else document

    def decode(self, shape: Shape, value: Any, path: tuple[PathPart, ...]) -> Any:
        kind = type_of(shape)
        if kind == "structure":
            if is_document(shape):
                return _plain(value)
            if not isinstance(value, dict):
                raise _mismatch(value, kind)
            parsed: dict[str, Any] = {}
            for member_name, member in members(shape).items():
                raw = value.get(wire_name(member, member_name))
                if raw is not None:
                    parsed[member_name] = self.decode(member, raw, (*path, member_name))
            return parsed
        if kind == "list":
            if not isinstance(value, list):
                raise _mismatch(value, kind)
            item_shape = list_member(shape)
            return [self.decode(item_shape, item, (*path, index))
                    for index, item in enumerate(value, 1) if item is not None]
        if kind == "map":
            if not isinstance(value, dict):
                raise _mismatch(value, kind)
            key_shape, value_shape = map_key(shape), map_value(shape)
            return {self.decode(key_shape, key, path): self.decode(value_shape, item,
                                                                   (*path, key))
                    for key, item in value.items() if item is not None}
        return self.scalar(shape, kind, value)

    @staticmethod
    def scalar(shape: Shape, kind: str, value: Any) -> Any:
        if kind in ("string", "character"):
            if not isinstance(value, str):
                raise _mismatch(value, kind)
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _mismatch(value, kind)
            return value
        if kind in INT_RANGES:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _mismatch(value, kind)
            low, high = INT_RANGES[kind]
            if not low <= value <= high:
                raise ProtocolError("SerializationException",
                                    f"NUMBER_VALUE {value} is out of range for {kind}")
            return value
        if kind in FLOAT_TYPES:
            if isinstance(value, str) and value in _FLOAT_WORDS:
                return parse_float(value, kind)
            if not isinstance(value, (int, Decimal)) or isinstance(value, bool):
                raise _mismatch(value, kind)
            number = float(value)
            if math.isinf(number):
                raise ProtocolError("SerializationException",
                                    f"NUMBER_VALUE {value} is out of range for {kind}")
            return number
        try:
            if kind == "timestamp":
                if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                    return epoch_to_datetime(value)
                if isinstance(value, str):
                    return parse_timestamp(value, timestamp_format(shape, "unixtimestamp"))
                raise _mismatch(value, kind)
            if kind == "blob":
                if not isinstance(value, str):
                    raise _mismatch(value, kind)
                return parse_base64(value)
        except BadValue as exc:
            raise _mismatch(exc.raw, kind) from None
        raise _mismatch(value, kind)

    # --- response --------------------------------------------------------------------------

    def content_type(self, model: ServiceModel) -> str:
        return f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"

    def serialize_response(self, model: ServiceModel, operation: OperationModel,
                           result: Mapping[str, Any], request_id: str) -> tuple[int, Headers,
                                                                                bytes]:
        shape = operation.output_shape
        document = {} if shape is None else self.encode(shape, result)
        headers = [("Content-Type", self.content_type(model)), ("x-amzn-RequestId", request_id)]
        return 200, headers, json.dumps(document, separators=(",", ":")).encode("utf-8")

    def encode(self, shape: Shape, value: Any) -> Any:
        kind = type_of(shape)
        if kind == "structure":
            if is_document(shape):
                return value
            if not isinstance(value, Mapping):
                raise TypeError(f"{shape.name} must be a mapping, not {type(value).__name__}")
            return {wire_name(member, member_name): self.encode(member, value[member_name])
                    for member_name, member in members(shape).items()
                    if value.get(member_name) is not None}
        if kind == "list":
            item_shape = list_member(shape)
            return [self.encode(item_shape, item) for item in value]
        if kind == "map":
            key_shape, value_shape = map_key(shape), map_value(shape)
            return {str(self.encode(key_shape, key)): self.encode(value_shape, item)
                    for key, item in value.items()}
        if kind == "boolean":
            return as_bool(value)
        if kind in INT_RANGES:
            return int(value)
        if kind in FLOAT_TYPES:
            text = format_float(value)
            return text if text in _FLOAT_WORDS else float(value)
        if kind == "timestamp":
            fmt = timestamp_format(shape, "unixtimestamp")
            return format_epoch(value) if fmt == "unixtimestamp" else format_timestamp(value,
                                                                                        fmt)
        if kind == "blob":
            return b64(value)
        return value if isinstance(value, str) else str(value)

    def serialize_error(self, model: ServiceModel, code: str, message: str, status: int,
                        request_id: str, sender: bool) -> tuple[int, Headers, bytes]:
        headers = [("Content-Type", self.content_type(model)), ("x-amzn-RequestId", request_id),
                   ("x-amzn-ErrorType", code)]
        if model.metadata.get("awsQueryCompatible") is not None:
            # services that moved from query (SQS, CloudWatch): the query-era code and type
            headers.append(("x-amzn-query-error", f"{code};{'Sender' if sender else 'Receiver'}"))
        body = json.dumps({"__type": code, "message": message}, separators=(",", ":"))
        return status, headers, body.encode("utf-8")
