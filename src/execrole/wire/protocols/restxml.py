"""The ``rest-xml`` protocol (S3, path-style addressing; Route 53, CloudFront): the operation
is the HTTP method plus the ``requestUri`` template (labels, greedy ``{Key+}`` labels and
required query keys such as ``?uploads`` or ``?list-type=2``); members live in the URI,
the query string, headers (``x-amz-meta-*`` maps), and the body, which is either the
``payload`` member (raw bytes for streaming blobs, an XML document for structures) or an XML
document of the body members. The other side is botocore's serialize.RestXMLSerializer and
parsers.RestXMLParser.

Several S3 operations share a template (``PUT /{Bucket}/{Key+}`` is PutObject, CopyObject,
UploadPart and UploadPartCopy); the most specific match wins: required query keys of the
template, then required query/header members present, then literal path characters,
non-greedy over greedy, non-deprecated over deprecated, then the name.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from .base import Headers, ParsedRequest, Protocol, Request, content_encodings, decoded_body
from .shapes import (
    BadValue,
    ProtocolError,
    as_bool,
    as_bytes,
    b64,
    is_document,
    list_member,
    location,
    map_value,
    members,
    missing_required,
    parse_base64,
    parse_text,
    scalar_text,
    trait,
    type_of,
    wire_name,
)
from .xmlcodec import (
    XML_DECLARATION,
    BadXml,
    XmlWriter,
    element,
    escape_attr,
    escape_text,
    namespace_attrs,
    parse_document,
    read,
    read_structure,
)

_CHUNK_SIZE_RE = re.compile(rb"[0-9a-fA-F]{1,16}")
# Answers the model cannot describe, which botocore reads by hand: S3's GetBucketLocation
# document is the member's own element, <LocationConstraint xmlns="...">region</...>, read
# from the root's text by botocore.handlers.parse_get_bucket_location.
# (endpointPrefix, operation) -> the member that is the document root.
ROOT_MEMBER_OUTPUTS = {("s3", "GetBucketLocation"): "LocationConstraint"}
_MALFORMED_XML = ("The XML you provided was not well-formed or did not validate against our "
                  "published schema")


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[tuple[str, str], ...]  # (regex group, label name)
    query: tuple[tuple[str, str | None], ...]  # the template's required query keys (=value)
    required: tuple[tuple[str, str], ...]  # required ("querystring"|"header", wire name)
    literal: int
    greedy: bool
    deprecated: bool

    def score(self, query: Mapping[str, list[str]]) -> tuple[int, int, int, bool, bool]:
        matched = sum(1 for key, _ in self.query if key != "x-id" or key in query)
        return (matched, len(self.required), self.literal, not self.greedy, not self.deprecated)


def _route(operation: OperationModel) -> Route:
    http = operation.http
    template = str(http.get("requestUri", "/"))
    path_template, _, query_template = template.partition("?")
    regex: list[str] = []
    labels: list[tuple[str, str]] = []
    literal = 0
    greedy = False
    for index, part in enumerate(re.split(r"(\{[^}]+\})", path_template)):
        if index % 2 == 0:
            regex.append(re.escape(part))
            literal += len(part)
            continue
        label = part[1:-1]
        group = f"g{len(labels)}"
        if label.endswith("+"):
            greedy = True
            labels.append((group, label[:-1]))
            regex.append(f"(?P<{group}>.+)")
        else:
            labels.append((group, label))
            regex.append(f"(?P<{group}>[^/]+)")
    if not greedy and path_template != "/":
        regex.append("/?")
    query: list[tuple[str, str | None]] = []
    for item in query_template.split("&"):
        if item:
            key, equals, value = item.partition("=")
            query.append((key, value if equals else None))
    required: list[tuple[str, str]] = []
    shape = operation.input_shape
    if shape is not None:
        shape_members = members(shape)
        for name in shape.required_members:
            member = shape_members.get(name)
            where = location(member) if member is not None else None
            if member is not None and where in ("querystring", "header"):
                required.append((where, wire_name(member, name)))
    return Route(
        operation=operation.name,
        method=str(http.get("method", "POST")).upper(),
        pattern=re.compile("".join(regex), re.DOTALL),
        labels=tuple(labels),
        query=tuple(query),
        required=tuple(required),
        literal=literal,
        greedy=greedy,
        deprecated=bool(operation.deprecated),
    )


@functools.lru_cache(maxsize=32)
def routes(model: ServiceModel) -> tuple[Route, ...]:
    return tuple(_route(model.operation_model(name)) for name in sorted(model.operation_names))


@functools.lru_cache(maxsize=32)
def service_namespace(model: ServiceModel) -> str:
    """The service's XML namespace: the metadata's, else the one its shapes declare (S3's
    ``http://s3.amazonaws.com/doc/2006-03-01/`` is only on members)."""
    namespace = model.metadata.get("xmlNamespace")
    if isinstance(namespace, str) and namespace:
        return namespace
    for name in model.shape_names:
        shape = model.shape_for(name)
        candidates = [shape, *members(shape).values()] if type_of(shape) == "structure" else [
            shape]
        for candidate in candidates:
            declared = trait(candidate, "xmlNamespace")
            if isinstance(declared, str) and declared:
                return declared
            if isinstance(declared, Mapping) and declared.get("uri") and not declared.get(
                    "prefix"):
                return str(declared["uri"])
    return ""


def _split_path(path: str, query: Mapping[str, list[str]]) -> tuple[str, Mapping[str, list[str]]]:
    """Tolerate a request target with its query string still attached."""
    if "?" not in path:
        return path, query
    path, _, rest = path.partition("?")
    merged = {key: list(values) for key, values in query.items()}
    for item in rest.split("&"):
        if item:
            key, _, value = item.partition("=")
            merged.setdefault(unquote(key), []).append(unquote(value))
    return path, merged


def _query_ok(route: Route, query: Mapping[str, list[str]]) -> bool:
    for key, value in route.query:
        values = query.get(key)
        if key == "x-id" and values is None:
            continue  # SDKs name the operation in ?x-id=; other clients do not
        if values is None or (value is not None and value not in values):
            return False
    return True


def match(model: ServiceModel, method: str, path: str, query: Mapping[str, list[str]],
          headers: Mapping[str, str]) -> tuple[Route, dict[str, str]] | None:
    best: tuple[Route, dict[str, str]] | None = None
    method = method.upper()
    for route in routes(model):
        if route.method != method:
            continue
        found = route.pattern.fullmatch(path)
        if found is None or not _query_ok(route, query):
            continue
        if any((where == "header" and name.lower() not in headers)
               or (where == "querystring" and name not in query)
               for where, name in route.required):
            continue
        if best is None or route.score(query) > best[0].score(query):
            best = (route, {label: found.group(group) for group, label in route.labels})
    return best


def decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """The payload and trailing headers of an ``aws-chunked`` body (SigV4 streaming, or the
    SDKs' unsigned-payload trailer checksums); chunk signatures are the signer's business."""
    data = bytearray()
    trailers: dict[str, str] = {}
    position = 0
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise ProtocolError("IncompleteBody", "The aws-chunked body ends inside a chunk")
        size_text = body[position:end].split(b";", 1)[0].strip()
        if not _CHUNK_SIZE_RE.fullmatch(size_text):
            raise ProtocolError("InvalidRequest", "Malformed aws-chunked chunk header")
        size = int(size_text, 16)
        position = end + 2
        if size == 0:
            break
        if position + size + 2 > len(body) or body[position + size:position + size + 2] != (
                b"\r\n"):
            raise ProtocolError("IncompleteBody", "The aws-chunked body ends inside a chunk")
        data += body[position:position + size]
        position += size + 2
    for line in body[position:].split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip():
            trailers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return bytes(data), trailers


def split_header_list(text: str) -> list[str]:
    """A comma-separated header list; items may be double-quoted with backslash escapes."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"' and not "".join(current).strip():
            current = []
            quoted = True
        elif char == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _header_safe(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def host_id(request_id: str) -> str:
    return base64.b64encode(hashlib.sha256(request_id.encode("utf-8")).digest()).decode("ascii")


class RestXmlProtocol(Protocol):
    name = "rest-xml"

    # --- request ---------------------------------------------------------------------------

    def find_operation(self, model: ServiceModel, request: Request) -> str | None:
        path, query = _split_path(request.path, request.query)
        found = match(model, request.method, path, query, request.headers)
        return None if found is None else found[0].operation

    def parse_request(self, model: ServiceModel, request: Request) -> ParsedRequest:
        path, query = _split_path(request.path, request.query)
        found = match(model, request.method, path, query, request.headers)
        if found is None:
            if any(route.pattern.fullmatch(path) for route in routes(model)):
                raise ProtocolError("MethodNotAllowed",
                                    "The specified method is not allowed against this resource.",
                                    405)
            raise ProtocolError("InvalidURI", "Couldn't parse the specified URI.")
        route, labels = found
        shape = model.operation_model(route.operation).input_shape
        if shape is None:
            return ParsedRequest(route.operation, {})
        headers, body = self.unchunk(request)
        params: dict[str, Any] = {}
        consumed = {key for key, _ in route.query}
        for member_name, member in members(shape).items():
            where = location(member)
            name = wire_name(member, member_name)
            if where == "uri" and name in labels:
                try:
                    text = unquote(labels[name], errors="strict")
                except UnicodeDecodeError:
                    raise ProtocolError("InvalidURI", "Couldn't parse the specified URI.") from None
                params[member_name] = self.text_value(member, text, "path", name)
            elif where == "querystring":
                consumed.add(name)
                if type_of(member) != "map" and query.get(name):
                    params[member_name] = self.query_value(member, query[name], name)
            elif where == "header" and name.lower() in headers:
                params[member_name] = self.header_value(member, headers[name.lower()], name)
            elif where == "headers":
                prefix = name.lower()
                prefixed = {key[len(prefix):]: value for key, value in headers.items()
                            if key.startswith(prefix) and len(key) > len(prefix)}
                if prefixed:
                    params[member_name] = prefixed
        for member_name, member in members(shape).items():
            if location(member) == "querystring" and type_of(member) == "map":
                rest = {key: values for key, values in query.items()
                        if key not in consumed and values}
                if rest:
                    params[member_name] = {
                        key: (values if type_of(map_value(member)) == "list" else values[0])
                        for key, values in rest.items()}
        self.read_body(shape, headers, body, params)
        missing = missing_required(shape, params)
        if missing:
            payload = trait(shape, "payload")
            if len(missing[0]) == 1 and missing[0][0] == payload:
                raise ProtocolError("MissingRequestBodyError", "Request Body is empty")
            raise ProtocolError("MalformedXML", _MALFORMED_XML)
        return ParsedRequest(route.operation, params)

    @staticmethod
    def unchunk(request: Request) -> tuple[dict[str, str], bytes]:
        """Headers and body with any ``aws-chunked`` framing removed (its trailers become
        headers, ``aws-chunked`` leaves Content-Encoding)."""
        headers = dict(request.headers)
        encodings = content_encodings(headers)
        streaming = headers.get("x-amz-content-sha256", "").startswith("STREAMING-")
        if "aws-chunked" not in encodings and not streaming:
            return headers, request.body
        body, trailers = decode_aws_chunked(request.body)
        headers.update(trailers)
        remaining = [encoding for encoding in encodings if encoding != "aws-chunked"]
        if remaining:
            headers["content-encoding"] = ",".join(remaining)
        else:
            headers.pop("content-encoding", None)
        declared = headers.get("x-amz-decoded-content-length")
        if declared is not None and declared.strip() != str(len(body)):
            raise ProtocolError("IncompleteBody", "You did not provide the number of bytes "
                                "specified by the x-amz-decoded-content-length HTTP header")
        if "content-length" in headers:  # the object's length, not the framing's
            headers["content-length"] = str(len(body))
        return headers, body

    def read_body(self, shape: Shape, headers: Mapping[str, str], body: bytes,
                  params: dict[str, Any]) -> None:
        payload = trait(shape, "payload")
        shape_members = members(shape)
        if isinstance(payload, str) and payload in shape_members:
            member = shape_members[payload]
            kind = type_of(member)
            if kind == "blob":
                if body:
                    params[payload] = body
                return
            if kind == "string":
                if body:
                    try:
                        params[payload] = body.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ProtocolError("InvalidRequest",
                                            "The request body is not UTF-8 text") from None
                return
            body = decoded_body(headers, body)
            if body.strip():
                params[payload] = self.read_xml(member, body, whole=False)
        elif body.strip() and any(location(m) is None for m in shape_members.values()):
            body = decoded_body(headers, body)
            params.update(self.read_xml(shape, body, whole=True))

    @staticmethod
    def read_xml(shape: Shape, body: bytes, whole: bool) -> Any:
        try:
            root = parse_document(body)
            return read_structure(shape, root) if whole else read(shape, root)
        except (BadXml, BadValue):
            raise ProtocolError("MalformedXML", _MALFORMED_XML) from None

    def text_value(self, member: Shape, text: str, where: str, name: str,
                   default_timestamp: str = "iso8601") -> Any:
        try:
            return parse_text(member, text, default_timestamp)
        except BadValue as exc:
            raise ProtocolError(
                "InvalidArgument",
                f"Invalid value '{text}' for {where} parameter {name}: expected {exc.expected}",
            ) from None

    def query_value(self, member: Shape, values: list[str], name: str) -> Any:
        if type_of(member) == "list":
            item = list_member(member)
            return [self.text_value(item, value, "query", name) for value in values]
        return self.text_value(member, values[0], "query", name)

    def header_value(self, member: Shape, text: str, name: str) -> Any:
        kind = type_of(member)
        if kind == "list":
            item = list_member(member)
            return [self.header_value(item, part, name) for part in split_header_list(text)]
        if kind == "string" and trait(member, "jsonvalue"):
            try:
                return json.loads(parse_base64(text))
            except (BadValue, ValueError, RecursionError):
                raise ProtocolError("InvalidArgument",
                                    f"Header {name} is not base64-encoded JSON") from None
        if kind == "string":
            return text
        return self.text_value(member, text.strip(), "header", name, "rfc822")

    # --- response --------------------------------------------------------------------------

    def serialize_response(self, model: ServiceModel, operation: OperationModel,
                           result: Mapping[str, Any], request_id: str) -> tuple[int, Headers,
                                                                                bytes]:
        status = int(operation.http.get("responseCode", 200))
        headers: Headers = [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id))]
        shape = operation.output_shape
        if shape is None:
            return status, headers, b""
        shape_members = members(shape)
        for member_name, member in shape_members.items():
            value = result.get(member_name)
            where = location(member)
            if value is None or where is None:
                continue
            if where == "statusCode":
                status = int(value)
            elif where == "header":
                headers.append((wire_name(member, member_name), self.header_text(member, value)))
            elif where == "headers":
                prefix = wire_name(member, member_name)
                headers.extend((prefix + str(key), _header_safe(str(item)))
                               for key, item in value.items())
        body = b""
        payload = trait(shape, "payload")
        root_member = ROOT_MEMBER_OUTPUTS.get((model.metadata.get("endpointPrefix"),
                                               operation.name))
        if root_member is not None and root_member in shape_members:
            namespace = service_namespace(model)
            xmlns = f' xmlns="{escape_attr(namespace)}"' if namespace else ""
            value = result.get(root_member)
            text = "" if value is None else escape_text(scalar_text(shape_members[root_member],
                                                                    value))
            body = f"{XML_DECLARATION}<{root_member}{xmlns}>{text}</{root_member}>".encode()
        elif isinstance(payload, str) and payload in shape_members:
            member = shape_members[payload]
            value = result.get(payload)
            if value is not None and type_of(member) in ("blob", "string"):
                body = value.encode("utf-8") if isinstance(value, str) else as_bytes(value)
            elif value is not None:
                body = self.document(model, member, value, wire_name(member, payload))
        elif any(location(member) is None for member in shape_members.values()):
            body = self.document(model, shape, result,
                                 wire_name(shape, f"{operation.name}Result"))
        if body and body.startswith(b"<?xml") and not any(
                name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/xml"))
        return status, headers, body

    @staticmethod
    def document(model: ServiceModel, shape: Shape, value: Mapping[str, Any],
                 name: str) -> bytes:
        writer = XmlWriter(millis=True)
        namespace = service_namespace(model)
        attrs = ""
        if namespace and not namespace_attrs(shape):
            attrs = f' xmlns="{escape_attr(namespace)}"'
        if type_of(shape) == "structure" and not is_document(shape):
            writer.structure(shape, value, name, attrs)
        else:
            writer.value(shape, value, name, attrs)
        return (XML_DECLARATION + writer.text()).encode("utf-8")

    @staticmethod
    def header_text(member: Shape, value: Any) -> str:
        kind = type_of(member)
        if kind == "list":
            item = list_member(member)
            parts = []
            for entry in value:
                text = RestXmlProtocol.header_text(item, entry)
                if "," in text or '"' in text:
                    text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
                parts.append(text)
            return ",".join(parts)
        if kind == "string" and trait(member, "jsonvalue"):
            return b64(json.dumps(value, separators=(",", ":")))
        if kind == "boolean":
            return "true" if as_bool(value) else "false"
        return _header_safe(scalar_text(member, value, default_timestamp="rfc822"))

    def serialize_error(self, model: ServiceModel, code: str, message: str, status: int,
                        request_id: str, sender: bool) -> tuple[int, Headers, bytes]:
        body = (f"{XML_DECLARATION}<Error>{element('Code', code)}{element('Message', message)}"
                f"{element('RequestId', request_id)}{element('HostId', host_id(request_id))}"
                "</Error>")
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id),
                   ("x-amz-id-2", host_id(request_id))]
        return status, headers, body.encode("utf-8")
