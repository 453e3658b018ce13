"""Policy variables: `${key}`, `${key, 'default'}` and the literals `${*}`, `${?}`, `${$}`.

Source: reference_policies_variables.md. Variables are recognised only in Version
2012-10-17 documents; elsewhere `${...}` is ordinary text. A variable whose key has no
single value in the request context and no default is unresolvable: the pattern holding
it matches nothing (Policy variables with no value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_VAR = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}
_KEY = re.compile(r"^[A-Za-z0-9_.:/+=@\-]+$")


@dataclass(frozen=True, slots=True)
class Var:
    key: str  # lower-cased: condition keys are case-insensitive
    default: str | None


@dataclass(frozen=True, slots=True)
class Literal:
    """Text that must match exactly, wildcard characters included (`${*}`)."""

    text: str


# A template chunk: plain pattern text (wildcards active), a Literal or a Var.
Chunk = str | Literal | Var
Template = tuple[Chunk, ...]

Lookup = Callable[[str], str | None]


def parse_template(text: str, variables: bool) -> Template:
    if not variables or "${" not in text:
        return (text,)
    chunks: list[Chunk] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            chunks.append(text[pos : m.start()])
        chunks.append(_parse_reference(m.group(1), m.group(0)))
        pos = m.end()
    if pos < len(text):
        chunks.append(text[pos:])
    return tuple(chunks)


def _parse_reference(body: str, whole: str) -> Chunk:
    inner = body.strip()
    if inner in _SPECIAL:
        return Literal(_SPECIAL[inner])
    key, sep, default = inner.partition(",")
    key = key.strip()
    if not _KEY.match(key):
        return whole  # not a variable reference: ordinary text
    if not sep:
        return Var(key.lower(), None)
    default = default.strip()
    if len(default) >= 2 and default[0] == default[-1] == "'":
        return Var(key.lower(), default[1:-1])
    return whole


def has_variables(template: Template) -> bool:
    return any(isinstance(c, Var) for c in template)


def resolve(template: Template, lookup: Lookup) -> list[tuple[bool, str]] | None:
    """(is_literal, text) pieces, or None when a variable cannot be resolved."""
    out: list[tuple[bool, str]] = []
    for chunk in template:
        if isinstance(chunk, str):
            out.append((False, chunk))
        elif isinstance(chunk, Literal):
            out.append((True, chunk.text))
        else:
            value = lookup(chunk.key)
            if value is None:
                value = chunk.default
            if value is None:
                return None
            out.append((True, value))
    return out


def resolve_text(template: Template, lookup: Lookup) -> str | None:
    """The template as one plain string (for exact comparisons)."""
    pieces = resolve(template, lookup)
    if pieces is None:
        return None
    return "".join(text for _, text in pieces)


def pieces_to_regex(pieces: list[tuple[bool, str]], *, arn: bool) -> str:
    """A regex for resolved pieces: wildcards only in pattern text, never in values.

    With arn=True, `*` and `?` in the first five colon-separated segments do not cross
    a colon (ARN segments are matched separately).
    """
    out: list[str] = []
    colons = 0
    for literal, text in pieces:
        for ch in text:
            if ch == ":":
                colons += 1
                out.append(":")
            elif not literal and ch == "*":
                out.append("[^:]*" if arn and colons < 5 else ".*")
            elif not literal and ch == "?":
                out.append("[^:]" if arn and colons < 5 else ".")
            else:
                out.append(re.escape(ch))
    return "".join(out)
