"""End to end: ``kmspolicy serve`` with an external key store whose proxy is a
``kmspolicy xks-proxy`` over HTTPS, driven by boto3 and the AWS CLI.

Both run on loopback: the key store's endpoint is ``https://xks.test`` (an AWS-valid endpoint),
which the server reaches at the proxy's port through ``--xks-connect-to`` and trusts through
``--xks-ca-bundle`` (a throwaway CA that signed the proxy's certificate for ``xks.test``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmspolicy.server.thread import serve_in_thread
from tests.xks.conftest import ACCESS_KEY_ID, CONFIG, PREFIX, SECRET, Proxy, running_proxy
from tests.xks.pki import make_pki

HOST = "xks.test"
AWS = str(Path(sys.executable).parent / "aws")  # the AWS CLI of the dev extra
#: one proxy, several addresses: a key store's endpoint and path must be its own
OTHER_HOSTS = ("cycle.xks.test", "drift.xks.test", "bad.xks.test")
E2E_CONFIG = CONFIG.replace(
    "  - id: foo\n", "  - id: foo\n  - id: foo2\n  - id: bar\n  - id: qux\n"
)
PATH = f"/{PREFIX}/kms/xks/v1"
CREDENTIAL = {"AccessKeyId": ACCESS_KEY_ID, "RawSecretAccessKey": SECRET}
CONTEXT = {"purpose": "e2e"}


class Stack:
    def __init__(self, proxy: Proxy, endpoint: Any) -> None:
        self.proxy = proxy
        self.endpoint = endpoint
        self.kms = endpoint.client()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("xks-e2e")
    ca, cert, key = make_pki(directory, HOST, *OTHER_HOSTS)
    with running_proxy(directory, E2E_CONFIG, tls=(cert, key)) as proxy:
        port = proxy.url.rsplit(":", 1)[1]
        with serve_in_thread(
            xks_ca_bundle=ca,
            xks_connect_to=tuple(f"{h}=127.0.0.1:{port}" for h in (HOST, *OTHER_HOSTS)),
        ) as endpoint:
            yield Stack(proxy, endpoint)


def create_store(kms: Any, name: str, **changes: Any) -> str:
    params: dict[str, Any] = {
        "CustomKeyStoreName": name,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": f"https://{HOST}",
        "XksProxyUriPath": PATH,
        "XksProxyAuthenticationCredential": CREDENTIAL,
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        **changes,
    }
    return kms.create_custom_key_store(**params)["CustomKeyStoreId"]


def describe(kms: Any, store_id: str) -> dict[str, Any]:
    return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def connected(stack: Stack) -> str:
    store_id = create_store(stack.kms, "e2e")
    assert describe(stack.kms, store_id)["ConnectionState"] == "DISCONNECTED"
    stack.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(stack.kms, store_id)["ConnectionState"] == "CONNECTED"
    return store_id


def new_key(stack: Stack, store_id: str, xks_key_id: str) -> dict[str, Any]:
    return stack.kms.create_key(
        Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=xks_key_id
    )["KeyMetadata"]


def test_describe_shows_the_proxy_configuration(stack: Stack, connected: str) -> None:
    entry = describe(stack.kms, connected)
    assert entry["CustomKeyStoreType"] == "EXTERNAL_KEY_STORE"
    assert entry["XksProxyConfiguration"] == {
        "Connectivity": "PUBLIC_ENDPOINT",
        "AccessKeyId": ACCESS_KEY_ID,
        "UriEndpoint": f"https://{HOST}",
        "UriPath": PATH,
    }
    assert SECRET not in json.dumps(entry, default=str)


def test_a_key_encrypts_through_the_proxy(
    stack: Stack, connected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="kmspolicy.xks")
    md = new_key(stack, connected, "foo")
    assert md["Origin"] == "EXTERNAL_KEY_STORE"
    assert md["CustomKeyStoreId"] == connected
    assert md["XksKeyConfiguration"] == {"Id": "foo"}
    key = md["KeyId"]
    kms = stack.kms
    blob = kms.encrypt(KeyId=key, Plaintext=b"hello", EncryptionContext=CONTEXT)["CiphertextBlob"]
    assert blob[2] == 2  # ciphertext blob version 2: double encryption
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert (out["Plaintext"], out["KeyId"]) == (b"hello", md["Arn"])
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=CONTEXT)
    again = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=CONTEXT)
    assert again["Plaintext"] == data_key["Plaintext"]
    local = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext=CONTEXT,
        DestinationKeyId=local,
    )["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=moved)["Plaintext"] == b"hello"
    # requestMetadata reached the proxy: who, which KMS operation, which KMS key
    entries = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "kmspolicy.xks" and r.getMessage().startswith("{")
    ]
    operations = {(e.get("api"), e.get("kmsOperation")) for e in entries}
    assert {("Encrypt", "Encrypt"), ("Decrypt", "Decrypt"), ("Encrypt", "GenerateDataKey")} <= (
        operations
    )
    assert ("GetKeyMetadata", "CreateKey") in operations
    assert ("Decrypt", "ReEncrypt") in operations
    encrypt = next(e for e in entries if e.get("kmsOperation") == "Encrypt")
    assert encrypt["kmsKeyArn"] == md["Arn"]
    assert encrypt["awsPrincipalArn"].startswith("arn:aws:iam::")
    assert encrypt["keyId"] == "foo"


def test_the_encryption_context_is_bound(stack: Stack, connected: str) -> None:
    key = new_key(stack, connected, "foo2")["KeyId"]
    blob = stack.kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=CONTEXT)["CiphertextBlob"]
    # the proxy refuses the outer layer: AWS answers KMSInvalidStateException for that
    code = error_code(stack.kms.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "x"})
    assert code == "KMSInvalidStateException"


@pytest.mark.parametrize(
    ("xks_key_id", "code"),
    [
        ("no-such-key", "XksKeyNotFoundException"),
        ("encrypt_only_key", "XksKeyInvalidConfigurationException"),
        ("impotent_key", "XksKeyInvalidConfigurationException"),
        ("disabled_key", "XksKeyInvalidConfigurationException"),
    ],
)
def test_create_key_checks_the_external_key(
    stack: Stack, connected: str, xks_key_id: str, code: str
) -> None:
    assert (
        error_code(
            stack.kms.create_key,
            Origin="EXTERNAL_KEY_STORE",
            CustomKeyStoreId=connected,
            XksKeyId=xks_key_id,
        )
        == code
    )


def test_an_external_key_serves_one_kms_key(stack: Stack, connected: str) -> None:
    new_key(stack, connected, "bar")
    code = error_code(
        stack.kms.create_key,
        Origin="EXTERNAL_KEY_STORE",
        CustomKeyStoreId=connected,
        XksKeyId="bar",
    )
    assert code == "XksKeyAlreadyInUseException"
    assert (
        error_code(stack.kms.create_key, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=connected)
        == "ValidationException"
    )


def test_disconnect_makes_keys_unavailable_and_reconnect_restores_them(stack: Stack) -> None:
    kms = stack.kms
    store_id = create_store(kms, "cycle", XksProxyUriEndpoint=f"https://{OTHER_HOSTS[0]}")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key = new_key(stack, store_id, "foo")["KeyId"]  # another store: the same external key
    blob = kms.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Unavailable"
    assert error_code(kms.encrypt, KeyId=key, Plaintext=b"x") == "KMSInvalidStateException"
    assert error_code(kms.decrypt, CiphertextBlob=blob) == "KMSInvalidStateException"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    window = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert window["KeyState"] == "PendingDeletion"


def test_store_creation_checks_the_proxy(stack: Stack) -> None:
    kms = stack.kms
    wrong = {"AccessKeyId": ACCESS_KEY_ID, "RawSecretAccessKey": "W" * 43}
    for changes, code in [
        (
            {"XksProxyAuthenticationCredential": wrong},
            "XksProxyIncorrectAuthenticationCredentialException",
        ),
        ({"XksProxyUriPath": "/wrong/kms/xks/v1"}, "XksProxyInvalidConfigurationException"),
        ({"XksProxyUriEndpoint": "https://nowhere.invalid"}, "XksProxyUriUnreachableException"),
        (
            {
                "XksProxyConnectivity": "VPC_ENDPOINT_SERVICE",
                "XksProxyVpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0abc",
            },
            "XksProxyVpcEndpointServiceNotFoundException",
        ),
        ({"XksProxyConnectivity": "VPC_ENDPOINT_SERVICE"}, "ValidationException"),
    ]:
        name = f"bad-{code}-{len(changes)}"
        where = {"XksProxyUriEndpoint": f"https://{OTHER_HOSTS[2]}", **changes}
        assert error_code(create_store, kms=kms, name=name, **where) == code


def test_the_same_proxy_address_twice_is_in_use(stack: Stack, connected: str) -> None:
    code = error_code(lambda: create_store(stack.kms, "twin"))
    assert code == "XksProxyUriInUseException"


def test_a_failed_connection_names_its_cause(stack: Stack) -> None:
    kms = stack.kms
    store_id = create_store(kms, "drifting", XksProxyUriEndpoint=f"https://{OTHER_HOSTS[1]}")
    # the path changes without a new credential: not checked until the store connects
    kms.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyUriPath="/moved/kms/xks/v1")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = describe(kms, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == (
        "FAILED",
        "XKS_PROXY_INVALID_CONFIGURATION",
    )


def test_aws_cli(stack: Stack, connected: str, tmp_path: Path) -> None:
    key = new_key(stack, connected, "qux")["KeyId"]
    env = {**os.environ, **stack.endpoint.env(), "AWS_PAGER": ""}
    stores = subprocess.run(
        [AWS, "kms", "describe-custom-key-stores", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert connected in stores.stdout
    (tmp_path / "p").write_bytes(b"from the cli")
    enc = subprocess.run(
        [
            AWS,
            "kms",
            "encrypt",
            "--key-id",
            key,
            "--plaintext",
            f"fileb://{tmp_path / 'p'}",
            "--query",
            "CiphertextBlob",
            "--output",
            "text",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # the CLI prints the blob in Base64; fileb:// takes raw bytes
    (tmp_path / "c").write_bytes(base64.b64decode(enc.stdout.strip()))
    dec = subprocess.run(
        [
            AWS,
            "kms",
            "decrypt",
            "--ciphertext-blob",
            f"fileb://{tmp_path / 'c'}",
            "--query",
            "Plaintext",
            "--output",
            "text",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert base64.b64decode(dec.stdout.strip()) == b"from the cli"
