"""Server-side validation of request parameters against the service model's constraints
(required, min/max, pattern, enum), with AWS's "N validation error(s) detected" message."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from ..services.base import AWSError

MAX_REPORTED = 10


@lru_cache(maxsize=4096)
def _pattern(source: str) -> re.Pattern[str] | None:
    try:
        return re.compile(source)
    except re.error:
        return None  # Java-only syntax (\p{...} classes): not checked


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    shown = "null" if value is None else f"'{value}'"
    if kind == "structure":
        if not isinstance(value, dict):
            return
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(f"Value null at '{_join(path, name)}' failed to satisfy "
                                "constraint: Member must not be null")
        for name, member in members.items():
            if name in value and value[name] is not None:
                _check(member, value[name], _join(path, name), problems)
        return
    if kind == "list" and isinstance(value, list):
        _bounds(len(value), meta, path, shown, problems, "length")
        for i, item in enumerate(value, 1):
            _check(shape.member, item, f"{path}.{i}.member", problems)
        return
    if kind == "map" and isinstance(value, dict):
        _bounds(len(value), meta, path, shown, problems, "length")
        return
    if kind == "string" and isinstance(value, str):
        _bounds(len(value), meta, path, shown, problems, "length")
        if "pattern" in meta:
            regex = _pattern(meta["pattern"])
            if regex is not None and not regex.fullmatch(value):
                problems.append(f"Value {shown} at '{path}' failed to satisfy constraint: "
                                f"Member must satisfy regular expression pattern: "
                                f"{meta['pattern']}")
        enum = shape.enum
        if enum and value not in enum:
            problems.append(f"Value {shown} at '{path}' failed to satisfy constraint: Member "
                            f"must satisfy enum value set: [{', '.join(enum)}]")
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        _bounds(value, meta, path, shown, problems, "value")


def _bounds(n: float, meta: dict[str, Any], path: str, shown: str, problems: list[str],
            what: str) -> None:
    if "min" in meta and n < meta["min"]:
        problems.append(f"Value {shown} at '{path}' failed to satisfy constraint: Member must "
                        f"have {what} greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        problems.append(f"Value {shown} at '{path}' failed to satisfy constraint: Member must "
                        f"have {what} less than or equal to {meta['max']}")


def _join(path: str, name: str) -> str:
    return f"{path}.{_camel(name)}" if path else _camel(name)


def validate_params(shape: Shape | None, params: dict[str, Any], *,
                    code: str = "ValidationError") -> None:
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        n = len(problems)
        head = f"{n} validation error{'s' if n > 1 else ''} detected: "
        raise AWSError(code, head + "; ".join(problems[:MAX_REPORTED]), 400)
