"""Encryption: Encrypt, Decrypt, ReEncrypt.

Layer: kms (handlers bound to the operation table). Key material is reached only through
``kms.kernel`` with the pipeline's ``AuthorizedKey``; a symmetric ciphertext names its key, so
Decrypt may find the key from the blob's header before anything is decrypted. AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping
from typing import Any

from kmspolicy.crypto.specs import EncryptionAlgorithm, KeyUsage
from kmspolicy.errors import (
    IncorrectKeyException,
    InvalidCiphertextException,
    ValidationException,
)
from kmspolicy.kms.handlers.dataplane import (
    DEFAULT_ENCRYPTION_ALGORITHM,
    Params,
    check_encryption_contexts,
    encryption_algorithm,
    no_recipient,
    require_usage,
)
from kmspolicy.kms.kernel import AuthorizedKey, Kernel
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call, Resolution, Target


def _encrypt_with(
    call: Call, key: AuthorizedKey, plaintext: bytes, context: Any, algorithm: str | None
) -> tuple[bytes, str, str | None]:
    """(ciphertext, algorithm, KeyMaterialId or None) — shared by Encrypt and ReEncrypt."""
    require_usage(key, KeyUsage.ENCRYPT_DECRYPT, "Encrypt")
    alg = encryption_algorithm(key, algorithm, context)
    if alg == EncryptionAlgorithm.SYMMETRIC_DEFAULT:
        work = functools.partial(call.kernel.encrypt, key, plaintext, context)
        blob, material_id = call.crypto(key, work, "Encrypt", plaintext, context)
        return blob, alg, material_id
    return call.kernel.encrypt_asymmetric(key, alg, plaintext), alg, None


def _decrypt_with(
    call: Call, key: AuthorizedKey, blob: bytes, context: Any, algorithm: str | None, operation: str
) -> tuple[bytes, str, str | None]:
    require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation)
    alg = encryption_algorithm(key, algorithm, context)
    if alg == EncryptionAlgorithm.SYMMETRIC_DEFAULT:
        if call.kernel.blob_key_id(blob) != key.key_id:
            raise IncorrectKeyException(
                "The key ID in the request does not identify a KMS key that can perform "
                "this operation."
            )
        work = functools.partial(call.kernel.decrypt, key, blob, context)
        plaintext, material_id = call.crypto(key, work, "Decrypt", blob, context)
        return plaintext, alg, material_id
    return call.kernel.decrypt_asymmetric(key, alg, blob), alg, None


def encrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html"""
    p, key = call.params, call.key
    blob, alg, _material_id = _encrypt_with(
        call, key, p["Plaintext"], p.get("EncryptionContext"), p.get("EncryptionAlgorithm")
    )
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": alg}


def _validate_decrypt(params: Params) -> None:
    check_encryption_contexts(params)
    no_recipient(params)


def _ignore_ciphertext(params: Params) -> bool:
    return bool(params.get("DryRun")) and "IGNORE_CIPHERTEXT" in (
        params.get("DryRunModifiers") or ()
    )


def _require_ciphertext(params: Params) -> None:
    """``CiphertextBlob`` is optional in the model only: AWS requires it unless a DryRun ignores
    the ciphertext (``DryRunModifiers`` ``IGNORE_CIPHERTEXT``)."""
    if params.get("CiphertextBlob") is None and not _ignore_ciphertext(params):
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
            "constraint: Member must not be null"
        )


def _resolve_decrypt(res: Resolution) -> list[Target]:
    op = res.op
    _require_ciphertext(res.params)
    key_id = res.params.get("KeyId")
    if key_id is not None:
        return [res.key_target(op, key_id)]
    if _ignore_ciphertext(res.params):
        raise ValidationException("KeyId is required when DryRunModifiers has IGNORE_CIPHERTEXT.")
    # The ciphertext names its key: read the header only; nothing is decrypted before the allow.
    record = res.key_from_blob(res.params["CiphertextBlob"])
    return [Target(op.action, record.arn, record, op.state_row, op.grant_operation)]


def _decrypt_plan_key(params: Params, kernel: Kernel) -> Hashable | None:
    """What ``_resolve_decrypt``'s key is a function of (besides the caller and the store):
    the ``KeyId`` parameter, else the key id the ciphertext's header names (read here as the
    resolver reads it; the handler checks it against the key either way). None, not planned,
    where the resolver refuses (no ciphertext, one ignored) or the header is malformed: the full
    path raises those errors, in its order."""
    blob = params.get("CiphertextBlob")
    if blob is None or _ignore_ciphertext(params):
        return None
    key_id = params.get("KeyId")
    if key_id is not None:
        return (key_id, None)
    try:
        return (None, kernel.blob_key_id(blob))
    except InvalidCiphertextException:
        return None


def decrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"""
    p, key = call.params, call.key
    plaintext, alg, material_id = _decrypt_with(
        call,
        key,
        p["CiphertextBlob"],
        p.get("EncryptionContext"),
        p.get("EncryptionAlgorithm"),
        "Decrypt",
    )
    out: dict[str, Any] = {
        "KeyId": key.arn,
        "Plaintext": plaintext,
        "EncryptionAlgorithm": alg,
    }
    if material_id is not None:
        out["KeyMaterialId"] = material_id
    return out


def _ec_context(ec: Mapping[str, str] | None) -> dict[str, object]:
    if not ec:
        return {}
    out: dict[str, object] = {f"kms:EncryptionContext:{k}": v for k, v in ec.items()}
    out["kms:EncryptionContextKeys"] = list(ec)
    return out


def _resolve_reencrypt(res: Resolution) -> list[Target]:
    p = res.params
    _require_ciphertext(p)
    if p.get("SourceKeyId") is not None:
        _ref, source = res.resolve_key(p["SourceKeyId"], allow_alias=True)
        source_alias = _ref.alias_name
    elif _ignore_ciphertext(p):
        raise ValidationException(
            "SourceKeyId is required when DryRunModifiers has IGNORE_CIPHERTEXT."
        )
    else:
        source, source_alias = res.key_from_blob(p["CiphertextBlob"]), None
    dest_ref, dest = res.resolve_key(p["DestinationKeyId"], allow_alias=True)
    same = source.arn == dest.arn
    src_alg = p.get("SourceEncryptionAlgorithm") or DEFAULT_ENCRYPTION_ALGORITHM
    src_ctx: dict[str, object] = {
        "kms:EncryptionAlgorithm": src_alg,
        "kms:ReEncryptOnSameKey": same,
        **_ec_context(p.get("SourceEncryptionContext")),
    }
    dst_alg = p.get("DestinationEncryptionAlgorithm") or DEFAULT_ENCRYPTION_ALGORITHM
    dst_ctx: dict[str, object] = {
        "kms:EncryptionAlgorithm": dst_alg,
        "kms:ReEncryptOnSameKey": same,
        **_ec_context(p.get("DestinationEncryptionContext")),
    }
    # one target per action the table declares (ReEncryptFrom, ReEncryptTo): each names its
    # grant operation and its key-state row
    take_from, give_to = res.op.actions
    return [
        Target(
            take_from.iam,
            source.arn,
            source,
            take_from.name,
            take_from.name,
            src_ctx,
            source_alias,
        ),
        Target(
            give_to.iam,
            dest.arn,
            dest,
            give_to.name,
            give_to.name,
            dst_ctx,
            dest_ref.alias_name,
        ),
    ]


def reencrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"""
    p = call.params
    source, dest = call.keys
    plaintext, src_alg, src_material = _decrypt_with(
        call,
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


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("Encrypt", encrypt, validate=check_encryption_contexts),
    bind(
        "Decrypt",
        decrypt,
        resolve=_resolve_decrypt,
        validate=_validate_decrypt,
        plan_key=_decrypt_plan_key,
    ),
    # per key: the targets carry the actions, grant operations and state rows ReEncryptFrom / To
    bind("ReEncrypt", reencrypt, resolve=_resolve_reencrypt, validate=check_encryption_contexts),
)
