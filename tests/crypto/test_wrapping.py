"""Import wrapping: material wrapped the way the AWS guide tells users, then unwrapped here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from kmspolicy.crypto import (
    KeyMaterial,
    check_wrapping,
    generate_key,
    generate_wrapping_key,
    public_key_der,
    same_material,
    sign,
    unwrap_key_material,
    validate_import_material,
    verify,
    wrap_key_material,
)
from kmspolicy.errors import (
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    UnsupportedOperationException,
    ValidationException,
)

ALGORITHMS = [
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
]


@pytest.fixture(scope="module")
def wrapping() -> KeyMaterial:
    return generate_wrapping_key("RSA_3072")


def _user_wraps(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """The AWS guide's steps, with plain cryptography in place of the openssl commands."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    h = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        # openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:<h> ...
        return public.encrypt(material, oaep)
    aes_key = bytes(range(32))  # openssl rand -out aes-key.bin 32
    # openssl enc -id-aes256-wrap-pad -K <aes key hex> -iv A65959A6 -in material
    wrapped_material = keywrap.aes_key_wrap_with_padding(aes_key, material)
    wrapped_key = public.encrypt(aes_key, oaep)  # openssl pkeyutl -encrypt ... -in aes-key.bin
    return wrapped_key + wrapped_material  # cat aes-key-wrapped.bin key-material-wrapped.bin


def _pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


MATERIALS = {
    "SYMMETRIC_DEFAULT": lambda: bytes(range(32)),
    "HMAC_256": lambda: b"\x42" * 32,
    "HMAC_512": lambda: b"\x42" * 100,  # imported HMAC keys may be longer than the digest
    "ECC_NIST_P256": lambda: _pkcs8(ec.generate_private_key(ec.SECP256R1())),
    "ECC_NIST_P384": lambda: _pkcs8(ec.generate_private_key(ec.SECP384R1())),
    "ECC_NIST_EDWARDS25519": lambda: _pkcs8(ed25519.Ed25519PrivateKey.generate()),
    "ML_DSA_44": lambda: generate_key("ML_DSA_44").secret,
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("spec", sorted(MATERIALS))
def test_wrap_as_aws_documents_then_unwrap(
    wrapping: KeyMaterial, spec: str, algorithm: str
) -> None:
    check_wrapping(spec, algorithm, "RSA_3072")
    raw = MATERIALS[spec]()
    wrapped = _user_wraps(public_key_der(wrapping), algorithm, raw)
    unwrapped = unwrap_key_material(wrapping, algorithm, wrapped)
    assert unwrapped == raw
    material = validate_import_material(spec, unwrapped)
    assert material.spec == spec


@pytest.mark.parametrize("algorithm", ["RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_rsa_private_key_imports_with_key_wrap(wrapping: KeyMaterial, algorithm: str) -> None:
    private = rsa.generate_private_key(65537, 2048)
    wrapped = _user_wraps(public_key_der(wrapping), algorithm, _pkcs8(private))
    material = validate_import_material(
        "RSA_2048", unwrap_key_material(wrapping, algorithm, wrapped)
    )
    # the imported key signs, and the signature verifies with the user's own public key
    signature = sign(material, "RSASSA_PSS_SHA_256", b"m")
    h = hashes.SHA256()
    private.public_key().verify(signature, b"m", padding.PSS(padding.MGF1(h), 32), h)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_commands_from_the_aws_guide(wrapping: KeyMaterial, tmp_path: Path) -> None:
    """The literal commands of the guide (RSA_AES_KEY_WRAP_SHA_256, symmetric material)."""
    (tmp_path / "WrappingPublicKey.der").write_bytes(public_key_der(wrapping))
    (tmp_path / "PlaintextKeyMaterial.bin").write_bytes(bytes(range(100, 132)))
    aes_key = bytes(range(32))
    (tmp_path / "aes-key.bin").write_bytes(aes_key)
    for command in (
        [
            "openssl",
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            aes_key.hex(),
            "-iv",
            "A65959A6",
            "-in",
            "PlaintextKeyMaterial.bin",
            "-out",
            "key-material-wrapped.bin",
        ],
        [
            "openssl",
            "pkeyutl",
            "-encrypt",
            "-in",
            "aes-key.bin",
            "-out",
            "aes-key-wrapped.bin",
            "-inkey",
            "WrappingPublicKey.der",
            "-keyform",
            "DER",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    ):
        subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
    wrapped = (tmp_path / "aes-key-wrapped.bin").read_bytes()
    wrapped += (tmp_path / "key-material-wrapped.bin").read_bytes()
    unwrapped = unwrap_key_material(wrapping, "RSA_AES_KEY_WRAP_SHA_256", wrapped)
    assert unwrapped == bytes(range(100, 132))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrap_helper_round_trip(wrapping: KeyMaterial, algorithm: str) -> None:
    wrapped = wrap_key_material(public_key_der(wrapping), algorithm, b"\x07" * 32)
    assert unwrap_key_material(wrapping, algorithm, wrapped) == b"\x07" * 32


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unwrap_flipped_bit_rejected(wrapping: KeyMaterial, algorithm: str) -> None:
    wrapped = bytearray(wrap_key_material(public_key_der(wrapping), algorithm, b"\x07" * 32))
    for position in (0, 200, len(wrapped) - 1):
        corrupted = bytearray(wrapped)
        corrupted[position] ^= 0x01
        with pytest.raises(InvalidCiphertextException):
            unwrap_key_material(wrapping, algorithm, bytes(corrupted))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unwrap_with_another_wrapping_key_rejected(wrapping: KeyMaterial, algorithm: str) -> None:
    other = generate_key("RSA_2048")
    wrapped = wrap_key_material(public_key_der(other), algorithm, b"\x07" * 32)
    with pytest.raises(InvalidCiphertextException):
        unwrap_key_material(wrapping, algorithm, wrapped)


def test_unwrap_with_the_wrong_algorithm_rejected(wrapping: KeyMaterial) -> None:
    wrapped = wrap_key_material(public_key_der(wrapping), "RSA_AES_KEY_WRAP_SHA_256", b"\x07" * 32)
    for algorithm in ("RSA_AES_KEY_WRAP_SHA_1", "RSAES_OAEP_SHA_256"):
        with pytest.raises(InvalidCiphertextException):
            unwrap_key_material(wrapping, algorithm, wrapped)


@pytest.mark.parametrize("wrapped", [b"", b"x", b"\x00" * 384, b"\x00" * 500])
def test_unwrap_malformed_rejected(wrapping: KeyMaterial, wrapped: bytes) -> None:
    for algorithm in ALGORITHMS:
        with pytest.raises(InvalidCiphertextException):
            unwrap_key_material(wrapping, algorithm, wrapped)


@pytest.mark.parametrize(
    ("spec", "algorithm", "wrapping_spec", "error"),
    [
        ("RSA_2048", "RSAES_OAEP_SHA_256", "RSA_4096", ValidationException),
        ("RSA_4096", "RSAES_OAEP_SHA_1", "RSA_4096", ValidationException),
        ("ECC_NIST_P521", "RSAES_OAEP_SHA_256", "RSA_2048", ValidationException),
        ("SYMMETRIC_DEFAULT", "RSAES_PKCS1_V1_5", "RSA_2048", ValidationException),
        ("SYMMETRIC_DEFAULT", "SM2PKE", "SM2", UnsupportedOperationException),
        ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256", "SM2", UnsupportedOperationException),
        ("SM2", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048", UnsupportedOperationException),
    ],
)
def test_wrapping_rules(
    spec: str, algorithm: str, wrapping_spec: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        check_wrapping(spec, algorithm, wrapping_spec)


@pytest.mark.parametrize(
    ("spec", "algorithm", "wrapping_spec"),
    [
        ("ECC_NIST_P521", "RSAES_OAEP_SHA_256", "RSA_3072"),
        ("RSA_4096", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
        ("HMAC_224", "RSAES_OAEP_SHA_1", "RSA_2048"),
    ],
)
def test_wrapping_rules_allow(spec: str, algorithm: str, wrapping_spec: str) -> None:
    check_wrapping(spec, algorithm, wrapping_spec)


# RSA_4096 left out: generation costs a second and takes the same path
@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072"])
def test_wrapping_key_pairs(spec: str) -> None:
    public = serialization.load_der_public_key(public_key_der(generate_wrapping_key(spec)))
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec[-4:])


def test_sm2_wrapping_key_unsupported() -> None:
    with pytest.raises(UnsupportedOperationException):
        generate_wrapping_key("SM2")


@pytest.mark.parametrize(
    ("spec", "material"),
    [
        ("SYMMETRIC_DEFAULT", b"\x00" * 16),
        ("SYMMETRIC_DEFAULT", b"\x00" * 33),
        ("HMAC_224", b"\x00" * 27),
        ("HMAC_256", b"\x00" * 65),
        ("HMAC_384", b"\x00" * 129),
        ("ECC_NIST_P256", b"not a key"),
        ("ECC_NIST_P384", _pkcs8(ec.generate_private_key(ec.SECP256R1()))),
        ("ECC_NIST_P256", _pkcs8(ec.generate_private_key(ec.SECP256K1()))),
        ("ECC_NIST_EDWARDS25519", _pkcs8(ec.generate_private_key(ec.SECP256R1()))),
        ("RSA_3072", _pkcs8(rsa.generate_private_key(65537, 2048))),
        ("ML_DSA_65", _pkcs8(ed25519.Ed25519PrivateKey.generate())),
    ],
    ids=[
        "sym-16",
        "sym-33",
        "hmac224-27",
        "hmac256-65",
        "hmac384-129",
        "garbage",
        "p384-got-p256",
        "p256-got-k1",
        "ed25519-got-p256",
        "rsa3072-got-2048",
        "mldsa-got-ed",
    ],
)
def test_import_material_that_does_not_match_spec(spec: str, material: bytes) -> None:
    with pytest.raises(IncorrectKeyMaterialException, match=spec):
        validate_import_material(spec, material)


def test_reimport_of_the_same_key_is_recognised() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = validate_import_material("ECC_NIST_P256", _pkcs8(key))
    assert same_material(first, validate_import_material("ECC_NIST_P256", _pkcs8(key)))
    other = _pkcs8(ec.generate_private_key(ec.SECP256R1()))
    assert not same_material(first, validate_import_material("ECC_NIST_P256", other))
    # the imported material signs for the user's own public key
    signature = sign(first, "ECDSA_SHA_256", b"m")
    key.public_key().verify(signature, b"m", ec.ECDSA(hashes.SHA256()))
    verify(first, "ECDSA_SHA_256", b"m", signature)


@pytest.mark.parametrize("fmt", ["sec1", "pkcs1"])
def test_import_material_must_be_pkcs8(fmt: str) -> None:
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if fmt == "sec1"
        else rsa.generate_private_key(65537, 2048)
    )
    traditional = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(IncorrectKeyMaterialException, match="PKCS#8"):
        validate_import_material("ECC_NIST_P256" if fmt == "sec1" else "RSA_2048", traditional)
