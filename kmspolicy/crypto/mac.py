"""HMAC for GenerateMac/VerifyMac (RFC 2104), with a constant-time verification.

Layer: crypto. Uses the standard library's ``hmac``; the key spec fixes the algorithm
(HMAC_256 keys compute HMAC_SHA_256 only).
"""

from __future__ import annotations

import hashlib
import hmac
from types import MappingProxyType

from kmspolicy import messages
from kmspolicy.crypto.material import KeyMaterial
from kmspolicy.crypto.specs import MAX_RAW_MESSAGE, MacAlgorithm, mac_algorithms
from kmspolicy.errors import InvalidKeyUsageException, KMSInvalidMacException, ValidationException

_DIGESTS = MappingProxyType(
    {
        MacAlgorithm.HMAC_SHA_224: hashlib.sha224,
        MacAlgorithm.HMAC_SHA_256: hashlib.sha256,
        MacAlgorithm.HMAC_SHA_384: hashlib.sha384,
        MacAlgorithm.HMAC_SHA_512: hashlib.sha512,
    }
)


def _check(material: KeyMaterial, algorithm: MacAlgorithm | str, message: bytes) -> MacAlgorithm:
    alg = MacAlgorithm(algorithm)
    if alg not in mac_algorithms(material.spec):
        raise InvalidKeyUsageException(messages.algorithm_incompatible(alg, material.spec))
    if len(message) > MAX_RAW_MESSAGE:
        raise ValidationException(
            f"message is {len(message)} bytes; GenerateMac accepts at most {MAX_RAW_MESSAGE}"
        )
    return alg


def generate_mac(material: KeyMaterial, algorithm: MacAlgorithm | str, message: bytes) -> bytes:
    """HMAC of ``message`` (≤ 4096 bytes) with the key's algorithm."""
    alg = _check(material, algorithm, message)
    return hmac.new(material.secret, bytes(message), _DIGESTS[alg]).digest()


def verify_mac(
    material: KeyMaterial, algorithm: MacAlgorithm | str, message: bytes, mac: bytes
) -> None:
    """Return if ``mac`` is right (constant-time compare); else KMSInvalidMacException."""
    expected = generate_mac(material, algorithm, message)
    if not hmac.compare_digest(expected, bytes(mac)):
        raise KMSInvalidMacException(messages.INVALID_MAC)
