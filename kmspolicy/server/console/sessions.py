"""Console sessions: who signed in, until when, and the session's CSRF token.

Layer: server (adapter). A session is a random 256-bit token in an HttpOnly, SameSite=Strict
cookie (Secure under TLS); the server keeps only its SHA-256, so a memory dump or a log never
holds a usable cookie. Sessions live in memory, per server process, bounded (the oldest is
dropped first) and expire at a fixed time read from the service's clock. Failed sign-ins are
counted per client address, bounded too, so guessing secrets is slow for one address without
making the console slow for anybody else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kmspolicy._cache import BoundedCache

SESSION_LIFETIME = timedelta(hours=1)
MAX_SESSIONS = 4096
#: failed sign-ins one address may make within FAILURE_WINDOW before it must wait
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=5)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time equality of two texts (tokens, secrets)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(slots=True)
class Session:
    principal: str
    access_key_id: str
    region: str
    expires: datetime
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    #: one message shown on the next page (the result of an action), then cleared
    flash: str = ""


class Sessions:
    """The signed-in sessions of one console (an instance: no process-wide state)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: BoundedCache[str, Session] = BoundedCache(max_sessions)
        self._failures: BoundedCache[str, tuple[int, datetime]] = BoundedCache(max_sessions)

    def open(self, principal: str, access_key_id: str, region: str, now: datetime) -> str:
        """A new session; returns the cookie value (the only copy of the token)."""
        token = secrets.token_urlsafe(32)
        self._sessions.put(
            _digest(token), Session(principal, access_key_id, region, now + SESSION_LIFETIME)
        )
        return token

    def get(self, token: str | None, now: datetime) -> Session | None:
        if not token:
            return None
        session = self._sessions.get(_digest(token))
        if session is None:
            return None
        if now >= session.expires:
            self._sessions.pop(_digest(token))
            return None
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._sessions.pop(_digest(token))

    # --- sign-in failures

    def blocked(self, address: str, now: datetime) -> bool:
        count, since = self._failures.get(address) or (0, now)
        return count >= MAX_FAILURES and now - since < FAILURE_WINDOW

    def failed(self, address: str, now: datetime) -> None:
        count, since = self._failures.get(address) or (0, now)
        if now - since >= FAILURE_WINDOW:
            count, since = 0, now
        self._failures.put(address, (count + 1, since))

    def succeeded(self, address: str) -> None:
        self._failures.pop(address)
