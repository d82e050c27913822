"""Data keys and data key pairs: what GenerateDataKey* and GenerateDataKeyPair* hand out.

Layer: crypto. The caller (the kms core) encrypts the plaintext under its KMS key with
``encrypt_blob``; this module only makes the random keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from kmspolicy.crypto.material import Rng, generate_key, public_key_der, random_bytes
from kmspolicy.crypto.specs import (
    DATA_KEY_LENGTHS,
    MAX_DATA_KEY_BYTES,
    DataKeyPairSpec,
    DataKeySpec,
    key_spec_for_data_key_pair,
)
from kmspolicy.errors import ValidationException


@dataclass(frozen=True, slots=True, eq=False)
class DataKeyPair:
    """A fresh asymmetric pair: PKCS#8 DER private key (never in repr) and DER SPKI public key."""

    spec: DataKeyPairSpec
    private_key_der: bytes = field(repr=False)
    public_key_der: bytes


def data_key_length(key_spec: DataKeySpec | str | None, number_of_bytes: int | None) -> int:
    """Bytes of the data key AWS makes for exactly one of KeySpec or NumberOfBytes (1..1024).

    Both or neither, or NumberOfBytes out of range → ValidationException.
    """
    if (key_spec is None) == (number_of_bytes is None):
        raise ValidationException("specify either KeySpec or NumberOfBytes, but not both")
    if key_spec is not None:
        try:
            return DATA_KEY_LENGTHS[DataKeySpec(key_spec)]
        except ValueError:
            raise ValidationException(
                f"KeySpec {key_spec!r} is not one of {', '.join(DataKeySpec)}"
            ) from None
    assert number_of_bytes is not None
    if isinstance(number_of_bytes, bool) or not isinstance(number_of_bytes, int):
        raise TypeError("number_of_bytes must be an int")
    if not 1 <= number_of_bytes <= MAX_DATA_KEY_BYTES:
        raise ValidationException(
            f"NumberOfBytes must be between 1 and {MAX_DATA_KEY_BYTES}, got {number_of_bytes}"
        )
    return number_of_bytes


def generate_data_key(
    key_spec: DataKeySpec | str | None = None,
    number_of_bytes: int | None = None,
    *,
    rng: Rng = os.urandom,
) -> bytes:
    """A random data key (AES_256 → 32 bytes, AES_128 → 16, or NumberOfBytes)."""
    return random_bytes(rng, data_key_length(key_spec, number_of_bytes))


def generate_data_key_pair(spec: DataKeyPairSpec | str, *, rng: Rng = os.urandom) -> DataKeyPair:
    """A fresh key pair for any DataKeyPairSpec (SM2, ML_KEM_512: UnsupportedOperationException)."""
    pair_spec = DataKeyPairSpec(spec)
    material = generate_key(key_spec_for_data_key_pair(pair_spec), rng)
    return DataKeyPair(pair_spec, material.secret, public_key_der(material))
