"""The KMS service on the durable stores, through the boto3 client as users call it.

Restart = close the store and open a new handle on the same file / schema. Two handles on one
store = two server processes: a revocation or a disable in one binds the other's next call.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES
from kmspolicy.kms.service import KMS

APP = "arn:aws:iam::111122223333:role/app"


@pytest.fixture(autouse=True)
def _durable_only(store_kind: str) -> None:
    if store_kind == "memory":
        pytest.skip("restarts and second processes need a durable store")


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_keys_aliases_grants_survive_a_restart(store_factory) -> None:
    store = store_factory()
    client = KMS(store).client()
    key = client.create_key(Description="survivor", Tags=[{"TagKey": "team", "TagValue": "a"}])
    key_id = key["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/survivor", TargetKeyId=key_id)
    grant = client.create_grant(KeyId=key_id, GranteePrincipal=APP, Operations=["Decrypt"])
    blob = client.encrypt(KeyId="alias/survivor", Plaintext=b"kept across restarts")
    mac_key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    mac = client.generate_mac(
        KeyId=mac_key["KeyMetadata"]["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256"
    )
    sign_key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    signature = client.sign(
        KeyId=sign_key["KeyMetadata"]["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256"
    )
    store.close()

    restarted = KMS(store_factory())
    client = restarted.client()
    described = client.describe_key(KeyId="alias/survivor")["KeyMetadata"]
    assert described["KeyId"] == key_id and described["Description"] == "survivor"
    assert client.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    grants = client.list_grants(KeyId=key_id)["Grants"]
    assert [g["GrantId"] for g in grants] == [grant["GrantId"]]
    app = restarted.client(principal=APP)
    assert (
        app.decrypt(CiphertextBlob=blob["CiphertextBlob"])["Plaintext"] == b"kept across restarts"
    )
    assert client.verify_mac(
        KeyId=mac_key["KeyMetadata"]["KeyId"],
        Message=b"m",
        MacAlgorithm="HMAC_SHA_256",
        Mac=mac["Mac"],
    )["MacValid"]
    assert client.verify(
        KeyId=sign_key["KeyMetadata"]["KeyId"],
        Message=b"m",
        Signature=signature["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )["SignatureValid"]


def test_revocation_and_disable_bind_the_other_process_at_once(store_factory) -> None:
    one, two = KMS(store_factory()), KMS(store_factory())
    admin = one.client()
    key_id = admin.create_key()["KeyMetadata"]["KeyId"]
    grant = admin.create_grant(KeyId=key_id, GranteePrincipal=APP, Operations=["Decrypt"])
    blob = admin.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    app_on_two = two.client(principal=APP)
    assert app_on_two.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"  # warms any cache

    admin.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    with pytest.raises(ClientError) as denied:
        app_on_two.decrypt(CiphertextBlob=blob)
    assert _code(denied) == "AccessDeniedException"

    assert two.client().encrypt(KeyId=key_id, Plaintext=b"p")["KeyId"].endswith(key_id)
    admin.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as disabled:
        two.client().encrypt(KeyId=key_id, Plaintext=b"p")
    assert _code(disabled) == "DisabledException"


def test_alias_created_by_one_process_is_taken_for_the_other(store_factory) -> None:
    one, two = KMS(store_factory()), KMS(store_factory())
    k1 = one.client().create_key()["KeyMetadata"]["KeyId"]
    k2 = two.client().create_key()["KeyMetadata"]["KeyId"]
    one.client().create_alias(AliasName="alias/shared", TargetKeyId=k1)
    with pytest.raises(ClientError) as taken:
        two.client().create_alias(AliasName="alias/shared", TargetKeyId=k2)
    assert _code(taken) == "AlreadyExistsException"
    assert two.client().describe_key(KeyId="alias/shared")["KeyMetadata"]["KeyId"] == k1


def test_concurrent_rotations_from_two_processes_all_land(store_factory) -> None:
    """Rotations are read-modify-writes of one key: none may be lost between processes, and
    none made twice. Each round both processes ask at once (one starts the rotation, the
    other finds it in progress), then both use the key once it is due (one completes it)."""
    import threading

    clock = FakeClock()
    services = [KMS(store_factory(), clock), KMS(store_factory(), clock)]
    key_id = services[0].client().create_key()["KeyMetadata"]["KeyId"]
    blobs: list[bytes] = []
    codes: list[str | None] = []
    errors: list[BaseException] = []

    def together(work) -> None:  # both processes at once
        barrier = threading.Barrier(len(services))

        def run(service: KMS) -> None:
            client = service.client()
            barrier.wait(10)
            try:
                work(client)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def rotate(client) -> None:
        try:
            client.rotate_key_on_demand(KeyId=key_id)
            codes.append(None)
        except ClientError as err:
            codes.append(err.response["Error"]["Code"])

    def use(client) -> None:
        blobs.append(client.encrypt(KeyId=key_id, Plaintext=b"v")["CiphertextBlob"])

    for _ in range(3):
        together(rotate)
        clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
        together(use)
    assert errors == []
    assert (codes.count(None), codes.count("ConflictException")) == (3, 3)
    client = services[1].client()
    rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 3
    assert len({r["KeyMaterialId"] for r in rotations}) == 3
    for blob in blobs:  # every version stays decryptable
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"v"
