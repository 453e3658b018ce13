"""Condition operators, compiled once per condition into a predicate over the request context.

Source: reference_policies_elements_condition_operators.md (every operator family,
...IfExists, Null, missing keys: positive operators fail, negated ones match) and
reference_policies_elements_condition.md (ForAllValues/ForAnyValue, several values OR).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Protocol

from .model import Condition
from .variables import Template, has_variables, parse_template, pieces_to_regex, resolve


class Context(Protocol):
    def values(self, key: str) -> tuple[str, ...] | None: ...

    def single(self, key: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    name: str
    family: str  # String, Numeric, Date, Bool, Binary, Ip, Arn, Null
    test: str  # eq, eqi, like, lt, le, gt, ge, in
    negated: bool
    if_exists: bool = False
    qualifier: str | None = None  # "ForAllValues" | "ForAnyValue"


_BASE: dict[str, tuple[str, str, bool]] = {
    "StringEquals": ("String", "eq", False),
    "StringNotEquals": ("String", "eq", True),
    "StringEqualsIgnoreCase": ("String", "eqi", False),
    "StringNotEqualsIgnoreCase": ("String", "eqi", True),
    "StringLike": ("String", "like", False),
    "StringNotLike": ("String", "like", True),
    "NumericEquals": ("Numeric", "eq", False),
    "NumericNotEquals": ("Numeric", "eq", True),
    "NumericLessThan": ("Numeric", "lt", False),
    "NumericLessThanEquals": ("Numeric", "le", False),
    "NumericGreaterThan": ("Numeric", "gt", False),
    "NumericGreaterThanEquals": ("Numeric", "ge", False),
    "DateEquals": ("Date", "eq", False),
    "DateNotEquals": ("Date", "eq", True),
    "DateLessThan": ("Date", "lt", False),
    "DateLessThanEquals": ("Date", "le", False),
    "DateGreaterThan": ("Date", "gt", False),
    "DateGreaterThanEquals": ("Date", "ge", False),
    "Bool": ("Bool", "eq", False),
    "BinaryEquals": ("Binary", "eq", False),
    "IpAddress": ("Ip", "in", False),
    "NotIpAddress": ("Ip", "in", True),
    "ArnEquals": ("Arn", "like", False),
    "ArnLike": ("Arn", "like", False),
    "ArnNotEquals": ("Arn", "like", True),
    "ArnNotLike": ("Arn", "like", True),
    "Null": ("Null", "eq", False),
}
KNOWN_OPERATORS = frozenset(_BASE)
# Variables are substituted in string and ARN operator values only
# (the Date and Null sections say variables cannot be used there).
_VARIABLE_FAMILIES = frozenset({"String", "Arn"})


@lru_cache(maxsize=1024)
def split_operator(name: str) -> OperatorSpec | None:
    qualifier = None
    base = name
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if base.startswith(prefix):
            qualifier = prefix[:-1]
            base = base[len(prefix) :]
            break
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    entry = _BASE.get(base)
    if entry is None or (if_exists and base == "Null"):
        return None
    family, test, negated = entry
    return OperatorSpec(name, family, test, negated, if_exists, qualifier)


# --- value parsing -------------------------------------------------------------------------

_ISO = re.compile(
    r"^(?P<y>-?\d{4,9})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$",
    re.IGNORECASE,
)


def parse_date(text: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 (W3C profile) date or an epoch number."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        value = float(text)
        # Epoch values in milliseconds appear in some contexts; IAM documents seconds.
        return value
    m = _ISO.match(text)
    if not m:
        return None
    try:
        tz: timezone = UTC
        raw_tz = m.group("tz")
        if raw_tz and raw_tz.upper() != "Z":
            sign = 1 if raw_tz[0] == "+" else -1
            digits = raw_tz[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(sign * offset)
        fraction = m.group("f") or "0"
        moment = datetime(
            int(m.group("y")),
            int(m.group("mo") or 1),
            int(m.group("d") or 1),
            int(m.group("h") or 0),
            int(m.group("mi") or 0),
            int(m.group("s") or 0),
            tzinfo=tz,
        )
    except (ValueError, OverflowError):
        return None
    return moment.timestamp() + float("0." + fraction)


_JSON_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")


def _parse_number(text: str) -> float | None:
    """A number as JSON writes it (reference_policies_elements_datatypes.md); Python's
    float() would also take "1_000", "nan" and "Infinity"."""
    text = text.strip()
    if not _JSON_NUMBER.match(text):
        return None
    return float(text)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}

# A positive test of one context value against the condition's policy values.
ValueTest = Callable[[str, Context], bool]


@lru_cache(maxsize=65536)
def _regex(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _lookup(ctx: Context) -> Callable[[str], str | None]:
    return ctx.single


def _value_test(spec: OperatorSpec, values: tuple[str, ...], variables: bool) -> ValueTest:
    family, test = spec.family, spec.test
    use_vars = variables and family in _VARIABLE_FAMILIES
    templates: list[Template] = [parse_template(v, use_vars) for v in values]
    dynamic = any(has_variables(t) for t in templates)

    if family in ("String", "Arn"):
        arn = family == "Arn"
        if test in ("eq", "eqi") and not dynamic:
            if test == "eq":
                exact = frozenset(pieces_text(t) for t in templates)
                return lambda v, _ctx: v in exact
            folded = frozenset(pieces_text(t).lower() for t in templates)
            return lambda v, _ctx: v.lower() in folded
        if test in ("eq", "eqi"):
            fold = test == "eqi"

            def eq_dynamic(v: str, ctx: Context) -> bool:
                target = v.lower() if fold else v
                for t in templates:
                    pieces = resolve(t, _lookup(ctx))
                    if pieces is None:
                        continue
                    text = "".join(p for _, p in pieces)
                    if (text.lower() if fold else text) == target:
                        return True
                return False

            return eq_dynamic
        if not dynamic:
            alternation = "|".join(
                "(?:" + pieces_to_regex(_static_pieces(t), arn=arn) + ")" for t in templates
            )
            pattern = _regex(alternation)
            if arn:
                return lambda v, _ctx: v.count(":") >= 5 and pattern.fullmatch(v) is not None
            return lambda v, _ctx: pattern.fullmatch(v) is not None

        def like_dynamic(v: str, ctx: Context) -> bool:
            if arn and v.count(":") < 5:
                return False
            for t in templates:
                pieces = resolve(t, _lookup(ctx))
                if pieces is not None and _regex(pieces_to_regex(pieces, arn=arn)).fullmatch(v):
                    return True
            return False

        return like_dynamic

    if family == "Numeric":
        numbers = [n for n in (_parse_number(v) for v in values) if n is not None]
        cmp = _COMPARE[test]

        def numeric(v: str, _ctx: Context) -> bool:
            n = _parse_number(v)
            return n is not None and any(cmp(n, p) for p in numbers)

        return numeric

    if family == "Date":
        dates = [d for d in (parse_date(v) for v in values) if d is not None]
        cmp = _COMPARE[test]

        def date(v: str, _ctx: Context) -> bool:
            d = parse_date(v)
            return d is not None and any(cmp(d, p) for p in dates)

        return date

    if family == "Bool":
        wanted = frozenset(v.lower() for v in values)
        return lambda v, _ctx: v.lower() in wanted

    if family == "Binary":
        blobs = frozenset(values)
        return lambda v, _ctx: v in blobs

    if family == "Ip":
        networks = []
        for v in values:
            try:
                networks.append(ipaddress.ip_network(v.strip(), strict=False))
            except ValueError:
                continue

        def ip(v: str, _ctx: Context) -> bool:
            address = _parse_ip(v)
            return address is not None and any(
                address.version == n.version and address in n for n in networks
            )

        return ip

    raise AssertionError(f"unhandled operator family {family}")


def _static_pieces(template: Template) -> list[tuple[bool, str]]:
    pieces = resolve(template, lambda _key: None)
    assert pieces is not None  # static templates hold no variables
    return pieces


def pieces_text(template: Template) -> str:
    return "".join(text for _, text in _static_pieces(template))


# A compiled condition: does it hold for this request context?
Predicate = Callable[[Context], bool]


def compile_condition(condition: Condition, variables: bool) -> Predicate:
    spec = split_operator(condition.operator)
    if spec is None:  # validation rejects these; an empty block is no condition at all
        return lambda _ctx: True
    key = condition.key.lower()
    if spec.family == "Null":
        wanted_absent = [v.lower() == "true" for v in condition.values]

        def null(ctx: Context) -> bool:
            present = bool(ctx.values(key))
            return any(absent != present for absent in wanted_absent)

        return null

    test = _value_test(spec, condition.values, variables)
    negated, if_exists, qualifier = spec.negated, spec.if_exists, spec.qualifier

    if qualifier is None:

        def plain(ctx: Context) -> bool:
            found = ctx.values(key)
            if not found:
                return if_exists or negated
            hit = False
            for v in found:
                if test(v, ctx):
                    hit = True
                    break
            return hit != negated

        return plain

    if qualifier == "ForAllValues":

        def for_all(ctx: Context) -> bool:
            found = ctx.values(key)
            if not found:
                return True
            return all(test(v, ctx) != negated for v in found)

        return for_all

    def for_any(ctx: Context) -> bool:
        found = ctx.values(key)
        if not found:
            return if_exists
        return any(test(v, ctx) != negated for v in found)

    return for_any
