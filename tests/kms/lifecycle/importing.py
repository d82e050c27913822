"""Key material wrapped with plain ``cryptography`` exactly as the AWS Developer Guide tells a
user to, and imported (BYOK) through a boto3-shaped client."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding

OAEP_SHA256 = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


def wrap_oaep_sha256(public_key_der: bytes, material: bytes) -> bytes:
    """openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256"""
    public = serialization.load_der_public_key(public_key_der)
    return public.encrypt(material, OAEP_SHA256)  # type: ignore[union-attr,arg-type]


def wrap_rsa_aes(public_key_der: bytes, material: bytes) -> bytes:
    """RSA_AES_KEY_WRAP_SHA_256: an ephemeral AES key under RSA-OAEP, then RFC 5649 wrap."""
    aes = os.urandom(32)
    public = serialization.load_der_public_key(public_key_der)
    head = public.encrypt(aes, OAEP_SHA256)  # type: ignore[union-attr,arg-type]
    return head + keywrap.aes_key_wrap_with_padding(aes, material)


def import_material(client: Any, key_id: str, material: bytes, **extra: Any) -> dict[str, Any]:
    params = client.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    return client.import_key_material(  # type: ignore[no-any-return]
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap_oaep_sha256(params["PublicKey"], material),
        **({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"} | extra),
    )
