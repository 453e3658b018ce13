"""IAM wildcards (`*`, `?`) compiled to regular expressions, once per pattern."""

from __future__ import annotations

import re
from functools import lru_cache

_ANY = ".*"
_ONE = "."


def glob_to_regex(pattern: str, *, any_: str = _ANY, one: str = _ONE) -> str:
    """Translate one glob into a regex fragment; everything but * and ? is literal."""
    out: list[str] = []
    literal: list[str] = []
    for ch in pattern:
        if ch == "*" or ch == "?":
            if literal:
                out.append(re.escape("".join(literal)))
                literal = []
            out.append(any_ if ch == "*" else one)
        else:
            literal.append(ch)
    if literal:
        out.append(re.escape("".join(literal)))
    return "".join(out)


def arn_glob_to_regex(pattern: str) -> str:
    """An ARN pattern: wildcards in the first five segments stay inside their segment.

    ARN matching checks the six colon-separated components separately
    (reference_policies_elements_condition_operators.md, ARN condition operators);
    the sixth, the resource part, may itself contain colons.
    """
    parts = pattern.split(":", 5)
    if len(parts) < 6:
        return glob_to_regex(pattern)
    head = [glob_to_regex(p, any_="[^:]*", one="[^:]") for p in parts[:5]]
    return ":".join([*head, glob_to_regex(parts[5])])


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile(glob_to_regex(pattern), flags)


@lru_cache(maxsize=65536)
def compile_arn_glob(pattern: str) -> re.Pattern[str]:
    return re.compile(arn_glob_to_regex(pattern), re.DOTALL)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return compile_glob(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    if value.count(":") < 5 and pattern.count(":") >= 5:
        return False
    return compile_arn_glob(pattern).fullmatch(value) is not None
