"""A root key inside a PKCS#11 HSM: the token seals and unseals stored secrets (store layer).

The AES-256 key is generated in the token as non-extractable and sensitive and found by label;
every seal/unseal is one CKM_AES_GCM call in the token (96-bit IV, 128-bit tag, AAD), so the
root key never exists in this process. Needs the optional ``python-pkcs11`` package
(``pip install 'kmspolicy[hsm]'``). Configuration and formats: ``docs/hsm.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Mapping
from contextlib import suppress
from typing import Any, ClassVar

from kmspolicy.crypto.seal import SealError
from kmspolicy.errors import ConfigError, InternalError
from kmspolicy.store.hsm_uri import HsmUri, parse_pkcs11_uri, read_pin

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11
    from pkcs11.mechanisms import GCMParams
except ImportError:  # pragma: no cover - exercised only where the extra is not installed
    pkcs11 = None  # type: ignore[assignment]

__all__ = ["HsmRootKey", "PinRefused", "create_hsm_root_key", "open_hsm_root_key"]

# Sealed layout, like the file root key's but with its own magic so that a blob (or the store's
# canary) tells which kind of root key sealed it:
#   "kh" | 0x01 | fingerprint(8) | iv(12) | ciphertext | tag(16);  GCM AAD = header + caller's AAD
MAGIC = b"kh"
VERSION = 1
_FINGERPRINT = 8
_IV = 12
_TAG_BITS = 128
_HEADER = len(MAGIC) + 1 + _FINGERPRINT + _IV
_FINGERPRINT_LABEL = b"kmspolicy pkcs11 root key fingerprint v1\x00"

# python-pkcs11 initialises the module with C_Initialize(NULL), which tells it that no two threads
# call in at once (SoftHSM2 then takes no locks of its own and crashes under concurrent calls).
# Every call into the module from this file therefore holds this lock.
CALL_LOCK = threading.RLock()

# Errors that mean "the token or the session is gone", not "these bytes do not open".
_UNAVAILABLE: tuple[type[Exception], ...] = ()
if pkcs11 is not None:
    _UNAVAILABLE = (
        p11.SessionClosed,
        p11.SessionHandleInvalid,
        p11.DeviceRemoved,
        p11.DeviceError,
        p11.DeviceMemory,
        p11.TokenNotPresent,
        p11.TokenNotRecognised,
        p11.UserNotLoggedIn,
        p11.ObjectHandleInvalid,
        p11.KeyHandleInvalid,
    )


class PinRefused(ConfigError):  # named as what happened, like PKCS#11's
    """The token refused the PIN; ``locked``: the user is locked out (too many failures)."""

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


def _require_binding() -> None:
    if pkcs11 is None:
        raise ConfigError(
            "a pkcs11: root key needs the python-pkcs11 package: pip install 'kmspolicy[hsm]'"
        )


class _Login:
    """One logged-in session per (module, token) in this process, shared and reference counted.

    PKCS#11 login state belongs to the application, not the session: closing the session that
    logged in logs every session of the token out, so it is closed only by the last user.
    """

    _registry: ClassVar[dict[tuple[str, str], _Login]] = {}

    def __init__(self, token: Any, pin_digest: bytes, session: Any) -> None:
        self.token = token
        self.pin_digest = pin_digest
        self.session = session
        self.users = 0

    @classmethod
    def acquire(cls, uri: HsmUri, token: Any, pin: str) -> _Login:
        digest = hashlib.sha256(pin.encode()).digest()
        key = (uri.module, str(token.serial))
        with CALL_LOCK:
            login = cls._registry.get(key)
            if login is None:
                login = cls(token, digest, _open_session(uri, token, pin))
                cls._registry[key] = login
            elif not hmac.compare_digest(login.pin_digest, digest):
                # The token is logged in already; a second PIN cannot be checked without
                # logging everyone out, so a different one is refused rather than trusted.
                raise PinRefused(
                    f"PKCS#11 token `{uri.token}` is already logged in by this process with "
                    "another PIN"
                )
            login.users += 1
            return login

    def release(self, uri: HsmUri) -> None:
        with CALL_LOCK:
            self.users -= 1
            if self.users > 0:
                return
            self._registry.pop((uri.module, str(self.token.serial)), None)
            _close_quietly(self.session)

    def relogin(self, uri: HsmUri, pin: str) -> None:
        """Log in again after the token logged this process out (e.g. an HSM restart)."""
        with CALL_LOCK:
            _close_quietly(self.session)
            self.session = _open_session(uri, self.token, pin)


def _open_session(uri: HsmUri, token: Any, pin: str) -> Any:
    try:
        return token.open(user_pin=pin)
    except p11.PinIncorrect:
        raise PinRefused(
            f"wrong PIN for PKCS#11 token `{uri.token}` (from {uri.pin_source}); note that "
            "repeated failures may lock the token"
        ) from None
    except p11.PinLocked:
        raise PinRefused(
            f"the user PIN of PKCS#11 token `{uri.token}` is locked", locked=True
        ) from None
    except (p11.PinExpired, p11.PinInvalid, p11.PinLenRange) as exc:
        raise PinRefused(
            f"PKCS#11 token `{uri.token}` refused the PIN from {uri.pin_source}: "
            f"{type(exc).__name__}"
        ) from None
    except p11.UserAlreadyLoggedIn:
        # Logged in by other code of this process: our session shares that login.
        return token.open()
    except p11.PKCS11Error as exc:
        raise ConfigError(f"cannot log in to PKCS#11 token `{uri.token}`: {_name(exc)}") from None


def _name(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_quietly(session: Any) -> None:
    # Closing a dead session must not mask the error that killed it.
    with suppress(Exception):
        session.close()


class HsmRootKey:
    """The store's root key as an AES-256 key object inside a PKCS#11 token. Opaque."""

    __slots__ = (
        "_closed", "_env", "_handle", "_login", "_session", "fingerprint", "source", "uri",
    )  # fmt: skip

    kind = "pkcs11"

    def __init__(
        self, uri: HsmUri, login: _Login, fingerprint: str, env: Mapping[str, str]
    ) -> None:
        self.uri = uri
        self._env = env  # where the PIN is read again for a re-login (never the PIN itself)
        self.source = uri.describe()
        self.fingerprint = fingerprint
        self._login = login
        self._session: Any = None  # our own session (shares the login; closing it logs no one out)
        self._handle: Any = None  # the key object found in that session
        self._closed = False

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AES-256-GCM in the token; the IV is from our CSPRNG (it must be unique, not secret)."""
        header = MAGIC + bytes((VERSION,)) + bytes.fromhex(self.fingerprint) + os.urandom(_IV)
        params = GCMParams(header[-_IV:], header + aad, _TAG_BITS)
        try:
            return header + self._gcm("encrypt", plaintext, params)
        except p11.PKCS11Error as exc:
            raise InternalError(f"the HSM failed to seal ({self.source}): {_name(exc)}") from None

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes:
        """The plaintext; SealError for another key's blob, a file-key blob or modified bytes."""
        if len(sealed) < _HEADER + _TAG_BITS // 8 or sealed[:2] != MAGIC or sealed[2] != VERSION:
            raise SealError
        header = sealed[:_HEADER]
        params = GCMParams(header[-_IV:], header + aad, _TAG_BITS)
        try:
            return self._gcm("decrypt", sealed[_HEADER:], params)
        except _UNAVAILABLE as exc:
            raise InternalError(f"the HSM failed to unseal ({self.source}): {_name(exc)}") from None
        except p11.PKCS11Error:
            # A failed tag check: CKR_ENCRYPTED_DATA_INVALID on most tokens, CKR_GENERAL_ERROR
            # on SoftHSM2. Either way the bytes do not open under this key and AAD.
            raise SealError from None

    def _gcm(self, operation: str, data: bytes, params: Any) -> bytes:
        """One CKM_AES_GCM call; a dead session (HSM restart, token reinserted) is replaced
        and the call tried once more, so a recovered HSM costs no failed request."""
        with CALL_LOCK:
            for attempt in (1, 2):
                try:
                    call = getattr(self._key(), operation)
                    return bytes(call(data, mechanism=Mechanism.AES_GCM, mechanism_param=params))
                except _UNAVAILABLE:
                    self._drop()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _key(self) -> Any:
        """The key object in our session, opened on first use or after the session died."""
        if self._closed:
            raise InternalError(f"the HSM root key {self.source} was closed")
        if self._handle is None:
            try:
                self._handle, self._session = self._find()
            except ConfigError:
                # Found at startup, invisible now: most likely the token logged us out (an HSM
                # restart). Log in once more with the PIN from its source, and look again.
                try:
                    self._login.relogin(self.uri, read_pin(self.uri.pin_source, self._env))
                    self._handle, self._session = self._find()
                except ConfigError as exc:
                    # Our fault or the operator's, never the caller's.
                    raise InternalError(f"the HSM root key is no longer usable: {exc}") from None
        return self._handle

    def _find(self) -> tuple[Any, Any]:
        session = self._login.token.open()  # shares the login; closing it logs no one out
        try:
            return _find_key(session, self.uri), session
        except BaseException:
            _close_quietly(session)
            raise

    def _drop(self) -> None:
        if self._session is not None:
            _close_quietly(self._session)
        self._session = self._handle = None

    def close(self) -> None:
        """Close our session; the last user of the token's login logs out."""
        with CALL_LOCK:
            if self._closed:
                return
            self._closed = True
            if self._session is not None:
                _close_quietly(self._session)
            self._session = self._handle = None
            self._login.release(self.uri)

    def describe(self) -> str:
        return f"{self.source} (fingerprint {self.fingerprint})"

    def __repr__(self) -> str:
        return f"HsmRootKey(source={self.source!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("an HsmRootKey cannot be pickled")


def sealed_pkcs11_fingerprint(sealed: bytes) -> str | None:
    """The fingerprint in an HSM-sealed blob's header, or None for any other blob."""
    if len(sealed) < _HEADER or sealed[:2] != MAGIC:
        return None
    return sealed[3 : 3 + _FINGERPRINT].hex()


def open_hsm_root_key(text: str, env: Mapping[str, str] | None = None) -> HsmRootKey:
    """Log in to the token that ``text`` (a ``pkcs11:`` URI) names and find its root key."""
    with CALL_LOCK:
        return _open_hsm_root_key(text, env)


def _open_hsm_root_key(text: str, env: Mapping[str, str] | None) -> HsmRootKey:
    uri, token, pin = _connect(text, env)
    login = _Login.acquire(uri, token, pin)
    try:
        key = _find_key(login.session, uri)
        _check_attributes(key, uri)
        fingerprint = _fingerprint(key, uri)
    except BaseException:
        login.release(uri)
        raise
    return HsmRootKey(uri, login, fingerprint, os.environ if env is None else env)


def create_hsm_root_key(text: str, env: Mapping[str, str] | None = None) -> HsmRootKey:
    """Generate the root key in the token (AES-256, non-extractable, sensitive); refuse if the
    label is taken. Returns the opened key."""
    with CALL_LOCK:
        _create_hsm_root_key(text, env)
        return _open_hsm_root_key(text, env)


def _create_hsm_root_key(text: str, env: Mapping[str, str] | None) -> None:
    uri, token, pin = _connect(text, env)
    login = _Login.acquire(uri, token, pin)
    try:
        existing = _candidates(login.session, uri)
        if existing:
            raise ConfigError(f"PKCS#11 token `{uri.token}` already holds a key `{uri.object}`")
        with token.open(rw=True) as session:  # shares the login
            session.generate_key(
                KeyType.AES,
                256,
                label=uri.object,
                id=os.urandom(16),
                store=True,
                template=non_extractable_aes_template(),
            )
    except p11.PKCS11Error as exc:
        raise ConfigError(
            f"cannot create key `{uri.object}` in PKCS#11 token `{uri.token}`: {_name(exc)}"
        ) from None
    finally:
        login.release(uri)


def _connect(text: str, env: Mapping[str, str] | None) -> tuple[HsmUri, Any, str]:
    _require_binding()
    uri = parse_pkcs11_uri(text)
    pin = read_pin(uri.pin_source, os.environ if env is None else env)
    return uri, find_token(uri), pin


def find_token(uri: HsmUri) -> Any:
    """The token ``uri`` names (ConfigError naming what is missing); call with CALL_LOCK."""
    _require_binding()
    if not os.path.exists(uri.module):
        raise ConfigError(
            f"PKCS#11 module `{uri.module}` does not exist (install the HSM's library)"
        )
    try:
        lib = pkcs11.lib(uri.module)
    except p11.PKCS11Error as exc:
        raise ConfigError(f"cannot load PKCS#11 module `{uri.module}`: {_name(exc)}") from None
    try:
        if uri.serial:
            token = lib.get_token(token_label=uri.token, token_serial=uri.serial.encode())
        else:
            token = lib.get_token(token_label=uri.token)
    except p11.NoSuchToken:
        raise ConfigError(
            f"no PKCS#11 token labelled `{uri.token}` in module `{uri.module}` "
            "(initialise one, e.g. `softhsm2-util --init-token --free --label ...`)"
        ) from None
    except p11.MultipleTokensReturned:
        raise ConfigError(
            f"several PKCS#11 tokens are labelled `{uri.token}`: add `serial=` to the URI"
        ) from None
    except p11.PKCS11Error as exc:
        raise ConfigError(f"cannot reach PKCS#11 token `{uri.token}`: {_name(exc)}") from None
    return token


def _candidates(session: Any, uri: HsmUri) -> list[Any]:
    found = session.get_objects(
        {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: uri.object}
    )
    return list(found)


def _find_key(session: Any, uri: HsmUri) -> Any:
    found = _candidates(session, uri)
    if not found:
        raise ConfigError(
            f"PKCS#11 token `{uri.token}` holds no secret key labelled `{uri.object}`; create "
            "it with `kmspolicy hsm create-key URI` (docs/hsm.md)"
        )
    if len(found) > 1:
        raise ConfigError(
            f"PKCS#11 token `{uri.token}` holds {len(found)} secret keys labelled `{uri.object}`: "
            "the root key's label must be unique"
        )
    return found[0]


def non_extractable_aes_template() -> dict[Any, bool]:
    """The attributes of every AES key kmspolicy generates in a token (the root key, a CloudHSM
    key store's keys, xks-proxy's keys): it never leaves the token and does only AES-GCM."""
    A = Attribute
    return {
        A.TOKEN: True,
        A.PRIVATE: True,
        A.SENSITIVE: True,
        A.EXTRACTABLE: False,
        A.ENCRYPT: True,
        A.DECRYPT: True,
        A.WRAP: False,
        A.UNWRAP: False,
        A.SIGN: False,
        A.VERIFY: False,
        A.DERIVE: False,
        A.MODIFIABLE: False,
    }


def _check_attributes(key: Any, uri: HsmUri) -> None:
    check_aes_key(key, f"key `{uri.object}` in PKCS#11 token `{uri.token}`")


def check_aes_key(key: Any, what: str) -> None:
    """Refuse a key that could leave the token, or that is not AES-256 for encrypt and decrypt."""
    if key[Attribute.KEY_TYPE] != KeyType.AES or key[Attribute.VALUE_LEN] != 32:
        raise ConfigError(f"{what} is not an AES-256 key")
    if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
        raise ConfigError(
            f"{what} is extractable or not sensitive; kmspolicy uses only a root key that "
            "cannot leave the HSM (CKA_EXTRACTABLE false, CKA_SENSITIVE true)"
        )
    if not (key[Attribute.ENCRYPT] and key[Attribute.DECRYPT]):
        raise ConfigError(f"{what} does not allow CKA_ENCRYPT and CKA_DECRYPT")


def _fingerprint(key: Any, uri: HsmUri) -> str:
    """16 hex characters naming the key object without revealing it.

    From CKA_CHECK_VALUE (3 bytes the token derives from the key's value) and CKA_ID, both
    public by design; a regenerated key under the same label gets another fingerprint. A token
    that shows neither falls back to the label, which names the object but not its value.
    """
    parts = []
    for attribute in (Attribute.CHECK_VALUE, Attribute.ID):
        try:
            parts.append(bytes(key[attribute]))
        except p11.PKCS11Error:
            parts.append(b"")
    if not any(parts):
        parts = [uri.object.encode()]
    encoded = b"".join(len(part).to_bytes(2, "big") + part for part in parts)
    digest = hashlib.sha256(_FINGERPRINT_LABEL + encoded).digest()
    return digest[:_FINGERPRINT].hex()
