"""The sealed backend: its associated data is a storage format (its bytes never change); the
ids of the versions it makes and adopts."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kmspolicy.crypto import generate_key, key_material_id
from kmspolicy.crypto.seal import RootKey
from kmspolicy.kms.backends import MATERIAL, WRAPPING_KEY, NewKey, SealedBackend, secret_aad
from kmspolicy.kms.model import OriginType

KEY = NewKey(
    "k", "arn:aws:kms:us-east-1:111122223333:key/k", "SYMMETRIC_DEFAULT", OriginType.AWS_KMS
)


@given(st.text(), st.sampled_from([MATERIAL, WRAPPING_KEY]), st.text())
def test_secret_aad_is_the_json_of_the_triple(arn: str, kind: str, ref: str) -> None:
    expected = json.dumps([arn, kind, ref], separators=(",", ":")).encode()
    assert secret_aad(arn, kind, ref) == b"kmspolicy/store/v1\x00" + expected


def test_secret_aad_of_a_known_triple() -> None:
    aad = secret_aad("arn:aws:kms:us-east-1:111122223333:key/k", MATERIAL, "ab")
    assert (
        aad == b'kmspolicy/store/v1\x00["arn:aws:kms:us-east-1:111122223333:key/k","material","ab"]'
    )


def test_made_material_takes_its_id_from_the_rng_and_imported_material_from_itself() -> None:
    backend = SealedBackend(RootKey.generate())
    draws: list[bytes] = []

    def rng(n: int) -> bytes:
        draws.append(bytes([len(draws) + 1]) * n)
        return draws[-1]

    made = backend.create(KEY, rng)
    secret = backend.open_secret(KEY.arn, MATERIAL, made.material_id, made.sealed)
    assert [len(d) for d in draws] == [32, 32] and secret == draws[0]  # the material, the id
    assert made.material_id == draws[1].hex()
    imported = generate_key("SYMMETRIC_DEFAULT")
    adopted = backend.adopt(KEY, imported)
    assert adopted.material_id == key_material_id(KEY.key_id, imported)
    assert backend.adopt(KEY, imported).material_id == adopted.material_id  # imported again
