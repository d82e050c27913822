"""Asymmetric, HMAC and key-agreement keys through the boto3 client, checked with plain pyca."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from kmspolicy.crypto import specs

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}

SIGNING = [
    (spec, alg)
    for spec in specs.KeySpec
    if specs.supports_sign(spec) and specs.is_implemented(spec)
    for alg in specs.signing_algorithms(spec)
    if alg is not specs.SigningAlgorithm.ED25519_PH_SHA_512  # pyca has no Ed25519ph
]


@pytest.fixture(scope="module")
def keys() -> dict[tuple[str, str], str]:
    return {}


def _key(client: Any, spec: str, usage: str) -> str:
    return client.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]


def _verify_locally(
    public_der: bytes, alg: str, message: bytes, signature: bytes, digest: bool
) -> None:
    public: Any = serialization.load_der_public_key(public_der)
    if alg.startswith("RSASSA") or alg.startswith("ECDSA"):
        h = _HASHES[alg[-3:]]()
        chosen: Any = utils.Prehashed(h) if digest else h
        if alg.startswith("RSASSA_PSS"):
            public.verify(signature, message, padding.PSS(padding.MGF1(h), h.digest_size), chosen)
        elif alg.startswith("RSASSA_PKCS1"):
            public.verify(signature, message, padding.PKCS1v15(), chosen)
        else:
            public.verify(signature, message, ec.ECDSA(chosen))
    else:  # Ed25519, ML-DSA: the message itself
        public.verify(signature, message)


@pytest.mark.parametrize(("spec", "alg"), SIGNING, ids=[f"{s}-{a}" for s, a in SIGNING])
def test_sign_output_verifies_with_plain_cryptography(client: Any, spec: str, alg: str) -> None:
    key = _key(client, spec, "SIGN_VERIFY")
    public = client.get_public_key(KeyId=key)
    assert public["KeyUsage"] == "SIGN_VERIFY" and alg in public["SigningAlgorithms"]
    message = b"the quick brown fox"
    sig = client.sign(KeyId=key, Message=message, SigningAlgorithm=alg)["Signature"]
    _verify_locally(public["PublicKey"], alg, message, sig, digest=False)
    assert client.verify(KeyId=key, Message=message, Signature=sig, SigningAlgorithm=alg)[
        "SignatureValid"
    ]
    with pytest.raises(client.exceptions.KMSInvalidSignatureException):
        client.verify(KeyId=key, Message=message + b"!", Signature=sig, SigningAlgorithm=alg)
    if specs.accepts_message_type(alg, "DIGEST"):
        digest = _HASHLIB[alg[-3:]](message).digest()
        dsig = client.sign(KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm=alg)[
            "Signature"
        ]
        _verify_locally(public["PublicKey"], alg, digest, dsig, digest=True)


RSA_ENCRYPTION = [
    (spec, alg)
    for spec in ("RSA_2048", "RSA_3072", "RSA_4096")
    for alg in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
]


@pytest.mark.parametrize(
    ("spec", "alg"), RSA_ENCRYPTION, ids=[f"{s}-{a}" for s, a in RSA_ENCRYPTION]
)
def test_rsa_round_trip_and_local_public_key_encryption(client: Any, spec: str, alg: str) -> None:
    key = _key(client, spec, "ENCRYPT_DECRYPT")
    limit = specs.max_plaintext(spec, alg)
    blob = client.encrypt(KeyId=key, Plaintext=b"a" * limit, EncryptionAlgorithm=alg)[
        "CiphertextBlob"
    ]
    out = client.decrypt(KeyId=key, CiphertextBlob=blob, EncryptionAlgorithm=alg)
    assert out["Plaintext"] == b"a" * limit and out["EncryptionAlgorithm"] == alg
    # encrypted locally with the downloaded public key, decrypted by the service
    public: Any = serialization.load_der_public_key(client.get_public_key(KeyId=key)["PublicKey"])
    h = hashes.SHA1() if alg.endswith("SHA_1") else hashes.SHA256()
    local = public.encrypt(b"local secret", padding.OAEP(padding.MGF1(h), h, None))
    assert (
        client.decrypt(KeyId=key, CiphertextBlob=local, EncryptionAlgorithm=alg)["Plaintext"]
        == b"local secret"
    )
    with pytest.raises(client.exceptions.ClientError):
        client.encrypt(KeyId=key, Plaintext=b"a" * (limit + 1), EncryptionAlgorithm=alg)


@pytest.mark.parametrize("spec", ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"])
def test_hmac_generate_and_verify(client: Any, spec: str) -> None:
    key = _key(client, spec, "GENERATE_VERIFY_MAC")
    (alg,) = specs.mac_algorithms(spec)
    mac = client.generate_mac(KeyId=key, Message=b"m", MacAlgorithm=alg)["Mac"]
    assert len(mac) == specs.MAC_LENGTHS[alg]
    assert client.verify_mac(KeyId=key, Message=b"m", Mac=mac, MacAlgorithm=alg)["MacValid"]
    with pytest.raises(client.exceptions.KMSInvalidMacException):
        client.verify_mac(KeyId=key, Message=b"n", Mac=mac, MacAlgorithm=alg)
    with pytest.raises(client.exceptions.UnsupportedOperationException):
        client.get_public_key(KeyId=key)


@pytest.mark.parametrize(
    ("spec", "curve"),
    [
        ("ECC_NIST_P256", ec.SECP256R1),
        ("ECC_NIST_P384", ec.SECP384R1),
        ("ECC_NIST_P521", ec.SECP521R1),
    ],
)
def test_derive_shared_secret_matches_local_ecdh(client: Any, spec: str, curve: Any) -> None:
    key = _key(client, spec, "KEY_AGREEMENT")
    peer = ec.generate_private_key(curve())
    peer_der = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    secret = client.derive_shared_secret(
        KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der
    )["SharedSecret"]
    kms_public: Any = serialization.load_der_public_key(
        client.get_public_key(KeyId=key)["PublicKey"]
    )
    assert secret == peer.exchange(ec.ECDH(), kms_public)


@pytest.mark.parametrize(
    "pair_spec",
    [s for s in specs.DataKeyPairSpec if specs.is_implemented(specs.key_spec_for_data_key_pair(s))],
)
def test_data_key_pair_private_key_decrypts_and_matches(
    client: Any, key_id: str, pair_spec: str
) -> None:
    out = client.generate_data_key_pair(KeyId=key_id, KeyPairSpec=pair_spec)
    private: Any = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
    assert (
        private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == out["PublicKey"]
    )
    back = client.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])
    assert back["Plaintext"] == out["PrivateKeyPlaintext"]


def test_wrong_usage_is_invalid_key_usage(client: Any, key_id: str) -> None:
    signer = _key(client, "ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(client.exceptions.InvalidKeyUsageException):
        client.encrypt(KeyId=signer, Plaintext=b"p")
    with pytest.raises(client.exceptions.InvalidKeyUsageException):
        client.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(client.exceptions.UnsupportedOperationException):
        client.get_public_key(KeyId=key_id)


def test_key_spec_and_usage_must_fit(client: Any) -> None:
    with pytest.raises(client.exceptions.ClientError) as err:
        client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="ENCRYPT_DECRYPT")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(client.exceptions.UnsupportedOperationException):
        client.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
