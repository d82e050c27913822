"""Rotation operations: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand, ListKeyRotations.

Layer: kms (handlers bound to the operation table; the rules are in ``rotation.py``).
AWS API pages: https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kmspolicy.errors import ValidationException
from kmspolicy.kms.handlers.common import page
from kmspolicy.kms.lifecycle import multiregion, rotation
from kmspolicy.kms.model import KeyInfo, KeyManagerType, KeyMaterial, OriginType
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def enable_key_rotation(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html"""
    period = rotation.validate_rotation_period(call.params.get("RotationPeriodInDays"))
    call.update_key(call.key, **rotation.enable_rotation(call.key.info, period, call.now))
    return {}


def disable_key_rotation(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKeyRotation.html"""
    call.update_key(call.key, **rotation.disable_rotation(call.key.info))
    return {}


# The prechecks of the rotation operations: one rule, three parameter sets.
_require_on_demand_support = partial(
    rotation.require_rotation_support,
    origins=rotation.ON_DEMAND_ROTATION_ORIGINS,
    aws_managed=False,
)
_require_history_support = partial(
    rotation.require_rotation_support, origins=rotation.ON_DEMAND_ROTATION_ORIGINS
)


def _require_managed_rotation(key: KeyInfo) -> None:
    """Enable/DisableKeyRotation: a rotatable key, and not a multi-Region replica (rotation is
    managed on the primary and synchronized to its replicas)."""
    rotation.require_rotation_support(key)
    multiregion.require_not_replica(key)


def _require_on_demand_primary(key: KeyInfo) -> None:
    _require_on_demand_support(key)
    multiregion.require_not_replica(key)


def _require_status_support(key: KeyInfo) -> None:
    # Symmetric EXTERNAL keys have a status (never automatic, but on-demand rotations).
    if key.origin is OriginType.EXTERNAL:
        _require_on_demand_support(key)
    elif key.key_manager is not KeyManagerType.AWS:
        rotation.require_rotation_support(key)


def get_key_rotation_status(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html"""
    key = call.key.info
    enabled = rotation.rotation_enabled_for_status(key)
    out: dict[str, Any] = {"KeyId": key.arn, "KeyRotationEnabled": enabled}
    if enabled:
        out["RotationPeriodInDays"] = key.rotation_period_days
        if key.next_rotation_date is not None:
            out["NextRotationDate"] = key.next_rotation_date
    if key.on_demand_rotation_start_date is not None:
        out["OnDemandRotationStartDate"] = key.on_demand_rotation_start_date
    return out


def rotate_key_on_demand(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html

    Records the rotation as started; due work completes it (``rotation.finish_on_demand``)
    and carries it to the replicas of a multi-Region primary (``multiregion.synchronize``).
    """
    key = call.key.info
    changes = rotation.start_on_demand(key, now=call.now)
    if key.origin is OriginType.EXTERNAL:
        # imported material is each member's own: the set rotates to the material every
        # replica imported beforehand, so a replica that has not is refused now
        waiting = rotation.pending_rotation_material(key)
        for region in key.replica_regions:
            replica = call.load_member(key, region)
            if replica is not None:
                rotation.require_imported(replica, waiting.material_id)
    call.update_key(call.key, **changes)  # the start shows on the replicas too
    return {"KeyId": key.arn}


_INCLUDE = ("ROTATIONS_ONLY", "ALL_KEY_MATERIAL")


def _entry(key: KeyInfo, m: KeyMaterial) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "KeyId": key.key_id,
        "KeyMaterialId": m.material_id,
        "KeyMaterialState": m.state.value,
    }
    if m.rotation_date is not None:
        entry["RotationDate"] = m.rotation_date
    if m.rotation_type is not None:
        entry["RotationType"] = m.rotation_type.value
    if key.origin is OriginType.EXTERNAL:
        entry["ImportState"] = m.import_state.value
        if m.expiration_model is not None:
            entry["ExpirationModel"] = m.expiration_model.value
        if m.valid_to is not None:
            entry["ValidTo"] = m.valid_to
        if m.description is not None:
            entry["KeyMaterialDescription"] = m.description
    return entry


def list_key_rotations(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html"""
    key = call.key.info
    include = call.params.get("IncludeKeyMaterial") or "ROTATIONS_ONLY"
    if include not in _INCLUDE:
        raise ValidationException(f"IncludeKeyMaterial must be one of {', '.join(_INCLUDE)}")
    listed = [
        (f"{i:06d}", m)
        for i, m in enumerate(key.materials)
        if include == "ALL_KEY_MATERIAL" or m.rotation_date is not None
    ]
    chunk, more = page(listed, call.params, lambda item: item[0], default=100, maximum=1000)
    return {"Rotations": [_entry(key, m) for _, m in chunk], **more}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("EnableKeyRotation", enable_key_rotation, precheck=_require_managed_rotation),
    bind("DisableKeyRotation", disable_key_rotation, precheck=_require_managed_rotation),
    bind("GetKeyRotationStatus", get_key_rotation_status, precheck=_require_status_support),
    bind("RotateKeyOnDemand", rotate_key_on_demand, precheck=_require_on_demand_primary),
    bind("ListKeyRotations", list_key_rotations, precheck=_require_history_support),
)
