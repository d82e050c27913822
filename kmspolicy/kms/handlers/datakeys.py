"""Data keys and randomness: GenerateDataKey*, GenerateDataKeyPair*, GenerateRandom.

Layer: kms (handlers bound to the operation table). Data keys are drawn from the injected
rng and returned encrypted under a symmetric encryption KMS key (through ``kms.kernel``).
AWS API pages: https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from typing import Any

from kmspolicy.crypto.datakeys import DataKeyPair, data_key_length, generate_data_key_pair
from kmspolicy.errors import (
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.handlers.dataplane import (
    Params,
    check_encryption_contexts,
    encryption_algorithm,
    no_recipient,
    require_symmetric,
)
from kmspolicy.kms.keystores.cloudhsm_backend import HsmSession
from kmspolicy.kms.model import ConnectionState, CustomKeyStoreType, KeyInfo
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def _validate_data_key(params: Params) -> None:
    check_encryption_contexts(params)
    no_recipient(params)
    data_key_length(params.get("KeySpec"), params.get("NumberOfBytes"))


def _data_key(call: Call, with_plaintext: bool) -> dict[str, Any]:
    p = call.params
    key = call.key
    require_symmetric(key, "GenerateDataKey")
    encryption_algorithm(key, None, None)
    length = data_key_length(p.get("KeySpec"), p.get("NumberOfBytes"))
    context = p.get("EncryptionContext")

    def make() -> tuple[bytes, tuple[bytes, str]]:  # the data key and its ciphertext, together
        plaintext = call.rng(length)
        return plaintext, call.kernel.encrypt(key, plaintext, context)

    plaintext, (blob, material_id) = call.crypto(key, make, "GenerateDataKey", length, context)
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
    check_encryption_contexts(params)
    no_recipient(params)
    spec = params["KeyPairSpec"]
    if spec == "SM2":
        raise UnsupportedOperationException(
            "SM2 data key pairs are only available in China Regions."
        )


def _data_key_pair(call: Call, with_plaintext: bool) -> dict[str, Any]:
    p = call.params
    key = call.key
    require_symmetric(key, "GenerateDataKeyPair")
    context = p.get("EncryptionContext")

    def make() -> tuple[DataKeyPair, tuple[bytes, str]]:  # the pair and its ciphertext, together
        pair = generate_data_key_pair(p["KeyPairSpec"], rng=call.rng)
        return pair, call.kernel.encrypt(key, pair.private_key_der, context)

    pair, (blob, material_id) = call.crypto(
        key, make, "GenerateDataKeyPair", p["KeyPairSpec"], context
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


def _not_in_custom_key_store(key: KeyInfo) -> None:
    if key.custom_key_store_id is not None:
        raise UnsupportedOperationException(
            f"{key.arn} is in a custom key store, which is not valid for data key pairs."
        )


def _validate_random(params: Params) -> None:
    no_recipient(params)
    if params.get("NumberOfBytes") is None:
        raise ValidationException("NumberOfBytes is required.")


def generate_random(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html

    With a ``CustomKeyStoreId`` (CloudHSM key stores only) the bytes come from its HSM.
    """
    count = call.params["NumberOfBytes"]
    store_id = call.params.get("CustomKeyStoreId")
    if store_id is None:
        return {"Plaintext": call.rng(count)}
    store = call.custom_key_store(store_id)
    if store is None:
        raise CustomKeyStoreNotFoundException(f"Custom key store {store_id} does not exist.")
    if store.store_type is not CustomKeyStoreType.AWS_CLOUDHSM:
        raise UnsupportedOperationException(
            "GenerateRandom takes the CustomKeyStoreId of an AWS CloudHSM key store only."
        )
    if store.connection_state is not ConnectionState.CONNECTED:
        raise CustomKeyStoreInvalidStateException(
            f"Custom key store {store_id} is {store.connection_state.value}: GenerateRandom "
            "needs a CONNECTED custom key store."
        )
    call.key_stores.ready(store, store_id)
    session: HsmSession = call.key_stores.live(store_id, store_id)  # type: ignore[assignment]
    return {"Plaintext": session.generate_random(count)}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("GenerateDataKey", generate_data_key, validate=_validate_data_key),
    bind(
        "GenerateDataKeyWithoutPlaintext",
        generate_data_key_without_plaintext,
        validate=_validate_data_key,
    ),
    bind(
        "GenerateDataKeyPair",
        generate_data_key_pair_op,
        validate=_validate_pair,
        precheck=_not_in_custom_key_store,
    ),
    bind(
        "GenerateDataKeyPairWithoutPlaintext",
        generate_data_key_pair_without_plaintext,
        validate=_validate_pair,
        precheck=_not_in_custom_key_store,
    ),
    bind("GenerateRandom", generate_random, validate=_validate_random),
)
