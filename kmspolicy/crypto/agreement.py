"""ECDH for DeriveSharedSecret: the raw shared secret of the key and a peer's public key.

Layer: crypto. The peer key is DER SubjectPublicKeyInfo on the same curve as the KMS key;
the result is the x-coordinate of the shared point, as AWS returns it (no KDF applied).
"""

from __future__ import annotations

from cryptography.exceptions import InternalError as OpenSSLError
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kmspolicy import messages
from kmspolicy.crypto.material import KeyMaterial, private_key
from kmspolicy.crypto.specs import KeyAgreementAlgorithm, key_agreement_algorithms
from kmspolicy.errors import InvalidKeyUsageException, ValidationException


def derive_shared_secret(
    material: KeyMaterial,
    algorithm: KeyAgreementAlgorithm | str,
    peer_public_key_der: bytes,
) -> bytes:
    """ECDH of the KMS key with the peer's public key (DER SPKI).

    A peer key that is not an EC key on the KMS key's curve → ValidationException.
    """
    alg = KeyAgreementAlgorithm(algorithm)
    if alg not in key_agreement_algorithms(material.spec):
        raise InvalidKeyUsageException(messages.algorithm_incompatible(alg, material.spec))
    key = private_key(material)
    try:
        peer = serialization.load_der_public_key(bytes(peer_public_key_der))
    # UnsupportedAlgorithm: well-formed DER of another algorithm; OpenSSLError: a key OpenSSL
    # refuses to set up (the wrong length for its OID)
    except (ValueError, TypeError, UnsupportedAlgorithm, OpenSSLError):
        raise ValidationException(
            "PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo"
        ) from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != key.curve.name:
        raise ValidationException(
            f"PublicKey must be an elliptic-curve key on the same curve as the "
            f"{material.spec} KMS key"
        )
    return bytes(key.exchange(ec.ECDH(), peer))
