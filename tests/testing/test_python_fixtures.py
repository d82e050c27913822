"""The plugin's fixtures as a compliance test written in Python would use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_simulate_with_files_dicts_and_dsl(simulate: Any) -> None:
    key_policy = FIXTURES / "separation-of-duties.kmsp"
    admin = "arn:aws:iam::111122223333:role/KeyAdmin"
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    decision = simulate(
        admin, "Decrypt", KEY, key_policy=key_policy, identity_policies=[everything]
    )
    assert decision.kind.value == "explicitDeny"
    assert {m.label() for m in decision.matched_statements} == {
        "Deny key administrators the use of the key"
    }
    dsl = (
        "policy version 2012-10-17\n\n"
        'allow "Rotate"\n  action kms:RotateKeyOnDemand\n  resource *\n'
    )
    assert simulate(
        admin, "kms:RotateKeyOnDemand", KEY, key_policy=key_policy, identity_policies=[dsl]
    ).allowed


def test_simulate_rejects_a_multi_policy_text(simulate: Any) -> None:
    from kmspolicy.errors import ConfigError

    two = (
        'policy "a"\n\nallow "A"\n  principal *\n  action kms:*\n  resource *\n\n'
        'policy "b"\n\nallow "B"\n  principal *\n  action kms:*\n  resource *\n'
    )
    with pytest.raises(ConfigError, match="holds 2 policies"):
        simulate("arn:aws:iam::111122223333:root", "Decrypt", key_policy=two)


def test_kms_fixture_runs_on_the_fake_clock(kms: Any, kms_clock: Any, kms_client: Any) -> None:
    key_id = kms_client.create_key()["KeyMetadata"]["KeyId"]
    created = kms_client.describe_key(KeyId=key_id)["KeyMetadata"]["CreationDate"]
    assert created == kms_clock.now()
    kms_clock.advance(days=10)
    blob = kms_client.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms_client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_kms_client_for_another_principal_is_denied_by_the_key_policy(
    kms: Any, kms_client: Any
) -> None:
    from botocore.exceptions import ClientError

    key_id = kms_client.create_key()["KeyMetadata"]["KeyId"]
    stranger = kms.client(principal="arn:aws:iam::444455556666:role/Stranger")
    with pytest.raises(ClientError) as info:
        stranger.describe_key(KeyId=f"arn:aws:kms:us-east-1:111122223333:key/{key_id}")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
