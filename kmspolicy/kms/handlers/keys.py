"""Key management: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, UpdateKeyDescription.

Layer: kms (handlers bound to the operation table). AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmspolicy import messages
from kmspolicy.crypto import specs
from kmspolicy.errors import (
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNotFoundException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms import ids
from kmspolicy.kms.backends import NewKey, NewVersion
from kmspolicy.kms.context import request_tag_context
from kmspolicy.kms.handlers.common import (
    LOCKOUT_MESSAGE,
    decode_marker,
    default_key_policy,
    key_metadata,
    page,
    parse_key_policy,
    parse_tags,
)
from kmspolicy.kms.lifecycle.rotation import catch_up_on_enable
from kmspolicy.kms.model import (
    ConnectionState,
    CustomKeyStoreRecord,
    ImportState,
    KeyInfo,
    KeyMaterial,
    KeyMaterialState,
    KeyRecord,
    MultiRegionKeyType,
    OriginType,
)
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call, Resolution, Target
from kmspolicy.kms.states import Event, transition

Params = Mapping[str, Any]


# --- CreateKey ------------------------------------------------------------------------------


#: Every (key spec, key usage) pair CreateKey accepts
_VALID_SPEC_USAGE = frozenset(
    (str(spec), str(usage))
    for spec in specs.KeySpec
    if specs.is_implemented(spec)
    for usage in specs.KeyUsage
    if specs.supports_usage(spec, usage)
)


def _check_spec_usage(spec: str, usage: str) -> None:
    if (spec, usage) in _VALID_SPEC_USAGE:
        return
    try:
        specs.require_implemented(spec)
    except ValueError:
        raise ValidationException(f"KeySpec {spec} is not supported.") from None
    if not specs.supports_usage(spec, usage):
        raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}")


def _create_key_spec(params: Params) -> tuple[str, str, OriginType]:
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if params.get("KeySpec") and params.get("CustomerMasterKeySpec"):
        raise ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec parameter is deprecated; use KeySpec."
        )
    usage = params.get("KeyUsage")
    if usage is None:
        if spec != "SYMMETRIC_DEFAULT":
            raise ValidationException(messages.KEY_USAGE_REQUIRED)
        usage = "ENCRYPT_DECRYPT"
    _check_spec_usage(spec, usage)
    origin = params.get("Origin")
    return spec, usage, OriginType(origin) if origin else OriginType.AWS_KMS


def _create_key_context(params: Params) -> dict[str, object]:
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    ctx: dict[str, object] = {
        "kms:KeySpec": spec,
        "kms:CustomerMasterKeySpec": spec,
        "kms:KeyUsage": params.get("KeyUsage") or "ENCRYPT_DECRYPT",
        "kms:KeyOrigin": params.get("Origin") or "AWS_KMS",
        "kms:MultiRegion": bool(params.get("MultiRegion")),
        "kms:BypassPolicyLockoutSafetyCheck": bool(params.get("BypassPolicyLockoutSafetyCheck")),
    }
    if params.get("MultiRegion"):
        ctx["kms:MultiRegionKeyType"] = "PRIMARY"
    ctx.update(request_tag_context(params.get("Tags")))
    return ctx


def _resolve_create_key(res: Resolution) -> list[Target]:
    # CreateKey is authorized by IAM policies alone; Tags additionally need kms:TagResource.
    targets = [Target("kms:CreateKey", "*")]
    if res.params.get("Tags"):
        targets.append(Target("kms:TagResource", "*"))
    return targets


def _new_key_id(call: Call, multi_region: bool) -> str:
    raw = call.rng(16)
    if multi_region:
        return "mrk-" + raw.hex()
    # a version-4 UUID, formatted by hand (uuid.UUID costs more than the rest of the id)
    h = bytes((*raw[:6], (raw[6] & 0x0F) | 0x40, raw[7], (raw[8] & 0x3F) | 0x80, *raw[9:])).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def create_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html"""
    p = call.params
    spec, usage, origin = _create_key_spec(p)
    multi_region = bool(p.get("MultiRegion"))
    store = None
    if p.get("CustomKeyStoreId") is not None or origin in _CUSTOM_ORIGINS:
        store = _custom_key_store_for(call, origin, spec, multi_region)
    elif p.get("XksKeyId"):
        raise UnsupportedOperationException("XksKeyId is valid only for external key stores.")
    tags = parse_tags(p.get("Tags"))
    policy_text = p.get("Policy")
    policy = parse_key_policy(policy_text) if policy_text is not None else None
    limit = call.quotas.keys_per_region
    if call.count_keys() >= limit:
        raise LimitExceededException(
            f"Account {call.account} has reached the limit of {limit} KMS keys in {call.region}."
        )
    if store is None:
        key_id = _new_key_id(call, multi_region)
    else:  # the same in every round of the request: its material is made outside (below)
        key_id = call.outside(("CreateKey key id",), lambda: _new_key_id(call, multi_region))
    arn = ids.key_arn(call.region, call.account, key_id)
    made = origin is not OriginType.EXTERNAL
    state = transition(None, Event.CREATE if made else Event.CREATE_EXTERNAL)
    assert state is not None  # INVARIANT: creation always yields a state
    fields: dict[str, Any] = {
        "key_id": key_id,
        "arn": arn,
        "account": call.account,
        "region": call.region,
        "creation_date": call.now,
        "key_spec": spec,
        "key_usage": usage,
        "key_state": state,
        "policy": policy_text if policy_text is not None else default_key_policy(call.account),
        "origin": origin,
        "description": p.get("Description") or "",
        "tags": tags,
        "multi_region": multi_region,
        "multi_region_key_type": MultiRegionKeyType.PRIMARY if multi_region else None,
        "primary_region": call.region if multi_region else None,
    }
    # Every check comes before any material is made or sealed: a refused CreateKey touches
    # neither the root key nor an HSM or proxy.
    in_store = None
    if store is not None:  # the type's own members (XksKeyId ...); its material comes last
        in_store = call.key_stores.connector(store.store_type).new_key(
            KeyRecord(**fields, custom_key_store_id=store.store_id),
            p,
            call.keys_in_custom_key_store(store.store_id),
        )
    if (
        policy is not None
        and not p.get("BypassPolicyLockoutSafetyCheck")
        and not call.would_allow("kms:PutKeyPolicy", in_store or KeyRecord(**fields), policy)
    ):  # on the key's properties: its material plays no part
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    if store is not None and in_store is not None:  # evolved: its connector may set fields
        new = _material_in_store(call, store, in_store)
        version = _first_version(call, new, multi_region=False)
        record = in_store.evolve(materials=(version,), current_material_id=new.material_id)
    elif made:  # the record is built once, with its first version
        new = call.kernel.new_material(NewKey(key_id, arn, spec, origin, multi_region))
        record = KeyRecord(
            **fields,
            materials=(_first_version(call, new, multi_region=multi_region),),
            current_material_id=new.material_id,
        )
    else:
        record = KeyRecord(**fields)
    call.create_key(record)
    return {"KeyMetadata": _metadata(call, record)}


_CUSTOM_ORIGINS = (OriginType.AWS_CLOUDHSM, OriginType.EXTERNAL_KEY_STORE)


def _first_version(call: Call, new: NewVersion, *, multi_region: bool) -> KeyMaterial:
    """A new key's first version: current, made now (bound to its set if multi-Region)."""
    return KeyMaterial(
        new.material_id,
        new.sealed,
        KeyMaterialState.CURRENT,
        ImportState.IMPORTED,
        created=call.now,
        public_key=new.public_key,
        bound_to_set=multi_region,
    )


def _material_in_store(call: Call, store: CustomKeyStoreRecord, record: KeyInfo) -> NewVersion:
    """The new key's material, made in its custom key store (connected here first). Making it
    may wait on the network (an external key store asks its proxy's GetKeyMetadata): it is
    made outside the request's transaction, for the record as it is now (any change of the
    store's connection in between asks again)."""
    key_stores, kernel = call.key_stores, call.kernel

    def in_store() -> NewVersion:
        key_stores.ready(store, record.arn)
        return kernel.new_material(record)

    def discard(new: NewVersion) -> None:  # the request failed, or a later round made another
        kernel.discard_material(record, new)

    key = ("CreateKey material", record.arn, store.store_id, store.connection_id, record.xks_key_id)
    return call.outside(key, in_store, discard)


def _custom_key_store_for(
    call: Call, origin: OriginType, spec: str, multi_region: bool
) -> CustomKeyStoreRecord:
    """The connected custom key store a CreateKey names, checked as AWS checks it."""
    store_id = call.params.get("CustomKeyStoreId")
    if store_id is None:
        raise ValidationException(
            f"A KMS key with Origin {origin.value} is created in a custom key store: "
            "specify its CustomKeyStoreId."
        )
    store = call.custom_key_store(store_id)
    if store is None:
        raise CustomKeyStoreNotFoundException(f"Custom key store {store_id} does not exist.")
    connector = call.key_stores.connector(store.store_type)
    if origin is not connector.origin:
        raise ValidationException(
            f"A KMS key in custom key store {store_id} (type {store.store_type.value}) needs "
            f"Origin {connector.origin.value}, not {origin.value}."
        )
    if spec != "SYMMETRIC_DEFAULT" or multi_region:
        raise UnsupportedOperationException(
            "A custom key store holds only single-Region symmetric encryption KMS keys "
            "(KeySpec SYMMETRIC_DEFAULT)."
        )
    if store.connection_state is not ConnectionState.CONNECTED:
        raise CustomKeyStoreInvalidStateException(
            f"Custom key store {store_id} is {store.connection_state.value}: CreateKey needs a "
            "CONNECTED custom key store."
        )
    return store


def _metadata(call: Call, record: KeyInfo) -> dict[str, Any]:
    """KeyMetadata, with the members of its custom key store's type (CloudHsmClusterId ...)."""
    md = key_metadata(record)
    if record.custom_key_store_id is not None:
        store = call.custom_key_store(record.custom_key_store_id)
        if store is not None and store.store_type in call.key_stores.types:
            md.update(call.key_stores.connector(store.store_type).key_metadata(store, record))
    return md


# --- DescribeKey, ListKeys -------------------------------------------------------------------


def describe_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html"""
    return {"KeyMetadata": _metadata(call, call.key.info)}


def list_keys(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html

    ``ResourceOwners``: SELF lists the caller's keys; OTHER_ACCOUNTS_VIA_RAM lists keys shared
    through AWS RAM, which does not exist here, so it adds none.
    """
    owners = call.params.get("ResourceOwners") or ("SELF",)
    keys: list[tuple[str, str]] = []
    if "SELF" in owners:
        # only the page asked for (plus one to tell whether more follow), not every key
        limit = min(int(call.params.get("Limit") or 100), 1000)
        after = decode_marker(call.params.get("Marker"))
        keys = call.list_key_arns(after=after, limit=limit + 1)
    chunk, more = page(keys, call.params, lambda k: k[0], default=100, maximum=1000)
    return {"Keys": [{"KeyId": kid, "KeyArn": arn} for kid, arn in chunk], **more}


def get_key_last_usage(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html"""
    key = call.key.info
    usage = call.usage
    last = usage.last(key.arn, key.creation_date)
    out_last: dict[str, Any] = {}
    if last is not None:
        out_last = {"Operation": last.operation, "Timestamp": last.time}
        if last.request_id:
            out_last["KmsRequestId"] = last.request_id
    return {
        "KeyId": key.key_id,
        "KeyLastUsage": out_last,  # an empty object when unused since tracking began
        "TrackingStartDate": usage.tracking_start_for(key.creation_date),
        "KeyCreationDate": key.creation_date,
    }


# --- EnableKey, DisableKey, UpdateKeyDescription --------------------------------------------


def enable_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html

    On a key Unavailable because its custom key store is disconnected, the change is made to
    its own state and shows when the store is connected again."""
    stored = call.stored_state(call.key)
    state = transition(stored, Event.ENABLE)
    if state is not None and state is not stored:
        catch_up = catch_up_on_enable(call.key.info, call.now, call.kernel)
        call.update_key(call.key, key_state=state, **catch_up)
    return {}


def disable_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html (as EnableKey
    on an Unavailable key)"""
    stored = call.stored_state(call.key)
    state = transition(stored, Event.DISABLE)
    if state is not None and state is not stored:
        call.update_key(call.key, key_state=state)
    return {}


def update_key_description(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateKeyDescription.html"""
    call.update_key(call.key, description=call.params["Description"])
    return {}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("CreateKey", create_key, resolve=_resolve_create_key, context=_create_key_context),
    bind("DescribeKey", describe_key),
    bind("ListKeys", list_keys),
    bind("GetKeyLastUsage", get_key_last_usage),
    bind("EnableKey", enable_key),
    bind("DisableKey", disable_key),
    bind("UpdateKeyDescription", update_key_description),
)
