"""ML-KEM for Encapsulate and Decapsulate: a fresh shared secret and its encapsulation.

Layer: crypto. FIPS 203 through pyca/cryptography (OpenSSL): ``encapsulate`` uses the key's
public half and returns the 32-byte shared secret with its ciphertext (768, 1088 or 1568 bytes
for ML-KEM-512/768/1024); ``decapsulate`` recovers the secret with the private key. ML-KEM
rejects implicitly: a ciphertext of the right length that was altered decapsulates to an
unrelated secret rather than failing, as in AWS. Encapsulation randomness comes from OpenSSL's
CSPRNG (pyca offers no seam).
"""

from __future__ import annotations

from kmspolicy import messages
from kmspolicy.crypto.material import KeyMaterial, private_key
from kmspolicy.crypto.specs import EncapsulationAlgorithm, KeyUsage, algorithms_for
from kmspolicy.errors import InvalidCiphertextException, InvalidKeyUsageException

__all__ = ["decapsulate", "encapsulate"]


def _check(material: KeyMaterial, algorithm: EncapsulationAlgorithm | str) -> None:
    alg = EncapsulationAlgorithm(algorithm)
    if alg not in algorithms_for(material.spec, KeyUsage.ENCAPSULATE_DECAPSULATE):
        raise InvalidKeyUsageException(messages.algorithm_incompatible(alg, material.spec))


def encapsulate(
    material: KeyMaterial, algorithm: EncapsulationAlgorithm | str
) -> tuple[bytes, bytes]:
    """(shared secret, ciphertext) under the key's public key."""
    _check(material, algorithm)
    secret, ciphertext = private_key(material).public_key().encapsulate()
    return bytes(secret), bytes(ciphertext)


def decapsulate(
    material: KeyMaterial, algorithm: EncapsulationAlgorithm | str, ciphertext: bytes
) -> bytes:
    """The shared secret of ``ciphertext``; one of the wrong length is
    InvalidCiphertextException (nothing else can be told apart: implicit rejection)."""
    _check(material, algorithm)
    try:
        return bytes(private_key(material).decapsulate(bytes(ciphertext)))
    except ValueError:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT) from None
