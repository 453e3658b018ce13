"""Sign-in, sign-out and the console's home: who you are and where to go."""

from __future__ import annotations

from .. import Page
from ..web import Response, route

NAV: list[tuple[str, str]] = [("Home", "/")]


def signin_form(page: Page) -> Response:
    return page.console.sign_in_page(page)


def signin(page: Page) -> Response:
    return page.console.sign_in(page)


def signout(page: Page) -> Response:
    return page.console.sign_out(page)


def home(page: Page) -> Response:
    identity, error = page.attempt("sts", "GetCallerIdentity")
    return page.render("home.html", identity=identity, error=error)


ROUTES = [
    route("GET", "/signin", signin_form, public=True),
    route("POST", "/signin", signin, public=True),
    route("POST", "/signout", signout),
    route("GET", "/", home),
]
