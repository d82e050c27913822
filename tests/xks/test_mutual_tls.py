"""Mutual TLS: ``kmspolicy xks-proxy --tls-client-ca [--tls-client-subject]`` refuses a client
without a certificate from that CA (or for another subject), and ``kmspolicy serve
--xks-client-cert/--xks-client-key`` is a client it accepts.

Certificates come from throwaway CAs (``tests/xks/pki.py``): the proxy's server certificate and
the client certificates ``cks.kms.us-east-1.amazonaws.com`` (the subject AWS KMS presents) and
``intruder`` from one CA, and a client certificate from another CA.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from kmspolicy.errors import ConfigError
from kmspolicy.server.thread import serve_in_thread
from kmspolicy.store.xks_http import XksHttp, _Connection
from tests.xks.conftest import (
    ACCESS_KEY_ID,
    SECRET,
    Proxy,
    running_proxy,
    xks_store_request,
)
from tests.xks.pki import make_pki

HOST = "xks.test"
KMS_SUBJECT = "cks.kms.us-east-1.amazonaws.com"


class Pki:
    def __init__(self, directory: Path) -> None:
        self.ca, self.cert, self.key = make_pki(directory, HOST, clients=(KMS_SUBJECT, "intruder"))
        other = directory / "other-ca"
        other.mkdir()
        make_pki(other, HOST, clients=(KMS_SUBJECT,))
        self.kms = (
            directory / f"client-{KMS_SUBJECT}.pem",
            directory / f"client-{KMS_SUBJECT}.key",
        )
        self.intruder = (directory / "client-intruder.pem", directory / "client-intruder.key")
        self.foreign = (other / f"client-{KMS_SUBJECT}.pem", other / f"client-{KMS_SUBJECT}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("mtls"))


@pytest.fixture(scope="module")
def mtls_proxy(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("xks-mtls")
    with running_proxy(
        directory, tls=(pki.cert, pki.key), client_ca=pki.ca, client_subject=KMS_SUBJECT
    ) as proxy:
        yield proxy


def health(proxy: Proxy, pki: Pki, client: tuple[Path, Path] | None) -> tuple[int, dict]:
    """GetHealthStatus over a raw TLS connection presenting ``client`` (or no certificate);
    raises OSError (ssl.SSLError included) when the proxy refuses the connection."""
    context = ssl.create_default_context(cafile=str(pki.ca))
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    port = int(proxy.url.rsplit(":", 1)[1])
    body = json.dumps(
        {"requestMetadata": {"kmsRequestId": "r-1", "kmsOperation": "KmsHealthCheck"}}
    ).encode()
    request = AWSRequest(
        method="POST", url=f"https://{HOST}{proxy.base}/health", data=body,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET), "kms-xks-proxy", "us-east-1").add_auth(request)
    # HTTPS to xks.test (SNI, certificate check) over a socket to the proxy's loopback port
    connection = _Connection(HOST, ("127.0.0.1", port), context, 10)
    try:
        connection.request("POST", f"{proxy.base}/health", body, dict(request.prepare().headers))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_client_certificate_of_the_ca_for_the_subject_is_served(
    mtls_proxy: Proxy, pki: Pki
) -> None:
    status, body = health(mtls_proxy, pki, pki.kms)
    assert (status, body["xksProxyVendor"]) == (200, "kmspolicy")


@pytest.mark.parametrize("client", ["none", "foreign", "intruder"])
def test_other_clients_are_refused(mtls_proxy: Proxy, pki: Pki, client: str) -> None:
    """No certificate or one of another CA: the handshake fails; a certificate of the CA for
    another subject: disconnected before any request is read."""
    presented = {"none": None, "foreign": pki.foreign, "intruder": pki.intruder}[client]
    with pytest.raises(OSError):  # ssl.SSLError or http.client.RemoteDisconnected
        health(mtls_proxy, pki, presented)


def test_the_client_options_are_checked(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="cannot load the XKS client certificate"):
        XksHttp(client_cert=(pki.kms[0], pki.intruder[1]))  # a key that is not the cert's


def kms_stack(proxy: Proxy, pki: Pki, client: tuple[Path, Path] | None) -> Any:
    port = proxy.url.rsplit(":", 1)[1]
    return serve_in_thread(
        xks_ca_bundle=pki.ca, xks_connect_to=(f"{HOST}=127.0.0.1:{port}",), xks_client_cert=client
    )


def create_store(kms: Any) -> str:
    return kms.create_custom_key_store(**xks_store_request("mtls", HOST))["CustomKeyStoreId"]


def test_kmspolicy_serve_presents_its_client_certificate(mtls_proxy: Proxy, pki: Pki) -> None:
    with kms_stack(mtls_proxy, pki, pki.kms) as endpoint:
        kms = endpoint.client()
        store_id = create_store(kms)
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        stores = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
        assert stores[0]["ConnectionState"] == "CONNECTED"
        key = kms.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="foo"
        )["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"over mTLS")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over mTLS"


@pytest.mark.parametrize("client", ["none", "intruder"])
def test_kmspolicy_serve_without_an_accepted_certificate_cannot_use_the_proxy(
    mtls_proxy: Proxy, pki: Pki, client: str
) -> None:
    presented = {"none": None, "intruder": pki.intruder}[client]
    with kms_stack(mtls_proxy, pki, presented) as endpoint, pytest.raises(ClientError) as info:
        create_store(endpoint.client())
    assert info.value.response["Error"]["Code"] == "XksProxyUriUnreachableException"
