"""A real ``kmspolicy xks-proxy`` app on a loopback port, and a caller that signs as KMS does.

Requests are signed by botocore's ``SigV4Auth`` with service ``kms-xks-proxy`` (optionally over
only ``host;x-amz-date``, as AWS KMS signs them) and sent over HTTP with urllib.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from softhsm_tokens import SOFTHSM_MODULE, SOFTHSM_TOKENS

from kmspolicy.kms.clock import SystemClock
from kmspolicy.server.main import bind
from kmspolicy.xks.app import XksApp
from kmspolicy.xks.config import load_config
from kmspolicy.xks.main import ProxySettings, check_settings, open_keys, uvicorn_config

ACCESS_KEY_ID = "BETWEEN2TENAND3TENCHARACTERS"
SECRET = "PleaseReplaceThisWithSomeSecretOfLength43To64"
ROTATED_ACCESS_KEY_ID = "ROTATEDACCESSKEYID234567"
ROTATED_SECRET = "AnotherSecretThatIsLongEnoughForTheProxy1234567+/="
REGION = "us-east-1"
PREFIX = "example/uri/path/prefix"

CONFIG = f"""\
uri_prefix: {PREFIX}
region: {REGION}
credentials:
  - access_key_id: {ACCESS_KEY_ID}
    secret_access_key: {SECRET}
  - access_key_id: {ROTATED_ACCESS_KEY_ID}
    secret_access_key: "{ROTATED_SECRET}"
keys:
  - id: foo
  - id: encrypt_only_key
    operations: [encrypt]
  - id: decrypt_only_key
    operations: [decrypt]
  - id: impotent_key
    operations: []
  - id: disabled_key
    status: DISABLED
data_dir: ./xks-data
"""

METADATA = {
    "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
    "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "kmsOperation": "Encrypt",
    "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
    "kmsViaService": "ebs",
}


def xks_store_request(name: str, host: str) -> dict[str, Any]:
    """CreateCustomKeyStore's parameters for an external key store behind the test proxy,
    reached at ``https://host`` (a public endpoint, authenticated with ACCESS_KEY_ID)."""
    return {
        "CustomKeyStoreName": name,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": f"https://{host}",
        "XksProxyUriPath": f"/{PREFIX}/kms/xks/v1",
        "XksProxyAuthenticationCredential": {
            "AccessKeyId": ACCESS_KEY_ID,
            "RawSecretAccessKey": SECRET,
        },
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
    }


class KmsStyleSigV4(SigV4Auth):
    """Signs only ``host`` and ``x-amz-date``, as the specification says AWS KMS does."""

    def headers_to_sign(self, request: Any) -> Any:
        headers = super().headers_to_sign(request)
        for name in list(headers.keys()):
            if name not in ("host", "x-amz-date"):
                del headers[name]
        return headers


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


@dataclass
class Proxy:
    url: str
    base: str
    data_dir: Path

    def call(
        self,
        path: str,
        body: Any,
        *,
        access_key_id: str = ACCESS_KEY_ID,
        secret: str = SECRET,
        region: str = REGION,
        service: str = "kms-xks-proxy",
        method: str = "POST",
        kms_style: bool = False,
        sign: bool = True,
        raw: bytes | None = None,
        full_path: str | None = None,
        tamper: str | None = None,
        send_to: str | None = None,
    ) -> Reply:
        """POST ``body`` to ``base + path``, signed; ``tamper`` replaces the body and
        ``send_to`` the path after signing (what an attacker replaying a request would do)."""
        data = raw if raw is not None else json.dumps(body).encode()
        url = self.url + (full_path if full_path is not None else self.base + path)
        request = AWSRequest(
            method=method, url=url, data=data, headers={"Content-Type": "application/json"}
        )
        if sign:
            signer = KmsStyleSigV4 if kms_style else SigV4Auth
            signer(Credentials(access_key_id, secret), service, region).add_auth(request)
        prepared = request.prepare()
        sent_url = prepared.url if send_to is None else self.url + send_to
        sent_body = prepared.body if tamper is None else tamper.encode()
        headers = dict(prepared.headers)
        if tamper is not None:
            headers["Content-Length"] = str(len(sent_body))
        http = urllib.request.Request(sent_url, data=sent_body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(http, timeout=10) as response:
                return Reply(response.status, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            payload = error.read()
            return Reply(error.code, json.loads(payload) if payload else {})

    def metadata(self, key_id: str, **metadata: str) -> Reply:
        md = {**METADATA, "kmsOperation": "DescribeKey", **metadata}
        return self.call(f"/keys/{key_id}/metadata", {"requestMetadata": md})

    def encrypt(self, key_id: str, **fields: Any) -> Reply:
        md = {**METADATA, **fields.pop("metadata", {})}
        body = {"requestMetadata": md, "encryptionAlgorithm": "AES_GCM", **fields}
        return self.call(f"/keys/{key_id}/encrypt", body)

    def decrypt(self, key_id: str, **fields: Any) -> Reply:
        md = {**METADATA, "kmsOperation": "Decrypt", **fields.pop("metadata", {})}
        body = {"requestMetadata": md, "encryptionAlgorithm": "AES_GCM", **fields}
        return self.call(f"/keys/{key_id}/decrypt", body)

    def health(self, **kwargs: Any) -> Reply:
        body = {"requestMetadata": {"kmsRequestId": "r-1", "kmsOperation": "KmsHealthCheck"}}
        return self.call("/health", body, **kwargs)


@contextmanager
def running_proxy(
    directory: Path,
    config_text: str = CONFIG,
    *,
    tls: tuple[Path, Path] | None = None,
    client_ca: Path | None = None,
    client_subject: str | None = None,
) -> Iterator[Proxy]:
    """The proxy of ``config_text`` (written to ``directory``) on a free loopback port; with
    ``tls`` (certificate, key), over HTTPS; with ``client_ca`` (and ``client_subject``), mutual
    TLS as ``--tls-client-ca`` (``--tls-client-subject``)."""
    path = directory / "xks-proxy.yaml"
    path.write_text(config_text)
    config = load_config(path)
    keys, blocking = open_keys(config)
    app = XksApp(config, keys, SystemClock(), blocking=blocking)
    sock = bind("127.0.0.1", 0)
    settings = ProxySettings(
        config=path,
        tls_cert=tls[0] if tls else None,
        tls_key=tls[1] if tls else None,
        tls_client_ca=client_ca,
        tls_client_subject=client_subject,
    )
    check_settings(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the proxy did not start"
        time.sleep(0.01)
    try:
        yield Proxy(
            f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}",
            config.base_path,
            config.data_dir or directory,
        )
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        keys.close()


def pkcs11_config(directory: Path) -> str:
    """CONFIG with its keys inside the SoftHSM2 token ``xks-proxy`` (the ``softhsm_conf``
    fixture makes it), the PIN read from a 0600 file."""
    pin = directory / "xks-proxy.pin"
    pin.write_text(SOFTHSM_TOKENS["xks-proxy"])
    pin.chmod(0o600)
    root = f"pkcs11:module={SOFTHSM_MODULE};token=xks-proxy;pin-source=file:{pin}"
    return CONFIG.replace("data_dir: ./xks-data\n", f'root_key: "{root}"\n')


@pytest.fixture(scope="module", params=["sealed", pytest.param("pkcs11", marks=pytest.mark.hsm)])
def proxy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """The proxy of CONFIG, its keys sealed in a data directory or inside a SoftHSM2 token."""
    directory = tmp_path_factory.mktemp("xks")
    text = CONFIG
    if request.param == "pkcs11":
        request.getfixturevalue("softhsm_conf")
        text = pkcs11_config(directory)
    with running_proxy(directory, text) as running:
        yield running
