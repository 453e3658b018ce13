"""What every protocol shares: typed access to botocore shapes, the conversions between wire
text and the Python values a boto3 caller passes (int, bool, float, datetime, bytes), timestamp
formats and the required-member check.

botocore ships no type information, so every shape is ``Any`` to mypy; the small accessors
below give the rest of the package typed values. The traits they read are the ones botocore
moves into ``Shape.serialization`` (``locationName`` renamed to ``name``, ``flattened``,
``location``, ``timestampFormat``, ...) and ``Shape.metadata`` (``required``, ...).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import email.utils
import math
import re
from collections.abc import Mapping
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, cast

from botocore.model import Shape

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

# botocore's integer-like shape types and the ranges the AWS services (Java ints) accept
INT_RANGES: dict[str, tuple[int, int]] = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}
FLOAT_TYPES = frozenset({"float", "double"})
SCALAR_WORDS = {
    "string": "a string",
    "character": "a string",
    "boolean": "a boolean",
    "byte": "an integer",
    "short": "an integer",
    "integer": "an integer",
    "long": "a long",
    "float": "a float",
    "double": "a double",
    "timestamp": "a timestamp",
    "blob": "base64-encoded binary data",
}


class ProtocolError(Exception):
    """Bad input on the wire, answered with the AWS error ``code``/``message``/``status``.

    ``sender`` is False for errors that are the server's fault (AWS's ``Receiver`` type).
    """

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


class BadValue(ValueError):
    """A wire value does not parse as its shape's type; the protocol turns it into a
    ProtocolError with its own code and wording."""

    def __init__(self, raw: object, type_name: str) -> None:
        super().__init__(f"{raw!r} is not {SCALAR_WORDS.get(type_name, type_name)}")
        self.raw = raw
        self.type_name = type_name

    @property
    def expected(self) -> str:
        return SCALAR_WORDS.get(self.type_name, self.type_name)


# --- typed access to botocore shapes ------------------------------------------------------


def type_of(shape: Shape) -> str:
    return cast(str, shape.type_name)


def trait(shape: Shape, key: str) -> Any:
    """A serialization trait of the shape (member-level traits already merged in)."""
    return shape.serialization.get(key)


def location(shape: Shape) -> str | None:
    return cast("str | None", shape.serialization.get("location"))


def members(shape: Shape) -> Mapping[str, Shape]:
    return cast("Mapping[str, Shape]", shape.members)


def list_member(shape: Shape) -> Shape:
    return shape.member


def map_key(shape: Shape) -> Shape:
    return shape.key


def map_value(shape: Shape) -> Shape:
    return shape.value


def wire_name(shape: Shape, default: str) -> str:
    """The member's ``locationName``, or ``default`` (the member name)."""
    name = shape.serialization.get("name")
    return name if isinstance(name, str) and name else default


def required_members(shape: Shape) -> list[str]:
    return list(shape.required_members)


def is_document(shape: Shape) -> bool:
    return bool(type_of(shape) == "structure" and shape.is_document_type)


def is_flattened(shape: Shape) -> bool:
    return bool(shape.serialization.get("flattened"))


def timestamp_format(shape: Shape, default: str) -> str:
    fmt = shape.serialization.get("timestampFormat")
    return fmt.lower() if isinstance(fmt, str) else default


# --- scalars from wire text ---------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?[0-9]{1,40}")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,5})?")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def parse_int(text: str, type_name: str = "integer") -> int:
    stripped = text.strip()
    if not _INT_RE.fullmatch(stripped):
        raise BadValue(text, type_name)
    value = int(stripped)
    low, high = INT_RANGES.get(type_name, INT_RANGES["long"])
    if not low <= value <= high:
        raise BadValue(text, type_name)
    return value


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise BadValue(text, "boolean")


def parse_float(text: str, type_name: str = "double") -> float:
    stripped = text.strip()
    if stripped in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[stripped]
    if not _FLOAT_RE.fullmatch(stripped):
        raise BadValue(text, type_name)
    value = float(stripped)
    if math.isinf(value):
        raise BadValue(text, type_name)
    return value


def parse_base64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadValue(text, "blob") from exc


_ISO_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,12}))?)?)?"
    r"(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
# datetime covers years 1..9999; this bound keeps Decimal/int arithmetic small
_MAX_EPOCH = Decimal(300_000_000_000)


def parse_iso8601(text: str) -> dt.datetime:
    match = _ISO_RE.fullmatch(text.strip())
    if match is None:
        raise BadValue(text, "timestamp")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        try:
            tz = dt.timezone(-offset if zone[0] == "-" else offset)
        except ValueError as exc:
            raise BadValue(text, "timestamp") from exc
    try:
        value = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            micros, tzinfo=tz,
        )
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadValue(text, "timestamp") from exc


def epoch_to_datetime(value: Decimal | int | float, raw: object = None) -> dt.datetime:
    """Epoch seconds (with a fraction) to an aware UTC datetime, exact to the microsecond."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite() or abs(number) > _MAX_EPOCH:
            raise BadValue(raw if raw is not None else value, "timestamp")
        seconds = int(number.to_integral_value(rounding=ROUND_FLOOR))
        micros = int(((number - seconds) * 1_000_000).to_integral_value(ROUND_HALF_EVEN))
        return EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)
    except (InvalidOperation, OverflowError, ValueError) as exc:
        raise BadValue(raw if raw is not None else value, "timestamp") from exc


def parse_rfc822(text: str) -> dt.datetime:
    try:
        value = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise BadValue(text, "timestamp") from exc
    if value is None:  # older Pythons answer None instead of raising
        raise BadValue(text, "timestamp")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadValue(text, "timestamp") from exc


def parse_timestamp(text: str, fmt: str = "iso8601") -> dt.datetime:
    """A timestamp in the shape's format; the other two AWS formats are accepted as well,
    as AWS's own front ends do."""
    stripped = text.strip()
    if _NUMBER_RE.fullmatch(stripped):
        return epoch_to_datetime(Decimal(stripped), raw=text)
    first, second = (parse_rfc822, parse_iso8601) if fmt == "rfc822" else (
        parse_iso8601, parse_rfc822)
    try:
        return first(stripped)
    except BadValue:
        return second(stripped)


def parse_text(shape: Shape, text: str, default_timestamp: str = "iso8601") -> Any:
    """A scalar shape's value from its wire text (query fields, XML text, URI labels)."""
    kind = type_of(shape)
    if kind in ("string", "character"):
        return text
    if kind in INT_RANGES:
        return parse_int(text, kind)
    if kind == "boolean":
        return parse_bool(text)
    if kind in FLOAT_TYPES:
        return parse_float(text, kind)
    if kind == "timestamp":
        return parse_timestamp(text, timestamp_format(shape, default_timestamp))
    if kind == "blob":
        return parse_base64(text)
    raise BadValue(text, kind)


# --- values for the wire ------------------------------------------------------------------


def as_datetime(value: Any) -> dt.datetime:
    """A result's timestamp (datetime, date, epoch number or timestamp text) as aware UTC."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return epoch_to_datetime(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise TypeError(f"not a timestamp: {value!r}")


def format_iso8601(value: Any, millis: bool = False) -> str:
    """ISO 8601 in UTC with ``Z``; sub-second digits only as many as the value needs
    (``millis`` always writes at least milliseconds, as S3 and EC2 do)."""
    moment = as_datetime(value)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond % 1000:
        return f"{text}.{moment.microsecond:06d}Z"
    if moment.microsecond or millis:
        return f"{text}.{moment.microsecond // 1000:03d}Z"
    return f"{text}Z"


def format_rfc822(value: Any) -> str:
    return email.utils.format_datetime(as_datetime(value).replace(microsecond=0), usegmt=True)


def format_epoch(value: Any) -> int | float:
    moment = as_datetime(value)
    seconds = calendar.timegm(moment.utctimetuple())
    if moment.microsecond:
        return (seconds * 1_000_000 + moment.microsecond) / 1_000_000
    return seconds


def format_timestamp(value: Any, fmt: str, millis: bool = False) -> str:
    if fmt == "rfc822":
        return format_rfc822(value)
    if fmt == "unixtimestamp":
        return str(format_epoch(value))
    return format_iso8601(value, millis)


def as_bytes(value: Any) -> bytes:
    """A blob result: bytes-like, text (UTF-8) or a readable file-like object."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    read = getattr(value, "read", None)
    if callable(read):
        return as_bytes(read())
    raise TypeError(f"not a blob: {type(value).__name__}")


def b64(value: Any) -> str:
    return base64.b64encode(as_bytes(value)).decode("ascii")


def format_float(value: Any) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def scalar_text(shape: Shape, value: Any, default_timestamp: str = "iso8601",
                millis: bool = False) -> str:
    """A scalar result value as wire text (XML text, headers)."""
    kind = type_of(shape)
    if kind == "boolean":
        return "true" if as_bool(value) else "false"
    if kind in INT_RANGES:
        return str(int(value))
    if kind in FLOAT_TYPES:
        return format_float(value)
    if kind == "timestamp":
        return format_timestamp(value, timestamp_format(shape, default_timestamp), millis)
    if kind == "blob":
        return b64(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


# --- required members ---------------------------------------------------------------------

PathPart = str | int


def missing_required(shape: Shape, value: Any, path: tuple[PathPart, ...] = (),
                     skip_locations: bool = False) -> list[tuple[PathPart, ...]]:
    """Paths of the required members absent from a parsed value (input shapes only).

    Members the SDKs fill in themselves (``idempotencyToken``) are not demanded."""
    kind = type_of(shape)
    found: list[tuple[PathPart, ...]] = []
    if kind == "structure" and isinstance(value, dict) and not is_document(shape):
        shape_members = members(shape)
        for name in required_members(shape):
            member = shape_members.get(name)
            if member is None or value.get(name) is not None:
                continue
            if member.metadata.get("idempotencyToken"):
                continue
            if skip_locations and location(member):
                continue
            found.append((*path, name))
        for name, item in value.items():
            member = shape_members.get(name)
            if member is not None:
                found.extend(missing_required(member, item, (*path, name)))
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value, 1):
            found.extend(missing_required(list_member(shape), item, (*path, index)))
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            found.extend(missing_required(map_value(shape), item, (*path, str(key))))
    return found


def coral_path(path: tuple[PathPart, ...]) -> str:
    """A member path as AWS's validation messages write it: ``tags.1.member.key``."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.extend((str(part), "member"))
        else:
            parts.append(part[:1].lower() + part[1:])
    return ".".join(parts)


def wire_path(path: tuple[PathPart, ...]) -> str:
    return ".".join(str(part) for part in path)


def validation_message(problems: list[str]) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(problems)


def null_problem(path: tuple[PathPart, ...]) -> str:
    return (f"Value null at '{coral_path(path)}' failed to satisfy constraint: "
            "Member must not be null")
