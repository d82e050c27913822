"""The client side of the XKS Proxy API (kms.xks_client over store.xks_http) against a real
``kmspolicy xks-proxy`` over HTTPS: the four APIs, and every failure as its reason."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmspolicy.errors import ConfigError
from kmspolicy.kms.xks_client import (
    PROXY_ERROR_NAMES,
    RequestMetadata,
    XksClient,
    XksProxyFailure,
    XksProxySettings,
    XksSealed,
)
from kmspolicy.store.xks_http import XksHttp, parse_connect_to
from kmspolicy.xks.errors import ERRORS
from tests.xks.conftest import ACCESS_KEY_ID, PREFIX, REGION, SECRET, Proxy, running_proxy
from tests.xks.pki import make_pki

HOST = "xks.test"
MD = RequestMetadata(
    aws_principal_arn="arn:aws:iam::111122223333:user/alice",
    kms_operation="Encrypt",
    kms_request_id="req-1",
    kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
)


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Path]]:
    directory = tmp_path_factory.mktemp("xks-tls")
    ca, cert, key = make_pki(directory, HOST)
    with running_proxy(directory, tls=(cert, key)) as proxy:
        yield proxy, ca


def client(
    tls_proxy: tuple[Proxy, Path],
    *,
    secret: str = SECRET,
    path: str | None = None,
    ca: Path | None = None,
    timeout: float = 5.0,
) -> XksClient:
    proxy, default_ca = tls_proxy
    port = int(proxy.url.rsplit(":", 1)[1])
    transport = XksHttp(
        ca_bundle=ca or default_ca, connect_to={HOST: ("127.0.0.1", port)}, timeout=timeout
    )
    settings = XksProxySettings(
        f"https://{HOST}", path or f"/{PREFIX}/kms/xks/v1", ACCESS_KEY_ID, secret, REGION
    )
    return XksClient(transport, settings)


def test_proxy_errors_are_the_same_names_on_both_sides() -> None:
    assert set(ERRORS) == PROXY_ERROR_NAMES


def test_the_four_apis_over_https(tls_proxy) -> None:
    xks = client(tls_proxy)
    assert xks.health("req-h", "ConnectCustomKeyStore")["xksProxyVendor"] == "kmspolicy"
    meta = xks.key_metadata("foo", MD)
    assert (meta.key_spec, meta.key_usage, meta.key_status) == (
        "AES_256",
        ("ENCRYPT", "DECRYPT"),
        "ENABLED",
    )
    sealed = xks.encrypt("foo", b"inner blob", b"header+context", MD)
    assert len(sealed.ciphertext) == len(b"inner blob")
    assert xks.decrypt("foo", sealed, b"header+context", MD) == b"inner blob"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"secret": "WrongSecretWrongSecretWrongSecretWrongSecret0"},
            "AuthenticationFailedException",
        ),
        ({"path": "/wrong/kms/xks/v1"}, "InvalidUriPathException"),
    ],
)
def test_proxy_errors_are_reasons(tls_proxy, change: dict, reason: str) -> None:
    with pytest.raises(XksProxyFailure) as info:
        client(tls_proxy, **change).health("r", "ConnectCustomKeyStore")
    assert info.value.reason == reason


def test_key_errors_are_reasons(tls_proxy) -> None:
    xks = client(tls_proxy)
    with pytest.raises(XksProxyFailure) as info:
        xks.key_metadata("no-such-key", MD)
    assert info.value.reason == "KeyNotFoundException"
    sealed = xks.encrypt("foo", b"x", b"aad", MD)
    with pytest.raises(XksProxyFailure) as info:
        xks.decrypt("foo", sealed, b"other aad", MD)
    assert info.value.reason == "InvalidCiphertextException"
    with pytest.raises(XksProxyFailure) as info:
        xks.decrypt("encrypt_only_key", sealed, b"aad", MD)
    assert info.value.reason == "InvalidKeyUsageException"
    forged = XksSealed(b"x", bytes(12), bytes(16))
    with pytest.raises(XksProxyFailure) as info:
        xks.decrypt("foo", forged, b"aad", MD)
    assert info.value.reason == "InvalidCiphertextException"


def test_an_untrusted_certificate_is_a_tls_failure(tls_proxy, tmp_path: Path) -> None:
    other_ca, _, _ = make_pki(tmp_path, HOST)
    with pytest.raises(XksProxyFailure) as info:
        client(tls_proxy, ca=other_ca).health("r", "ConnectCustomKeyStore")
    assert info.value.reason == "TLS"


def test_a_certificate_for_another_host_is_a_tls_failure(tls_proxy, tmp_path: Path) -> None:
    proxy, ca = tls_proxy
    port = int(proxy.url.rsplit(":", 1)[1])
    transport = XksHttp(ca_bundle=ca, connect_to={"other.test": ("127.0.0.1", port)})
    settings = XksProxySettings(
        "https://other.test", f"/{PREFIX}/kms/xks/v1", ACCESS_KEY_ID, SECRET, REGION
    )
    with pytest.raises(XksProxyFailure) as info:
        XksClient(transport, settings).health("r", "ConnectCustomKeyStore")
    assert info.value.reason == "TLS"


def test_nobody_listening_is_unreachable(tls_proxy) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    transport = XksHttp(connect_to={HOST: ("127.0.0.1", port)})
    settings = XksProxySettings(f"https://{HOST}", "/kms/xks/v1", ACCESS_KEY_ID, SECRET)
    with pytest.raises(XksProxyFailure) as info:
        XksClient(transport, settings).health("r", "ConnectCustomKeyStore")
    assert info.value.reason == "UNREACHABLE"


def test_a_proxy_that_never_answers_times_out() -> None:
    # the attack: a proxy that accepts and then holds the connection; the request ends anyway
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held: list[socket.socket] = []
    thread = threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        transport = XksHttp(connect_to={HOST: listener.getsockname()}, timeout=0.3)
        settings = XksProxySettings(f"https://{HOST}", "/kms/xks/v1", ACCESS_KEY_ID, SECRET)
        with pytest.raises(XksProxyFailure) as info:
            XksClient(transport, settings).health("r", "ConnectCustomKeyStore")
        assert info.value.reason == "TIMED_OUT"
    finally:
        thread.join(5)
        for s in held:
            s.close()
        listener.close()


@pytest.mark.parametrize("option", ["host", "host=addr", "=1.2.3.4:5", "h=1.2.3.4:port"])
def test_connect_to_option_errors(option: str) -> None:
    with pytest.raises(ConfigError, match="HOST=ADDRESS:PORT"):
        parse_connect_to(option)


def test_connect_to_option() -> None:
    assert parse_connect_to("XKS.example=127.0.0.1:4600") == ("xks.example", ("127.0.0.1", 4600))
    assert parse_connect_to("h=[::1]:443") == ("h", ("::1", 443))


class _Canned:
    """A transport answering one canned (status, body): the proxy misbehaving on purpose."""

    def __init__(self, status: int, body: bytes) -> None:
        self.answer = (status, body)

    def post(self, settings, path, body, pool=None):
        return self.answer

    def pool(self):  # pragma: no cover - the canned clients are not pooled
        raise AssertionError("not pooled")


def _canned(status: int, body: bytes) -> XksClient:
    settings = XksProxySettings(f"https://{HOST}", "/kms/xks/v1", ACCESS_KEY_ID, SECRET)
    return XksClient(_Canned(status, body), settings)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"not json"),
        (200, b"[]"),
        (500, b"<html>oops</html>"),
        (400, b'{"errorName": "NoSuchError"}'),
        (
            200,
            b'{"ciphertext": "eA==", "initializationVector": "AAAAAAAAAAAAAAAA",'
            b' "authenticationTag": "AAAAAAAAAAAAAAAAAAAAAA==",'
            b' "ciphertextDataIntegrityValue": "AAAA"}',
        ),  # the CDIV does not match
        (
            200,
            b'{"ciphertext": "eHg=", "initializationVector": "AAAAAAAAAAAAAAAA",'
            b' "authenticationTag": "AAAAAAAAAAAAAAAAAAAAAA=="}',
        ),  # longer than the input
        (200, b"{" + b" " * (70 * 1024) + b"}"),
    ],
)
def test_malformed_answers_are_invalid_responses(status: int, body: bytes) -> None:
    with pytest.raises(XksProxyFailure) as info:
        _canned(status, body).encrypt("foo", b"x", b"", MD)
    assert info.value.reason == "INVALID_RESPONSE"


@pytest.mark.parametrize(
    "body",
    [
        b'{"xksProxyFleetSize": 0, "ekmFleetDetails": [{"healthStatus": "ACTIVE"}]}',
        b'{"xksProxyFleetSize": 1, "ekmFleetDetails": []}',
        b'{"xksProxyFleetSize": 1, "ekmFleetDetails": [{"healthStatus": "GREAT"}]}',
    ],
)
def test_malformed_health_is_an_invalid_response(body: bytes) -> None:
    with pytest.raises(XksProxyFailure) as info:
        _canned(200, body).health("r", "KmsHealthCheck")
    assert info.value.reason == "INVALID_RESPONSE"


def test_every_key_manager_unavailable() -> None:
    body = b'{"xksProxyFleetSize": 1, "ekmFleetDetails": [{"healthStatus": "UNAVAILABLE"}]}'
    with pytest.raises(XksProxyFailure) as info:
        _canned(200, body).health("r", "KmsHealthCheck")
    assert info.value.reason == "UNAVAILABLE"
