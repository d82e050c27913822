"""Asymmetric and HMAC operations: Sign, Verify, GenerateMac, VerifyMac, DeriveSharedSecret,
Encapsulate, Decapsulate, GetPublicKey.

Layer: kms (handlers bound to the operation table). Key material is reached only through
``kms.kernel`` with the pipeline's ``AuthorizedKey``. AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from typing import Any

from kmspolicy.crypto.specs import KeyUsage, is_asymmetric
from kmspolicy.errors import UnsupportedOperationException
from kmspolicy.kms.handlers.common import ALGORITHM_FIELDS, algorithm_names
from kmspolicy.kms.handlers.dataplane import no_recipient, require_usage
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def sign(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html"""
    p = call.params
    require_usage(call.key, KeyUsage.SIGN_VERIFY, "Sign")
    alg = p["SigningAlgorithm"]
    signature = call.kernel.sign(call.key, alg, p["Message"], p.get("MessageType") or "RAW")
    return {"KeyId": call.key.arn, "Signature": signature, "SigningAlgorithm": alg}


def verify(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html"""
    p = call.params
    require_usage(call.key, KeyUsage.SIGN_VERIFY, "Verify")
    alg = p["SigningAlgorithm"]
    call.kernel.verify(call.key, alg, p["Message"], p["Signature"], p.get("MessageType") or "RAW")
    return {"KeyId": call.key.arn, "SignatureValid": True, "SigningAlgorithm": alg}


def generate_mac(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html"""
    p = call.params
    require_usage(call.key, KeyUsage.GENERATE_VERIFY_MAC, "GenerateMac")
    tag = call.kernel.generate_mac(call.key, p["MacAlgorithm"], p["Message"])
    return {"Mac": tag, "MacAlgorithm": p["MacAlgorithm"], "KeyId": call.key.arn}


def verify_mac(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html"""
    p = call.params
    require_usage(call.key, KeyUsage.GENERATE_VERIFY_MAC, "VerifyMac")
    call.kernel.verify_mac(call.key, p["MacAlgorithm"], p["Message"], p["Mac"])
    return {"KeyId": call.key.arn, "MacValid": True, "MacAlgorithm": p["MacAlgorithm"]}


def derive_shared_secret(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html"""
    p = call.params
    require_usage(call.key, KeyUsage.KEY_AGREEMENT, "DeriveSharedSecret")
    secret = call.kernel.derive_shared_secret(call.key, p["KeyAgreementAlgorithm"], p["PublicKey"])
    return {
        "KeyId": call.key.arn,
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": p["KeyAgreementAlgorithm"],
        "KeyOrigin": call.key.info.origin.value,
    }


def encapsulate(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encapsulate.html"""
    alg = call.params["EncapsulationAlgorithm"]
    require_usage(call.key, KeyUsage.ENCAPSULATE_DECAPSULATE, "Encapsulate")
    secret, ciphertext = call.kernel.encapsulate(call.key, alg)
    return {
        "KeyId": call.key.arn,
        "SharedSecret": secret,
        "SharedSecretCiphertextBlob": ciphertext,
        "EncapsulationAlgorithm": alg,
    }


def decapsulate(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decapsulate.html"""
    p = call.params
    alg = p["EncapsulationAlgorithm"]
    require_usage(call.key, KeyUsage.ENCAPSULATE_DECAPSULATE, "Decapsulate")
    secret = call.kernel.decapsulate(call.key, alg, p["SharedSecretCiphertextBlob"])
    return {"KeyId": call.key.arn, "SharedSecret": secret, "EncapsulationAlgorithm": alg}


def get_public_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html"""
    record = call.key.info
    if not is_asymmetric(record.key_spec):
        raise UnsupportedOperationException(
            f"{record.arn} key spec is {record.key_spec}; GetPublicKey needs an asymmetric KMS key."
        )
    out: dict[str, Any] = {
        "KeyId": record.arn,
        "PublicKey": call.kernel.public_key(call.key),
        "CustomerMasterKeySpec": record.key_spec,
        "KeySpec": record.key_spec,
        "KeyUsage": record.key_usage,
    }
    field = ALGORITHM_FIELDS.get(record.key_usage)
    if field is not None:  # an asymmetric key has no MAC algorithms: no HMAC row to skip
        out[field] = list(algorithm_names(record.key_spec, record.key_usage))
    return out


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("Sign", sign),
    bind("Verify", verify),
    bind("GenerateMac", generate_mac),
    bind("VerifyMac", verify_mac),
    bind("DeriveSharedSecret", derive_shared_secret, validate=no_recipient),
    bind("Encapsulate", encapsulate),
    bind("Decapsulate", decapsulate),
    bind("GetPublicKey", get_public_key),
)
