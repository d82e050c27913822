"""Console sessions: who signed in, until when, and the session's CSRF token.

Layer: server (adapter over the store). A session is a random 256-bit token in an HttpOnly,
SameSite=Strict cookie (Secure under TLS). The session itself is a row of the store
(``kms.ports.Transaction.put_session``) keyed by the token's SHA-256, so every server process
sharing the store knows it, a restart keeps it, and signing out deletes it for all of them;
neither the store nor a log ever holds a usable cookie. A session expires at a fixed time read
from the service's clock; expired rows are purged at each sign-in. The CSRF token and the
one-time message cookie are keyed by the session token (HMAC), so they need no storage and a
copy of the store cannot forge them. Failed sign-ins are counted in ``throttle``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kmspolicy.kms.model import SessionRecord
from kmspolicy.kms.ports import Store

SESSION_LIFETIME = timedelta(hours=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _keyed(token: str, purpose: bytes, data: bytes = b"") -> str:
    mac = hmac.new(token.encode("ascii", "replace"), purpose + b"\0" + data, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")


def same(a: str, b: str) -> bool:
    """Constant-time equality of two texts (tokens, secrets)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Session:
    principal: str
    access_key_id: str
    region: str
    expires: datetime
    #: the session's CSRF token (rendered into its forms; derived from the cookie's token)
    csrf: str = field(repr=False)
    #: the session's cookie token, to key the message cookie; never rendered
    token: str = field(repr=False)

    def seal_message(self, text: str) -> str:
        """A cookie value carrying ``text`` to the next page, bound to this session."""
        data = text.encode("utf-8")
        encoded = base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
        return f"{encoded}.{_keyed(self.token, b'message', data)}"

    def open_message(self, value: str) -> str:
        """The text of a message cookie made by ``seal_message`` of this session, else ""."""
        encoded, _, mac = value.partition(".")
        try:
            data = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            text = data.decode("utf-8")
        except ValueError:
            return ""
        return text if mac and same(mac, _keyed(self.token, b"message", data)) else ""


class Sessions:
    """The console's sessions in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def open(self, principal: str, access_key_id: str, region: str, now: datetime) -> str:
        """A new session; returns the cookie value (the only copy of the token)."""
        token = secrets.token_urlsafe(32)
        expires = now + SESSION_LIFETIME
        record = SessionRecord(_digest(token), principal, access_key_id, region, expires)
        with self._store.transaction() as tx:
            tx.delete_expired_sessions(now)
            tx.put_session(record)
        return token

    def get(self, token: str | None, now: datetime) -> Session | None:
        if not token:
            return None
        with self._store.transaction(readonly=True) as tx:
            record = tx.get_session(_digest(token))
        if record is None or now >= record.expires:
            return None
        return Session(
            record.principal,
            record.access_key_id,
            record.region,
            record.expires,
            csrf=_keyed(token, b"csrf"),
            token=token,
        )

    def close(self, token: str | None) -> None:
        if token:
            with self._store.transaction() as tx:
                tx.delete_session(_digest(token))
