"""Imported key material operations: GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial.

Layer: kms (handlers bound to the operation table; the rules are in ``imports.py``,
unwrapping and sealing in ``kms.kernel``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kmspolicy.errors import ValidationException
from kmspolicy.kms.clock import as_utc
from kmspolicy.kms.lifecycle import imports, multiregion
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def get_parameters_for_import(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html"""
    key = call.key.info
    changes, params = imports.issue_import_parameters(
        key,
        wrapping_algorithm=call.params["WrappingAlgorithm"],
        wrapping_key_spec=call.params["WrappingKeySpec"],
        now=call.now,
        kernel=call.kernel,
    )
    call.update_key(call.key, **changes)
    return {
        "KeyId": key.arn,
        "ImportToken": params.import_token,
        "PublicKey": params.public_key,
        "ParametersValidTo": params.valid_to,
    }


def _valid_to(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    raise ValidationException("ValidTo must be a timestamp")


def import_key_material(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html"""
    key = call.key.info
    p = call.params
    wrapping = imports.open_import_token(key, bytes(p["ImportToken"]), call.now)
    # unwrapped, checked against the key spec and sealed inside the kernel
    incoming = call.kernel.import_material(call.key, wrapping, bytes(p["EncryptedKeyMaterial"]))
    # each member of a multi-Region set imports the set's one material (only ids compared)
    new_material = p.get("ImportType") == "NEW_KEY_MATERIAL"
    others = [call.load_member(key, r) for r in multiregion.members_elsewhere(key)]
    if key.multi_region and new_material:
        multiregion.require_new_material_of_set(key, others, incoming.material_id)
    elif key.multi_region:
        multiregion.require_same_material(others, incoming.material_id)
    changes, material_id = imports.accept_material(
        key,
        incoming,
        now=call.now,
        expiration_model=p.get("ExpirationModel"),
        valid_to=_valid_to(p.get("ValidTo")),
        import_type=p.get("ImportType"),
        material_id=p.get("KeyMaterialId"),
        description=p.get("KeyMaterialDescription"),
    )
    primary = None
    if key.multi_region and new_material:
        staged, primary = multiregion.stage_new_material(
            key, changes["materials"], others, material_id
        )
        changes.update(staged)
    call.update_key(call.key, **changes)
    if primary is not None:  # the last replica to import it: the set may rotate now
        region, primary_changes = primary
        call.update_member(call.key, region, **primary_changes)
    return {"KeyId": key.arn, "KeyMaterialId": material_id}


def delete_imported_key_material(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html"""
    key = call.key.info
    changes, material_id = imports.delete_material(key, call.params.get("KeyMaterialId"))
    if changes:
        call.update_key(call.key, **changes)
    out: dict[str, Any] = {"KeyId": key.arn}
    if material_id is not None:
        out["KeyMaterialId"] = material_id
    return out


def _valid_to_context(params: Mapping[str, Any]) -> dict[str, object]:
    """kms:ValidTo is compared as a Unix timestamp in seconds (KMS Developer Guide)."""
    value = params.get("ValidTo")
    if isinstance(value, datetime):
        return {"kms:ValidTo": int(as_utc(value).timestamp())}
    return {}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind(
        "GetParametersForImport",
        get_parameters_for_import,
        precheck=imports.require_external_origin,
    ),
    bind(
        "ImportKeyMaterial",
        import_key_material,
        precheck=imports.require_external_origin,
        context=_valid_to_context,
    ),
    bind(
        "DeleteImportedKeyMaterial",
        delete_imported_key_material,
        precheck=imports.require_external_origin,
    ),
)
