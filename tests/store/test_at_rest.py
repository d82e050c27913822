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

from kmspolicy.crypto import KeySpec, generate_key, public_key_der
from kmspolicy.errors import ConfigError, InternalError
from kmspolicy.kms.model import KeyMaterial, PendingImportParameters
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
import store_records as r
from store_records import PG_URL

SPECS = [
    KeySpec.SYMMETRIC_DEFAULT,
    KeySpec.HMAC_256,
    KeySpec.RSA_2048,
    KeySpec.ECC_NIST_P256,
    KeySpec.ECC_NIST_EDWARDS25519,
    KeySpec.ML_DSA_44,
]
MARKER = "visible-description-marker-7f3a"


def _populate(store) -> list[bytes]:
    """Put one key per spec (two versions each) plus import parameters; return every secret."""
    secrets: list[bytes] = []
    with store.transaction() as tx:
        for i, spec in enumerate(SPECS):
            mats = []
            for version in range(2):
                m = generate_key(spec)
                secrets.append(m.secret)
                public = (
                    None
                    if spec in (KeySpec.SYMMETRIC_DEFAULT, KeySpec.HMAC_256)
                    else public_key_der(m)
                )
                mats.append(
                    KeyMaterial(
                        material_id=f"{i:032x}{version:032x}", material=m.secret, public_key=public
                    )
                )
            wrapping = generate_key(KeySpec.RSA_2048).secret
            secrets.append(wrapping)
            imports = (
                PendingImportParameters(
                    import_token_id=f"tok-{i}",
                    wrapping_key_spec="RSA_2048",
                    wrapping_algorithm="RSAES_OAEP_SHA_256",
                    wrapping_private_key=wrapping,
                    valid_to=r.T0,
                ),
            )
            tx.put_key(
                r.key(
                    f"key-{i}",
                    spec=spec.value,
                    materials=tuple(mats),
                    pending_imports=imports,
                    description=MARKER,
                )
            )
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
    secrets = _populate(store)
    # while open: the WAL holds the fresh pages
    _assert_absent(_read_all(tmp_path), secrets)
    with store.transaction() as tx:  # the material is really there, sealed
        assert tx.get_key(r.key_arn("key-0")).materials[0].material == secrets[0]
    store.close()
    _assert_absent(_read_all(tmp_path), secrets)
    assert root.material() not in _read_all(tmp_path)


@pytest.mark.postgres
def test_postgres_dump_holds_no_key_material(pg_schema: str) -> None:
    schema = f"{pg_schema}_atrest"
    store = open_store(f"{PG_URL}?schema={schema}", RootKey.generate())
    try:
        secrets = _populate(store)
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
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", root)
    with store.transaction() as tx:
        tx.put_key(r.key("k1", materials=(r.material(1), r.material(2))))
        tx.put_key(r.key("k2", materials=(r.material(3),)))
    return store


def _swap(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql)
    conn.close()


def test_blob_moved_to_another_key_fails_to_unseal(tmp_path: Path) -> None:
    store = _two_keys(tmp_path, RootKey.generate())
    _swap(
        tmp_path / "kms.db",
        "UPDATE key_secrets SET sealed = (SELECT sealed FROM key_secrets WHERE key_arn LIKE '%k2') "
        "WHERE key_arn LIKE '%k1' AND ref = '" + r.material(1).material_id + "'",
    )
    with pytest.raises(InternalError, match="failed to unseal") as info, store.transaction() as tx:
        tx.get_key(r.key_arn("k1"))
    assert r.material(3).material.hex() not in str(info.value)
    with store.transaction() as tx:  # the other key is untouched
        assert tx.get_key(r.key_arn("k2")).materials[0].material == r.material(3).material
    store.close()


def test_blob_moved_to_another_version_fails_to_unseal(tmp_path: Path) -> None:
    store = _two_keys(tmp_path, RootKey.generate())
    m1, m2 = r.material(1).material_id, r.material(2).material_id
    _swap(
        tmp_path / "kms.db",
        f"UPDATE key_secrets SET sealed = (SELECT sealed FROM key_secrets WHERE ref = '{m2}') "
        f"WHERE ref = '{m1}'",
    )
    with pytest.raises(InternalError, match="failed to unseal"), store.transaction() as tx:
        tx.get_key(r.key_arn("k1"))
    store.close()


def test_wrong_root_key_is_refused_at_open_naming_both_keys(tmp_path: Path) -> None:
    right, wrong = RootKey.generate(), RootKey.generate()
    _two_keys(tmp_path, right).close()
    with pytest.raises(ConfigError) as info:
        open_store(f"sqlite://{tmp_path / 'kms.db'}", wrong)
    assert right.fingerprint in str(info.value) and wrong.fingerprint in str(info.value)
    open_store(f"sqlite://{tmp_path / 'kms.db'}", right).close()


def test_a_row_sealed_under_another_root_key_fails_to_unseal(tmp_path: Path) -> None:
    """Past the startup check (e.g. rows copied in from another store), rows still refuse."""
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _two_keys(other_dir, RootKey.generate()).close()
    store = _two_keys(tmp_path, RootKey.generate())
    conn = sqlite3.connect(tmp_path / "kms.db")
    conn.execute("ATTACH ? AS o", (str(other_dir / "kms.db"),))
    with conn:
        conn.execute("DELETE FROM key_secrets WHERE key_arn LIKE '%k2'")
        conn.execute("INSERT INTO key_secrets SELECT * FROM o.key_secrets WHERE key_arn LIKE '%k2'")
    conn.close()
    with pytest.raises(InternalError, match="wrong root key"), store.transaction() as tx:
        tx.get_key(r.key_arn("k2"))
    store.close()


@pytest.mark.postgres
def test_postgres_refuses_a_wrong_root_key(pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}_rootcheck"
    right = RootKey.generate()
    open_store(url, right).close()
    with pytest.raises(ConfigError, match=right.fingerprint):
        open_store(url, RootKey.generate())
    open_store(url, right).close()
