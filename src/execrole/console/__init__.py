"""The console: the seed's console procedures (IAM's Create role, SageMaker's notebook
instance with its role ARN), the decision log, the simulator and the planner, as
server-rendered pages at /_execrole/console/ on the `serve` port.

Every action on a page is performed as the signed-in principal through the endpoint's own
path (`EndpointApp.invoke`: the same validation, authorization and decision log as a signed
API call), so a user sees exactly what their IAM identity may see and do, and a denial shows
AWS's message. Loopback clients only, unless `execrole serve --console-remote`.

Pages live in `pages/` (one module per area, each exporting ROUTES), templates in
`templates/` (Jinja2, autoescaped), CSS and JS in `static/`: no external requests.
"""

from __future__ import annotations

import hmac
import importlib
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2

from ..services.base import AWSError, Caller
from .sessions import COOKIE, PRE_COOKIE, SESSION_S, Session, Sessions, SignInError, cookie
from .web import PREFIX, Request, Response, Route, html, match, redirect, url

STATIC = Path(__file__).parent / "static"
# The page modules, in menu order; each exports ROUTES (and NAV: (label, path) for the menu).
PAGE_MODULES = ("home", "iam", "sagemaker", "decisions", "simulator", "planner")
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".svg": "image/svg+xml"}
# No inline or external scripts, styles, frames or forms elsewhere: the pages are self-hosted.
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store")]


@dataclass
class Page:
    """What a page function gets: the request, the signed-in session, the console."""

    request: Request
    session: Session | None
    console: ConsoleApp
    args: dict[str, str] = field(default_factory=dict)

    @property
    def caller(self) -> Caller:
        assert self.session is not None
        return self.session.caller

    @property
    def db(self) -> Any:
        return self.console.endpoint.db

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """The operation as the signed-in principal (raises AWSError as the API would)."""
        result: dict[str, Any] = self.console.endpoint.invoke(
            self.caller, service, operation, params, source_ip=self.request.client)
        return result

    def attempt(self, service: str, operation: str, **params: Any
                ) -> tuple[dict[str, Any] | None, AWSError | None]:
        """`call`, with the error returned for the page to show instead of raised."""
        try:
            return self.call(service, operation, **params), None
        except AWSError as e:
            return None, e

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return html(self.console.render(template, self, **values), status)


def _nav() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in PAGE_MODULES:
        out += list(getattr(importlib.import_module(f"{__name__}.pages.{name}"), "NAV", []))
    return out


class ConsoleApp:
    def __init__(self, endpoint: Any, *, allow_remote: bool = False) -> None:
        self.endpoint = endpoint
        self.allow_remote = allow_remote
        self.sessions = Sessions(endpoint.db)
        self.routes: list[Route] = []
        for name in PAGE_MODULES:
            self.routes += importlib.import_module(f"{__name__}.pages.{name}").ROUTES
        self.nav = _nav()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("execrole.console", "templates"),
            autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(url=url, prefix=PREFIX)
        self.env.filters.update(_filters())

    def warm(self) -> None:
        """Compile every template once (at server start, not on a user's first visit)."""
        for name in self.env.list_templates(extensions=["html"]):
            self.env.get_template(name)

    # --- rendering -------------------------------------------------------------------------

    def render(self, template: str, page: Page | None, **values: Any) -> str:
        base = {"session": page.session if page else None,
                "csrf": page.session.csrf if page and page.session else "",
                "nav": self.nav, "path": page.request.path if page else "/"}
        text: str = self.env.get_template(template).render(**base, **values)
        return text

    # --- one request -----------------------------------------------------------------------

    def handle(self, method: str, path: str, raw_query: str, headers: Mapping[str, str],
               body: bytes, client: str) -> tuple[int, list[tuple[str, str]], bytes]:
        response = self._handle(Request(method, path[len(PREFIX):] or "/",
                                        parse_qs(raw_query, keep_blank_values=True),
                                        headers, body, client))
        response.headers += SECURITY_HEADERS
        if method == "HEAD":
            response.body = b""
        return response.as_tuple()

    def _handle(self, request: Request) -> Response:
        if not self.allow_remote and not _loopback(request.client):
            return html(self.render("error.html", None, title="Loopback only", message=(
                "The execrole console answers clients on this machine only. Start "
                "`execrole serve --console-remote` to open it to others.")), 403)
        if request.path.startswith("/static/"):
            return _static(request.path[len("/static/"):])
        found, args, other = match(self.routes, request.method, request.path)
        if found is None:
            return html(self.render("error.html", None, title="Not found" if not other
                                    else "Method not allowed",
                                    message=f"No console page at {PREFIX}{request.path}."),
                        405 if other else 404)
        session = self.sessions.session(request.cookies.get(COOKIE))
        page = Page(request, session, self, args)
        if not found.public and session is None:
            return redirect(url("/signin", next=PREFIX + request.path))
        if request.method == "POST" and not found.public:
            assert session is not None
            if not hmac.compare_digest(request.arg("csrf"), session.csrf):
                return page.render("error.html", 403, title="Form expired", message=(
                    "This form was not sent from the page execrole served (missing or stale "
                    "CSRF token). Reload the page and try again."))
        return found.page(page)

    # --- sign-in and sign-out ---------------------------------------------------------------

    def sign_in_page(self, page: Page, error: str = "") -> Response:
        import secrets

        pre = page.request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        response = page.render("signin.html", 401 if error else 200, error=error, pre=pre,
                               next=_safe_next(page.request.arg("next")))
        response.headers.append(("Set-Cookie", cookie(PRE_COOKIE, pre, 3600)))
        return response

    def sign_in(self, page: Page) -> Response:
        request = page.request
        pre = request.cookies.get(PRE_COOKIE, "")
        if not pre or not hmac.compare_digest(pre, request.arg("csrf")):
            return self.sign_in_page(page, "The sign-in form expired. Sign in again.")
        try:
            token = self.sessions.sign_in(request.arg("access_key_id"),
                                          request.arg("secret_access_key"),
                                          request.arg("session_token"))
        except SignInError as e:
            return self.sign_in_page(page, str(e))
        response = redirect(_safe_next(request.arg("next")) or url("/"))
        response.headers.append(("Set-Cookie", cookie(COOKIE, token, SESSION_S)))
        return response

    def sign_out(self, page: Page) -> Response:
        self.sessions.sign_out(page.request.cookies.get(COOKIE))
        response = redirect(url("/signin"))
        response.headers.append(("Set-Cookie", cookie(COOKIE, "", 0)))
        return response


def _safe_next(target: str) -> str:
    """Only a console path: no open redirect."""
    return target if target.startswith(PREFIX + "/") and "//" not in target[1:] else ""


def _loopback(client: str) -> bool:
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


def _static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if STATIC.resolve() not in path.parents or not path.is_file():
        return Response(404, b"not found", [("Content-Type", "text/plain")])
    return Response(200, path.read_bytes(), [
        ("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))])


def _filters() -> dict[str, Any]:
    import json
    from datetime import UTC, datetime

    def when(value: Any) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, UTC)
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return str(value)

    def pretty(value: Any) -> str:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return str(value)
        return json.dumps(value, indent=2, default=str, sort_keys=False)

    def ago(value: float) -> str:
        seconds = max(0, int(time.time() - value))
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{seconds // size}{unit} ago"
        return f"{seconds}s ago"

    return {"when": when, "pretty": pretty, "ago": ago}
