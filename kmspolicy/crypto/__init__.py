"""kmspolicy.crypto — the crypto kernel: the only package that imports ``cryptography.hazmat``.

Layer: crypto (imports only ``kmspolicy.errors``; knows nothing of policies, stores or HTTP).

Map of the package::

    specs      KeySpec, KeyUsage, EncryptionAlgorithm, SigningAlgorithm, MacAlgorithm,
               KeyAgreementAlgorithm, MessageType, DataKeySpec, DataKeyPairSpec,
               WrappingAlgorithm (= AlgorithmSpec), WrappingKeySpec — StrEnums with AWS
               spellings — and the capability table: spec_info(spec) -> SpecInfo,
               supports_encrypt/sign/mac/key_agreement(spec), algorithms_for(spec, usage),
               max_plaintext(spec, alg), digest_length(alg), accepts_message_type(alg, mt)
    material   KeyMaterial(spec, secret) (secret never in repr; compare with same_material),
               generate_key(spec, rng=os.urandom), load_key_material(spec, secret),
               public_key_der(material), key_material_id(key_id, material) (imported
               material's id), new_material_id(rng) (made material's)
    encoding   encode_encryption_context(context) -> canonical AAD bytes
    blob       encrypt_blob(material, key_id, plaintext, context, *, material_id, rng),
               parse_blob_header(blob) -> BlobHeader (no decryption), decrypt_blob(material,
               blob, context); format in docs/ciphertext-blob.md
    asymmetric encrypt_asymmetric / decrypt_asymmetric(material, alg, data) (RSAES_OAEP_*),
               sign(material, alg, message, message_type="RAW"),
               verify(material, alg, message, signature, message_type="RAW"),
               check_message(...) (AWS's RAW/DIGEST/EXTERNAL_MU rules, without crypto)
    mac        generate_mac(material, alg, message), verify_mac(material, alg, message, mac)
    agreement  derive_shared_secret(material, "ECDH", peer_public_key_der)
    kem        encapsulate(material, "ML_KEM") -> (secret, ciphertext),
               decapsulate(material, "ML_KEM", ciphertext)
    datakeys   generate_data_key(key_spec=None, number_of_bytes=None, *, rng),
               data_key_length(...), generate_data_key_pair(spec, *, rng) -> DataKeyPair
    seal       seal(root_key, plaintext, aad=b"", *, rng), unseal(root_key, sealed, aad),
               generate_root_key(rng), root_key_fingerprint(root_key),
               sealed_fingerprint(sealed), SealError (for stores; no filesystem access)
    wrapping   check_wrapping(key_spec, alg, wrapping_key_spec), generate_wrapping_key(spec),
               unwrap_key_material(wrapping_key, alg, wrapped), wrap_key_material(public_der,
               alg, material, *, rng) (the user's side), validate_import_material(spec, raw)
               -> KeyMaterial (canonical; compare re-imports with same_material)
    xks        the XKS Proxy API's AES-GCM recipe (kmspolicy xks-proxy): encrypt, decrypt,
               gcm_aad (the AAD length framing), cdiv, generate_key; XksDecryptError
    xksblob    the ciphertext blob of an external key store's key (version 2, double
               encryption): xks_header, seal_inner, outer_aad, assemble, split, open_inner

Errors: misuse of the API (wrong types, wrong spec for an operation) → TypeError/ValueError
with a message saying what to do. Caller mistakes AWS names (4097-byte plaintext, digest of
the wrong length, …) → ``kmspolicy.errors.ValidationException``. Every cryptographic failure
of one kind → one opaque error that never says why: InvalidCiphertextException (blob,
RSA decrypt, unwrap), KMSInvalidSignatureException (verify), KMSInvalidMacException
(verify_mac), SealError (unseal; an InternalError). An algorithm the key spec does not offer →
InvalidKeyUsageException. SM2, ML-KEM and ED25519_PH_SHA_512 → UnsupportedOperationException.

Randomness: every function that needs it takes ``rng: Callable[[int], bytes]`` defaulting to
``os.urandom``; the blob has a private ``_encrypt_from_parts`` seam for known-answer tests.
"""

from kmspolicy.crypto.agreement import derive_shared_secret
from kmspolicy.crypto.asymmetric import (
    check_message,
    decrypt_asymmetric,
    encrypt_asymmetric,
    sign,
    verify,
)
from kmspolicy.crypto.blob import (
    BlobHeader,
    blob_overhead,
    decrypt_blob,
    encrypt_blob,
    parse_blob_header,
)
from kmspolicy.crypto.datakeys import (
    DataKeyPair,
    data_key_length,
    generate_data_key,
    generate_data_key_pair,
)
from kmspolicy.crypto.encoding import encode_encryption_context
from kmspolicy.crypto.kem import decapsulate, encapsulate
from kmspolicy.crypto.mac import generate_mac, verify_mac
from kmspolicy.crypto.material import (
    KeyMaterial,
    Rng,
    generate_key,
    key_material_id,
    load_key_material,
    material_from_private_der,
    new_material_id,
    public_key_der,
    random_bytes,
    same_material,
)
from kmspolicy.crypto.seal import (
    SealError,
    generate_root_key,
    root_key_fingerprint,
    seal,
    sealed_fingerprint,
    unseal,
)
from kmspolicy.crypto.specs import (
    EXTERNAL_MU_LENGTH,
    MAX_DATA_KEY_BYTES,
    MAX_PLAINTEXT_SYMMETRIC,
    MAX_RAW_MESSAGE,
    AlgorithmSpec,
    DataKeyPairSpec,
    DataKeySpec,
    EncapsulationAlgorithm,
    EncryptionAlgorithm,
    KeyAgreementAlgorithm,
    KeySpec,
    KeyUsage,
    MacAlgorithm,
    MessageType,
    SigningAlgorithm,
    SpecInfo,
    WrappingAlgorithm,
    WrappingKeySpec,
    accepts_message_type,
    algorithms_for,
    default_usage,
    digest_length,
    encryption_algorithms,
    is_asymmetric,
    is_hmac,
    is_implemented,
    is_symmetric,
    key_agreement_algorithms,
    mac_algorithms,
    max_plaintext,
    require_implemented,
    signing_algorithms,
    spec_info,
    supports_encrypt,
    supports_key_agreement,
    supports_mac,
    supports_sign,
    supports_usage,
)
from kmspolicy.crypto.wrapping import (
    check_wrapping,
    generate_wrapping_key,
    unwrap_key_material,
    validate_import_material,
    wrap_key_material,
)

__all__ = [
    "EXTERNAL_MU_LENGTH",
    "MAX_DATA_KEY_BYTES",
    "MAX_PLAINTEXT_SYMMETRIC",
    "MAX_RAW_MESSAGE",
    "AlgorithmSpec",
    "BlobHeader",
    "DataKeyPair",
    "DataKeyPairSpec",
    "DataKeySpec",
    "EncapsulationAlgorithm",
    "EncryptionAlgorithm",
    "KeyAgreementAlgorithm",
    "KeyMaterial",
    "KeySpec",
    "KeyUsage",
    "MacAlgorithm",
    "MessageType",
    "Rng",
    "SealError",
    "SigningAlgorithm",
    "SpecInfo",
    "WrappingAlgorithm",
    "WrappingKeySpec",
    "accepts_message_type",
    "algorithms_for",
    "blob_overhead",
    "check_message",
    "check_wrapping",
    "data_key_length",
    "decapsulate",
    "decrypt_asymmetric",
    "decrypt_blob",
    "default_usage",
    "derive_shared_secret",
    "digest_length",
    "encapsulate",
    "encode_encryption_context",
    "encrypt_asymmetric",
    "encrypt_blob",
    "encryption_algorithms",
    "generate_data_key",
    "generate_data_key_pair",
    "generate_key",
    "generate_mac",
    "generate_root_key",
    "generate_wrapping_key",
    "is_asymmetric",
    "is_hmac",
    "is_implemented",
    "is_symmetric",
    "key_agreement_algorithms",
    "key_material_id",
    "load_key_material",
    "mac_algorithms",
    "material_from_private_der",
    "max_plaintext",
    "new_material_id",
    "parse_blob_header",
    "public_key_der",
    "random_bytes",
    "require_implemented",
    "root_key_fingerprint",
    "same_material",
    "seal",
    "sealed_fingerprint",
    "sign",
    "signing_algorithms",
    "spec_info",
    "supports_encrypt",
    "supports_key_agreement",
    "supports_mac",
    "supports_sign",
    "supports_usage",
    "unseal",
    "unwrap_key_material",
    "validate_import_material",
    "verify",
    "verify_mac",
    "wrap_key_material",
]
