"""The composition root: settings -> root key -> store -> per-region services, sweep, reset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.identities import Identities
from kmspolicy.wiring import ServiceSettings, build_runtime, describe_store_url


def test_sqlite_in_the_data_dir_with_a_private_root_key(tmp_path: Path) -> None:
    runtime = build_runtime(ServiceSettings(data_dir=tmp_path / "data"), Identities())
    try:
        assert runtime.store_description == f"sqlite://{(tmp_path / 'data' / 'kms.db').resolve()}"
        assert (tmp_path / "data" / "root.key").stat().st_mode & 0o077 == 0
        assert (tmp_path / "data" / "audit.log").exists()
    finally:
        runtime.close()


def test_services_are_regional_over_one_store(tmp_path: Path) -> None:
    runtime = build_runtime(
        ServiceSettings(data_dir=tmp_path, store_url="memory:", account="111122223333"),
        Identities(),
    )
    east, west = runtime.service("us-east-1"), runtime.service("eu-west-1")
    assert runtime.service("us-east-1") is east
    key = east.call("CreateKey")["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    assert west.call("ListKeys")["Keys"] == []
    assert [k["KeyId"] for k in east.call("ListKeys")["Keys"]] == [key["KeyId"]]
    runtime.close()


def test_sweep_deletes_keys_whose_window_ended_and_reset_empties(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = build_runtime(
        ServiceSettings(data_dir=tmp_path, store_url="memory:"), Identities(), clock=clock
    )
    kms = runtime.service()
    doomed = kms.call("CreateKey")["KeyMetadata"]["KeyId"]
    kept = kms.call("CreateKey")["KeyMetadata"]["KeyId"]
    kms.call("ScheduleKeyDeletion", {"KeyId": doomed, "PendingWindowInDays": 7})
    clock.advance(days=8)
    runtime.sweep()
    with runtime.store.transaction() as tx:
        left = [k.key_id for k in tx.iter_all_keys()]
    assert left == [kept]
    # the server's sweeper writes the service's own change into the data directory's chain
    last = json.loads((tmp_path / "audit.log").read_bytes().splitlines()[-1])
    assert (last["operation"], last["event"], last["principal"]) == (
        "DeleteKey",
        "AwsServiceEvent",
        "AWS Internal",
    )
    assert last["context"]["keyId"] == doomed
    runtime.reset()
    with runtime.store.transaction() as tx:
        assert list(tx.iter_all_keys()) == []
    runtime.close()
    # the reset's deletions are in the chain too, before they committed
    reset = json.loads((tmp_path / "audit.log").read_bytes().splitlines()[-1])
    assert (reset["operation"], reset["principal"], reset["context"]) == (
        "DeleteKey",
        "kmspolicy serve --dev (reset)",
        {"keyId": kept},
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://kms:hunter2@db:5432/kms", "postgresql://kms:***@db:5432/kms"),
        ("postgresql://db/kms", "postgresql://db/kms"),
        ("sqlite:///x/kms.db", "sqlite:///x/kms.db"),
    ],
)
def test_store_url_is_shown_without_password(url: str, shown: str) -> None:
    assert describe_store_url(url) == shown


def test_configured_hsm_clusters_keep_requests_off_the_event_loop(tmp_path: Path) -> None:
    """A CloudHSM key's crypto may reach a network HSM: with a cluster configured, the server
    runs no operation on its event loop (nothing a caller sends can stall everyone)."""
    plain = build_runtime(ServiceSettings(data_dir=tmp_path / "a"), Identities())
    clusters = {"cluster-234567abcdef": "pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=t"}
    with_hsm = build_runtime(
        ServiceSettings(data_dir=tmp_path / "b", hsm_clusters=clusters), Identities()
    )
    try:
        assert plain.in_process and plain.clusters_description == "none"
        assert not with_hsm.in_process
        assert with_hsm.clusters_description == "cluster-234567abcdef"
    finally:
        plain.close()
        with_hsm.close()
