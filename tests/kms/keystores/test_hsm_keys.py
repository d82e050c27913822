"""KMS keys in CloudHSM key stores: made and used inside the token, unusable while the store is
disconnected, destroyed in the token at the end of their waiting period."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.kms.keystores.cloudhsm_backend import object_label
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.sealed import reveal
from kmspolicy.store import open_store
from kmspolicy.store.pkcs11 import CALL_LOCK
from kmspolicy.store.rootkey import RootKey
from tests.kms.keystores.conftest import (
    CLUSTER,
    PASSWORD,
    connector,
    create_store,
    describe,
    token_uri,
)
from tests.kms.principals import ACCOUNT, raises_code

pytestmark = pytest.mark.hsm


def token_keys(label_prefix: str = "kmspolicy/") -> dict[str, dict[str, bool]]:
    """The secret keys of token ks-one by label, with their protection attributes (read through
    a session of this process, which shares the key store's login)."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    from tests.kms.keystores.conftest import SOFTHSM_MODULE

    with CALL_LOCK:
        token = pkcs11.lib(SOFTHSM_MODULE).get_token(token_label="ks-one")
        with token.open() as session:
            found = {}
            for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}):
                label = key[Attribute.LABEL]
                if label.startswith(label_prefix):
                    found[label] = {
                        "extractable": bool(key[Attribute.EXTRACTABLE]),
                        "sensitive": bool(key[Attribute.SENSITIVE]),
                        "token": bool(key[Attribute.TOKEN]),
                        "aes256": key[Attribute.VALUE_LEN] == 32,
                    }
            return found


def new_key(client: Any, store_id: str) -> dict[str, Any]:
    metadata: dict[str, Any] = client.create_key(
        CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM", Description="in the HSM"
    )["KeyMetadata"]
    return metadata


def test_a_key_is_a_non_extractable_aes_key_in_the_token(hsm_client, connected_store) -> None:
    md = new_key(hsm_client, connected_store)
    assert md["Origin"] == "AWS_CLOUDHSM"
    assert md["CustomKeyStoreId"] == connected_store
    assert md["CloudHsmClusterId"] == CLUSTER
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT" and md["KeyState"] == "Enabled"
    attributes = token_keys()[object_label(md["KeyId"])]
    assert attributes == {"extractable": False, "sensitive": True, "token": True, "aes256": True}


def test_the_record_holds_a_reference_not_material(hsm_service, connected_store) -> None:
    md = new_key(hsm_service.client(), connected_store)
    with hsm_service.store.transaction(readonly=True) as tx:
        record = tx.get_key(md["Arn"])
    assert record is not None
    (material,) = record.materials
    assert material.sealed is not None
    reference = reveal(material.sealed)
    assert reference.startswith(b"cloudhsm-object:")
    assert len(reference) == len(b"cloudhsm-object:") + 16  # a CKA_ID, nothing more


def test_data_plane_inside_the_token(hsm_client, connected_store) -> None:
    key_id = new_key(hsm_client, connected_store)["KeyId"]
    context = {"purpose": "test"}
    blob = hsm_client.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionContext=context)[
        "CiphertextBlob"
    ]
    out = hsm_client.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert out["Plaintext"] == b"secret" and out["KeyId"].endswith(key_id)
    with raises_code("InvalidCiphertextException"):
        hsm_client.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
    data_key = hsm_client.generate_data_key(KeyId=key_id, NumberOfBytes=64)
    assert len(data_key["Plaintext"]) == 64
    back = hsm_client.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
    assert back == data_key["Plaintext"]
    without = hsm_client.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_128")
    assert len(hsm_client.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 16
    local = hsm_client.create_key()["KeyMetadata"]["KeyId"]
    moved = hsm_client.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext=context,
        DestinationKeyId=local,
    )["CiphertextBlob"]
    assert hsm_client.decrypt(CiphertextBlob=moved)["Plaintext"] == b"secret"
    back_in = hsm_client.re_encrypt(CiphertextBlob=moved, DestinationKeyId=key_id)
    assert hsm_client.decrypt(CiphertextBlob=back_in["CiphertextBlob"])["Plaintext"] == b"secret"
    random = hsm_client.generate_random(NumberOfBytes=32, CustomKeyStoreId=connected_store)
    assert len(random["Plaintext"]) == 32


def test_what_a_custom_key_store_cannot_hold_or_do(hsm_client, connected_store) -> None:
    with raises_code("UnsupportedOperationException"):
        hsm_client.create_key(
            CustomKeyStoreId=connected_store,
            Origin="AWS_CLOUDHSM",
            KeySpec="RSA_2048",
            KeyUsage="ENCRYPT_DECRYPT",
        )
    with raises_code("UnsupportedOperationException"):
        hsm_client.create_key(
            CustomKeyStoreId=connected_store, Origin="AWS_CLOUDHSM", MultiRegion=True
        )
    with raises_code("ValidationException"):  # the store's keys have Origin AWS_CLOUDHSM
        hsm_client.create_key(CustomKeyStoreId=connected_store)
    with raises_code("ValidationException"):
        hsm_client.create_key(Origin="AWS_CLOUDHSM")
    with raises_code("CustomKeyStoreNotFoundException"):
        hsm_client.create_key(CustomKeyStoreId="cks-1234567890abcdef0", Origin="AWS_CLOUDHSM")
    key_id = new_key(hsm_client, connected_store)["KeyId"]
    with raises_code("UnsupportedOperationException"):
        hsm_client.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    with raises_code("UnsupportedOperationException"):
        hsm_client.enable_key_rotation(KeyId=key_id)
    with raises_code("UnsupportedOperationException"):
        hsm_client.rotate_key_on_demand(KeyId=key_id)
    with raises_code("UnsupportedOperationException"):
        hsm_client.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )


def test_a_disconnected_store_makes_its_keys_unavailable_until_it_is_back(
    hsm_client, connected_store
) -> None:
    key_id = new_key(hsm_client, connected_store)["KeyId"]
    other = new_key(hsm_client, connected_store)["KeyId"]
    blob = hsm_client.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    hsm_client.disconnect_custom_key_store(CustomKeyStoreId=connected_store)
    metadata = hsm_client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"]) == ("Unavailable", False)
    with raises_code("KMSInvalidStateException") as info:
        hsm_client.encrypt(KeyId=key_id, Plaintext=b"x")
    assert info.value.response["Error"]["Message"].endswith("is unavailable.")
    with raises_code("KMSInvalidStateException"):
        hsm_client.decrypt(CiphertextBlob=blob)
    with raises_code("KMSInvalidStateException"):
        hsm_client.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    with raises_code("CustomKeyStoreInvalidStateException"):
        new_key(hsm_client, connected_store)
    with raises_code("CustomKeyStoreInvalidStateException"):
        hsm_client.generate_random(NumberOfBytes=8, CustomKeyStoreId=connected_store)
    # management still works; DisableKey takes effect when the store is back
    hsm_client.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v"}])
    hsm_client.disable_key(KeyId=other)
    assert hsm_client.describe_key(KeyId=other)["KeyMetadata"]["KeyState"] == "Unavailable"
    hsm_client.connect_custom_key_store(CustomKeyStoreId=connected_store)
    assert hsm_client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert hsm_client.describe_key(KeyId=other)["KeyMetadata"]["KeyState"] == "Disabled"
    assert hsm_client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    assert hsm_client.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "k", "TagValue": "v"}]


def test_deletion_destroys_the_token_object_at_the_end_of_the_waiting_period(
    hsm_service, connected_store
) -> None:
    client = hsm_service.client()
    key_id = new_key(client, connected_store)["KeyId"]
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    client.disconnect_custom_key_store(CustomKeyStoreId=connected_store)
    # pending deletion stays pending deletion while disconnected
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    client.connect_custom_key_store(CustomKeyStoreId=connected_store)
    assert object_label(key_id) in token_keys()
    hsm_service.clock.advance(days=6)
    assert hsm_service.sweep().deleted == 0
    hsm_service.clock.advance(days=2)
    assert hsm_service.sweep().deleted == 1
    with raises_code("NotFoundException"):
        client.describe_key(KeyId=key_id)
    assert object_label(key_id) not in token_keys()


def test_a_key_deleted_on_first_access_is_destroyed_too(hsm_service, connected_store) -> None:
    client = hsm_service.client()
    key_id = new_key(client, connected_store)["KeyId"]
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    hsm_service.clock.advance(days=8)
    with raises_code("NotFoundException"):  # the pipeline does the due deletion first
        client.describe_key(KeyId=key_id)
    assert object_label(key_id) not in token_keys()


class _RefusingCreateKey:
    """An audit log that cannot take a CreateKey's record (a full disk): the request is then
    refused with nothing committed, in its last round — after its key object was made in the
    token, outside the transaction."""

    def __init__(self) -> None:
        self.refuse = True

    def append(self, record: Any) -> None:
        if self.refuse and record.operation == "CreateKey":
            raise OSError("no space left on the device")

    def close(self) -> None:
        """Nothing to release."""


def test_a_create_key_that_fails_last_destroys_the_object_it_made(
    softhsm_conf: Path, trust_anchor, clock, identities
) -> None:
    audit = _RefusingCreateKey()
    service = KMS(
        clock=clock,
        account=ACCOUNT,
        identities=identities,
        key_stores=[connector(softhsm_conf)],
        audit=audit,
    )
    try:
        client = service.client()
        store_id = create_store(client, trust_anchor, name="failing-create")
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        before = set(token_keys())
        with raises_code("KMSInternalException"):
            new_key(client, store_id)
        assert set(token_keys()) == before  # made outside the transaction, then destroyed
        assert client.list_keys()["Keys"] == []
        audit.refuse = False
        made = new_key(client, store_id)["KeyId"]
        assert set(token_keys()) == before | {object_label(made)}  # a kept one stays
    finally:
        service.close()


def test_a_restarted_service_reconnects_on_first_use(softhsm_conf: Path, trust_anchor, tmp_path):
    root = RootKey.generate()
    url = f"sqlite://{tmp_path / 'kms.db'}"
    first = KMS(open_store(url, root), account=ACCOUNT, key_stores=[connector(softhsm_conf)])
    client = first.client()
    store_id = create_store(client, trust_anchor)
    client.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = new_key(client, store_id)["KeyId"]
    blob = client.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    first.close()
    first.store.close()
    again = KMS(open_store(url, root), account=ACCOUNT, key_stores=[connector(softhsm_conf)])
    try:
        client = again.client()
        assert describe(client, store_id)["ConnectionState"] == "CONNECTED"
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
        # another "process" disconnects the store: this one stops at once
        third = KMS(open_store(url, root), account=ACCOUNT, key_stores=[connector(softhsm_conf)])
        third.client().disconnect_custom_key_store(CustomKeyStoreId=store_id)
        third.close()
        third.store.close()
        with raises_code("KMSInvalidStateException"):
            client.decrypt(CiphertextBlob=blob)
    finally:
        again.close()
        again.store.close()


def test_the_connection_is_opened_after_the_allow(softhsm_conf: Path, trust_anchor) -> None:
    """A denied request of a key in a connected store unseals no credential and logs nobody
    in (the PIN is opened only for an allowed request)."""
    from kmspolicy import Identities, Identity
    from tests.kms.principals import BOB
    from tests.kms.root_keys import CountingRootKey

    root = CountingRootKey()
    store = MemoryStore(root)
    first = KMS(store, account=ACCOUNT, key_stores=[connector(softhsm_conf)])
    client = first.client()
    store_id = create_store(client, trust_anchor)
    client.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = new_key(client, store_id)["KeyId"]
    first.close()
    second = KMS(
        store,
        account=ACCOUNT,
        identities=Identities([Identity.of(BOB)]),
        key_stores=[connector(softhsm_conf)],
    )
    try:
        before = root.unseals
        with raises_code("AccessDeniedException"):
            second.client(BOB).encrypt(KeyId=key_id, Plaintext=b"x")
        assert root.unseals == before
        second.client().encrypt(KeyId=key_id, Plaintext=b"x")  # the root user: allowed
        assert root.unseals == before + 1  # the kmsuser password, to log in here
    finally:
        second.close()


# (the property "a ciphertext decrypts only under its key and context", for local, CloudHSM
# and external keys alike: tests/xks/test_decrypts_only_under_its_key.py)


def test_the_uri_of_a_cluster_takes_no_object_or_pin_source() -> None:
    from kmspolicy.errors import ConfigError
    from kmspolicy.store.pkcs11_cluster import Pkcs11Cluster

    for extra in (";object=x", ";pin-source=env:X"):
        with pytest.raises(ConfigError):
            Pkcs11Cluster(CLUSTER, token_uri("ks-one") + extra)
    with pytest.raises(ConfigError):
        Pkcs11Cluster("cluster-1", token_uri("ks-one"))
    assert PASSWORD not in repr(Pkcs11Cluster(CLUSTER, token_uri("ks-one")))
