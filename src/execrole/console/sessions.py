"""Console sign-ins: an access key pair (optionally with a session token) is checked against
the store, then a random session token lives in an HttpOnly, SameSite=Strict cookie; only its
SHA-256 is stored. Each session has its own CSRF token, which every form posts back; sessions
end at sign-out or after SESSION_S.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ..services.base import Caller
from ..services.credentials import lookup
from ..store import Database

COOKIE = "execrole_console"
PRE_COOKIE = "execrole_console_signin"  # the sign-in form's CSRF (double-submit)
SESSION_S = 8 * 3600


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    caller: Caller
    csrf: str
    expires: float
    access_key_id: str


class SignInError(Exception):
    """The key pair does not sign in (with the text the page shows)."""


class Sessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def sign_in(self, access_key_id: str, secret: str, session_token: str = "") -> str:
        """A new session's cookie token for a valid key pair."""
        record = lookup(self.db, access_key_id.strip())
        # One answer for every failure, as the AWS sign-in page gives: nothing to probe with.
        refused = SignInError("The access key ID or secret access key is not valid.")
        if record is None or not hmac.compare_digest(record.secret, secret.strip()):
            raise refused
        if record.session_token is not None:
            if not hmac.compare_digest(record.session_token, session_token.strip()):
                raise refused
            if record.expires is not None and time.time() >= record.expires:
                raise SignInError("The session token has expired.")
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires = now + SESSION_S
        if record.expires is not None:
            expires = min(expires, record.expires)
        self.db.execute("INSERT INTO console_sessions(token_hash, access_key_id, "
                        "session_token, csrf, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
                        (_hash(token), record.caller.access_key_id or access_key_id.strip(),
                         session_token.strip() or None, secrets.token_urlsafe(24), now,
                         expires))
        self.db.execute("DELETE FROM console_sessions WHERE expires < ?", (now,))
        return token

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        row = self.db.one("SELECT * FROM console_sessions WHERE token_hash=?", (_hash(token),))
        if row is None or row["expires"] < time.time():
            return None
        record = lookup(self.db, row["access_key_id"])
        if record is None:  # the key was deleted or deactivated since
            return None
        return Session(record.caller, row["csrf"], row["expires"], row["access_key_id"])

    def sign_out(self, token: str | None) -> None:
        if token:
            self.db.execute("DELETE FROM console_sessions WHERE token_hash=?", (_hash(token),))


def cookie(name: str, value: str, max_age: int, secure: bool = False) -> str:
    parts = [f"{name}={value}", "Path=/_execrole/console", "HttpOnly", "SameSite=Strict",
             f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
