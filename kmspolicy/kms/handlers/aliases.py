"""Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

Layer: kms (handlers bound to the operation table). Alias operations are authorized on
the alias (identity policies; resource = alias ARN) AND on each key involved (key policy,
possibly delegated to IAM) — KMS.md 3.7. AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from typing import Any

from kmspolicy.crypto import specs
from kmspolicy.errors import (
    AlreadyExistsException,
    LimitExceededException,
    NotFoundException,
    ValidationException,
)
from kmspolicy.kms import ids
from kmspolicy.kms.handlers.common import page
from kmspolicy.kms.model import AliasRecord, KeyInfo, KeyRecord
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call, Resolution, Target


def _alias_arn(res: Resolution, name: str) -> str:
    return ids.alias_arn(res.region, res.account, name)


def _key(res: Resolution, text: str) -> KeyRecord:
    return res.resolve_key(text, allow_alias=False)[1]


def _existing_alias_key(res: Resolution, name: str) -> tuple[str, KeyRecord]:
    arn = _alias_arn(res, ids.check_alias_name(name))
    alias = res.tx.get_alias(arn)
    if alias is None or alias.target_key_id is None:
        raise NotFoundException(f"Alias {arn} is not found.")
    record = res.load_key(ids.key_arn(res.region, res.account, alias.target_key_id))
    if record is None:
        raise NotFoundException(f"Alias {arn} is not found.")
    return arn, record


# --- CreateAlias -----------------------------------------------------------------------------


def _resolve_create(res: Resolution) -> list[Target]:
    name = ids.check_creatable_alias_name(res.params["AliasName"])
    key = _key(res, res.params["TargetKeyId"])
    return [
        Target("kms:CreateAlias", _alias_arn(res, name)),
        Target("kms:CreateAlias", key.arn, key, "CreateAlias"),
    ]


def create_alias(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html"""
    name = call.params["AliasName"]
    arn = call.targets[0].resource
    if call.get_alias(arn) is not None:
        raise AlreadyExistsException(f"An alias with the name {arn} already exists")
    key = call.key.info
    limit = call.quotas.aliases_per_key
    if len(call.list_aliases(key_id=key.key_id)) >= limit:
        raise LimitExceededException(
            f"{key.arn} already has {limit} aliases, the limit per KMS key."
        )
    call.put_alias(
        AliasRecord(name, arn, call.account, call.region, key.key_id, call.now, call.now)
    )
    return {}


# --- UpdateAlias -----------------------------------------------------------------------------


def _resolve_update(res: Resolution) -> list[Target]:
    name = res.params["AliasName"]
    if ids.is_reserved_alias(name):
        ids.check_creatable_alias_name(name)  # raises: AWS managed aliases cannot be moved
    arn, current = _existing_alias_key(res, name)
    new = _key(res, res.params["TargetKeyId"])
    return [
        Target("kms:UpdateAlias", arn),
        Target("kms:UpdateAlias", current.arn, current, "UpdateAlias"),
        Target("kms:UpdateAlias", new.arn, new, "UpdateAlias.TargetKey"),
    ]


def _kind(key: KeyInfo) -> str:
    if specs.is_symmetric(key.key_spec):
        return "symmetric"
    return "hmac" if specs.is_hmac(key.key_spec) else "asymmetric"


def update_alias(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html"""
    current, new = call.keys[0].info, call.keys[1].info
    if _kind(current) != _kind(new) or current.key_usage != new.key_usage:
        raise ValidationException(
            f"{new.arn} is not the same type of KMS key as {current.arn}: an alias can only "
            "move to a key with the same key type and key usage."
        )
    limit = call.quotas.aliases_per_key
    if current.arn != new.arn and len(call.list_aliases(key_id=new.key_id)) >= limit:
        raise LimitExceededException(
            f"{new.arn} already has {limit} aliases, the limit per KMS key."
        )
    arn = call.targets[0].resource
    alias = call.get_alias(arn)
    assert alias is not None  # INVARIANT: resolved in this same transaction
    call.put_alias(
        AliasRecord(
            alias.name, arn, alias.account, alias.region, new.key_id, alias.creation_date, call.now
        )
    )
    return {}


# --- DeleteAlias -----------------------------------------------------------------------------


def _resolve_delete(res: Resolution) -> list[Target]:
    name = res.params["AliasName"]
    if ids.is_reserved_alias(name):
        ids.check_creatable_alias_name(name)  # raises: AWS managed aliases cannot be deleted
    arn, key = _existing_alias_key(res, name)
    return [Target("kms:DeleteAlias", arn), Target("kms:DeleteAlias", key.arn, key, "DeleteAlias")]


def delete_alias(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html"""
    call.delete_alias(call.targets[0].resource)
    return {}


# --- ListAliases -----------------------------------------------------------------------------


def _resolve_list(res: Resolution) -> list[Target]:
    key_id = res.params.get("KeyId")
    if key_id is not None:
        _key(res, key_id)  # NotFoundException for an unknown key
    return [Target("kms:ListAliases", "*")]


def list_aliases(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html"""
    key_text = call.params.get("KeyId")
    key_id = None
    if key_text is not None:
        key_id = ids.parse_key_ref(key_text, call.account, call.region, allow_alias=False).key_id
    aliases = call.list_aliases(key_id=key_id)
    chunk, more = page(aliases, call.params, lambda a: a.name, default=50, maximum=100)
    entries = []
    for a in chunk:
        entry: dict[str, Any] = {"AliasName": a.name, "AliasArn": a.arn}
        if a.target_key_id is not None:
            entry["TargetKeyId"] = a.target_key_id
        entry["CreationDate"] = a.creation_date
        entry["LastUpdatedDate"] = a.last_updated_date
        entries.append(entry)
    return {"Aliases": entries, **more}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind(
        "CreateAlias",
        create_alias,
        resolve=_resolve_create,
    ),
    bind("UpdateAlias", update_alias, resolve=_resolve_update),
    bind("DeleteAlias", delete_alias, resolve=_resolve_delete),
    bind("ListAliases", list_aliases, resolve=_resolve_list),
)
