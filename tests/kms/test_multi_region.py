"""Multi-Region keys in-process: ReplicateKey, UpdatePrimaryRegion, one material across Regions,
synchronized rotations, deletion of a set, and authorization in both Regions.

Two ``KMS`` instances (two Regions) share one store, as the server's Regions do; boto3 clients
of each drive them. Over HTTP: tests/server/test_multi_region.py.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS, Identities, Identity
from kmspolicy.audit import open_audit_log
from kmspolicy.crypto.seal import RootKey
from kmspolicy.kms.backends import MATERIAL, secret_aad
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.ports import Store
from kmspolicy.kms.sealed import Sealed, reveal
from kmspolicy.store import open_store
from kmspolicy.store.sqlite import SqliteStore
from tests.kms.lifecycle.importing import wrap_oaep_sha256
from tests.kms.principals import ACCOUNT, ALICE, BOB, KMS_ADMIN, ROOT, policy, raises_code
from tests.kms.root_keys import CountingRootKey

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"  # may replicate, may not create keys


class Regions:
    """One store, a service per Region, clients per principal, one audit log."""

    def __init__(
        self, store: Store, clock: FakeClock, identities: Identities, audit_path: Path
    ) -> None:
        self.clock = clock
        self.audit_path = audit_path
        self.audit = open_audit_log(audit_path)
        self.services = {
            r: KMS(store, clock, ACCOUNT, r, identities, audit=self.audit)
            for r in (EAST, WEST, ASIA)
        }

    def client(self, region: str, principal: str = ROOT) -> Any:
        return self.services[region].client(principal)

    def audited(self, operation: str) -> list[dict[str, Any]]:
        """The audit records of ``operation``, oldest first."""
        lines = self.audit_path.read_bytes().splitlines()
        return [r for r in map(json.loads, lines) if r["operation"] == operation]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def regions(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    identities = Identities(
        [
            Identity.of(ALICE, policies=[KMS_ADMIN]),
            Identity.of(BOB),
            Identity.of(
                CAROL,
                policies=[
                    policy({"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": "*"})
                ],
            ),
        ]
    )
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SqliteStore(tmp_path / "kms.db", RootKey.generate())
    else:
        store = open_store(request.getfixturevalue("pg_store_url"), RootKey.generate())
    regions = Regions(store, FakeClock(), identities, tmp_path / "audit.log")
    yield regions
    regions.audit.close()
    store.close()


def primary_key(regions: Regions, **params: Any) -> dict[str, Any]:
    return dict(regions.client(EAST).create_key(MultiRegion=True, **params)["KeyMetadata"])


def config(client: Any, key_id: str) -> dict[str, Any]:
    return dict(client.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"])


def test_replicate_key_answers_a_creating_replica_of_its_own(regions: Regions) -> None:
    key = primary_key(regions, Description="primary", Tags=[{"TagKey": "t", "TagValue": "p"}])
    assert key["KeyId"].startswith("mrk-")
    out = regions.client(EAST).replicate_key(
        KeyId=key["KeyId"],
        ReplicaRegion=WEST,
        Description="replica",
        Tags=[{"TagKey": "t", "TagValue": "r"}],
    )
    replica = out["ReplicaKeyMetadata"]
    west_arn = f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{key['KeyId']}"
    # AWS's recorded response: the replica is Creating (not yet Enabled) when it is answered
    assert (replica["KeyId"], replica["Arn"], replica["KeyState"], replica["Enabled"]) == (
        key["KeyId"],
        west_arn,
        "Creating",
        False,
    )
    assert replica["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": key["Arn"], "Region": EAST},
        "ReplicaKeys": [{"Arn": west_arn, "Region": WEST}],
    }
    assert json.loads(out["ReplicaPolicy"])["Id"] == "key-default-1"  # not the primary's
    assert out["ReplicaTags"] == [{"TagKey": "t", "TagValue": "r"}]
    west = regions.client(WEST)
    described = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (described["KeyState"], described["Description"]) == ("Enabled", "replica")
    assert west.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "t", "TagValue": "r"}]
    # every member lists the whole set
    primary = config(regions.client(EAST), key["KeyId"])
    assert primary["MultiRegionKeyType"] == "PRIMARY"
    assert primary["ReplicaKeys"] == [{"Arn": west_arn, "Region": WEST}]
    regions.client(EAST).replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)
    regions_of = [r["Region"] for r in config(west, key["KeyId"])["ReplicaKeys"]]
    assert regions_of == [ASIA, WEST]
    assert regions.client(EAST).describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == (
        "primary"
    )


def test_a_ciphertext_of_one_region_decrypts_with_the_related_key_in_another(
    regions: Regions,
) -> None:
    key = primary_key(regions)
    east, west, asia = (regions.client(r) for r in (EAST, WEST, ASIA))
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"east", EncryptionContext={"a": "b"})
    out = west.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"east"
    assert out["KeyId"] == f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{key['KeyId']}"
    data_key = asia.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert (
        east.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )
    with raises_code("InvalidCiphertextException"):
        west.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "c"})


def test_rotations_of_the_primary_reach_every_replica(regions: Regions) -> None:
    key = primary_key(regions)
    east, west = regions.client(EAST), regions.client(WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    started = regions.clock.now()
    east.rotate_key_on_demand(KeyId=key["KeyId"])
    # in progress on every member of the set; the primary's due work completes it
    status = west.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["OnDemandRotationStartDate"] == started
    assert west.list_key_rotations(KeyId=key["KeyId"])["Rotations"] == []
    regions.clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    west.describe_key(KeyId=key["KeyId"])  # the replica first: nothing of its own is due
    assert "OnDemandRotationStartDate" in west.get_key_rotation_status(KeyId=key["KeyId"])
    east.describe_key(KeyId=key["KeyId"])
    assert "OnDemandRotationStartDate" not in west.get_key_rotation_status(KeyId=key["KeyId"])
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"after")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
    east_rotations = east.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    west_rotations = west.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert len(east_rotations) == 1
    assert [r["KeyMaterialId"] for r in west_rotations] == [
        r["KeyMaterialId"] for r in east_rotations
    ]
    # the automatic rotation status is shared; only the primary manages it
    east.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    status = west.get_key_rotation_status(KeyId=key["KeyId"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 90)
    for call in (west.enable_key_rotation, west.disable_key_rotation, west.rotate_key_on_demand):
        with raises_code("UnsupportedOperationException"):
            call(KeyId=key["KeyId"])
    # an automatic rotation, due work of the primary, reaches the replica too; the replica
    # never rotates on its own (the set keeps one ring)
    regions.clock.advance(days=91)
    west.describe_key(KeyId=key["KeyId"])  # the replica first: nothing of its own is due
    east.describe_key(KeyId=key["KeyId"])
    east_ids = [
        r["KeyMaterialId"] for r in east.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    ]
    west_ids = [
        r["KeyMaterialId"] for r in west.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    ]
    assert len(east_ids) == 2
    assert west_ids == east_ids
    new_blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"auto")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == east_ids[-1]


def test_one_replica_per_region_and_only_of_a_primary(regions: Regions) -> None:
    key = primary_key(regions)
    east, west = regions.client(EAST), regions.client(WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    with raises_code("AlreadyExistsException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    with raises_code("AlreadyExistsException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=EAST)
    with raises_code("UnsupportedOperationException"):  # a replica is not replicated
        west.replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)
    single = east.create_key()["KeyMetadata"]["KeyId"]
    with raises_code("UnsupportedOperationException"):
        east.replicate_key(KeyId=single, ReplicaRegion=WEST)
    east.disable_key(KeyId=key["KeyId"])
    with raises_code("DisabledException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)


def test_replicate_key_is_authorized_in_both_regions(regions: Regions) -> None:
    key = primary_key(regions)
    east = regions.client(EAST)
    # Carol's identity policy allows kms:ReplicateKey (the key policy enables IAM), not
    # kms:CreateKey, which the replica's Region needs
    with raises_code("AccessDeniedException") as denied:
        regions.client(EAST, CAROL).replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    assert "kms:CreateKey" in denied.value.response["Error"]["Message"]
    with raises_code("AccessDeniedException"):  # Bob has no identity policy at all
        regions.client(EAST, BOB).replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    # kms:ReplicaRegion limits where a key may be replicated
    only_asia = policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "kms:ReplicateKey",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ReplicaRegion": ASIA}},
        },
    )
    east.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=only_asia)
    with raises_code("AccessDeniedException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    alice = regions.client(EAST, ALICE)
    assert alice.replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)["ReplicaKeyMetadata"]
    # nothing was made in the Region refused
    with raises_code("NotFoundException"):
        regions.client(WEST).describe_key(KeyId=key["KeyId"])


def test_the_replica_policy_passes_the_lockout_check_unless_bypassed(regions: Regions) -> None:
    key = primary_key(regions)
    east = regions.client(EAST, ALICE)
    locks_alice_out = policy(
        {"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}
    )
    with raises_code("MalformedPolicyDocumentException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST, Policy=locks_alice_out)
    out = east.replicate_key(
        KeyId=key["KeyId"],
        ReplicaRegion=WEST,
        Policy=locks_alice_out,
        BypassPolicyLockoutSafetyCheck=True,
    )
    assert json.loads(out["ReplicaPolicy"]) == json.loads(locks_alice_out)
    # the replica's policy is its own: Alice may use the primary but not the replica
    with raises_code("AccessDeniedException"):
        regions.client(WEST, ALICE).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert regions.client(EAST, ALICE).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_the_primary_waits_for_its_replicas_to_be_deleted(regions: Regions) -> None:
    key = primary_key(regions)
    east, west = regions.client(EAST), regions.client(WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    scheduled = east.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingReplicaDeletion"
    assert "DeletionDate" not in scheduled
    described = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (described["KeyState"], described["PendingDeletionWindowInDays"]) == (
        "PendingReplicaDeletion",
        7,
    )
    assert "DeletionDate" not in described
    with raises_code("KMSInvalidStateException"):
        east.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    # cancelling works as for any key pending deletion
    east.cancel_key_deletion(KeyId=key["KeyId"])
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    east.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    replica_gone = west.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=10)
    regions.clock.advance(days=11)  # the replica's window closed a day ago
    assert regions.services[WEST].sweep().deleted == 1
    described = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion"
    assert described["MultiRegionConfiguration"]["ReplicaKeys"] == []
    # the primary's window began when its last replica was deleted
    assert described["DeletionDate"] == replica_gone["DeletionDate"] + timedelta(days=7)
    regions.clock.advance(days=7)
    regions.services[EAST].sweep()
    with raises_code("NotFoundException"):
        east.describe_key(KeyId=key["KeyId"])


def test_update_primary_region_swaps_the_roles(regions: Regions) -> None:
    key = primary_key(regions)
    east, west = regions.client(EAST), regions.client(WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)
    with raises_code("UnsupportedOperationException"):  # only the primary moves the role
        west.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=ASIA)
    with raises_code("NotFoundException"):  # no member there
        east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion="ca-central-1")
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    west_arn = f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{key['KeyId']}"
    for client in (east, west, regions.client(ASIA)):
        conf = config(client, key["KeyId"])
        assert conf["PrimaryKey"] == {"Arn": west_arn, "Region": WEST}
        assert [r["Region"] for r in conf["ReplicaKeys"]] == [ASIA, EAST]
    assert config(west, key["KeyId"])["MultiRegionKeyType"] == "PRIMARY"
    assert config(east, key["KeyId"])["MultiRegionKeyType"] == "REPLICA"
    regions.clock.advance(seconds=3)  # the update completes
    # rotation is now managed in the new primary's Region, and reaches the old primary
    with raises_code("UnsupportedOperationException"):
        east.rotate_key_on_demand(KeyId=key["KeyId"])
    west.rotate_key_on_demand(KeyId=key["KeyId"])
    # the set's on-demand rotations are counted once, whichever member is primary
    with regions.services[EAST].store.transaction(readonly=True) as tx:
        counts = {
            r: record.on_demand_rotations
            for r in (EAST, WEST, ASIA)
            if (record := tx.get_key(f"arn:aws:kms:{r}:{ACCOUNT}:key/{key['KeyId']}"))
        }
    assert counts == {EAST: 1, WEST: 1, ASIA: 1}
    blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"moved")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"moved"
    assert west.replicate_key(KeyId=key["KeyId"], ReplicaRegion="ca-central-1")


def test_both_keys_are_updating_until_the_service_completes_the_update(
    regions: Regions,
) -> None:
    key = primary_key(regions)
    east, west, asia = (regions.client(r) for r in (EAST, WEST, ASIA))
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=ASIA)
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)

    def states() -> dict[str, tuple[str, bool]]:
        described = {r: c.describe_key(KeyId=key["KeyId"])["KeyMetadata"] for r, c in clients}
        return {r: (m["KeyState"], m["Enabled"]) for r, m in described.items()}

    clients = ((EAST, east), (WEST, west), (ASIA, asia))
    updating = ("Updating", False)
    assert states() == {EAST: updating, WEST: updating, ASIA: ("Enabled", True)}
    # usable in cryptographic operations meanwhile; management waits (the key-state table)
    blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"mid-update")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"mid-update"
    west_arn = f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{key['KeyId']}"
    with raises_code("KMSInvalidStateException") as refused:
        west.disable_key(KeyId=key["KeyId"])
    assert refused.value.response["Error"]["Message"] == f"{west_arn} is updating."
    with raises_code("KMSInvalidStateException"):  # the new primary cannot be replicated yet
        west.replicate_key(KeyId=key["KeyId"], ReplicaRegion="ca-central-1")
    with raises_code("KMSInvalidStateException"):
        east.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    regions.clock.advance(seconds=2)
    assert states()[WEST] == updating  # "a few more seconds"
    regions.clock.advance(seconds=1)
    # nobody touches the keys: the sweeper completes the update, as the service's own work
    report = regions.services[EAST].sweep()
    assert sorted(report.touched) == sorted([key["Arn"], west_arn])
    enabled = ("Enabled", True)
    assert states() == {EAST: enabled, WEST: enabled, ASIA: enabled}
    done = [
        (r["principal"], r["event"], r["resources"])
        for r in regions.audited("SynchronizeMultiRegionKey")
    ]
    assert sorted(done) == sorted(
        [("AWS Internal", "AwsServiceEvent", [arn]) for arn in (key["Arn"], west_arn)]
    )
    west.disable_key(KeyId=key["KeyId"])
    west.enable_key(KeyId=key["KeyId"])
    assert west.replicate_key(KeyId=key["KeyId"], ReplicaRegion="ca-central-1")


def test_an_update_completes_on_the_first_access_after_it_is_due(regions: Regions) -> None:
    key = primary_key(regions)
    east = regions.client(EAST)
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    regions.clock.advance(seconds=3)
    described = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (described["KeyState"], described["MultiRegionConfiguration"]["MultiRegionKeyType"]) == (
        "Enabled",
        "REPLICA",
    )
    (done,) = regions.audited("SynchronizeMultiRegionKey")
    assert done["resources"] == [key["Arn"]]  # the other key completes on its own access


def test_update_primary_region_needs_both_keys_to_allow_it(regions: Regions) -> None:
    key = primary_key(regions)
    east = regions.client(EAST)
    east.replicate_key(
        KeyId=key["KeyId"],
        ReplicaRegion=WEST,
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "kms:UpdatePrimaryRegion",
                "Resource": "*",
            },
        ),
    )
    with raises_code("AccessDeniedException") as denied:
        east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    assert f"kms:{WEST}" in denied.value.response["Error"]["Message"]
    assert config(east, key["KeyId"])["MultiRegionKeyType"] == "PRIMARY"
    # kms:PrimaryRegion conditions the move on the primary's side
    regions.client(WEST).put_key_policy(
        KeyId=key["KeyId"],
        PolicyName="default",
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
        ),
    )
    east.put_key_policy(
        KeyId=key["KeyId"],
        PolicyName="default",
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "kms:UpdatePrimaryRegion",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:PrimaryRegion": WEST}},
            },
        ),
    )
    with raises_code("AccessDeniedException"):
        east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)


def test_replicating_and_synchronizing_unseal_nothing(tmp_path: Path) -> None:
    """The set shares sealed references (bound to the set, not to a Region): making a replica
    and carrying a rotation to it open no material; the replica opens it when it is used."""
    root = CountingRootKey()
    store = MemoryStore(root_key=root)
    clock = FakeClock()
    east, west = (
        KMS(store, clock, ACCOUNT, EAST).client(),
        KMS(store, clock, ACCOUNT, WEST).client(),
    )
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    before = root.unseals
    east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    east.rotate_key_on_demand(KeyId=key_id)
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    east.describe_key(KeyId=key_id)  # completes the rotation and carries it to the replica
    west.describe_key(KeyId=key_id)
    assert root.unseals == before
    west.encrypt(KeyId=key_id, Plaintext=b"x")
    assert root.unseals == before + 1


def _as_written_before_set_binding(store: Store, arn: str) -> None:
    """Rewrite the stored key as kmspolicy wrote multi-Region keys before their material was
    bound to the set: each version sealed bound to the key's own ARN, and not marked."""
    scope = arn.replace(f":{EAST}:", "::")
    with store.transaction() as tx:
        record = tx.get_key(arn)
        assert record is not None
        versions = []
        for m in record.materials:
            assert m.sealed is not None and m.bound_to_set
            opened = reveal(m.sealed)
            secret = store.root_key.unseal(opened, secret_aad(scope, MATERIAL, m.material_id))
            sealed = Sealed(store.root_key.seal(secret, secret_aad(arn, MATERIAL, m.material_id)))
            versions.append(dataclasses.replace(m, sealed=sealed, bound_to_set=False))
        tx.put_key(record.evolve(materials=tuple(versions)))


def test_replicas_of_a_primary_made_before_set_binding_open_its_older_material(
    regions: Regions,
) -> None:
    key = primary_key(regions)
    east = regions.client(EAST)
    first = east.encrypt(KeyId=key["KeyId"], Plaintext=b"first version")["CiphertextBlob"]
    east.rotate_key_on_demand(KeyId=key["KeyId"])
    regions.clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    east.describe_key(KeyId=key["KeyId"])  # the rotation completes
    store = regions.services[EAST].store
    _as_written_before_set_binding(store, key["Arn"])
    # a process started on that store: nothing opened yet
    east, west = (KMS(store, regions.clock, ACCOUNT, r).client() for r in (EAST, WEST))
    second = east.encrypt(KeyId=key["KeyId"], Plaintext=b"second version")["CiphertextBlob"]
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    # the replica opens both versions made before, and the primary (reopening) still does
    assert west.decrypt(CiphertextBlob=first)["Plaintext"] == b"first version"
    assert west.decrypt(CiphertextBlob=second)["Plaintext"] == b"second version"
    east = KMS(store, regions.clock, ACCOUNT, EAST).client()
    assert east.decrypt(CiphertextBlob=first)["Plaintext"] == b"first version"
    blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"newer")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"newer"
    with store.transaction(readonly=True) as tx:  # bound to the set, same material ids
        members = [
            tx.get_key(f"arn:aws:kms:{r}:{ACCOUNT}:key/{key['KeyId']}") for r in (EAST, WEST)
        ]
    assert all(m is not None and len(m.materials) == 2 for m in members)
    assert all(v.bound_to_set for m in members if m is not None for v in m.materials)


def test_a_refused_replicate_key_opens_no_material_of_an_older_primary() -> None:
    """Re-sealing an older primary's versions for the set comes after every check of
    ReplicateKey: a request refused by the lockout check or as a duplicate opens nothing."""
    root = CountingRootKey()
    store = MemoryStore(root_key=root)
    clock = FakeClock()
    key = KMS(store, clock, ACCOUNT, EAST).client().create_key(MultiRegion=True)["KeyMetadata"]
    _as_written_before_set_binding(store, key["Arn"])
    east = KMS(store, clock, ACCOUNT, EAST).client()  # a fresh process: nothing opened yet
    locked_out = policy(
        {"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}
    )
    before = root.unseals
    with raises_code("MalformedPolicyDocumentException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST, Policy=locked_out)
    with raises_code("AlreadyExistsException"):
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=EAST)
    assert root.unseals == before
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)
    assert root.unseals > before  # the older version is opened to be re-sealed for the set


def test_a_single_region_key_stays_bound_to_its_arn() -> None:
    """The set binding is for multi-Region keys only: a single-Region key's sealed material
    copied under another Region's ARN does not open."""
    root = CountingRootKey()
    store = MemoryStore(root_key=root)
    clock = FakeClock()
    east = KMS(store, clock, ACCOUNT, EAST)
    key = east.client().create_key()["KeyMetadata"]
    with store.transaction() as tx:
        record = tx.get_key(key["Arn"])
        assert record is not None
        tx.put_key(record.evolve(region=WEST, arn=key["Arn"].replace(EAST, WEST)))
    with raises_code("KMSInternalException"):
        KMS(store, clock, ACCOUNT, WEST).client().encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def import_material(client: Any, key_id: str, material: bytes, **extra: Any) -> dict[str, Any]:
    params = client.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    return dict(
        client.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap_oaep_sha256(params["PublicKey"], material),
            **({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"} | extra),
        )
    )


def test_imported_material_is_imported_into_each_member_and_must_be_the_same(
    regions: Regions,
) -> None:
    east, west = regions.client(EAST), regions.client(WEST)
    key_id = east.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with raises_code("KMSInvalidStateException"):  # a primary is replicated with its material
        east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    material = bytes(range(32))
    import_material(east, key_id, material)
    east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    # the replica waits for its own import; the primary's material is not copied to it
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with raises_code("IncorrectKeyMaterialException"):
        import_material(west, key_id, bytes(32))
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(west, key_id, material)
    blob = east.encrypt(KeyId=key_id, Plaintext=b"imported")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
    ],
)
def test_asymmetric_and_hmac_sets_share_their_key(regions: Regions, spec: str, usage: str) -> None:
    east, west = regions.client(EAST), regions.client(WEST)
    key_id = east.create_key(MultiRegion=True, KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    replica = east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)["ReplicaKeyMetadata"]
    assert (replica["KeySpec"], replica["KeyUsage"]) == (spec, usage)
    if usage == "SIGN_VERIFY":
        signature = east.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        assert west.verify(
            KeyId=key_id,
            Message=b"m",
            Signature=signature["Signature"],
            SigningAlgorithm="ECDSA_SHA_256",
        )["SignatureValid"]
        assert (
            east.get_public_key(KeyId=key_id)["PublicKey"]
            == (west.get_public_key(KeyId=key_id)["PublicKey"])
        )
    elif usage == "GENERATE_VERIFY_MAC":
        mac = west.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert east.verify_mac(KeyId=key_id, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")[
            "MacValid"
        ]
    else:
        out = east.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
        back = west.decapsulate(
            KeyId=key_id,
            SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
            EncapsulationAlgorithm="ML_KEM",
        )
        assert back["SharedSecret"] == out["SharedSecret"]


def test_replicas_only_in_the_regions_served() -> None:
    """A Region name outside those served would hold keys nobody can reach, each such name with
    a key quota of its own: refused, before anything is written."""
    store = MemoryStore()
    east = KMS(store, FakeClock(), ACCOUNT, EAST, regions=[EAST, WEST]).client()
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    with raises_code("UnsupportedOperationException"):
        east.replicate_key(KeyId=key_id, ReplicaRegion="xx-moon-1")
    assert east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)["ReplicaKeyMetadata"]
    with store.transaction(readonly=True) as tx:
        assert [k.region for k in tx.iter_all_keys()] == [EAST, WEST]


#: the key material an imported-material set starts on, and the one it rotates to
FIRST, SECOND = bytes(range(32)), bytes(range(32, 64))


def imported_set(regions: Regions) -> tuple[Any, Any, str]:
    """Clients of the primary's (EAST) and the replica's (WEST) Region, and the id of an
    imported-material multi-Region key whose members both hold FIRST."""
    east, west = regions.client(EAST), regions.client(WEST)
    key_id = east.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(east, key_id, FIRST)
    east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    import_material(west, key_id, FIRST)
    return east, west, key_id


def test_an_imported_material_set_rotates_once_every_replica_has_the_new_material(
    regions: Regions,
) -> None:
    east, west, key_id = imported_set(regions)
    with raises_code("IncorrectKeyMaterialException"):  # the primary first, AWS's order
        import_material(west, key_id, SECOND, ImportType="NEW_KEY_MATERIAL")
    new_id = import_material(east, key_id, SECOND, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]

    def state_of(client: Any) -> str:
        listed = client.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
        return next(
            str(r["KeyMaterialState"]) for r in listed["Rotations"] if r["KeyMaterialId"] == new_id
        )

    assert state_of(east) == "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
    with raises_code("KMSInvalidStateException"):  # a replica still lacks it
        east.rotate_key_on_demand(KeyId=key_id)
    with raises_code("IncorrectKeyMaterialException"):  # not the primary's new material
        import_material(west, key_id, bytes(range(64, 96)), ImportType="NEW_KEY_MATERIAL")
    import_material(west, key_id, SECOND, ImportType="NEW_KEY_MATERIAL")
    assert state_of(east) == "PENDING_ROTATION"
    east.rotate_key_on_demand(KeyId=key_id)
    assert state_of(east) == "PENDING_ROTATION"  # started, not done
    regions.clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    assert state_of(east) == state_of(west) == "CURRENT"  # each member its own copy
    blob = west.encrypt(KeyId=key_id, Plaintext=b"rotated")["CiphertextBlob"]
    opened = east.decrypt(CiphertextBlob=blob)
    assert (opened["Plaintext"], opened["KeyMaterialId"]) == (b"rotated", new_id)


def test_a_set_rotating_to_imported_material_cannot_be_split(regions: Regions) -> None:
    """The attack (on asynchronous on-demand rotation): start the set's rotation, then delete
    the new material from a replica, or let it expire there, before the rotation completes.
    The primary used to rotate alone and the replica stayed on the old material, so the
    primary's ciphertexts no longer decrypted in the replica's Region."""
    east, west, key_id = imported_set(regions)
    new_id = import_material(east, key_id, SECOND, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    valid_to = regions.clock.now() + timedelta(seconds=1)
    import_material(
        west,
        key_id,
        SECOND,
        ImportType="NEW_KEY_MATERIAL",
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=valid_to,
    )
    east.rotate_key_on_demand(KeyId=key_id)
    for client in (west, east):
        with raises_code("KMSInvalidStateException"):
            client.delete_imported_key_material(KeyId=key_id, KeyMaterialId=new_id)
    regions.clock.advance(seconds=1.5)  # the replica's copy is past its ValidTo
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    regions.clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds() - 1.5)
    # every member rotated; the replica's copy, past its ValidTo, expired once current
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == new_id
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(west, key_id, SECOND)
    blob = east.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"


def test_the_replicate_key_record_names_the_primary_and_the_replica(regions: Regions) -> None:
    key = primary_key(regions)
    regions.client(EAST, ALICE).replicate_key(
        KeyId=key["KeyId"], ReplicaRegion=WEST, Tags=[{"TagKey": "t", "TagValue": "r"}]
    )
    (record,) = regions.audited("ReplicateKey")
    west_arn = f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{key['KeyId']}"
    # CloudTrail records the replica as well as the primary; IAM authorized the replica's
    # creation and tagging on "*", the record names the key they made
    assert (record["principal"], record["allowed"]) == (ALICE, True)
    assert record["actions"] == ["kms:ReplicateKey", "kms:CreateKey", "kms:TagResource"]
    assert record["resources"] == [key["Arn"], west_arn, west_arn]
    assert record["context"]["kms:ReplicaRegion"] == WEST
