"""The lifecycle on the SQLite store: material sealed at rest, rotation and BYOK survive a
reopen, and a deleted key leaves no row behind (the in-memory store is covered everywhere else)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kmspolicy import KMS
from kmspolicy.kms.clock import FakeClock
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey
from tests.kms.principals import raises_code


def test_lifecycle_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'kms.db'}"
    root = RootKey.generate()
    clock = FakeClock()
    store = open_store(url, root)
    client = KMS(store=store, clock=clock).client()

    rotating = client.create_key()["KeyMetadata"]["KeyId"]
    old = client.encrypt(KeyId=rotating, Plaintext=b"old")["CiphertextBlob"]
    client.rotate_key_on_demand(KeyId=rotating)

    imported = client.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    params = client.get_parameters_for_import(
        KeyId=imported, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    client.import_key_material(
        KeyId=imported,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(material, oaep),  # type: ignore[union-attr,call-arg]
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    byok = client.encrypt(KeyId=imported, Plaintext=b"byok")["CiphertextBlob"]

    doomed = client.create_key()["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/doomed", TargetKeyId=doomed)
    client.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    store.close()

    raw = (tmp_path / "kms.db").read_bytes()
    assert material not in raw  # imported material is sealed under the root key

    clock.advance(days=8)
    store = open_store(url, root)
    client = KMS(store=store, clock=clock).client()
    assert client.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    # the on-demand rotation in progress when the store closed completed after the restart
    (rotation,) = client.list_key_rotations(KeyId=rotating)["Rotations"]
    assert rotation["RotationType"] == "ON_DEMAND"
    assert client.decrypt(CiphertextBlob=byok)["Plaintext"] == b"byok"
    with raises_code("NotFoundException"):
        client.describe_key(KeyId=doomed)
    store.close()

    def mentions(key_id: str) -> list[str]:
        found = []
        with sqlite3.connect(tmp_path / "kms.db") as db:
            query = "select name from sqlite_master where type='table'"
            for (table,) in db.execute(query).fetchall():
                for column in [r[1] for r in db.execute(f"pragma table_info({table})")]:
                    (count,) = db.execute(
                        f"select count(*) from {table} where cast({column} as text) like ?",
                        (f"%{key_id}%",),
                    ).fetchone()
                    if count:
                        found.append(f"{table}.{column}")
        return found

    assert mentions(imported)  # the search does find a live key's rows
    assert mentions(doomed) == []
