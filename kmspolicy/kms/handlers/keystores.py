"""Custom key stores: Create/Connect/Disconnect/Describe/Update/DeleteCustomKeyStore.

Layer: kms (handlers bound to the operation table; account-level actions on ``*``, authorized by
IAM policies alone). What every ``CustomKeyStoreType`` shares is here: ids, names and their
uniqueness, the quota, the connection states and which operation each admits, credentials
sealed under the root key (``kms.keystores.live``). What a type adds (its members, its
connection) is its connector's (``kms.keystores.connector``). AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kmspolicy.errors import (
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    LimitExceededException,
    ValidationException,
)
from kmspolicy.kms.handlers.common import page
from kmspolicy.kms.keystores.connector import KeyStoreConnector
from kmspolicy.kms.model import ConnectionState, CustomKeyStoreRecord, CustomKeyStoreType
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call

Params = Mapping[str, Any]
_S = ConnectionState
#: request members every type shares; the rest belong to one type's connector
_COMMON = frozenset(
    {"CustomKeyStoreId", "CustomKeyStoreName", "CustomKeyStoreType", "NewCustomKeyStoreName"}
)


def new_store_id(call: Call) -> str:
    """``cks-`` and 17 hex digits, the form of AWS's custom key store ids."""
    return "cks-" + call.rng(9).hex()[:17]


def own_store(call: Call, store_id: str) -> CustomKeyStoreRecord:
    """The caller's store ``store_id`` (of its account and Region), else not found."""
    found = call.custom_key_store(store_id)
    if found is None:
        raise CustomKeyStoreNotFoundException(f"Custom key store {store_id} does not exist.")
    return found


def _foreign_members(params: Params, connector: KeyStoreConnector) -> None:
    foreign = sorted(
        m for m, v in params.items() if v is not None and m not in _COMMON | connector.members
    )
    if foreign:
        raise ValidationException(
            f"{foreign[0]} is not valid for a custom key store of type "
            f"{connector.store_type.value}."
        )


def _name_free(name: str, others: Sequence[CustomKeyStoreRecord], store_id: str = "") -> None:
    for other in others:
        if other.name == name and other.store_id != store_id:
            raise CustomKeyStoreNameInUseException(
                f"The custom key store name {name} is already in use in this account and Region."
            )


def _invalid_state(record: CustomKeyStoreRecord, operation: str) -> None:
    raise CustomKeyStoreInvalidStateException(
        f"{operation} is not valid for custom key store {record.store_id} while its "
        f"ConnectionState is {record.connection_state.value}."
    )


# --- CreateCustomKeyStore ------------------------------------------------------------------


def create_custom_key_store(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateCustomKeyStore.html"""
    p = call.params
    store_type = CustomKeyStoreType(p.get("CustomKeyStoreType") or "AWS_CLOUDHSM")
    connector = call.key_stores.connector(store_type)
    _foreign_members(p, connector)
    name = p["CustomKeyStoreName"]
    others = call.list_custom_key_stores()
    _name_free(name, others)
    limit = call.quotas.custom_key_stores_per_region
    if len(others) >= limit:
        raise LimitExceededException(
            f"Account {call.account} has reached the limit of {limit} custom key stores in "
            f"{call.region}."
        )
    settings, credential = connector.create_settings(p, others, call.region, call.outside)
    store_id = new_store_id(call)
    record = CustomKeyStoreRecord(
        store_id=store_id,
        account=call.account,
        region=call.region,
        name=name,
        store_type=store_type,
        creation_date=call.now,
        settings=tuple(sorted(settings.items())),
        # INVARIANT: the credential is stored only sealed under the root key
        sealed_credential=call.key_stores.seal_credential(store_id, credential or b""),
    )
    call.put_custom_key_store(record)
    return {"CustomKeyStoreId": store_id}


# --- ConnectCustomKeyStore / DisconnectCustomKeyStore ---------------------------------------


def connect_custom_key_store(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ConnectCustomKeyStore.html

    Asynchronous, as in AWS: the store is CONNECTING when the request commits; the attempt runs
    after the commit (outside any transaction) and records CONNECTED or FAILED with its
    ConnectionErrorCode. kmspolicy makes the attempt before it answers, so a client's next
    DescribeCustomKeyStores already sees the outcome.
    """
    record = own_store(call, call.params["CustomKeyStoreId"])
    call.key_stores.connector(record.store_type)  # a type this server offers
    state = record.connection_state
    if state in (_S.DISCONNECTING, _S.FAILED):
        _invalid_state(record, "ConnectCustomKeyStore")
    if state in (_S.CONNECTED, _S.CONNECTING):
        return {}  # already (being) connected: nothing to do
    attempt = call.rng(16).hex()
    call.put_custom_key_store(
        record.evolve(
            connection_state=_S.CONNECTING, connection_error_code=None, connection_id=attempt
        )
    )
    key_stores, store, clock, audit = call.key_stores, call.store, call.clock, call.audit
    call.after_commit(
        lambda: key_stores.finish_connect(store, record.store_id, attempt, clock.now, audit)
    )
    return {}


def disconnect_custom_key_store(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisconnectCustomKeyStore.html

    The store's keys are Unavailable at once (every process reads the store's state); this
    process closes its connection once the change committed. DISCONNECTING is never observed.
    """
    record = own_store(call, call.params["CustomKeyStoreId"])
    if record.connection_state in (_S.DISCONNECTING, _S.DISCONNECTED):
        _invalid_state(record, "DisconnectCustomKeyStore")
    call.put_custom_key_store(
        record.evolve(
            connection_state=_S.DISCONNECTED, connection_error_code=None, connection_id=""
        )
    )
    key_stores = call.key_stores
    call.after_commit(lambda: key_stores.drop(record.store_id))
    return {}


# --- DescribeCustomKeyStores ----------------------------------------------------------------


def _entry(call: Call, record: CustomKeyStoreRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "CustomKeyStoreId": record.store_id,
        "CustomKeyStoreName": record.name,
        "ConnectionState": record.connection_state.value,
        "CreationDate": record.creation_date,
        "CustomKeyStoreType": record.store_type.value,
    }
    if record.connection_state is _S.FAILED and record.connection_error_code is not None:
        entry["ConnectionErrorCode"] = record.connection_error_code.value
    if record.store_type in call.key_stores.types:
        entry.update(call.key_stores.connector(record.store_type).describe(record))
    return entry


def describe_custom_key_stores(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeCustomKeyStores.html"""
    p = call.params
    store_id, name = p.get("CustomKeyStoreId"), p.get("CustomKeyStoreName")
    if store_id is not None and name is not None:
        raise ValidationException(
            "Specify either CustomKeyStoreId or CustomKeyStoreName, not both."
        )
    if store_id is not None:
        stores: Sequence[CustomKeyStoreRecord] = [own_store(call, store_id)]
    else:
        stores = call.list_custom_key_stores()
        if name is not None:
            stores = [s for s in stores if s.name == name]
            if not stores:
                raise CustomKeyStoreNotFoundException(f"Custom key store {name} does not exist.")
    chunk, more = page(stores, p, lambda s: s.store_id, default=1000, maximum=1000)
    return {"CustomKeyStores": [_entry(call, s) for s in chunk], **more}


# --- UpdateCustomKeyStore -------------------------------------------------------------------


def update_custom_key_store(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateCustomKeyStore.html

    Every change needs a DISCONNECTED store, except the name (also while CONNECTED) and the
    members a type allows while connected.
    """
    p = call.params
    record = own_store(call, p["CustomKeyStoreId"])
    connector = call.key_stores.connector(record.store_type)
    _foreign_members(p, connector)
    changing = {m for m, v in p.items() if v is not None and m != "CustomKeyStoreId"}
    if record.connection_state is not _S.DISCONNECTED:
        while_connected = {"NewCustomKeyStoreName"} | connector.updatable_while_connected
        if record.connection_state is not _S.CONNECTED or changing - while_connected:
            _invalid_state(record, "UpdateCustomKeyStore")
    others = call.list_custom_key_stores()
    new_name = p.get("NewCustomKeyStoreName")
    if new_name is not None:
        _name_free(new_name, others, record.store_id)
    changes, credential = connector.update_settings(record, p, others, call.outside)
    settings = {**record.setting, **changes}
    updated = record.evolve(
        name=new_name if new_name is not None else record.name,
        settings=tuple(sorted(settings.items())),
    )
    if credential is not None:
        updated = updated.evolve(
            sealed_credential=call.key_stores.seal_credential(record.store_id, credential)
        )
    if updated != record:
        call.put_custom_key_store(updated)
    return {}


# --- DeleteCustomKeyStore -------------------------------------------------------------------


def delete_custom_key_store(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteCustomKeyStore.html

    Only a DISCONNECTED store with no KMS keys (pending deletion included) can be deleted.
    """
    record = own_store(call, call.params["CustomKeyStoreId"])
    if record.connection_state is not _S.DISCONNECTED:
        _invalid_state(record, "DeleteCustomKeyStore")
    if call.count_keys_in_custom_key_store(record.store_id):
        raise CustomKeyStoreHasCMKsException(
            f"Custom key store {record.store_id} still has KMS keys: schedule their deletion "
            "and wait for the end of their waiting period first."
        )
    call.delete_custom_key_store(record.store_id)
    key_stores = call.key_stores
    call.after_commit(lambda: key_stores.drop(record.store_id))
    return {}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("CreateCustomKeyStore", create_custom_key_store),
    bind("ConnectCustomKeyStore", connect_custom_key_store),
    bind("DisconnectCustomKeyStore", disconnect_custom_key_store),
    bind("DescribeCustomKeyStores", describe_custom_key_stores),
    bind("UpdateCustomKeyStore", update_custom_key_store),
    bind("DeleteCustomKeyStore", delete_custom_key_store),
)
