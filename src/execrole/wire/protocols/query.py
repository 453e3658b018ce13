"""The ``query`` protocol (IAM, STS, SNS, RDS, ...): a form-encoded request (body or query
string) with ``Action`` and ``Version``, nested members spelled as dotted field names, and an
XML answer. The other side is botocore's serialize.QuerySerializer and parsers.QueryParser.

Request fields, for a member ``Tags`` (list of structures) and ``Attrs`` (map)::

    Tags.member.1.Key=k&Tags.member.1.Value=v        (lists: ``member`` or locationName)
    Tags.1.Key=k                                     (flattened lists)
    Attrs.entry.1.key=k&Attrs.entry.1.value=v        (maps: key/value or locationNames)
    Tags=                                            (an empty list)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from .base import Headers, ParsedRequest, Protocol, Request, decoded_body, operation_names
from .shapes import (
    BadValue,
    PathPart,
    ProtocolError,
    coral_path,
    is_flattened,
    list_member,
    map_key,
    map_value,
    members,
    missing_required,
    null_problem,
    parse_text,
    trait,
    type_of,
    validation_message,
    wire_name,
)
from .xmlcodec import XmlWriter, element, escape_attr, member_xml_name

_ABSENT: Any = object()
_MAX_INDEX_DIGITS = 9


class Node:
    """One dotted field name component: the value given for it and the fields below it."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, Node] = {}

    def indexed(self) -> list[Node]:
        """Children named 1, 2, 3, ... in numeric order (gaps allowed)."""
        numbered = [(int(key), child) for key, child in self.children.items()
                    if key.isascii() and key.isdigit() and len(key) <= _MAX_INDEX_DIGITS
                    and int(key) > 0]
        return [child for _, child in sorted(numbered, key=lambda pair: pair[0])]


def field_tree(fields: Mapping[str, str]) -> Node:
    root = Node()
    for key, value in fields.items():
        node = root
        for part in key.split("."):
            node = node.children.setdefault(part, Node())
        node.value = value
    return root


class QueryProtocol(Protocol):
    name = "query"
    content_type = "text/xml"
    millis = False
    bad_value_code = "ValidationError"

    # --- request ---------------------------------------------------------------------------

    def fields(self, request: Request) -> dict[str, str]:
        """The request's fields: the query string, then the form body (which wins)."""
        fields = {key: values[0] for key, values in request.query.items() if values}
        body = decoded_body(request.headers, request.body)
        content_type = request.headers.get("content-type", "").lower()
        if body and (not content_type or "x-www-form-urlencoded" in content_type):
            try:
                pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                  errors="strict")
            except (UnicodeDecodeError, ValueError) as exc:
                raise ProtocolError("MalformedQueryString",
                                    "The request body is not valid UTF-8 form data") from exc
            form: dict[str, str] = {}
            for key, value in pairs:
                form.setdefault(key, value)
            fields.update(form)
        return fields

    def find_operation(self, model: ServiceModel, request: Request) -> str | None:
        action = self.fields(request).get("Action")
        return action if action in operation_names(model) else None

    def parse_request(self, model: ServiceModel, request: Request) -> ParsedRequest:
        fields = self.fields(request)
        action = fields.get("Action")
        if action not in operation_names(model):
            raise self.unknown_action(model, action, fields.get("Version"))
        operation = model.operation_model(action)
        shape = operation.input_shape
        if shape is None:
            return ParsedRequest(action, {})
        params = self.decode(shape, field_tree(fields), ())
        missing = missing_required(shape, params)
        if missing:
            raise self.missing(missing)
        return ParsedRequest(action, params)

    def unknown_action(self, model: ServiceModel, action: str | None,
                       version: str | None) -> ProtocolError:
        if not action:
            return ProtocolError("MissingAction", "Missing Action")
        return ProtocolError(
            "InvalidAction",
            f"Could not find operation {action} for version {version or model.api_version}",
        )

    def missing(self, paths: list[tuple[PathPart, ...]]) -> ProtocolError:
        return ProtocolError("ValidationError",
                             validation_message([null_problem(path) for path in paths]))

    def bad_value(self, exc: BadValue, path: tuple[PathPart, ...]) -> ProtocolError:
        problem = (f"Value '{exc.raw}' at '{coral_path(path)}' failed to satisfy constraint: "
                   f"Member must be {exc.expected}")
        return ProtocolError(self.bad_value_code, validation_message([problem]))

    def field_name(self, shape: Shape, default: str) -> str:
        """The field name of a shape (``locationName`` or ``default``)."""
        return wire_name(shape, default)

    def member_field(self, member: Shape, member_name: str) -> str:
        return member_xml_name(member, member_name)

    def list_items(self, shape: Shape, node: Node) -> Node | None:
        if is_flattened(shape):
            return node
        return node.children.get(self.field_name(list_member(shape), "member"))

    def decode(self, shape: Shape, node: Node, path: tuple[PathPart, ...]) -> Any:
        kind = type_of(shape)
        if kind == "structure":
            parsed: dict[str, Any] = {}
            for member_name, member in members(shape).items():
                child = node.children.get(self.member_field(member, member_name))
                if child is None:
                    continue
                value = self.decode(member, child, (*path, member_name))
                if value is not _ABSENT:
                    parsed[member_name] = value
            return parsed
        if kind == "list":
            holder = self.list_items(shape, node)
            if holder is None:
                return []
            item_shape = list_member(shape)
            items = (self.decode(item_shape, child, (*path, index))
                     for index, child in enumerate(holder.indexed(), 1))
            return [item for item in items if item is not _ABSENT]
        if kind == "map":
            return self.decode_map(shape, node, path)
        if node.value is None:
            return _ABSENT
        try:
            return parse_text(shape, node.value)
        except BadValue as exc:
            raise self.bad_value(exc, path) from None

    def decode_map(self, shape: Shape, node: Node, path: tuple[PathPart, ...]) -> Any:
        holder = node if is_flattened(shape) else node.children.get("entry")
        if holder is None:
            return {}
        key_shape, value_shape = map_key(shape), map_value(shape)
        key_field = self.field_name(key_shape, "key")
        value_field = self.field_name(value_shape, "value")
        parsed: dict[Any, Any] = {}
        for entry in holder.indexed():
            key_node = entry.children.get(key_field)
            value_node = entry.children.get(value_field)
            if key_node is None or value_node is None:
                continue
            key = self.decode(key_shape, key_node, path)
            if key is _ABSENT:
                continue
            value = self.decode(value_shape, value_node, (*path, str(key)))
            if value is not _ABSENT:
                parsed[key] = value
        return parsed

    # --- response --------------------------------------------------------------------------

    def namespace(self, model: ServiceModel) -> str:
        namespace = model.metadata.get("xmlNamespace")
        return namespace if isinstance(namespace, str) else ""

    def headers(self, request_id: str) -> Headers:
        return [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)]

    def serialize_response(self, model: ServiceModel, operation: OperationModel,
                           result: Mapping[str, Any], request_id: str) -> tuple[int, Headers,
                                                                                bytes]:
        name = f"{operation.name}Response"
        namespace = self.namespace(model)
        xmlns = f' xmlns="{escape_attr(namespace)}"' if namespace else ""
        writer = XmlWriter(self.millis)
        writer.parts.append(f"<{name}{xmlns}>")
        self.write_result(writer, operation.output_shape, result, request_id)
        writer.parts.append(f"</{name}>")
        return 200, self.headers(request_id), writer.text().encode("utf-8")

    def write_result(self, writer: XmlWriter, shape: Shape | None, result: Mapping[str, Any],
                     request_id: str) -> None:
        if shape is not None:
            wrapper = trait(shape, "resultWrapper")
            if isinstance(wrapper, str) and wrapper:
                writer.parts.append(f"<{wrapper}>")
                writer.members(shape, result)
                writer.parts.append(f"</{wrapper}>")
            else:
                writer.members(shape, result)
        writer.parts.append(
            f"<ResponseMetadata>{element('RequestId', request_id)}</ResponseMetadata>")

    def serialize_error(self, model: ServiceModel, code: str, message: str, status: int,
                        request_id: str, sender: bool) -> tuple[int, Headers, bytes]:
        namespace = self.namespace(model)
        xmlns = f' xmlns="{escape_attr(namespace)}"' if namespace else ""
        body = (f"<ErrorResponse{xmlns}><Error>"
                f"{element('Type', 'Sender' if sender else 'Receiver')}"
                f"{element('Code', code)}{element('Message', message)}</Error>"
                f"{element('RequestId', request_id)}</ErrorResponse>")
        return status, self.headers(request_id), body.encode("utf-8")
