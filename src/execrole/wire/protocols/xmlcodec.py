"""XML documents from and to botocore shapes, as the query, ec2 and rest-xml protocols write
them (botocore's parsers.BaseXMLResponseParser and serialize.RestXMLSerializer are the other
side): ``locationName`` names elements, lists wrap their items in ``<member>`` (or the list
member's ``locationName``) unless ``flattened``, maps are ``<entry><key/><value/></entry>``,
``xmlAttribute`` members are attributes and ``xmlNamespace`` declares namespaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

from botocore.model import Shape

from .shapes import (
    BadValue,
    is_flattened,
    list_member,
    location,
    map_key,
    map_value,
    members,
    parse_text,
    scalar_text,
    trait,
    type_of,
    wire_name,
)

# characters XML 1.0 cannot carry at all, not even as character references
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def escape_text(text: str) -> str:
    text = _NOT_XML.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def escape_attr(text: str) -> str:
    return (escape_text(text).replace('"', "&quot;").replace("\n", "&#10;")
            .replace("\t", "&#9;"))


def element(name: str, text: str) -> str:
    return f"<{name}>{escape_text(text)}</{name}>"


def namespace_attrs(shape: Shape) -> str:
    namespace = trait(shape, "xmlNamespace")
    if isinstance(namespace, str):
        return f' xmlns="{escape_attr(namespace)}"'
    if isinstance(namespace, Mapping) and namespace.get("uri"):
        prefix = namespace.get("prefix")
        name = f"xmlns:{prefix}" if prefix else "xmlns"
        return f' {name}="{escape_attr(str(namespace["uri"]))}"'
    return ""


def member_xml_name(shape: Shape, member_name: str) -> str:
    """The element name of a structure member (botocore's ``_member_key_name``): a flattened
    list is named by its member's ``locationName`` when it has one."""
    if type_of(shape) == "list" and is_flattened(shape):
        item_name = trait(list_member(shape), "name")
        if isinstance(item_name, str) and item_name:
            return item_name
    return wire_name(shape, member_name)


class XmlWriter:
    """Appends the XML for values shaped like botocore shapes to ``parts``."""

    def __init__(self, millis: bool = False) -> None:
        self.parts: list[str] = []
        self.millis = millis

    def text(self) -> str:
        return "".join(self.parts)

    def value(self, shape: Shape, value: Any, name: str, attrs: str = "") -> None:
        if value is None:
            return
        kind = type_of(shape)
        if kind == "structure":
            self.structure(shape, value, name, attrs)
        elif kind == "list":
            self._list(shape, value, name, attrs)
        elif kind == "map":
            self._map(shape, value, name, attrs)
        else:
            text = escape_text(scalar_text(shape, value, millis=self.millis))
            self.parts.append(f"<{name}{attrs}>{text}</{name}>")

    def structure(self, shape: Shape, value: Any, name: str, attrs: str = "") -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"{shape.name} must be a mapping, not {type(value).__name__}")
        attrs += namespace_attrs(shape)
        for member_name, member in members(shape).items():
            item = value.get(member_name)
            if item is not None and trait(member, "xmlAttribute"):
                text = escape_attr(scalar_text(member, item, millis=self.millis))
                attrs += f' {wire_name(member, member_name)}="{text}"'
        self.parts.append(f"<{name}{attrs}>")
        self.members(shape, value)
        self.parts.append(f"</{name}>")

    def members(self, shape: Shape, value: Mapping[str, Any]) -> None:
        """The body members of a structure, without an element around them."""
        for member_name, member in members(shape).items():
            item = value.get(member_name)
            if item is None or location(member) or trait(member, "xmlAttribute"):
                continue
            self.value(member, item, member_xml_name(member, member_name))

    def _list(self, shape: Shape, value: Any, name: str, attrs: str) -> None:
        if isinstance(value, (str, bytes, Mapping)):
            raise TypeError(f"{shape.name} must be a list, not {type(value).__name__}")
        item_shape = list_member(shape)
        if is_flattened(shape):
            for item in value:
                self.value(item_shape, item, name, attrs)
            return
        self.parts.append(f"<{name}{attrs}{namespace_attrs(shape)}>")
        item_name = wire_name(item_shape, "member")
        for item in value:
            self.value(item_shape, item, item_name)
        self.parts.append(f"</{name}>")

    def _map(self, shape: Shape, value: Any, name: str, attrs: str) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"{shape.name} must be a mapping, not {type(value).__name__}")
        key_shape, value_shape = map_key(shape), map_value(shape)
        key_name, value_name = wire_name(key_shape, "key"), wire_name(value_shape, "value")
        flattened = is_flattened(shape)
        if not flattened:
            self.parts.append(f"<{name}{attrs}{namespace_attrs(shape)}>")
        for key, item in value.items():
            self.parts.append(f"<{name}{attrs}>" if flattened else "<entry>")
            self.value(key_shape, key, key_name)
            self.value(value_shape, item, value_name)
            self.parts.append(f"</{name}>" if flattened else "</entry>")
        if not flattened:
            self.parts.append(f"</{name}>")


# --- reading --------------------------------------------------------------------------------


class BadXml(Exception):
    """The body is not well-formed XML (or declares a DTD, which no AWS API accepts)."""


def _no_dtd(*_: object) -> None:
    raise BadXml("DTDs are not allowed")


def parse_document(body: bytes) -> ElementTree.Element:
    """The document's root; a DTD (entity expansion) is refused in any encoding."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadXml("DTDs are not allowed")
    try:
        scanner = expat.ParserCreate()
        scanner.StartDoctypeDeclHandler = _no_dtd
        scanner.EntityDeclHandler = _no_dtd
        scanner.Parse(body, True)
        return ElementTree.fromstring(body)
    except (expat.ExpatError, ElementTree.ParseError, ValueError, LookupError,
            UnicodeError) as exc:
        raise BadXml(str(exc)) from exc


def local_name(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _attribute(node: ElementTree.Element, name: str) -> str | None:
    """An attribute by its ``locationName`` (``xsi:type`` matches ``{...}type``)."""
    if name in node.attrib:
        return node.attrib[name]
    local = name.split(":", 1)[-1]
    for key, value in node.attrib.items():
        if local_name(key) == local:
            return value
    return None


def read(shape: Shape, node: ElementTree.Element) -> Any:
    """The value of ``node`` as ``shape``; raises BadValue for malformed scalars."""
    kind = type_of(shape)
    if kind == "structure":
        return read_structure(shape, node)
    if kind == "list":
        item_shape = list_member(shape)
        return [read(item_shape, child) for child in node]
    if kind == "map":
        return _read_entries(shape, list(node))
    return parse_text(shape, node.text or "")


def read_structure(shape: Shape, node: ElementTree.Element) -> dict[str, Any]:
    children: dict[str, list[ElementTree.Element]] = {}
    for child in node:
        children.setdefault(local_name(child.tag), []).append(child)
    parsed: dict[str, Any] = {}
    for member_name, member in members(shape).items():
        if location(member):
            continue
        if trait(member, "xmlAttribute"):
            raw = _attribute(node, wire_name(member, member_name))
            if raw is not None:
                parsed[member_name] = parse_text(member, raw)
            continue
        found = children.get(member_xml_name(member, member_name))
        if not found:
            continue
        kind = type_of(member)
        if kind == "list" and is_flattened(member):
            parsed[member_name] = [read(list_member(member), item) for item in found]
        elif kind == "map" and is_flattened(member):
            parsed[member_name] = _read_entries(member, found)
        else:
            parsed[member_name] = read(member, found[0])
    return parsed


def _read_entries(shape: Shape, entries: list[ElementTree.Element]) -> dict[Any, Any]:
    key_shape, value_shape = map_key(shape), map_value(shape)
    key_name, value_name = wire_name(key_shape, "key"), wire_name(value_shape, "value")
    parsed: dict[Any, Any] = {}
    for entry in entries:
        key_node = value_node = None
        for part in entry:
            tag = local_name(part.tag)
            if tag == key_name:
                key_node = part
            elif tag == value_name:
                value_node = part
        if key_node is None or value_node is None:
            raise BadValue("<entry>", "map entry")
        parsed[read(key_shape, key_node)] = read(value_shape, value_node)
    return parsed
