"""Dashboard login: one-time links from the chat, then a signed session cookie.

Login links
-----------
``/dashboard`` in the chat calls :func:`create_login_link`. The link carries a random token
(``secrets.token_urlsafe(32)``); the store keeps only its SHA-256 hash, with the member and an
expiry of 15 minutes. Opening the link consumes it atomically (single use).

Sessions
--------
After a login the browser holds one cookie: ``<member>.<expires>.<nonce>.<signature>``, signed
with HMAC-SHA256. The session also lives on the server: the store keeps the SHA-256 hash of the
nonce with the member and the expiry (``web_sessions``), and every request checks that row.
Logout deletes it, erasing the member deletes it (``ON DELETE CASCADE``) and revoking a read
right deletes all of that member's sessions, so a copied or kept cookie stops working at once
(a signature alone cannot be taken back). The key comes from ``TEAMSPIEGEL_SECRET`` (``settings.secret_key``). Without a
configured secret every process draws a random key at start: that works, but every restart logs
everybody out and several web processes would not accept each other's cookies, so configure one
in production. The cookie is HttpOnly, SameSite=Strict, Path=/, and Secure when the request came
over HTTPS (directly or per ``X-Forwarded-Proto``). The random nonce is the session's identity:
the CSRF token of the session's forms is an HMAC of it, so it needs no server-side storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.store import Store

__all__ = [
    "COOKIE_NAME",
    "LINK_TTL",
    "SESSION_TTL",
    "Session",
    "SessionSigner",
    "create_login_link",
    "end_session",
    "hash_token",
    "request_is_https",
    "session_alive",
    "start_session",
]

COOKIE_NAME = "teamspiegel_sessie"
LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)
DEFAULT_WEB_URL = "http://127.0.0.1:8080"

#: used when no TEAMSPIEGEL_SECRET is configured: sessions last only as long as this process
_PROCESS_KEY = secrets.token_bytes(32)


def _now(now: datetime | None = None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def hash_token(token: str) -> str:
    """What the store keeps of a login token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_login_link(
    store: Store, member_id: int, settings: Settings, now: datetime | None = None
) -> str:
    """A one-time dashboard login link for ``member_id``, valid for 15 minutes."""
    token = secrets.token_urlsafe(32)
    expires_at = _now(now) + LINK_TTL
    with store.transaction():
        store.create_web_login(member_id, hash_token(token), expires_at)
    base = (settings.web_url or DEFAULT_WEB_URL).rstrip("/")
    return f"{base}/login/{token}"


def request_is_https(scheme: str, headers: Mapping[str, str]) -> bool:
    """Whether the browser talks HTTPS to us (directly or through a proxy that says so)."""
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return scheme == "https" or forwarded == "https"


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Session:
    member_id: int
    expires: int  # unix time
    nonce: str


class SessionSigner:
    """Signs and checks session cookies and derives CSRF tokens (HMAC-SHA256)."""

    def __init__(self, secret_key: str | None) -> None:
        root = secret_key.encode("utf-8") if secret_key else _PROCESS_KEY
        # separate keys per purpose, so a value signed for one use is useless for another
        self._session_key = hmac.new(root, b"teamspiegel/web/session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(root, b"teamspiegel/web/csrf", hashlib.sha256).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._session_key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, member_id: int, now: datetime | None = None) -> tuple[str, Session]:
        expires = int((_now(now) + SESSION_TTL).timestamp())
        session = Session(member_id, expires, _b64(secrets.token_bytes(18)))
        payload = f"{member_id}.{expires}.{session.nonce}"
        return f"{payload}.{self._sign(payload)}", session

    def load(self, value: str | None, now: datetime | None = None) -> Session | None:
        """The session of a cookie value, or None if it is missing, tampered with or expired."""
        if not value or len(value) > 200:
            return None
        payload, _, signature = value.rpartition(".")
        try:
            expected = self._sign(payload)
        except UnicodeEncodeError:
            return None
        if not _same(expected, signature):
            return None
        parts = payload.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        session = Session(int(parts[0]), int(parts[1]), parts[2])
        if session.expires <= _now(now).timestamp():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return _b64(hmac.new(self._csrf_key, session.nonce.encode("ascii"), hashlib.sha256).digest())

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and _same(self.csrf_token(session), str(token))


def _session_key(session: Session) -> str:
    """What the store keeps of a session: the hash of its nonce (the cookie is the secret)."""
    return hash_token(session.nonce)


def start_session(
    store: Store, signer: SessionSigner, member_id: int, now: datetime | None = None
) -> tuple[str, Session]:
    """A new server-side session for ``member_id``: (cookie value, session). The caller holds
    the transaction."""
    moment = _now(now)
    value, session = signer.issue(member_id, moment)
    store.create_web_session(_session_key(session), member_id,
                             datetime.fromtimestamp(session.expires, UTC), moment)
    return value, session


def session_alive(store: Store, session: Session, now: datetime | None = None) -> bool:
    """The signed session still exists on the server (no logout, erasure or revocation)."""
    return store.web_session_alive(_session_key(session), session.member_id, _now(now))


def end_session(store: Store, session: Session) -> bool:
    return store.end_web_session(_session_key(session))
