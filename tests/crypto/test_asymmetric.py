"""RSA-OAEP and Sign/Verify against AWS's rules, checked with plain pyca/cryptography."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy import messages
from kmspolicy.crypto import (
    EncryptionAlgorithm,
    KeyMaterial,
    KeySpec,
    SigningAlgorithm,
    decrypt_asymmetric,
    digest_length,
    encrypt_asymmetric,
    max_plaintext,
    public_key_der,
    sign,
    signing_algorithms,
    verify,
)
from kmspolicy.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)

RSA = [KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096]
OAEP = [EncryptionAlgorithm.RSAES_OAEP_SHA_1, EncryptionAlgorithm.RSAES_OAEP_SHA_256]
SIGNING_SPECS = [
    *RSA,
    KeySpec.ECC_NIST_P256,
    KeySpec.ECC_NIST_P384,
    KeySpec.ECC_NIST_P521,
    KeySpec.ECC_SECG_P256K1,
    KeySpec.ECC_NIST_EDWARDS25519,
    KeySpec.ML_DSA_44,
    KeySpec.ML_DSA_65,
    KeySpec.ML_DSA_87,
]
PAIRS = [
    (spec, alg)
    for spec in SIGNING_SPECS
    for alg in signing_algorithms(spec)
    if alg is not SigningAlgorithm.ED25519_PH_SHA_512
]
DIGEST_PAIRS = [(s, a) for s, a in PAIRS if digest_length(a) is not None]
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
MESSAGE = b"the message AWS KMS signs"


def _plain_verify(
    public_der: bytes, alg: SigningAlgorithm, signature: bytes, message: bytes
) -> None:
    """Verification as a user does it with GetPublicKey output and plain cryptography."""
    public = serialization.load_der_public_key(public_der)
    if alg.startswith("RSASSA_PSS"):
        h = HASHES[alg[-3:]]()
        public.verify(signature, message, padding.PSS(padding.MGF1(h), h.digest_size), h)  # type: ignore[union-attr,call-arg]
    elif alg.startswith("RSASSA_PKCS1"):
        public.verify(signature, message, padding.PKCS1v15(), HASHES[alg[-3:]]())  # type: ignore[union-attr,call-arg]
    elif alg.startswith("ECDSA"):
        public.verify(signature, message, ec.ECDSA(HASHES[alg[-3:]]()))  # type: ignore[union-attr,call-arg]
    else:
        public.verify(signature, message)  # type: ignore[union-attr,call-arg]


# --- RSAES-OAEP ---


@pytest.mark.parametrize("spec", RSA)
@pytest.mark.parametrize("alg", OAEP)
def test_oaep_round_trip_at_the_limit(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: str
) -> None:
    plaintext = b"\xa5" * max_plaintext(spec, alg)
    ciphertext = encrypt_asymmetric(keys[spec], alg, plaintext)
    assert len(ciphertext) == spec_bits(spec) // 8
    assert decrypt_asymmetric(keys[spec], alg, ciphertext) == plaintext


def spec_bits(spec: KeySpec) -> int:
    return int(spec[-4:])


@pytest.mark.parametrize("spec", RSA)
@pytest.mark.parametrize("alg", OAEP)
def test_oaep_plaintext_too_large(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: str
) -> None:
    with pytest.raises(ValidationException, match=str(max_plaintext(spec, alg))):
        encrypt_asymmetric(keys[spec], alg, b"x" * (max_plaintext(spec, alg) + 1))


@pytest.mark.parametrize("alg", OAEP)
def test_public_key_encryption_done_locally_decrypts(
    keys: dict[KeySpec, KeyMaterial], alg: str
) -> None:
    material = keys[KeySpec.RSA_3072]
    public = serialization.load_der_public_key(public_key_der(material))
    h = hashes.SHA1() if alg.endswith("_1") else hashes.SHA256()
    ciphertext = public.encrypt(b"local", padding.OAEP(padding.MGF1(h), h, None))  # type: ignore[union-attr,call-arg]
    assert decrypt_asymmetric(material, alg, ciphertext) == b"local"


def test_oaep_wrong_algorithm_rejected(keys: dict[KeySpec, KeyMaterial]) -> None:
    ciphertext = encrypt_asymmetric(keys[KeySpec.RSA_2048], "RSAES_OAEP_SHA_1", b"p")
    with pytest.raises(InvalidCiphertextException):
        decrypt_asymmetric(keys[KeySpec.RSA_2048], "RSAES_OAEP_SHA_256", ciphertext)


@pytest.mark.parametrize("position", [0, 1, 100, 255])
def test_oaep_flipped_bit_rejected(keys: dict[KeySpec, KeyMaterial], position: int) -> None:
    ciphertext = bytearray(encrypt_asymmetric(keys[KeySpec.RSA_2048], "RSAES_OAEP_SHA_256", b"p"))
    ciphertext[position] ^= 1
    with pytest.raises(InvalidCiphertextException):
        decrypt_asymmetric(keys[KeySpec.RSA_2048], "RSAES_OAEP_SHA_256", bytes(ciphertext))


@pytest.mark.parametrize("ciphertext", [b"", b"short", b"\x00" * 257])
def test_oaep_malformed_ciphertext_rejected(
    keys: dict[KeySpec, KeyMaterial], ciphertext: bytes
) -> None:
    with pytest.raises(InvalidCiphertextException):
        decrypt_asymmetric(keys[KeySpec.RSA_2048], "RSAES_OAEP_SHA_256", ciphertext)


@pytest.mark.parametrize(
    ("spec", "alg"),
    [
        (KeySpec.ECC_NIST_P256, "RSAES_OAEP_SHA_256"),
        (KeySpec.RSA_2048, "SYMMETRIC_DEFAULT"),
        (KeySpec.RSA_2048, "SM2PKE"),
    ],
)
def test_encryption_algorithm_not_offered_by_key(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: str
) -> None:
    with pytest.raises(InvalidKeyUsageException):
        encrypt_asymmetric(keys[spec], alg, b"p")


# --- Sign / Verify ---


@pytest.mark.parametrize(("spec", "alg"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_sign_raw_verifies_with_plain_cryptography(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: SigningAlgorithm
) -> None:
    signature = sign(keys[spec], alg, MESSAGE, "RAW")
    verify(keys[spec], alg, MESSAGE, signature, "RAW")
    _plain_verify(public_key_der(keys[spec]), alg, signature, MESSAGE)


@pytest.mark.parametrize(("spec", "alg"), DIGEST_PAIRS, ids=[f"{s}-{a}" for s, a in DIGEST_PAIRS])
def test_sign_digest_equals_signing_the_message(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: SigningAlgorithm
) -> None:
    digest = hashlib.new(f"sha{alg[-3:]}", MESSAGE).digest()
    signature = sign(keys[spec], alg, digest, "DIGEST")
    _plain_verify(public_key_der(keys[spec]), alg, signature, MESSAGE)  # the raw message verifies
    verify(keys[spec], alg, digest, signature, "DIGEST")
    verify(keys[spec], alg, MESSAGE, signature, "RAW")


@pytest.mark.parametrize(("spec", "alg"), DIGEST_PAIRS, ids=[f"{s}-{a}" for s, a in DIGEST_PAIRS])
@pytest.mark.parametrize("delta", [-1, 1])
def test_digest_wrong_length(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: SigningAlgorithm, delta: int
) -> None:
    length = digest_length(alg)
    assert length is not None
    # AWS's recorded text: "Digest is invalid length for algorithm <alg>."
    with pytest.raises(ValidationException) as info:
        sign(keys[spec], alg, b"\x01" * (length + delta), "DIGEST")
    assert info.value.message == f"Digest is invalid length for algorithm {alg}."
    with pytest.raises(ValidationException) as info:
        verify(keys[spec], alg, b"\x01" * (length + delta), b"sig", "DIGEST")
    assert info.value.message == messages.digest_length(alg)


@pytest.mark.parametrize(("spec", "alg"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_raw_message_too_long(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: SigningAlgorithm
) -> None:
    sign(keys[spec], alg, b"m" * 4096, "RAW")
    with pytest.raises(ValidationException, match="4096"):
        sign(keys[spec], alg, b"m" * 4097, "RAW")


@pytest.mark.parametrize(("spec", "alg"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_changed_message_or_signature_rejected(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: SigningAlgorithm
) -> None:
    signature = sign(keys[spec], alg, MESSAGE)
    with pytest.raises(KMSInvalidSignatureException):
        verify(keys[spec], alg, MESSAGE + b"!", signature)
    flipped = bytearray(signature)
    flipped[len(flipped) // 2] ^= 0x10
    with pytest.raises(KMSInvalidSignatureException):
        verify(keys[spec], alg, MESSAGE, bytes(flipped))
    with pytest.raises(KMSInvalidSignatureException):
        verify(keys[spec], alg, MESSAGE, b"")  # not even well-formed: same opaque error


def test_signature_of_another_key_rejected(keys: dict[KeySpec, KeyMaterial]) -> None:
    other = sign(keys[KeySpec.RSA_2048], "RSASSA_PSS_SHA_256", MESSAGE)
    with pytest.raises(KMSInvalidSignatureException):
        verify(keys[KeySpec.RSA_3072], "RSASSA_PSS_SHA_256", MESSAGE, other)


def test_pss_salt_length_is_digest_length(keys: dict[KeySpec, KeyMaterial]) -> None:
    signature = sign(keys[KeySpec.RSA_2048], "RSASSA_PSS_SHA_384", MESSAGE)
    public = serialization.load_der_public_key(public_key_der(keys[KeySpec.RSA_2048]))
    # a verifier insisting on salt length 48 accepts it; one insisting on 32 does not
    public.verify(
        signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384()
    )  # type: ignore[union-attr,call-arg]
    with pytest.raises(InvalidSignature):
        public.verify(
            signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA384()), 32), hashes.SHA384()
        )  # type: ignore[union-attr,call-arg]


@pytest.mark.parametrize(
    ("spec", "alg"),
    [
        (KeySpec.ECC_NIST_P256, "ECDSA_SHA_384"),
        (KeySpec.ECC_NIST_P384, "ECDSA_SHA_256"),
        (KeySpec.ECC_SECG_P256K1, "ECDSA_SHA_512"),
        (KeySpec.RSA_2048, "ECDSA_SHA_256"),
        (KeySpec.ML_DSA_44, "ED25519_SHA_512"),
        (KeySpec.HMAC_256, "RSASSA_PSS_SHA_256"),
    ],
)
def test_signing_algorithm_not_offered_by_key(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec, alg: str
) -> None:
    with pytest.raises(InvalidKeyUsageException):
        sign(keys[spec], alg, MESSAGE)


def test_ed25519_needs_raw(keys: dict[KeySpec, KeyMaterial]) -> None:
    with pytest.raises(ValidationException, match="MessageType DIGEST"):
        sign(keys[KeySpec.ECC_NIST_EDWARDS25519], "ED25519_SHA_512", b"\x00" * 64, "DIGEST")


def test_ed25519_prehash_unsupported(keys: dict[KeySpec, KeyMaterial]) -> None:
    with pytest.raises(UnsupportedOperationException, match="ED25519_PH_SHA_512"):
        sign(keys[KeySpec.ECC_NIST_EDWARDS25519], "ED25519_PH_SHA_512", b"\x00" * 64, "DIGEST")


def test_ml_dsa_rejects_digest(keys: dict[KeySpec, KeyMaterial]) -> None:
    with pytest.raises(ValidationException):
        sign(keys[KeySpec.ML_DSA_65], "ML_DSA_SHAKE_256", b"\x00" * 64, "DIGEST")


def test_external_mu_rejected_for_ecdsa(keys: dict[KeySpec, KeyMaterial]) -> None:
    with pytest.raises(ValidationException):
        sign(keys[KeySpec.ECC_NIST_P256], "ECDSA_SHA_256", b"\x00" * 64, "EXTERNAL_MU")


@pytest.mark.parametrize("spec", [KeySpec.ML_DSA_44, KeySpec.ML_DSA_65, KeySpec.ML_DSA_87])
def test_ml_dsa_external_mu_verifies_as_raw(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec
) -> None:
    public = serialization.load_der_public_key(public_key_der(keys[spec]))
    hasher = mldsa.MLDSAMuHasher(public)  # type: ignore[call-arg]
    hasher.update(MESSAGE)
    mu = hasher.finalize()
    signature = sign(keys[spec], "ML_DSA_SHAKE_256", mu, "EXTERNAL_MU")
    public.verify(signature, MESSAGE)  # type: ignore[union-attr,call-arg]
    verify(keys[spec], "ML_DSA_SHAKE_256", mu, signature, "EXTERNAL_MU")
    verify(keys[spec], "ML_DSA_SHAKE_256", MESSAGE, signature, "RAW")


@pytest.mark.parametrize("length", [0, 32, 63, 65])
def test_external_mu_wrong_length(keys: dict[KeySpec, KeyMaterial], length: int) -> None:
    with pytest.raises(ValidationException, match="64"):
        sign(keys[KeySpec.ML_DSA_44], "ML_DSA_SHAKE_256", b"\x00" * length, "EXTERNAL_MU")


@settings(max_examples=25, deadline=None)
@given(message=st.binary(min_size=0, max_size=4096))
def test_any_raw_message_signs_and_verifies(
    keys: dict[KeySpec, KeyMaterial], message: bytes
) -> None:
    for spec, alg in (
        (KeySpec.ECC_NIST_P256, "ECDSA_SHA_256"),
        (KeySpec.ECC_NIST_EDWARDS25519, "ED25519_SHA_512"),
    ):
        verify(keys[spec], alg, message, sign(keys[spec], alg, message))
