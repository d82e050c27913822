"""The data plane: Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateDataKeyPair*,
GenerateRandom, Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret.

Layer: kms (handlers registered in the operation table). Key material is reached only through
``kms.kernel`` with the pipeline's ``AuthorizedKey``. AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from kmspolicy.crypto import specs
from kmspolicy.crypto.datakeys import data_key_length, generate_data_key_pair
from kmspolicy.errors import (
    CustomKeyStoreNotFoundException,
    IncorrectKeyException,
    InvalidKeyUsageException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms import kernel
from kmspolicy.kms.operations import Handler, Operation, register
from kmspolicy.kms.pipeline import AuthorizedKey, Call, Resolution, Target

Params = Mapping[str, Any]
SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"


def _crypto_op(name: str, handler: Handler, **fields: Any) -> Operation:
    """Register a cryptographic operation: alias names accepted, cross-account, DryRun
    (KMS.md 1.1), a grant of the same name allows it, and its own key-state row."""
    fields.setdefault("grant_operation", name)
    fields.setdefault("state_row", name)
    return register(
        Operation(name, handler, accepts_alias=True, cross_account=True, dry_run=True, **fields)
    )


def _no_recipient(params: Params) -> None:
    if params.get("Recipient"):
        raise UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not supported by kmspolicy."
        )


def _require_usage(key: AuthorizedKey, usage: str, operation: str) -> None:
    if key.record.key_usage != usage:
        raise InvalidKeyUsageException(
            f"{key.arn} key usage is {key.record.key_usage} which is not valid for {operation}."
        )


def _require_symmetric(key: AuthorizedKey, operation: str) -> None:
    _require_usage(key, "ENCRYPT_DECRYPT", operation)
    if key.record.key_spec != SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.record.key_spec}; {operation} needs a symmetric "
            "encryption KMS key."
        )


@cache
def _encryption_algorithms(spec: str) -> frozenset[str]:
    return frozenset(str(a) for a in specs.encryption_algorithms(spec))


def _encryption_algorithm(key: AuthorizedKey, algorithm: str | None, context: Any) -> str:
    """The algorithm to use with ``key``; InvalidKeyUsage when the key does not offer it."""
    alg = algorithm or SYMMETRIC_DEFAULT
    if alg not in _encryption_algorithms(key.record.key_spec):
        raise InvalidKeyUsageException(
            f"{key.arn} does not support encryption algorithm {alg}."
            + ("" if algorithm else " Specify EncryptionAlgorithm for asymmetric keys.")
        )
    if context and alg != SYMMETRIC_DEFAULT:
        raise ValidationException(
            "EncryptionContext is supported only with symmetric encryption KMS keys."
        )
    return alg


def _encrypt_with(
    call: Call, key: AuthorizedKey, plaintext: bytes, context: Any, algorithm: str | None
) -> tuple[bytes, str, str | None]:
    """(ciphertext, algorithm, KeyMaterialId or None) — shared by Encrypt and ReEncrypt."""
    _require_usage(key, "ENCRYPT_DECRYPT", "Encrypt")
    alg = _encryption_algorithm(key, algorithm, context)
    if alg == SYMMETRIC_DEFAULT:
        blob, material_id = kernel.encrypt(key, plaintext, context, call.pipeline.rng.random_bytes)
        return blob, alg, material_id
    return kernel.encrypt_asymmetric(key, alg, plaintext), alg, None


def _decrypt_with(
    key: AuthorizedKey, blob: bytes, context: Any, algorithm: str | None, operation: str
) -> tuple[bytes, str, str | None]:
    _require_usage(key, "ENCRYPT_DECRYPT", operation)
    alg = _encryption_algorithm(key, algorithm, context)
    if alg == SYMMETRIC_DEFAULT:
        if kernel.blob_key_id(blob) != key.key_id:
            raise IncorrectKeyException(
                "The key ID in the request does not identify a KMS key that can perform "
                "this operation."
            )
        plaintext, material_id = kernel.decrypt(key, blob, context)
        return plaintext, alg, material_id
    return kernel.decrypt_asymmetric(key, alg, blob), alg, None


# --- Encrypt / Decrypt / ReEncrypt -----------------------------------------------------------


def encrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html"""
    p = call.params
    blob, alg, _material_id = _encrypt_with(
        call, call.key, p["Plaintext"], p.get("EncryptionContext"), p.get("EncryptionAlgorithm")
    )
    return {"CiphertextBlob": blob, "KeyId": call.key.arn, "EncryptionAlgorithm": alg}


_crypto_op(
    "Encrypt",
    encrypt,
    condition_params=(("EncryptionAlgorithm", "kms:EncryptionAlgorithm"),),
    condition_defaults=(("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT),),
    encryption_context_param="EncryptionContext",
)


def _ignore_ciphertext(params: Params) -> bool:
    return bool(params.get("DryRun")) and "IGNORE_CIPHERTEXT" in (
        params.get("DryRunModifiers") or ()
    )


def _resolve_decrypt(res: Resolution) -> list[Target]:
    op = res.pipeline.operations["Decrypt"]
    if res.params.get("CiphertextBlob") is None and not _ignore_ciphertext(res.params):
        raise ValidationException("CiphertextBlob is required.")  # optional in the model only
    key_id = res.params.get("KeyId")
    if key_id is not None:
        return [res.key_target(op, key_id)]
    if _ignore_ciphertext(res.params):
        raise ValidationException("KeyId is required when DryRunModifiers has IGNORE_CIPHERTEXT.")
    # The ciphertext names its key: read the header only; nothing is decrypted before the allow.
    record = res.key_from_blob(res.params["CiphertextBlob"])
    return [Target(op.action, record.arn, record, op.state_row, op.grant_operation)]


def decrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"""
    p = call.params
    plaintext, alg, material_id = _decrypt_with(
        call.key,
        p["CiphertextBlob"],
        p.get("EncryptionContext"),
        p.get("EncryptionAlgorithm"),
        "Decrypt",
    )
    out: dict[str, Any] = {
        "KeyId": call.key.arn,
        "Plaintext": plaintext,
        "EncryptionAlgorithm": alg,
    }
    if material_id is not None:
        out["KeyMaterialId"] = material_id
    return out


_crypto_op(
    "Decrypt",
    decrypt,
    key_param=None,
    resolve=_resolve_decrypt,
    validate=_no_recipient,
    condition_params=(("EncryptionAlgorithm", "kms:EncryptionAlgorithm"),),
    condition_defaults=(("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT),),
    encryption_context_param="EncryptionContext",
)


def _ec_context(ec: Mapping[str, str] | None) -> dict[str, object]:
    if not ec:
        return {}
    out: dict[str, object] = {f"kms:EncryptionContext:{k}": v for k, v in ec.items()}
    out["kms:EncryptionContextKeys"] = list(ec)
    return out


def _resolve_reencrypt(res: Resolution) -> list[Target]:
    p = res.params
    if p.get("SourceKeyId") is not None:
        _ref, source = res.resolve_key(p["SourceKeyId"], allow_alias=True)
        source_alias = _ref.alias_name
    else:
        source, source_alias = res.key_from_blob(p["CiphertextBlob"]), None
    dest_ref, dest = res.resolve_key(p["DestinationKeyId"], allow_alias=True)
    same = source.arn == dest.arn
    src_ctx: dict[str, object] = {
        "kms:EncryptionAlgorithm": p.get("SourceEncryptionAlgorithm") or SYMMETRIC_DEFAULT,
        "kms:ReEncryptOnSameKey": same,
        **_ec_context(p.get("SourceEncryptionContext")),
    }
    dst_ctx: dict[str, object] = {
        "kms:EncryptionAlgorithm": p.get("DestinationEncryptionAlgorithm") or SYMMETRIC_DEFAULT,
        "kms:ReEncryptOnSameKey": same,
        **_ec_context(p.get("DestinationEncryptionContext")),
    }
    return [
        Target(
            "kms:ReEncryptFrom",
            source.arn,
            source,
            "ReEncryptFrom",
            "ReEncryptFrom",
            src_ctx,
            source_alias,
        ),
        Target(
            "kms:ReEncryptTo",
            dest.arn,
            dest,
            "ReEncryptTo",
            "ReEncryptTo",
            dst_ctx,
            dest_ref.alias_name,
        ),
    ]


def reencrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"""
    p = call.params
    source, dest = call.keys
    plaintext, src_alg, src_material = _decrypt_with(
        source,
        p["CiphertextBlob"],
        p.get("SourceEncryptionContext"),
        p.get("SourceEncryptionAlgorithm"),
        "ReEncrypt",
    )
    blob, dst_alg, dst_material = _encrypt_with(
        call,
        dest,
        plaintext,
        p.get("DestinationEncryptionContext"),
        p.get("DestinationEncryptionAlgorithm"),
    )
    out: dict[str, Any] = {
        "CiphertextBlob": blob,
        "SourceKeyId": source.arn,
        "KeyId": dest.arn,
        "SourceEncryptionAlgorithm": src_alg,
        "DestinationEncryptionAlgorithm": dst_alg,
    }
    if src_material is not None:
        out["SourceKeyMaterialId"] = src_material
    if dst_material is not None:
        out["DestinationKeyMaterialId"] = dst_material
    return out


_crypto_op(
    "ReEncrypt",
    reencrypt,
    action="kms:ReEncrypt*",
    key_param=None,
    resolve=_resolve_reencrypt,
    grant_operation=None,  # per key: the targets carry ReEncryptFrom / ReEncryptTo
    state_row=None,
)


# --- data keys -------------------------------------------------------------------------------


def _validate_data_key(params: Params) -> None:
    _no_recipient(params)
    data_key_length(params.get("KeySpec"), params.get("NumberOfBytes"))


def _data_key(call: Call, with_plaintext: bool) -> dict[str, Any]:
    p = call.params
    key = call.key
    _require_symmetric(key, "GenerateDataKey")
    _encryption_algorithm(key, None, None)
    plaintext = call.pipeline.rng.random_bytes(
        data_key_length(p.get("KeySpec"), p.get("NumberOfBytes"))
    )
    blob, material_id = kernel.encrypt(
        key, plaintext, p.get("EncryptionContext"), call.pipeline.rng.random_bytes
    )
    out: dict[str, Any] = {"CiphertextBlob": blob, "KeyId": key.arn, "KeyMaterialId": material_id}
    if with_plaintext:
        out["Plaintext"] = plaintext
    return out


def generate_data_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html"""
    return _data_key(call, True)


def generate_data_key_without_plaintext(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html"""
    return _data_key(call, False)


def _validate_pair(params: Params) -> None:
    _no_recipient(params)
    spec = params["KeyPairSpec"]
    if spec == "SM2":
        raise UnsupportedOperationException(
            "SM2 data key pairs are only available in China Regions."
        )


def _data_key_pair(call: Call, with_plaintext: bool) -> dict[str, Any]:
    p = call.params
    key = call.key
    _require_symmetric(key, "GenerateDataKeyPair")
    pair = generate_data_key_pair(p["KeyPairSpec"], rng=call.pipeline.rng.random_bytes)
    blob, material_id = kernel.encrypt(
        key, pair.private_key_der, p.get("EncryptionContext"), call.pipeline.rng.random_bytes
    )
    out: dict[str, Any] = {
        "PrivateKeyCiphertextBlob": blob,
        "PublicKey": pair.public_key_der,
        "KeyId": key.arn,
        "KeyPairSpec": str(pair.spec),
        "KeyMaterialId": material_id,
    }
    if with_plaintext:
        out["PrivateKeyPlaintext"] = pair.private_key_der
    return out


def generate_data_key_pair_op(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html"""
    return _data_key_pair(call, True)


def generate_data_key_pair_without_plaintext(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html"""
    return _data_key_pair(call, False)


for _name, _handler, _validate, _extra in (
    ("GenerateDataKey", generate_data_key, _validate_data_key, ()),
    (
        "GenerateDataKeyWithoutPlaintext",
        generate_data_key_without_plaintext,
        _validate_data_key,
        (),
    ),
    (
        "GenerateDataKeyPair",
        generate_data_key_pair_op,
        _validate_pair,
        (("KeyPairSpec", "kms:DataKeyPairSpec"),),
    ),
    (
        "GenerateDataKeyPairWithoutPlaintext",
        generate_data_key_pair_without_plaintext,
        _validate_pair,
        (("KeyPairSpec", "kms:DataKeyPairSpec"),),
    ),
):
    _crypto_op(
        _name,
        _handler,
        validate=_validate,
        condition_params=_extra,
        condition_defaults=(("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT),),
        encryption_context_param="EncryptionContext",
    )


def _validate_random(params: Params) -> None:
    _no_recipient(params)
    if params.get("NumberOfBytes") is None:
        raise ValidationException("NumberOfBytes is required.")
    if params.get("CustomKeyStoreId"):
        raise CustomKeyStoreNotFoundException(
            "Custom key stores are not supported by kmspolicy; no custom key store exists."
        )


def generate_random(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html"""
    return {"Plaintext": call.pipeline.rng.random_bytes(call.params["NumberOfBytes"])}


register(Operation("GenerateRandom", generate_random, key_param=None, validate=_validate_random))


# --- signatures, MACs, key agreement, public keys --------------------------------------------


def sign(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html"""
    p = call.params
    _require_usage(call.key, "SIGN_VERIFY", "Sign")
    alg = p["SigningAlgorithm"]
    signature = kernel.sign(call.key, alg, p["Message"], p.get("MessageType") or "RAW")
    return {"KeyId": call.key.arn, "Signature": signature, "SigningAlgorithm": alg}


def verify(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html"""
    p = call.params
    _require_usage(call.key, "SIGN_VERIFY", "Verify")
    alg = p["SigningAlgorithm"]
    kernel.verify(call.key, alg, p["Message"], p["Signature"], p.get("MessageType") or "RAW")
    return {"KeyId": call.key.arn, "SignatureValid": True, "SigningAlgorithm": alg}


_SIGN_PARAMS = (("SigningAlgorithm", "kms:SigningAlgorithm"), ("MessageType", "kms:MessageType"))
_SIGN_DEFAULTS = (("kms:MessageType", "RAW"),)
_crypto_op("Sign", sign, condition_params=_SIGN_PARAMS, condition_defaults=_SIGN_DEFAULTS)
_crypto_op("Verify", verify, condition_params=_SIGN_PARAMS, condition_defaults=_SIGN_DEFAULTS)


def generate_mac(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html"""
    p = call.params
    _require_usage(call.key, "GENERATE_VERIFY_MAC", "GenerateMac")
    tag = kernel.generate_mac(call.key, p["MacAlgorithm"], p["Message"])
    return {"Mac": tag, "MacAlgorithm": p["MacAlgorithm"], "KeyId": call.key.arn}


def verify_mac(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html"""
    p = call.params
    _require_usage(call.key, "GENERATE_VERIFY_MAC", "VerifyMac")
    kernel.verify_mac(call.key, p["MacAlgorithm"], p["Message"], p["Mac"])
    return {"KeyId": call.key.arn, "MacValid": True, "MacAlgorithm": p["MacAlgorithm"]}


_crypto_op(
    "GenerateMac",
    generate_mac,
    condition_params=(("MacAlgorithm", "kms:MacAlgorithm"),),
)
_crypto_op(
    "VerifyMac",
    verify_mac,
    condition_params=(("MacAlgorithm", "kms:MacAlgorithm"),),
)


def derive_shared_secret(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html"""
    p = call.params
    _require_usage(call.key, "KEY_AGREEMENT", "DeriveSharedSecret")
    secret = kernel.derive_shared_secret(call.key, p["KeyAgreementAlgorithm"], p["PublicKey"])
    return {
        "KeyId": call.key.arn,
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": p["KeyAgreementAlgorithm"],
        "KeyOrigin": call.key.record.origin.value,
    }


_crypto_op(
    "DeriveSharedSecret",
    derive_shared_secret,
    validate=_no_recipient,
    condition_params=(("KeyAgreementAlgorithm", "kms:KeyAgreementAlgorithm"),),
)


def get_public_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html"""
    record = call.key.record
    if not specs.is_asymmetric(record.key_spec):
        raise UnsupportedOperationException(
            f"{record.arn} key spec is {record.key_spec}; GetPublicKey needs an asymmetric KMS key."
        )
    out: dict[str, Any] = {
        "KeyId": record.arn,
        "PublicKey": kernel.public_key(call.key),
        "CustomerMasterKeySpec": record.key_spec,
        "KeySpec": record.key_spec,
        "KeyUsage": record.key_usage,
    }
    algorithms = [str(a) for a in specs.algorithms_for(record.key_spec, record.key_usage)]
    field = {
        "ENCRYPT_DECRYPT": "EncryptionAlgorithms",
        "SIGN_VERIFY": "SigningAlgorithms",
        "KEY_AGREEMENT": "KeyAgreementAlgorithms",
    }.get(record.key_usage)
    if field is not None:
        out[field] = algorithms
    return out


register(
    Operation(
        "GetPublicKey",
        get_public_key,
        grant_operation="GetPublicKey",
        state_row="GetPublicKey",
        accepts_alias=True,
        cross_account=True,
    )
)
