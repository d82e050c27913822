"""No key material at rest: scan the SQLite files and a PostgreSQL dump for every secret.

Each scan has a positive control (a non-secret marker that must be found), so a scanner that
reads nothing cannot pass. Sealed blobs are bound to their row: moving one fails loudly.
"""

from __future__ import annotations

import base64
import sqlite3
import sys
from pathlib import Path

import psycopg
import pytest

from kmspolicy import KMS
from kmspolicy.crypto import KeySpec
from kmspolicy.errors import ConfigError, InternalError
from kmspolicy.kms.backends import MATERIAL, WRAPPING_KEY, secret_aad
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.ports import SealingKey
from kmspolicy.kms.sealed import reveal
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey
from tests.kms.rotations import rotate_on_demand

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
import store_records as r
from pg_scratch import PG_URL

SPECS = [
    KeySpec.SYMMETRIC_DEFAULT,
    KeySpec.HMAC_256,
    KeySpec.RSA_2048,
    KeySpec.ECC_NIST_P256,
    KeySpec.ECC_NIST_EDWARDS25519,
    KeySpec.ML_DSA_44,
]
MARKER = "visible-description-marker-7f3a"


_USAGE = {
    KeySpec.SYMMETRIC_DEFAULT: "ENCRYPT_DECRYPT",
    KeySpec.HMAC_256: "GENERATE_VERIFY_MAC",
    KeySpec.RSA_2048: "ENCRYPT_DECRYPT",
}


def _populate(store, root: SealingKey) -> list[bytes]:
    """Keys of every spec made through the service (the kernel seals), a rotated version,
    import parameters of an external key; return every secret, opened with the root key."""
    clock = FakeClock()
    service = KMS(store, clock, r.ACCOUNT)
    arns = []
    for spec in SPECS:
        usage = _USAGE.get(spec, "SIGN_VERIFY")
        meta = service.create_key(KeySpec=spec.value, KeyUsage=usage, Description=MARKER)
        arns.append(meta["KeyMetadata"]["Arn"])
    rotate_on_demand(service, clock, arns[0])
    external = service.create_key(Origin="EXTERNAL", Description=MARKER)["KeyMetadata"]["Arn"]
    service.get_parameters_for_import(
        KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    secrets: list[bytes] = []
    with store.transaction(readonly=True) as tx:
        for arn in [*arns, external]:
            record = tx.get_key(arn)
            for m in record.materials:
                aad = secret_aad(arn, MATERIAL, m.material_id)
                assert m.sealed is not None
                secrets.append(root.unseal(reveal(m.sealed), aad))
            for p in record.pending_imports:
                aad = secret_aad(arn, WRAPPING_KEY, p.import_token_id)
                assert p.sealed_wrapping_key is not None
                secrets.append(root.unseal(reveal(p.sealed_wrapping_key), aad))
    assert len(secrets) == len(SPECS) + 2  # every spec, the rotated version, a wrapping key
    return secrets


def _encodings(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
    ]


def _assert_absent(haystack: bytes, secrets: list[bytes]) -> None:
    assert MARKER.encode() in haystack, "positive control: the scan must see stored metadata"
    for n, secret in enumerate(secrets):
        for form in _encodings(secret):
            assert form not in haystack, f"secret #{n} found at rest ({len(secret)} bytes)"


def _read_all(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_sqlite_files_hold_no_key_material(tmp_path: Path) -> None:
    root = RootKey.generate()
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", root)
    secrets = _populate(store, root)  # the material is really there: the root key opens it
    # while open: the WAL holds the fresh pages
    _assert_absent(_read_all(tmp_path), secrets)
    store.close()
    _assert_absent(_read_all(tmp_path), secrets)
    assert root.material() not in _read_all(tmp_path)


@pytest.mark.postgres
def test_postgres_dump_holds_no_key_material(pg_schema: str) -> None:
    schema = f"{pg_schema}_atrest"
    root = RootKey.generate()
    store = open_store(f"{PG_URL}?schema={schema}", root)
    try:
        secrets = _populate(store, root)
        with psycopg.connect(PG_URL) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            assert {t for (t,) in tables} >= {"keys", "key_secrets", "aliases", "grants"}
            dump = b""
            for (table,) in tables:
                rows = conn.execute(f"SELECT t::text FROM {schema}.{table} t").fetchall()  # type: ignore[arg-type]
                dump += "\n".join(row for (row,) in rows).encode()
        # bytea prints as \x<hex>, which _encodings covers
        _assert_absent(dump, secrets)
    finally:
        store.close()


# --- sealed blobs are bound to their row (AAD = key ARN, kind, version)


def _two_keys(tmp_path: Path, root: RootKey):
    """A store with key k1 (two versions, a ciphertext under each) and key k2 (one)."""
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", root)
    clock = FakeClock()
    service = KMS(store, clock, r.ACCOUNT)
    k1 = service.create_key(Description="k1")["KeyMetadata"]["KeyId"]
    first = service.encrypt(KeyId=k1, Plaintext=b"one")["CiphertextBlob"]
    rotate_on_demand(service, clock, k1)
    second = service.encrypt(KeyId=k1, Plaintext=b"two")["CiphertextBlob"]
    k2 = service.create_key(Description="k2")["KeyMetadata"]["KeyId"]
    return store, {"k1": k1, "k2": k2, "first": first, "second": second}


def _swap(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql)
    conn.close()


def _refs(db: Path, key_id: str) -> list[str]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT ref FROM key_secrets WHERE key_arn LIKE ? ORDER BY ref", (f"%{key_id}",)
    ).fetchall()
    conn.close()
    return [ref for (ref,) in rows]


def _fresh(store) -> KMS:
    """A service with an empty kernel on the store: every use unseals from the row."""
    return KMS(store, FakeClock(), r.ACCOUNT)


def test_blob_moved_to_another_key_fails_to_unseal(tmp_path: Path) -> None:
    store, made = _two_keys(tmp_path, RootKey.generate())
    db = tmp_path / "kms.db"
    k1, k2 = made["k1"], made["k2"]
    _swap(
        db,
        f"UPDATE key_secrets SET sealed = (SELECT sealed FROM key_secrets WHERE key_arn LIKE "
        f"'%{k2}') WHERE key_arn LIKE '%{k1}'",
    )
    with pytest.raises(InternalError, match="failed to unseal"):
        _fresh(store).decrypt(CiphertextBlob=made["first"])
    _fresh(store).encrypt(KeyId=k2, Plaintext=b"p")  # the other key is untouched
    store.close()


def test_blob_moved_to_another_version_fails_to_unseal(tmp_path: Path) -> None:
    store, made = _two_keys(tmp_path, RootKey.generate())
    m1, m2 = _refs(tmp_path / "kms.db", made["k1"])
    _swap(
        tmp_path / "kms.db",
        f"UPDATE key_secrets SET sealed = (SELECT sealed FROM key_secrets WHERE ref = '{m2}') "
        f"WHERE ref = '{m1}'",
    )
    service = _fresh(store)
    plaintexts = []
    for blob in (made["first"], made["second"]):
        try:
            plaintexts.append(service.decrypt(CiphertextBlob=blob)["Plaintext"])
        except InternalError as exc:
            assert "failed to unseal" in str(exc)
            plaintexts.append(None)
    assert None in plaintexts  # the moved version refuses; the other still decrypts
    assert plaintexts.count(None) == 1
    store.close()


def test_wrong_root_key_is_refused_at_open_naming_both_keys(tmp_path: Path) -> None:
    right, wrong = RootKey.generate(), RootKey.generate()
    _two_keys(tmp_path, right)[0].close()
    with pytest.raises(ConfigError) as info:
        open_store(f"sqlite://{tmp_path / 'kms.db'}", wrong)
    assert right.fingerprint in str(info.value) and wrong.fingerprint in str(info.value)
    open_store(f"sqlite://{tmp_path / 'kms.db'}", right).close()


def test_a_row_sealed_under_another_root_key_fails_to_unseal(tmp_path: Path) -> None:
    """Past the startup check (e.g. rows copied in from another store), rows still refuse."""
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other, theirs = _two_keys(other_dir, RootKey.generate())
    other.close()
    store, ours = _two_keys(tmp_path, RootKey.generate())
    conn = sqlite3.connect(tmp_path / "kms.db")
    conn.execute("ATTACH ? AS o", (str(other_dir / "kms.db"),))
    with conn:  # k2's sealed material replaced by the other store's
        conn.execute(
            "UPDATE key_secrets SET sealed = (SELECT sealed FROM o.key_secrets WHERE key_arn "
            "LIKE ?) WHERE key_arn LIKE ?",
            (f"%{theirs['k2']}", f"%{ours['k2']}"),
        )
    conn.close()
    with pytest.raises(InternalError, match="wrong root key"):
        _fresh(store).encrypt(KeyId=ours["k2"], Plaintext=b"p")
    store.close()


@pytest.mark.postgres
def test_postgres_refuses_a_wrong_root_key(pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}_rootcheck"
    right = RootKey.generate()
    open_store(url, right).close()
    with pytest.raises(ConfigError, match=right.fingerprint):
        open_store(url, RootKey.generate())
    open_store(url, right).close()
