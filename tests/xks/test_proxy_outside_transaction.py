"""The attack: a caller allowed CreateCustomKeyStore (or CreateKey in an external key store)
points the service at a proxy that accepts the connection and never answers — or a key's
proxy stops answering while callers Encrypt and Decrypt. The proxy call must not hold a store
lock: every other request goes on while it waits (``OutsideFirst`` in ``kms.pipeline``).
Ordered by events, never timed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmspolicy.errors import ServiceError
from kmspolicy.kms.identities import Identities
from kmspolicy.kms.model import ConnectionState, CustomKeyStoreRecord, CustomKeyStoreType
from kmspolicy.wiring import Runtime, ServiceSettings, build_runtime
from tests.xks.conftest import ACCESS_KEY_ID, PREFIX, SECRET, Proxy, running_proxy
from tests.xks.pki import make_pki
from tests.xks.relay import Relay

HOST = "blackhole.test"
PARAMS = {
    "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
    "XksProxyUriEndpoint": f"https://{HOST}",
    "XksProxyUriPath": "/example/kms/xks/v1",
    "XksProxyAuthenticationCredential": {
        "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
        "RawSecretAccessKey": "S" * 43,
    },
    "XksProxyConnectivity": "PUBLIC_ENDPOINT",
}
#: a real kmspolicy xks-proxy (the reads' tests), reached through a relay that can hang
PROXY_HOST = "xks.test"
PROXY_PARAMS = {
    "XksProxyUriEndpoint": f"https://{PROXY_HOST}",
    "XksProxyUriPath": f"/{PREFIX}/kms/xks/v1",
    "XksProxyAuthenticationCredential": {
        "AccessKeyId": ACCESS_KEY_ID,
        "RawSecretAccessKey": SECRET,
    },
}


class BlackHole:
    """A TCP endpoint that accepts connections and says nothing until released."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.release = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self.release.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self._held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        if self.release.is_set():
            return
        self.release.set()
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not)
        self.sock.close()
        self._thread.join()
        for conn in self._held:
            conn.close()


@pytest.fixture
def hole() -> Iterator[BlackHole]:
    found = BlackHole()
    yield found
    found.close()


@pytest.fixture
def runtime(tmp_path: Path, hole: BlackHole) -> Iterator[Runtime]:
    settings = ServiceSettings(
        data_dir=tmp_path,
        store_url=f"sqlite:///{tmp_path}/kms.db",
        xks_connect_to={HOST: ("127.0.0.1", hole.port)},
        # the proxy is released by the test; this only bounds a broken run
        xks_timeout=120.0,
    )
    built = build_runtime(settings, Identities())
    yield built
    built.close()


def _in_thread(work: Any) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done, errors


def _writes_go_on_while_the_proxy_hangs(
    runtime: Runtime, hole: BlackHole, hanging: Any
) -> ServiceError:
    kms = runtime.service()
    thread, done, errors = _in_thread(hanging)
    assert hole.accepted.wait(60), "the request never reached the proxy"
    # the hanging request is waiting on the proxy: another write must go through now
    made = kms.create_key(Description="while a proxy hangs")["KeyMetadata"]
    kms.tag_resource(KeyId=made["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v"}])
    assert not done.is_set(), "the proxy call ended before the other writes were tried"
    hole.close()  # the proxy hangs up: the request fails as an unreachable proxy does
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], ServiceError), errors
    return errors[0]


def _existing_store(runtime: Runtime, state: ConnectionState) -> str:
    """An external key store at the black hole, put in the store as if created when its proxy
    still answered."""
    kms = runtime.service()
    store_id = "cks-0123456789abcdef0"
    record = CustomKeyStoreRecord(
        store_id=store_id,
        account=kms.account,
        region=kms.region,
        name="hole",
        store_type=CustomKeyStoreType.EXTERNAL_KEY_STORE,
        creation_date=runtime.clock.now(),
        settings=tuple(
            sorted(
                {
                    "uri_endpoint": PARAMS["XksProxyUriEndpoint"],
                    "uri_path": PARAMS["XksProxyUriPath"],
                    "connectivity": "PUBLIC_ENDPOINT",
                    "access_key_id": "ABCDEFGHIJKLMNOPQRST",
                }.items()
            )
        ),
        sealed_credential=kms._pipeline.key_stores.seal_credential(store_id, b"S" * 43),
        connection_state=state,
        connection_id="elsewhere" if state is ConnectionState.CONNECTED else "",
    )
    with runtime.store.transaction() as tx:
        tx.put_custom_key_store(record)
    return store_id


def test_update_custom_key_store_does_not_hold_the_writer_lock(
    runtime: Runtime, hole: BlackHole
) -> None:
    kms = runtime.service()
    store_id = _existing_store(runtime, ConnectionState.DISCONNECTED)
    credential = {"AccessKeyId": "ZYXWVUTSRQPONMLKJIHG", "RawSecretAccessKey": "T" * 43}
    error = _writes_go_on_while_the_proxy_hangs(
        runtime,
        hole,
        lambda: kms.update_custom_key_store(
            CustomKeyStoreId=store_id, XksProxyAuthenticationCredential=credential
        ),
    )
    assert error.code == "XksProxyUriUnreachableException"
    entry = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
    assert entry["XksProxyConfiguration"]["AccessKeyId"] == "ABCDEFGHIJKLMNOPQRST"  # unchanged


def test_create_custom_key_store_does_not_hold_the_writer_lock(
    runtime: Runtime, hole: BlackHole
) -> None:
    kms = runtime.service()
    error = _writes_go_on_while_the_proxy_hangs(
        runtime, hole, lambda: kms.create_custom_key_store(CustomKeyStoreName="hole", **PARAMS)
    )
    assert error.code == "XksProxyUriUnreachableException"
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []


def test_create_key_in_an_external_key_store_does_not_hold_the_writer_lock(
    runtime: Runtime, hole: BlackHole
) -> None:
    kms = runtime.service()
    # a store connected by another process (the proxy answered it then): this process connects
    # on first use, inside CreateKey
    store_id = _existing_store(runtime, ConnectionState.CONNECTED)
    before = len(kms.list_keys()["Keys"])
    error = _writes_go_on_while_the_proxy_hangs(
        runtime,
        hole,
        lambda: kms.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="foo"
        ),
    )
    assert error.code == "KMSInternalException"  # as when this process cannot connect
    assert len(kms.list_keys()["Keys"]) == before + 1  # the other caller's key only


# --- reads: the crypto of an external key store's key ---------------------------------------


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Path]]:
    directory = tmp_path_factory.mktemp("xks-reads")
    ca, cert, key = make_pki(directory, PROXY_HOST)
    with running_proxy(directory, tls=(cert, key)) as proxy:
        yield proxy, ca


READS = {
    "Encrypt": lambda kms, key, blob: kms.encrypt(KeyId=key, Plaintext=b"x"),
    "Decrypt": lambda kms, key, blob: kms.decrypt(CiphertextBlob=blob),
    "GenerateDataKey": lambda kms, key, blob: kms.generate_data_key(KeyId=key, KeySpec="AES_256"),
    "ReEncrypt": lambda kms, key, blob: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key),
}


@pytest.mark.parametrize("store_url", ["memory:", "sqlite"])
@pytest.mark.parametrize("operation", sorted(READS))
def test_the_crypto_of_an_external_key_holds_no_store_lock(
    tls_proxy: tuple[Proxy, Path], tmp_path: Path, operation: str, store_url: str
) -> None:
    """The memory store locks for reads too, SQLite for writes only: on either, a request whose
    proxy does not answer must let every other request through."""
    proxy, ca = tls_proxy
    relay = Relay(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])))
    settings = ServiceSettings(
        data_dir=tmp_path,
        store_url=f"sqlite:///{tmp_path}/kms.db" if store_url == "sqlite" else store_url,
        xks_ca_bundle=ca,
        xks_connect_to={PROXY_HOST: ("127.0.0.1", relay.port)},
        xks_timeout=120.0,  # the relay is closed by the test; this only bounds a broken run
    )
    runtime = build_runtime(settings, Identities())
    try:
        kms = runtime.service()
        store_id = kms.create_custom_key_store(
            CustomKeyStoreName="reads",
            **{**PARAMS, **PROXY_PARAMS},
        )["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        key = kms.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="foo"
        )["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"before the proxy hangs")["CiphertextBlob"]
        relay.hold.set()
        thread, done, errors = _in_thread(lambda: READS[operation](kms, key, blob))
        assert relay.swallowed.wait(60), "the request never reached the proxy"
        # the request waits on the proxy: other requests, writes and reads, go on
        made = kms.create_key(Description="while a proxy hangs")["KeyMetadata"]["KeyId"]
        kms.tag_resource(KeyId=made, Tags=[{"TagKey": "k", "TagValue": "v"}])
        assert (
            kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=made, Plaintext=b"y")["CiphertextBlob"])[
                "Plaintext"
            ]
            == b"y"
        )
        assert not done.is_set(), "the proxy call ended before the other requests were tried"
        relay.close()  # the proxy hangs up: the request fails as with an unreachable proxy
        thread.join()
        assert len(errors) == 1 and isinstance(errors[0], ServiceError), errors
        assert errors[0].code == "KMSInvalidStateException"
    finally:
        relay.close()
        runtime.close()
