"""The console's HTTP plumbing: a parsed request, responses, cookies, forms, routes.

Pages are functions `page(ctx: Page) -> Response`, registered in a route table with the
method and a path pattern under the console's prefix; a pattern's named groups become
`ctx.args`. Facts as data: each page module exports `ROUTES`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

PREFIX = "/_execrole/console"
HTML = "text/html; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str  # below PREFIX, starting with "/"
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    client: str

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except Exception:
            return {}
        return {k: m.value for k, m in jar.items()}

    @property
    def form(self) -> dict[str, list[str]]:
        if "application/x-www-form-urlencoded" not in self.headers.get("content-type", ""):
            return {}
        try:
            return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}

    def arg(self, name: str, default: str = "") -> str:
        """One value from the form (POST) or the query string."""
        values = self.form.get(name) or self.query.get(name)
        return values[-1] if values else default

    def args_of(self, name: str) -> list[str]:
        return list(self.form.get(name) or self.query.get(name) or [])


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    def as_tuple(self) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.status, self.headers, self.body


def html(body: str, status: int = 200) -> Response:
    return Response(status, body.encode("utf-8"), [("Content-Type", HTML)])


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", [("Location", location)])


def download(data: str | bytes, filename: str, content_type: str) -> Response:
    body = data.encode("utf-8") if isinstance(data, str) else data
    return Response(200, body, [("Content-Type", content_type),
                                ("Content-Disposition", f'attachment; filename="{filename}"')])


def json_download(value: Any, filename: str) -> Response:
    return download(json.dumps(value, indent=2, default=str), filename, "application/json")


def url(path: str, **query: Any) -> str:
    """A console URL: the prefix, the path, the non-empty query values."""
    kept = {k: v for k, v in query.items() if v not in (None, "", [])}
    return PREFIX + path + ("?" + urlencode(kept, doseq=True) if kept else "")


def quoted(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    page: Callable[..., Response]
    public: bool = False  # served without a signed-in session (sign-in, static files)


def route(method: str, pattern: str, page: Callable[..., Response],
          public: bool = False) -> Route:
    return Route(method, re.compile(pattern + r"\Z"), page, public)


def match(routes: Iterable[Route], method: str, path: str
          ) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its named groups, and whether the path exists for another
    method (405 rather than 404)."""
    other = False
    for r in routes:
        m = r.pattern.match(path)
        if m is None:
            continue
        if r.method == method or (method == "HEAD" and r.method == "GET"):
            return r, m.groupdict(), False
        other = True
    return None, {}, other
