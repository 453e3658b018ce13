"""The console's sign-in, session and protections in a real browser (Debian's Chromium),
plus the loopback rule in-process. Issue 7: "Sign-in with an access key pair (or the root
key from <data-dir>/credentials) ... Session cookie (HttpOnly, SameSite), CSRF protection on
every form, sign-out, session expiry. Served at /_execrole/console/ on the serve port;
loopback only unless configured." """

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from conftest import Server, console_url, screenshot, sign_in


def test_sign_in_with_the_root_key_and_out(server: Server, page: Any) -> None:
    page.goto(console_url(server, "/"))
    assert "/signin" in page.url  # not signed in: the sign-in page, then back here
    screenshot(page, "signin")
    sign_in(page, server)
    assert page.get_by_role("heading", name="Console home").is_visible()
    assert page.get_by_text("arn:aws:iam::111122223333:root").first.is_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["execrole_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "/signin" in page.url
    page.goto(console_url(server, "/"))
    assert "/signin" in page.url


def test_wrong_secret_is_refused(server: Server, page: Any) -> None:
    sign_in(page, server, secret="wrong" + server.secret[5:])
    assert page.get_by_role("alert").inner_text().strip() == (
        "The access key ID or secret access key is not valid.")


def test_a_form_without_its_csrf_token_is_refused(server: Server, page: Any) -> None:
    """A POST that did not come from the page (no CSRF token) does nothing."""
    sign_in(page, server)
    answer = page.request.post(console_url(server, "/signout"), form={"csrf": "forged"})
    assert answer.status == 403
    assert "CSRF" in answer.text()
    page.goto(console_url(server, "/"))
    assert page.get_by_role("heading", name="Console home").is_visible()  # still signed in


def test_assets_are_served_by_execrole(server: Server, page: Any) -> None:
    """No request leaves the endpoint: every URL the page loads is the console's own."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    sign_in(page, server)
    assert seen and all(u.startswith(server.url + "/_execrole/console/") for u in seen), seen
    with urllib.request.urlopen(console_url(server, "/static/console.css")) as r:
        assert r.headers["Content-Type"].startswith("text/css")


def test_unknown_page_and_health_untouched(server: Server) -> None:
    try:
        urllib.request.urlopen(console_url(server, "/no-such-page"))
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    with urllib.request.urlopen(server.url + "/_execrole/health") as r:
        assert json.load(r)["status"] == "ok"


def test_loopback_only_unless_configured(tmp_path: Any) -> None:
    """Another machine's client gets a 403 page unless serve --console-remote."""
    from execrole.store import Database
    from execrole.wire.app import EndpointApp

    db = Database(tmp_path / "execrole.db")
    try:
        for remote, expected in ((False, 403), (True, 303)):
            app = EndpointApp(db, console_remote=remote)
            status, _, body = app.console.handle("GET", "/_execrole/console/", "", {}, b"",
                                                 "203.0.113.9")
            assert status == expected, body
    finally:
        db.close()


def test_sessions_expire_and_end_with_their_key(tmp_path: Any) -> None:
    """A session past its expiry, or whose access key was deleted, is signed out: the next
    page is the sign-in form (docs/console.md, Security)."""
    from execrole.console.sessions import COOKIE, Sessions
    from execrole.services.credentials import create_account
    from execrole.store import Database
    from execrole.wire.app import EndpointApp

    db = Database(tmp_path / "execrole.db")
    try:
        key, secret = create_account(db, "111122223333")
        app = EndpointApp(db)
        sessions = Sessions(db)

        def home(token: str) -> int:
            status, _, _ = app.console.handle("GET", "/_execrole/console/", "",
                                              {"cookie": f"{COOKIE}={token}"}, b"", "127.0.0.1")
            return status

        token = sessions.sign_in(key, secret)
        assert home(token) == 200
        db.execute("UPDATE console_sessions SET expires = 0")
        assert home(token) == 303  # to the sign-in page
        token = sessions.sign_in(key, secret)
        assert home(token) == 200
        db.execute("DELETE FROM access_keys WHERE access_key_id=?", (key,))
        assert home(token) == 303
    finally:
        db.close()
