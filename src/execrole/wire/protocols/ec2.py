"""The ``ec2`` protocol: the query protocol with EC2's differences (botocore's
serialize.EC2Serializer and parsers.EC2QueryParser are the other side):

- request fields are named by ``queryName``, else the ``locationName`` capitalised, else the
  member name; every list is ``Name.N`` (no ``member`` level, empty lists are not sent);
- the answer is ``<OpResponse xmlns="http://ec2.amazonaws.com/doc/<version>/">`` with a
  ``<requestId>`` and the output members directly inside (no result wrapper);
- errors are ``<Response><Errors><Error>...</Error></Errors><RequestID>..</RequestID>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.model import ServiceModel, Shape

from .query import Node, QueryProtocol
from .shapes import BadValue, PathPart, ProtocolError, wire_path
from .xmlcodec import XmlWriter, element


class Ec2Protocol(QueryProtocol):
    name = "ec2"
    content_type = "text/xml;charset=UTF-8"
    millis = True
    bad_value_code = "InvalidParameterValue"

    def field_name(self, shape: Shape, default: str) -> str:
        query_name = shape.serialization.get("queryName")
        if isinstance(query_name, str) and query_name:
            return query_name
        name = shape.serialization.get("name")
        if isinstance(name, str) and name:
            return name[0].upper() + name[1:]
        return default

    def member_field(self, member: Shape, member_name: str) -> str:
        return self.field_name(member, member_name)

    def list_items(self, shape: Shape, node: Node) -> Node | None:
        return node

    def unknown_action(self, model: ServiceModel, action: str | None,
                       version: str | None) -> ProtocolError:
        if not action:
            return ProtocolError("MissingAction", "The request must contain the parameter Action")
        return ProtocolError("InvalidAction",
                             f"The action {action} is not valid for this web service.")

    def missing(self, paths: list[tuple[PathPart, ...]]) -> ProtocolError:
        return ProtocolError("MissingParameter",
                             f"The request must contain the parameter {wire_path(paths[0])}")

    def bad_value(self, exc: BadValue, path: tuple[PathPart, ...]) -> ProtocolError:
        return ProtocolError(
            self.bad_value_code,
            f"Value ({exc.raw}) for parameter {wire_path(path)} is invalid. "
            f"Expected {exc.expected}.",
        )

    def namespace(self, model: ServiceModel) -> str:
        namespace = model.metadata.get("xmlNamespace")
        if not isinstance(namespace, str) or not namespace:
            namespace = f"http://ec2.amazonaws.com/doc/{model.api_version}"
        return namespace if namespace.endswith("/") else namespace + "/"

    def write_result(self, writer: XmlWriter, shape: Shape | None, result: Mapping[str, Any],
                     request_id: str) -> None:
        writer.parts.append(element("requestId", request_id))
        if shape is not None:
            writer.members(shape, result)

    def serialize_error(self, model: ServiceModel, code: str, message: str, status: int,
                        request_id: str, sender: bool) -> tuple[int, list[tuple[str, str]],
                                                                bytes]:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"{element('Code', code)}{element('Message', message)}</Error></Errors>"
                f"{element('RequestID', request_id)}</Response>")
        return status, self.headers(request_id), body.encode("utf-8")
