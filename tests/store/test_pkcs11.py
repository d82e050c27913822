"""The PKCS#11 root key against a real SoftHSM2 token made for this test session.

Skips with the reason when libsofthsm2, softhsm2-util or python-pkcs11 is missing — unless
KMSPOLICY_REQUIRE_HSM=1 (CI), where a missing HSM fails instead of hiding every test here.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmspolicy.crypto.seal import SealError
from kmspolicy.errors import ConfigError
from kmspolicy.kms.backends import MATERIAL, secret_aad
from kmspolicy.kms.envelope import Envelope
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES
from kmspolicy.kms.sealed import reveal
from kmspolicy.kms.service import KMS
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey, open_root_key

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
import store_records as r

pytestmark = pytest.mark.hsm

MODULE = os.environ.get("KMSPOLICY_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "kmspolicy-test"
PIN = "4711-test-pin"
PIN_VAR = "KMSPOLICY_TEST_HSM_PIN"
ENV = {PIN_VAR: PIN}
BIN = Path(sys.executable).parent


def uri(**changes: str) -> str:
    parts = {
        "module": MODULE,
        "token": TOKEN,
        "object": "kmspolicy-root",
        "pin-source": f"env:{PIN_VAR}",
        **changes,
    }
    return "pkcs11:" + ";".join(f"{k}={v}" for k, v in parts.items())


@pytest.fixture(scope="session")
def softhsm(softhsm_conf: Path) -> Path:
    """The session's SoftHSM2 directory (tests/conftest.py), with the root key in TOKEN."""
    from kmspolicy.store.pkcs11 import create_hsm_root_key

    create_hsm_root_key(uri(), ENV).close()
    return softhsm_conf


@pytest.fixture
def hsm_key(softhsm: Path):
    from kmspolicy.store.pkcs11 import open_hsm_root_key

    key = open_hsm_root_key(uri(), ENV)
    yield key
    key.close()


def test_service_on_sqlite_with_the_hsm_root_key_survives_a_restart(
    hsm_key, tmp_path: Path
) -> None:
    url = f"sqlite://{tmp_path / 'kms.db'}"
    store = open_store(url, hsm_key)
    client = KMS(store).client()
    key_id = client.create_key(Description="hsm-sealed")["KeyMetadata"]["KeyId"]
    mac_id = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"][
        "KeyId"
    ]
    blob = client.encrypt(KeyId=key_id, Plaintext=b"sealed by the token")["CiphertextBlob"]
    mac = client.generate_mac(KeyId=mac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed by the token"
    store.close()

    from kmspolicy.store.pkcs11 import open_hsm_root_key

    again = open_hsm_root_key(uri(), ENV)  # a second handle: reopen as a restart would
    try:
        service = KMS(open_store(url, again))
        client = service.client()
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed by the token"
        assert client.verify_mac(KeyId=mac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac)[
            "MacValid"
        ]
        client.rotate_key_on_demand(KeyId=key_id)
        service.clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())  # completed
        new_blob = client.encrypt(KeyId=key_id, Plaintext=b"v2")["CiphertextBlob"]
        assert client.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"v2"
        versions = {client.decrypt(CiphertextBlob=b)["KeyMaterialId"] for b in (blob, new_blob)}
        assert len(versions) == 2  # the new version, sealed by the token too
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed by the token"
    finally:
        again.close()


def test_every_stored_secret_is_sealed_by_the_hsm_and_none_is_at_rest(
    hsm_key, tmp_path: Path
) -> None:
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", hsm_key)
    client = KMS(store, account=r.ACCOUNT).client()
    ids = [
        client.create_key(Description="at-rest-marker-91c2", **kw)["KeyMetadata"]["KeyId"]
        for kw in ({}, {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
                   {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})
    ]  # fmt: skip
    secrets = []
    with store.transaction(readonly=True) as tx:
        for key_id in ids:
            arn = r.key_arn(key_id)
            (material,) = tx.get_key(arn).materials
            aad = secret_aad(arn, MATERIAL, material.material_id)
            assert material.sealed is not None
            # really there, sealed under an envelope key that only the token opens
            secrets.append(Envelope(hsm_key).unseal(reveal(material.sealed), aad))
    db = sqlite3.connect(tmp_path / "kms.db")
    blobs = [bytes(b) for (b,) in db.execute("SELECT sealed FROM key_secrets")]
    (check,) = [bytes(v) for (v,) in db.execute("SELECT value FROM store_meta")]
    db.close()
    assert len(blobs) == len(ids)
    for blob in blobs:  # new material: the envelope format, its key wrapped by the token
        assert blob[:3] == b"ke\x01" and blob[5:8] == b"kh\x01"
        assert blob[8:16].hex() == hsm_key.fingerprint
    assert check[:3] == b"kh\x01"  # the HSM format, not the file key's "ks"
    assert check[3:11].hex() == hsm_key.fingerprint
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"at-rest-marker-91c2" in on_disk  # positive control: the scan sees the rows
    for secret in secrets:
        for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
            assert form not in on_disk
    store.close()


class _Counting:
    """An HSM root key that counts its seal/unseal calls (the HSM round trips)."""

    def __init__(self, key) -> None:
        self.key, self.seals, self.unseals = key, 0, 0
        self.kind, self.source, self.fingerprint = key.kind, key.source, key.fingerprint

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        self.seals += 1
        return self.key.seal(plaintext, aad)

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes:
        self.unseals += 1
        return self.key.unseal(sealed, aad)

    def describe(self) -> str:
        return self.key.describe()

    def close(self) -> None:
        pass


def test_the_data_plane_does_not_call_the_hsm_per_request(hsm_key, tmp_path: Path) -> None:
    counting = _Counting(hsm_key)
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", counting)
    client = KMS(store).client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    client.create_key()
    assert counting.seals == 2  # the store's canary and one envelope key for both keys
    for _ in range(20):
        blob = client.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        client.decrypt(CiphertextBlob=blob)
    assert counting.unseals == 0  # held open by the kernel since it was made
    client.disable_key(KeyId=key_id)  # the kernel forgets a key that stops being usable,
    client.enable_key(KeyId=key_id)  # and with it the envelope key that sealed it
    client.encrypt(KeyId=key_id, Plaintext=b"x")
    assert counting.seals == 2  # writes keep the sealed material as it is: no re-seal
    assert counting.unseals == 1  # opened anew once the key is back: its envelope key unwrapped
    client.create_key()
    assert counting.seals == 3  # a new envelope key
    store.close()


def test_the_root_key_cannot_leave_the_token(softhsm: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN) as session:
        (key,) = session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: "kmspolicy-root"}
        )
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.SENSITIVE] is True and key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.VALUE_LEN] == 32
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]


def test_an_extractable_key_is_refused(softhsm: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType

    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN, rw=True) as session:
        session.generate_key(
            KeyType.AES, 256, label="extractable", store=True,
            template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
        )  # fmt: skip
    from kmspolicy.store.pkcs11 import open_hsm_root_key

    with pytest.raises(ConfigError, match="cannot leave the HSM"):
        open_hsm_root_key(uri(object="extractable"), ENV)


def test_sealing_binds_the_aad_and_the_key_kind(hsm_key) -> None:
    sealed = hsm_key.seal(b"material", b"row-a")
    assert hsm_key.unseal(sealed, b"row-a") == b"material"
    with pytest.raises(SealError):
        hsm_key.unseal(sealed, b"row-b")
    with pytest.raises(SealError):
        hsm_key.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"row-a")
    file_key = RootKey.generate()
    with pytest.raises(SealError):
        file_key.unseal(sealed, b"row-a")
    with pytest.raises(SealError):
        hsm_key.unseal(file_key.seal(b"material", b"row-a"), b"row-a")
    # a session survives a failed tag check, and threads never share one
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(40):
                data = f"t{threading.get_ident()}-{i}".encode()
                assert hsm_key.unseal(hsm_key.seal(data, b"x"), b"x") == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_token_that_logged_us_out_is_logged_in_again(hsm_key) -> None:
    sealed = hsm_key.seal(b"material", b"row")
    # Closing the session that logged in logs every session of the process out, as an HSM
    # restart would: the key object's handle dies and the key is invisible until a new login.
    logged_in = hsm_key._login.session
    logged_in.close()
    assert hsm_key.unseal(sealed, b"row") == b"material"
    assert hsm_key._login.session is not logged_in  # it did log in again
    assert hsm_key.unseal(hsm_key.seal(b"again", b"row"), b"row") == b"again"


def test_a_store_refuses_a_root_key_of_the_other_kind(hsm_key, tmp_path: Path) -> None:
    file_db, hsm_db = tmp_path / "file.db", tmp_path / "hsm.db"
    file_key = RootKey.generate()
    open_store(f"sqlite://{file_db}", file_key).close()
    open_store(f"sqlite://{hsm_db}", hsm_key).close()
    with pytest.raises(ConfigError, match=r"a root-key file.*--root-key") as info:
        open_store(f"sqlite://{file_db}", hsm_key)
    assert file_key.fingerprint in str(info.value) and hsm_key.fingerprint in str(info.value)
    with pytest.raises(ConfigError, match="PKCS#11 HSM key") as info:
        open_store(f"sqlite://{hsm_db}", file_key)
    assert hsm_key.fingerprint in str(info.value)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (uri(), {PIN_VAR: "0000"}, "wrong PIN for PKCS#11 token `kmspolicy-test`"),
        (uri(), {}, f"read from \\${PIN_VAR}, which is not set"),
        (uri(token="no-such-token"), ENV, "no PKCS#11 token labelled `no-such-token`"),
        (uri(object="no-such-key"), ENV, "holds no secret key labelled `no-such-key`"),
        (uri(module="/nonexistent/libp11.so"), ENV, "does not exist"),
        (uri() + ";pin-value=1234", ENV, "may not be written in the pkcs11: URI"),
        (uri() + ";color=blue", ENV, "unknown attribute `color`"),
        ("pkcs11:token=x", ENV, "needs `module=`"),
    ],
)
def test_configuration_errors_say_what_is_wrong(softhsm: Path, text, env, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        open_root_key(None, text, env=env)
    assert PIN not in str(info.value) and "1234" not in str(info.value)


def test_the_root_key_source_comes_from_the_environment(softhsm: Path) -> None:
    key = open_root_key(None, env={**ENV, "KMSPOLICY_ROOT_KEY": uri()})
    try:
        assert key.kind == "pkcs11" and "token=kmspolicy-test" in key.describe()
        assert PIN not in repr(key) and PIN not in key.describe()
    finally:
        key.close()


def test_pin_file_must_be_private(softhsm: Path, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        open_root_key(None, uri(**{"pin-source": f"file:{pin_file}"}), env={})
    pin_file.chmod(0o600)
    open_root_key(None, uri(**{"pin-source": f"file:{pin_file}"}), env={}).close()


def test_hsm_check_command(softhsm: Path) -> None:
    from kmspolicy.cli import cli

    result = CliRunner().invoke(cli, ["hsm", "check", uri()], env=ENV)
    assert result.exit_code == 0, result.output
    assert "non-extractable, sensitive, AES-GCM ok" in result.output
    again = CliRunner().invoke(cli, ["hsm", "create-key", uri()], env=ENV)
    assert isinstance(again.exception, ConfigError) and "already holds" in str(again.exception)


def _serve(data: Path, softhsm: Path, pin: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "kmspolicy"), "serve", "--port", "0", "--data-dir", str(data),
         "--root-key", uri()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SOFTHSM2_CONF": str(softhsm), PIN_VAR: pin, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


@pytest.mark.server
def test_serve_with_the_hsm_root_key_over_boto3(softhsm: Path, tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    bad = _serve(tmp_path / "data", softhsm, "0000")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and "wrong PIN" in err and "Traceback" not in err, err

    proc = _serve(tmp_path / "data", softhsm, PIN)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "root key pkcs11:module=" in line and "token=kmspolicy-test" in line, line
        assert PIN not in line
        endpoint = line.split("listening on ", 1)[1].split(" ", 1)[0]
        creds = proc.stdout.readline()
        key_id, secret = (creds.split(f"{name}=", 1)[1].split()[0]
                          for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))  # fmt: skip
        client = boto3.client(
            "kms", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id=key_id, aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip
        kid = client.create_key()["KeyMetadata"]["KeyId"]
        blob = client.encrypt(KeyId=kid, Plaintext=b"over the wire")["CiphertextBlob"]
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over the wire"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
