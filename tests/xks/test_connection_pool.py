"""A key store's client keeps its connections to the proxy alive (``store.xks_http``'s
``ConnectionPool``): requests reuse them, a connection the proxy closed while idle is replaced
without failing the request, an idle one is not reused past its age, and the pool is bounded
and closed with the client. Connections are counted by a relay in front of a real proxy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmspolicy.kms.xks_client import XksClient, XksProxySettings
from kmspolicy.store.xks_http import ConnectionPool, XksHttp
from tests.xks.conftest import ACCESS_KEY_ID, PREFIX, REGION, SECRET, running_proxy
from tests.xks.pki import make_pki
from tests.xks.relay import Relay

HOST = "xks.test"


@pytest.fixture(scope="module")
def proxy_and_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    directory = tmp_path_factory.mktemp("xks-pool")
    ca, cert, key = make_pki(directory, HOST)
    with running_proxy(directory, tls=(cert, key)) as proxy:
        yield int(proxy.url.rsplit(":", 1)[1]), ca


@pytest.fixture
def relay(proxy_and_ca: tuple[int, Path]) -> Iterator[Relay]:
    found = Relay(("127.0.0.1", proxy_and_ca[0]))
    yield found
    found.close()


def client(relay: Relay, ca: Path, *, pooled: bool = True, max_idle: int = 4) -> XksClient:
    transport = XksHttp(
        ca_bundle=ca, connect_to={HOST: ("127.0.0.1", relay.port)}, max_idle=max_idle
    )
    settings = XksProxySettings(
        f"https://{HOST}", f"/{PREFIX}/kms/xks/v1", ACCESS_KEY_ID, SECRET, REGION
    )
    return XksClient(transport, settings, pooled=pooled)


def health(xks: XksClient) -> None:
    assert xks.health("req", "KmsHealthCheck")["xksProxyVendor"] == "kmspolicy"


def test_requests_reuse_one_connection(relay: Relay, proxy_and_ca) -> None:
    xks = client(relay, proxy_and_ca[1])
    try:
        for _ in range(5):
            health(xks)
        assert relay.accepted == 1
    finally:
        xks.close()


def test_without_a_pool_each_request_connects(relay: Relay, proxy_and_ca) -> None:
    for xks in (
        client(relay, proxy_and_ca[1], pooled=False),
        client(relay, proxy_and_ca[1], max_idle=0),
    ):
        try:
            for _ in range(3):
                health(xks)
        finally:
            xks.close()
    assert relay.accepted == 6


def test_a_connection_the_proxy_closed_is_replaced(relay: Relay, proxy_and_ca) -> None:
    xks = client(relay, proxy_and_ca[1])
    try:
        health(xks)
        relay.drop()  # the proxy closes the idle connection
        health(xks)  # answered, on a new connection
        assert relay.accepted == 2
        health(xks)
        assert relay.accepted == 2
    finally:
        xks.close()


def test_an_idle_connection_is_not_reused_past_its_age(
    relay: Relay, proxy_and_ca, monkeypatch: pytest.MonkeyPatch
) -> None:
    xks = client(relay, proxy_and_ca[1])
    try:
        health(xks)
        monkeypatch.setattr(ConnectionPool, "IDLE_SECONDS", -1.0)  # every idle one is too old
        health(xks)
        assert relay.accepted == 2
    finally:
        xks.close()


def test_concurrent_requests_and_the_bound(relay: Relay, proxy_and_ca) -> None:
    xks = client(relay, proxy_and_ca[1], max_idle=2)
    pool = xks._pool
    assert isinstance(pool, ConnectionPool)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            for _ in range(3):
                health(xks)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(pool) <= 2  # never more idle than the bound
    finally:
        xks.close()
    assert len(pool) == 0  # closed with the client
    before = relay.accepted
    health(xks)  # a closed pool keeps nothing: the request still goes through, unpooled
    assert len(pool) == 0 and relay.accepted == before + 1
