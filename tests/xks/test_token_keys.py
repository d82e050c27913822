"""``root_key: pkcs11:...``: the proxy's keys inside a SoftHSM2 token (the conformance suite runs
against this key manager too: the ``proxy`` fixture's ``pkcs11`` variant)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from softhsm_tokens import SOFTHSM_MODULE, SOFTHSM_TOKENS

from kmspolicy.errors import ConfigError
from kmspolicy.store import pkcs11 as p11store
from kmspolicy.store.hsm_uri import parse_pkcs11_uri
from tests.xks.conftest import pkcs11_config, running_proxy

pytestmark = pytest.mark.hsm
PIN = SOFTHSM_TOKENS["xks-proxy"]


@contextmanager
def token_session(softhsm_conf: Path) -> Iterator[Any]:
    """A read-write session of the proxy's token, sharing this process's login."""
    from pkcs11 import Attribute  # noqa: F401  (the binding is there: softhsm_conf checked)

    uri = parse_pkcs11_uri(f"pkcs11:module={SOFTHSM_MODULE};token=xks-proxy")
    with p11store.CALL_LOCK:
        login = p11store._Login.acquire(uri, p11store.find_token(uri), PIN)
    try:
        with login.token.open(rw=True) as session:
            yield session
    finally:
        login.release(uri)


def test_keys_live_in_the_token_and_persist_across_restarts(
    tmp_path: Path, softhsm_conf: Path
) -> None:
    from pkcs11 import Attribute, KeyType, ObjectClass

    text = pkcs11_config(tmp_path)
    with running_proxy(tmp_path, text) as first:
        out = first.encrypt("foo", plaintext=base64.b64encode(b"kept").decode()).body
    assert not (tmp_path / "xks-data").exists()  # nothing on disk: the keys are the token's
    with token_session(softhsm_conf) as session:
        keys = list(
            session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: "foo"})
        )
        assert len(keys) == 1
        key = keys[0]
        assert (key[Attribute.KEY_TYPE], key[Attribute.VALUE_LEN]) == (KeyType.AES, 32)
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        assert key[Attribute.TOKEN]
    with running_proxy(tmp_path, text) as second:
        fields = {k: out[k] for k in ("ciphertext", "initializationVector", "authenticationTag")}
        reply = second.decrypt("foo", **fields)
        assert base64.b64decode(reply.body["plaintext"]) == b"kept"
        health = second.health().body
        assert health["ekmFleetDetails"][0]["id"] == "pkcs11:xks-proxy"


def test_an_extractable_key_under_a_key_id_is_refused(tmp_path: Path, softhsm_conf: Path) -> None:
    from pkcs11 import Attribute, KeyType

    with token_session(softhsm_conf) as session:
        template = {
            **p11store.non_extractable_aes_template(),
            Attribute.EXTRACTABLE: True,
            Attribute.SENSITIVE: False,
        }
        session.generate_key(KeyType.AES, 256, label="leaky", store=True, template=template)
    text = pkcs11_config(tmp_path).replace("keys:\n", "keys:\n  - id: leaky\n", 1)
    with pytest.raises(ConfigError, match=r"`leaky`.* extractable"), running_proxy(tmp_path, text):
        pass


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("token=xks-proxy", "token=xks-proxy;object=foo"), "`object=` has no meaning"),
        (("token=xks-proxy", "token=no-such-token"), "no PKCS#11 token labelled `no-such-token`"),
        (("pin-source=file:", "pin-source=file:/nonexistent"), "cannot open the HSM PIN file"),
    ],
)
def test_root_key_errors(
    tmp_path: Path, softhsm_conf: Path, change: tuple[str, str], message: str
) -> None:
    text = pkcs11_config(tmp_path).replace(*change)
    with pytest.raises(ConfigError, match=message), running_proxy(tmp_path, text):
        pass


def test_a_wrong_pin_is_refused_without_quoting_it(tmp_path: Path, softhsm_conf: Path) -> None:
    text = pkcs11_config(tmp_path)
    (tmp_path / "xks-proxy.pin").write_text("not-the-pin-7")
    with (
        pytest.raises(ConfigError, match=r"wrong PIN|another PIN") as info,
        running_proxy(tmp_path, text),
    ):
        pass
    assert "not-the-pin-7" not in str(info.value)
