"""The proxy's keys inside a PKCS#11 token (``root_key: pkcs11:...`` in the configuration).

Layer: xks (over ``store.pkcs11``'s token access). Each configured external key is the token's
secret key object labelled with the key id: used when it exists (it must be AES-256,
non-extractable, sensitive, for encrypt and decrypt), generated so on first start when absent.
Every Encrypt and Decrypt is one ``CKM_AES_GCM`` call in the token over the specification's
framed AAD, with the IV from this process's CSPRNG: the key material never exists here. The
deep health check runs under a session key generated at start-up (``CKA_TOKEN`` false: it
belongs to no KMS key and vanishes with the session). Calls hold ``pkcs11.CALL_LOCK`` and
share the token's login with the rest of the process; a session the token dropped (an HSM
restart) is replaced and the call tried once more.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from kmspolicy.crypto import xks as gcm
from kmspolicy.crypto.material import Rng
from kmspolicy.errors import ConfigError
from kmspolicy.store import pkcs11 as p11store
from kmspolicy.store.hsm_uri import HsmUri, parse_pkcs11_uri, read_pin

try:
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11
    from pkcs11.mechanisms import GCMParams
except ImportError:  # pragma: no cover - find_token says so (ConfigError)
    pass

__all__ = ["TokenKeys"]

_TAG_BITS = gcm.TAG_BYTES * 8
_NO_OBJECT = re.compile(r"(?:^|[;?&])\s*(object|label)\s*=", re.IGNORECASE)


class TokenKeys:
    """The ``KeyManager`` of keys in a PKCS#11 token (see the module docstring)."""

    def __init__(
        self,
        text: str,
        key_ids: list[str],
        env: Mapping[str, str] | None = None,
        rng: Rng = os.urandom,
    ) -> None:
        found = _NO_OBJECT.search(text.removeprefix("pkcs11:"))
        if found is not None:
            raise ConfigError(
                f"`{found.group(1)}=` has no meaning in xks-proxy's root_key: each external "
                "key is the token's object labelled with its key id"
            )
        self._uri: HsmUri = parse_pkcs11_uri(text)
        self._rng = rng
        self._key_ids = key_ids
        self._handles: dict[str, Any] = {}
        self._test_key: Any = None
        self._login: Any = None
        self._session: Any = None
        pin = read_pin(self._uri.pin_source, os.environ if env is None else env)
        with p11store.CALL_LOCK:
            token = p11store.find_token(self._uri)
            self._login = p11store._Login.acquire(self._uri, token, pin)
            try:
                self._session = token.open(rw=True)  # shares the login
                for key_id in key_ids:
                    self._handles[key_id] = self._find_or_create(key_id)
                self._test_key = self._new_test_key()
            except p11.PKCS11Error as exc:
                self.close()
                raise ConfigError(
                    f"PKCS#11 token `{self._uri.token}`: {p11store._name(exc)}"
                ) from None
            except BaseException:
                self.close()
                raise
            self.ekm = (
                str(token.manufacturer_id).strip() or "PKCS#11",
                f"pkcs11:{self._uri.token}",
                str(token.model).strip() or "token",
            )

    def _find_or_create(self, key_id: str) -> Any:
        what = f"key `{key_id}` in PKCS#11 token `{self._uri.token}`"
        found = list(
            self._session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: key_id}
            )
        )
        if len(found) > 1:
            raise ConfigError(
                f"{len(found)} secret keys are labelled `{key_id}`: {what} is ambiguous"
            )
        if found:
            p11store.check_aes_key(found[0], what)
            return found[0]
        return self._session.generate_key(
            KeyType.AES,
            256,
            label=key_id,
            id=self._rng(16),
            store=True,
            template=p11store.non_extractable_aes_template(),
        )

    def _new_test_key(self) -> Any:
        template = {**p11store.non_extractable_aes_template(), Attribute.TOKEN: False}
        return self._session.generate_key(KeyType.AES, 256, store=False, template=template)

    # --- KeyManager

    def encrypt(
        self, key_id: str, plaintext: bytes, aad: bytes, metadata: bytes
    ) -> tuple[bytes, bytes, bytes]:
        iv = self._rng(gcm.IV_BYTES)
        params = GCMParams(iv, gcm.gcm_aad(aad, metadata), _TAG_BITS)
        sealed = self._call(lambda: self._key(key_id).encrypt(
            plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params
        ))  # fmt: skip
        return iv, sealed[: -gcm.TAG_BYTES], sealed[-gcm.TAG_BYTES :]

    def decrypt(
        self, key_id: str, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes, metadata: bytes
    ) -> bytes:
        gcm.check_sealed_form(iv, tag, aad, metadata)
        params = GCMParams(iv, gcm.gcm_aad(aad, metadata), _TAG_BITS)
        try:
            return self._call(lambda: self._key(key_id).decrypt(
                ciphertext + tag, mechanism=Mechanism.AES_GCM, mechanism_param=params
            ))  # fmt: skip
        except _Refused:
            # A failed tag check: CKR_ENCRYPTED_DATA_INVALID on most tokens, CKR_GENERAL_ERROR
            # on SoftHSM2. Either way these bytes do not open under this key and AAD.
            raise gcm.XksDecryptError from None

    def self_test(self) -> None:
        probe = self._rng(16)
        params = GCMParams(self._rng(gcm.IV_BYTES), b"health", _TAG_BITS)
        sealed = self._call(lambda: self._test_key.encrypt(
            probe, mechanism=Mechanism.AES_GCM, mechanism_param=params
        ))  # fmt: skip
        opened = self._call(lambda: self._test_key.decrypt(
            sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params
        ))  # fmt: skip
        if opened != probe:  # pragma: no cover - a token that returns wrong bytes
            raise gcm.XksDecryptError

    def describe(self) -> str:
        return f"{len(self._key_ids)} key(s) in PKCS#11 token {self._uri.token!r}"

    def close(self) -> None:
        with p11store.CALL_LOCK:
            if self._login is None:
                return
            self._handles.clear()
            self._test_key = None
            if self._session is not None:
                p11store._close_quietly(self._session)
                self._session = None
            self._login.release(self._uri)
            self._login = None

    # --- the token

    def _key(self, key_id: str) -> Any:
        handle = self._handles.get(key_id)
        if handle is None:  # after a new session: found again by its label
            try:
                handle = self._session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_id)
            except (p11.NoSuchKey, p11.MultipleObjectsReturned):
                # removed from the token (or doubled) while the proxy runs: the operator's
                # doing, never a ciphertext that does not open
                raise _Gone(f"the token no longer holds one key labelled `{key_id}`") from None
            self._handles[key_id] = handle
        return handle

    def _call(self, work: Callable[[], Any]) -> bytes:
        """One call into the module; a dead session is replaced (the handles and the session's
        test key with it) and the call tried once more. The token refusing the call for its
        data: _Refused."""
        with p11store.CALL_LOCK:
            if self._login is None:
                raise ConfigError("the proxy's PKCS#11 keys were closed")
            for attempt in (1, 2):
                try:
                    return bytes(work())
                except p11store._UNAVAILABLE:
                    if attempt == 2:
                        raise
                except p11.PKCS11Error as exc:
                    raise _Refused(p11store._name(exc)) from None
                self._handles.clear()
                p11store._close_quietly(self._session)
                self._session = self._login.token.open(rw=True)
                self._test_key = self._new_test_key()
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        return f"TokenKeys({self._uri.token!r}, {len(self._key_ids)} keys)"


class _Gone(Exception):  # inside this module only: the app answers InternalException
    """A configured key is no longer in the token."""


class _Refused(Exception):  # inside this module only
    """The token refused a call for its data (a GCM tag that does not verify)."""
