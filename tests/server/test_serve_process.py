"""`kmspolicy serve` as a process: startup line, persistence across restarts, SIGTERM, --dev."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.server.conftest import BIN, start_server, stop_server

pytestmark = pytest.mark.server

DEV_KEY, DEV_SECRET = "AKIAKMSPOLICYLOCAL01", "kmspolicy-local-development-secret"


def dev_client(url: str, region: str = "us-east-1"):  # type: ignore[no-untyped-def]
    return boto3.client(
        "kms",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=DEV_KEY,
        aws_secret_access_key=DEV_SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


def test_state_survives_a_restart_and_sigterm_is_a_clean_exit(tmp_path: Path) -> None:
    server = start_server(tmp_path, identities=None)
    try:
        kms = dev_client(server.url)
        key_id = kms.create_key(Description="durable")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/durable", TargetKeyId=key_id)
        grant = kms.create_grant(
            KeyId=key_id,
            GranteePrincipal="arn:aws:iam::000000000000:user/x",
            Operations=["Decrypt"],
        )
        blob = kms.encrypt(KeyId="alias/durable", Plaintext=b"persist me")["CiphertextBlob"]
        # reset is refused without --dev, and changes nothing
        status, body = server.post("/_kmspolicy/reset")
        assert status == 403 and b"--dev" in body
    finally:
        assert stop_server(server) == 0
    assert (tmp_path / "data" / "root.key").stat().st_mode & 0o077 == 0

    again = start_server(tmp_path, identities=None)
    try:
        kms = dev_client(again.url)
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"persist me"
        aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
        assert "alias/durable" in aliases
        grants = kms.list_grants(KeyId=key_id)["Grants"]
        assert [g["GrantId"] for g in grants] == [grant["GrantId"]]
    finally:
        assert stop_server(again) == 0


def test_startup_line_names_address_store_and_dev_credentials(tmp_path: Path) -> None:
    argv = [str(BIN / "kmspolicy"), "serve", "--port", "0", "--data-dir", str(tmp_path / "d")]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        proc.terminate()
        assert proc.wait(15) == 0
    assert "listening on http://127.0.0.1:" in first
    assert f"sqlite://{(tmp_path / 'd' / 'kms.db').resolve()}" in first
    assert second.startswith("export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:")
    assert DEV_KEY in second and DEV_SECRET in second and "AWS_DEFAULT_REGION=us-east-1" in second


def test_refuses_public_address_with_development_credentials(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(BIN / "kmspolicy"),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "--identities" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_identities_file_is_a_clean_error(tmp_path: Path) -> None:
    ids = tmp_path / "ids.yaml"
    ids.write_text('account: "111122223333"\nidentities:\n  - arn: nope\n')
    done = subprocess.run(
        [
            str(BIN / "kmspolicy"),
            "serve",
            "--port",
            "0",
            "--identities",
            str(ids),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert f"{ids}:3:" in done.stderr
    assert "Traceback" not in done.stderr


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = start_server(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key), identities=None)
    try:
        assert server.url.startswith("https://")
        kms = boto3.client(
            "kms",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=DEV_KEY,
            aws_secret_access_key=DEV_SECRET,
            verify=str(cert),
        )
        assert kms.list_keys()["Keys"] == []
        kms.close()
    finally:
        assert stop_server(server) == 0


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.postgres
def test_two_servers_share_keys_through_postgresql(tmp_path: Path) -> None:
    import uuid

    schema = f"kmsp_server_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}"
    first = start_server(tmp_path / "a", "--store", url, identities=None)
    # the second process needs the same root key to open the sealed material
    (tmp_path / "b" / "data").mkdir(parents=True)
    root_key = (tmp_path / "a" / "data" / "root.key").read_bytes()
    (tmp_path / "b" / "data" / "root.key").write_bytes(root_key)
    (tmp_path / "b" / "data" / "root.key").chmod(0o600)
    second = start_server(tmp_path / "b", "--store", url, identities=None)
    try:
        a, b = dev_client(first.url), dev_client(second.url)
        key_id = a.create_key()["KeyMetadata"]["KeyId"]
        blob = a.encrypt(KeyId=key_id, Plaintext=b"shared store")["CiphertextBlob"]
        assert b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared store"
        b.disable_key(KeyId=key_id)
        assert a.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    finally:
        assert stop_server(first) == 0
        assert stop_server(second) == 0
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
