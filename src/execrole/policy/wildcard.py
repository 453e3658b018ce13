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


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile(glob_to_regex(pattern), flags)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return compile_glob(pattern, ignore_case).fullmatch(value) is not None
