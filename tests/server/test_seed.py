"""``kmspolicy serve --seed FILE``: fixed key ids, aliases, policies and fixed test material, so
a ciphertext stored in a test fixture decrypts on every fresh server."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kmspolicy.errors import ConfigError
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.server.seed import seed_store
from kmspolicy.testing import serve_in_thread

KEY_ID = "11111111-2222-4333-8444-555555555555"
MATERIAL = base64.b64encode(bytes(range(32))).decode()
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}


def _seed_file(tmp_path: Path, **overrides: object) -> Path:
    key: dict[str, object] = {
        "id": KEY_ID,
        "description": "fixtures",
        "policy": "key-policy.json",
        "aliases": ["alias/fixtures"],
        "tags": {"team": "qa"},
        "material": MATERIAL,
        **overrides,
    }
    (tmp_path / "key-policy.json").write_text(json.dumps(POLICY))
    path = tmp_path / "seed.yaml"
    path.write_text(json.dumps({"keys": [key]}, indent=2))
    return path


def test_a_ciphertext_from_one_seeded_server_decrypts_on_another(tmp_path: Path) -> None:
    seed = _seed_file(tmp_path)
    with serve_in_thread(seed=seed, data_dir=tmp_path / "a") as first:
        kms = first.client()
        meta = kms.describe_key(KeyId="alias/fixtures")["KeyMetadata"]
        assert meta["KeyId"] == KEY_ID and meta["Description"] == "fixtures"
        assert meta["Arn"] == f"arn:aws:kms:us-east-1:000000000000:key/{KEY_ID}"
        blob = kms.encrypt(KeyId="alias/fixtures", Plaintext=b"stored in a fixture")[
            "CiphertextBlob"
        ]
        policy = json.loads(kms.get_key_policy(KeyId=KEY_ID, PolicyName="default")["Policy"])
        assert policy["Statement"][0]["Sid"] == "Root"
        assert kms.list_resource_tags(KeyId=KEY_ID)["Tags"] == [
            {"TagKey": "team", "TagValue": "qa"}
        ]
    # another server, another root key, another data directory: the same seed
    with serve_in_thread(seed=seed, data_dir=tmp_path / "b") as second:
        plain = second.client().decrypt(CiphertextBlob=blob)
        assert plain["Plaintext"] == b"stored in a fixture" and plain["KeyId"].endswith(KEY_ID)


def test_without_material_the_id_is_fixed_and_the_material_fresh(tmp_path: Path) -> None:
    seed = _seed_file(tmp_path, material=None)
    with serve_in_thread(seed=seed, data_dir=tmp_path / "a") as first:
        blob = first.client().encrypt(KeyId=KEY_ID, Plaintext=b"x")["CiphertextBlob"]
    with serve_in_thread(seed=seed, data_dir=tmp_path / "b") as second:
        client = second.client()
        assert client.describe_key(KeyId=KEY_ID)["KeyMetadata"]["Enabled"]
        with pytest.raises(client.exceptions.InvalidCiphertextException):
            client.decrypt(CiphertextBlob=blob)


def test_seeding_again_keeps_what_is_there(tmp_path: Path) -> None:
    seed = _seed_file(tmp_path)
    store = MemoryStore()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    args = {"account": "000000000000", "region": "us-east-1", "now": now, "rng": bytes}
    first = seed_store(seed, store, **args)  # type: ignore[arg-type]
    assert first.created and first.aliases == ("alias/fixtures",)
    again = seed_store(seed, store, **args)  # type: ignore[arg-type]
    assert again.created == () and again.kept == first.created and again.aliases == ()


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"material": base64.b64encode(b"short").decode()}, "material is 32 bytes, not 5"),
        ({"material": "not base64!"}, "material is not base64"),
        ({"key_spec": "RSA_2048", "key_usage": "ENCRYPT_DECRYPT"}, "symmetric and HMAC keys only"),
        ({"id": "not-a-uuid"}, "keys.0.id"),
        ({"aliases": ["alias/aws/s3"]}, "not an alias name you may create"),
        ({"policy": "missing.json"}, "cannot read the policy"),
        ({"key_usage": "SIGN_VERIFY"}, "does not suit SYMMETRIC_DEFAULT"),
    ],
)
def test_a_bad_seed_file_names_file_and_line(
    tmp_path: Path, override: dict[str, object], needle: str
) -> None:
    seed = _seed_file(tmp_path, **override)
    with pytest.raises(ConfigError) as info:
        seed_store(seed, MemoryStore(), account="000000000000", region="us-east-1",
                   now=datetime(2026, 1, 1, tzinfo=UTC), rng=bytes)  # fmt: skip
    assert str(info.value).startswith(f"{seed}:"), info.value
    assert needle in str(info.value)


def test_what_the_seed_creates_is_in_the_audit_log(tmp_path: Path) -> None:
    from kmspolicy.audit import open_audit_log, verify

    seed = _seed_file(tmp_path)
    log = open_audit_log(tmp_path / "audit.log")
    args = {"account": "000000000000", "region": "us-east-1", "rng": bytes, "audit": log}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    report = seed_store(seed, MemoryStore(), now=now, **args)  # type: ignore[arg-type]
    log.close()
    written = [json.loads(line) for line in (tmp_path / "audit.log").read_bytes().splitlines()]
    assert [(r["operation"], r["event"], r["principal"]) for r in written] == [
        ("CreateKey", "AwsServiceEvent", "kmspolicy serve --seed"),
        ("CreateAlias", "AwsServiceEvent", "kmspolicy serve --seed"),
    ]
    assert written[0]["resources"] == list(report.created)
    assert verify(tmp_path / "audit.log").ok
