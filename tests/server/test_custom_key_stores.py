"""CloudHSM key stores end to end: `kmspolicy serve --hsm-cluster` (and the identities file's
`hsm_clusters`) on SoftHSM2 tokens, driven by boto3 and by the AWS CLI, unchanged."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kms.keystores.conftest import CLUSTER, OTHER_CLUSTER, PASSWORD, token_uri
from tests.kms.principals import raises_code
from tests.server.aws_cli import run_aws
from tests.server.conftest import BIN, IDENTITIES, Server, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.hsm]
Completed = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def hsm_server(softhsm_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # ks-one on the command line, ks-two from the identities file: both ways of configuring
    identities = {**IDENTITIES, "hsm_clusters": {OTHER_CLUSTER: token_uri("ks-two")}}
    tmp = tmp_path_factory.mktemp("kmsp-hsm-server")
    server = start_server(
        tmp, "--hsm-cluster", f"{CLUSTER}={token_uri('ks-one')}", identities=identities
    )
    yield server
    assert stop_server(server) == 0
    log = server.access_log()
    assert "Traceback" not in log, log[-3000:]
    assert PASSWORD not in log  # the kmsuser password is never logged


def _store(client: Any, name: str, cluster: str, password: str, anchor: str) -> str:
    return str(
        client.create_custom_key_store(
            CustomKeyStoreName=name,
            CloudHsmClusterId=cluster,
            TrustAnchorCertificate=anchor,
            KeyStorePassword=password,
        )["CustomKeyStoreId"]
    )


def _state(client: Any, store_id: str) -> str:
    entry = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
    return str(entry["ConnectionState"])


def test_boto3_lifecycle_of_a_cloudhsm_key_store(hsm_server: Server, trust_anchor: str) -> None:
    client = hsm_server.client()
    store_id = _store(client, "boto3-store", CLUSTER, PASSWORD, trust_anchor)
    assert _state(client, store_id) == "DISCONNECTED"
    client.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert _state(client, store_id) == "CONNECTED"
    key = client.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]
    assert (key["Origin"], key["CloudHsmClusterId"]) == ("AWS_CLOUDHSM", CLUSTER)
    blob = client.encrypt(KeyId=key["KeyId"], Plaintext=b"over the wire")["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over the wire"
    data_key = client.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert (
        client.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == data_key["Plaintext"]
    )
    client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
    with raises_code("KMSInvalidStateException"):
        client.decrypt(CiphertextBlob=blob)
    client.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over the wire"
    deletion = client.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert deletion["KeyState"] == "PendingDeletion"
    # a wrong password, on the cluster of the identities file: FAILED, INVALID_CREDENTIALS
    bad = _store(client, "wrong-password", OTHER_CLUSTER, "not-the-password", trust_anchor)
    client.connect_custom_key_store(CustomKeyStoreId=bad)
    entry = client.describe_custom_key_stores(CustomKeyStoreId=bad)["CustomKeyStores"][0]
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == (
        "FAILED",
        "INVALID_CREDENTIALS",
    )
    client.disconnect_custom_key_store(CustomKeyStoreId=bad)
    client.delete_custom_key_store(CustomKeyStoreId=bad)  # the cluster is free again
    nobody = hsm_server.client("AKIANOBODY0000000001")  # no identity policy
    with raises_code("AccessDeniedException"):
        nobody.describe_custom_key_stores()


def _aws(
    server: Server, tmp: Path, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    ident = IDENTITIES["identities"][0]  # type: ignore[index]
    key = (ident["access_key_id"], ident["secret_access_key"])
    return run_aws(server, *args, tmp=tmp, key=key, ok=ok)


def _json(done: Completed) -> Any:
    return json.loads(done.stdout)


def test_aws_cli_lifecycle_of_a_cloudhsm_key_store(
    hsm_server: Server, trust_anchor: str, tmp_path: Path
) -> None:
    anchor = tmp_path / "customerCA.crt"
    anchor.write_text(trust_anchor)
    other = tmp_path / "other-store"  # the boto3 test may hold CLUSTER: use the file's cluster
    created = _json(
        _aws(
            hsm_server, tmp_path, "create-custom-key-store",
            "--custom-key-store-name", "cli-store",
            "--cloud-hsm-cluster-id", OTHER_CLUSTER,
            "--trust-anchor-certificate", f"file://{anchor}",
            "--key-store-password", "kmsuser-pass-2",
        )
    )  # fmt: skip
    store_id = created["CustomKeyStoreId"]
    _aws(hsm_server, tmp_path, "connect-custom-key-store", "--custom-key-store-id", store_id)
    described = _json(
        _aws(
            hsm_server,
            tmp_path,
            "describe-custom-key-stores",
            "--custom-key-store-name",
            "cli-store",
        )
    )
    assert described["CustomKeyStores"][0]["ConnectionState"] == "CONNECTED"
    key = _json(
        _aws(
            hsm_server, tmp_path, "create-key",
            "--custom-key-store-id", store_id, "--origin", "AWS_CLOUDHSM",
        )
    )["KeyMetadata"]  # fmt: skip
    other.write_bytes(b"hello from the aws cli")
    blob = base64.b64decode(
        _json(
            _aws(
                hsm_server, tmp_path, "encrypt", "--key-id", key["KeyId"],
                "--plaintext", f"fileb://{other}",
                "--encryption-context", "purpose=test",
            )
        )["CiphertextBlob"]
    )  # fmt: skip
    sealed = tmp_path / "blob"
    sealed.write_bytes(blob)
    plain = _json(
        _aws(
            hsm_server, tmp_path, "decrypt", "--ciphertext-blob", f"fileb://{sealed}",
            "--encryption-context", "purpose=test",
        )
    )  # fmt: skip
    assert base64.b64decode(plain["Plaintext"]) == b"hello from the aws cli"
    data_key = _json(
        _aws(
            hsm_server,
            tmp_path,
            "generate-data-key",
            "--key-id",
            key["KeyId"],
            "--key-spec",
            "AES_256",
        )
    )
    assert len(base64.b64decode(data_key["Plaintext"])) == 32
    _aws(hsm_server, tmp_path, "disconnect-custom-key-store", "--custom-key-store-id", store_id)
    refused = _aws(
        hsm_server, tmp_path, "decrypt", "--ciphertext-blob", f"fileb://{sealed}",
        "--encryption-context", "purpose=test", ok=False,
    )  # fmt: skip
    assert "KMSInvalidStateException" in refused.stderr
    _aws(hsm_server, tmp_path, "connect-custom-key-store", "--custom-key-store-id", store_id)
    _aws(
        hsm_server, tmp_path, "decrypt", "--ciphertext-blob", f"fileb://{sealed}",
        "--encryption-context", "purpose=test",
    )  # fmt: skip
    scheduled = _json(
        _aws(
            hsm_server, tmp_path, "schedule-key-deletion", "--key-id", key["KeyId"],
            "--pending-window-in-days", "7",
        )
    )  # fmt: skip
    assert scheduled["KeyState"] == "PendingDeletion"
    busy = _aws(
        hsm_server, tmp_path, "delete-custom-key-store", "--custom-key-store-id", store_id, ok=False
    )
    assert "CustomKeyStoreInvalidStateException" in busy.stderr


def test_a_restarted_server_reconnects_with_the_sealed_password(
    softhsm_conf: Path, trust_anchor: str, tmp_path: Path
) -> None:
    args = ("--hsm-cluster", f"{CLUSTER}={token_uri('ks-one')}")
    first = start_server(tmp_path, *args)
    try:
        client = first.client()
        store_id = _store(client, "restart", CLUSTER, PASSWORD, trust_anchor)
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        key_id = client.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"][
            "KeyId"
        ]
        blob = client.encrypt(KeyId=key_id, Plaintext=b"survives")["CiphertextBlob"]
    finally:
        assert stop_server(first) == 0
    second = start_server(tmp_path, *args)
    try:
        client = second.client()
        assert _state(client, store_id) == "CONNECTED"
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"survives"
        client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    finally:
        assert stop_server(second) == 0
    database = (tmp_path / "data" / "kms.db").read_bytes()
    assert PASSWORD.encode() not in database  # sealed under the root key, never in plaintext
    for server in (first, second):
        assert PASSWORD not in server.access_log()


def test_a_malformed_cluster_option_stops_the_server(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "kmspolicy"), "serve", "--data-dir", str(tmp_path), "--port", "0",
         "--hsm-cluster", "cluster-1=pkcs11:module=/x.so;token=t"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "not a CloudHSM cluster id" in done.stderr and "Traceback" not in done.stderr
