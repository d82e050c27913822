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
               public_key_der(material), key_material_id(key_id, material)
    encoding   encode_encryption_context(context) -> canonical AAD bytes
    blob       encrypt_blob(material, key_id, plaintext, context, *, material_id, rng),
               parse_blob_header(blob) -> BlobHeader (no decryption), decrypt_blob(material,
               blob, context); format in docs/ciphertext-blob.md

Errors: misuse of the API (wrong types, wrong spec for an operation) → TypeError/ValueError
with a message saying what to do. Caller mistakes AWS names (4097-byte plaintext, digest of
the wrong length, …) → ``kmspolicy.errors.ValidationException``. Every cryptographic failure
of one kind → one opaque error that never says why: InvalidCiphertextException (blob,
RSA decrypt, unwrap). SM2 → UnsupportedOperationException.

Randomness: every function that needs it takes ``rng: Callable[[int], bytes]`` defaulting to
``os.urandom``; the blob has a private ``_encrypt_from_parts`` seam for known-answer tests.
"""

from kmspolicy.crypto.blob import (
    BlobHeader,
    blob_overhead,
    decrypt_blob,
    encrypt_blob,
    parse_blob_header,
)
from kmspolicy.crypto.encoding import encode_encryption_context
from kmspolicy.crypto.material import (
    KeyMaterial,
    Rng,
    generate_key,
    key_material_id,
    load_key_material,
    public_key_der,
    same_material,
)
from kmspolicy.crypto.specs import (
    EXTERNAL_MU_LENGTH,
    MAX_DATA_KEY_BYTES,
    MAX_PLAINTEXT_SYMMETRIC,
    MAX_RAW_MESSAGE,
    AlgorithmSpec,
    DataKeyPairSpec,
    DataKeySpec,
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

__all__ = [
    "EXTERNAL_MU_LENGTH",
    "MAX_DATA_KEY_BYTES",
    "MAX_PLAINTEXT_SYMMETRIC",
    "MAX_RAW_MESSAGE",
    "AlgorithmSpec",
    "BlobHeader",
    "DataKeyPairSpec",
    "DataKeySpec",
    "EncryptionAlgorithm",
    "KeyAgreementAlgorithm",
    "KeyMaterial",
    "KeySpec",
    "KeyUsage",
    "MacAlgorithm",
    "MessageType",
    "Rng",
    "SigningAlgorithm",
    "SpecInfo",
    "WrappingAlgorithm",
    "WrappingKeySpec",
    "accepts_message_type",
    "algorithms_for",
    "blob_overhead",
    "decrypt_blob",
    "default_usage",
    "digest_length",
    "encode_encryption_context",
    "encrypt_blob",
    "encryption_algorithms",
    "generate_key",
    "is_asymmetric",
    "is_hmac",
    "is_implemented",
    "is_symmetric",
    "key_agreement_algorithms",
    "key_material_id",
    "load_key_material",
    "mac_algorithms",
    "max_plaintext",
    "parse_blob_header",
    "public_key_der",
    "require_implemented",
    "same_material",
    "signing_algorithms",
    "spec_info",
    "supports_encrypt",
    "supports_key_agreement",
    "supports_mac",
    "supports_sign",
    "supports_usage",
]
