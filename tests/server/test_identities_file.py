"""The identities file contract: fields, policy references, errors with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmspolicy.errors import ConfigError
from kmspolicy.server.identities import (
    DEV_ACCESS_KEY_ID,
    credentials,
    development_identities,
    load_identities,
    to_directory,
)

ALLOW_DECRYPT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
}

GOOD = """\
account: "111122223333"
region: us-east-1
identities:
  - arn: arn:aws:iam::111122223333:user/alice
    access_key_id: AKIAALICEEXAMPLE0001
    secret_access_key: alice-secret
    policies: [policies/alice.json]
    permissions_boundary: null
    tags: {team: finance}
  - arn: arn:aws:iam::444455556666:role/auditor
    access_key_id: ASIAAUDITOREXAMPLE01
    secret_access_key: auditor-secret
    session_token: auditor-token
    policies:
      - {"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
scps: []
accounts:
  "444455556666":
    scps: ['{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}']
"""


def write(tmp_path: Path, text: str, name: str = "ids.yaml") -> Path:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "alice.json").write_text(json.dumps(ALLOW_DECRYPT))
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    config = load_identities(write(tmp_path, GOOD))
    alice, auditor = config.identities
    assert (config.account, config.region) == ("111122223333", "us-east-1")
    assert alice.account == "111122223333" and auditor.account == "444455556666"
    assert alice.tags == {"team": "finance"}
    assert len(alice.policies) == 1 and alice.policies[0].statements[0].effect.value == "Allow"
    assert auditor.session_token == "auditor-token"
    assert set(config.accounts) == {"111122223333", "444455556666"}
    assert len(config.accounts["444455556666"].scps) == 1
    assert config.accounts["111122223333"].scps == ()


def test_loads_into_the_service_directory_and_credentials(tmp_path: Path) -> None:
    config = load_identities(write(tmp_path, GOOD))
    directory = to_directory(config)
    resolved = directory.resolve("arn:aws:iam::111122223333:user/alice")
    assert len(resolved.policies) == 1
    assert dict(resolved.caller.tags) == {"team": "finance"}
    creds = credentials(config)
    assert creds["ASIAAUDITOREXAMPLE01"].session_token == "auditor-token"
    assert creds["AKIAALICEEXAMPLE0001"].principal == "arn:aws:iam::111122223333:user/alice"


def test_json_form_is_accepted(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(GOOD)
    config = load_identities(write(tmp_path, json.dumps(doc, indent=2), "ids.json"))
    assert len(config.identities) == 2


@pytest.mark.parametrize(
    ("mutation", "line", "needle"),
    [
        (
            ("    tags: {team: finance}", "    tags: {team: finance}\n    colour: blue"),
            10,
            "unknown field",
        ),
        (("access_key_id: AKIAALICEEXAMPLE0001", "access_key_id: AKIA-ALICE"), 5, "access_key_id"),
        (("arn: arn:aws:iam::111122223333:user/alice", "arn: alice"), 4, "IAM principal ARN"),
        (('account: "111122223333"', "account: 111122223333"), 1, "account"),
        (("policies: [policies/alice.json]", "policies: [policies/missing.json]"), 7, "not found"),
        (("ASIAAUDITOREXAMPLE01", "AKIAALICEEXAMPLE0001"), 11, "already used"),
        (('"Effect": "Deny"', '"Effect": "Maybe"'), 15, "invalid policy"),
    ],
    ids=[
        "unknown-field",
        "bad-key-characters",
        "bad-arn",
        "account-not-string",
        "missing-policy",
        "duplicate-key",
        "bad-inline-policy",
    ],
)
def test_errors_name_file_and_line(
    tmp_path: Path, mutation: tuple[str, str], line: int, needle: str
) -> None:
    text = GOOD.replace(*mutation)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_identities(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert needle in message


def test_short_access_key_ids_load_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # moto's own test suite signs with FOOBARKEY, LocalStack users with `test`
    text = GOOD.replace("AKIAALICEEXAMPLE0001", "FOOBARKEY")
    path = write(tmp_path, text)
    with caplog.at_level("WARNING", logger="kmspolicy.server"):
        config = load_identities(path)
    assert "FOOBARKEY" in {spec.access_key_id for spec in config.identities}
    [record] = caplog.records
    assert record.getMessage() == (
        f"{path}:5: access key id `FOOBARKEY` is shorter than AWS's 16 characters (accepted)"
    )


def test_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ids.yaml:\d+:\d+: invalid YAML"):
        load_identities(write(tmp_path, "identities: [\n  {arn: x"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_identities(tmp_path / "nope.yaml")


def test_development_identity_is_the_account_root_with_full_rights() -> None:
    config = development_identities()
    (spec,) = config.identities
    assert spec.arn == "arn:aws:iam::000000000000:root"
    assert spec.access_key_id == DEV_ACCESS_KEY_ID
    resolved = to_directory(config).resolve(spec.arn)
    assert resolved.policies  # the root user's allow-all identity policy
    assert "secret" not in repr(spec)


def test_dsl_policies_inline_and_by_path(tmp_path: Path) -> None:
    (tmp_path / "admin.kmsp").write_text(
        Path(__file__)
        .resolve()
        .parents[2]
        .joinpath("fixtures/administrator-access.kmsp")
        .read_text()
    )
    text = """\
account: "111122223333"
identities:
  - arn: arn:aws:iam::111122223333:role/admin
    access_key_id: AKIAADMINEXAMPLE0001
    secret_access_key: admin-secret
    policies: [admin.kmsp]
    permissions_boundary: |
      policy "boundary" version 2012-10-17

      allow "OnlyKms"
        action kms:*
        resource *
"""
    config = load_identities(write(tmp_path, text))
    (admin,) = config.identities
    assert len(admin.policies) == 1
    assert admin.permissions_boundary is not None
    assert admin.permissions_boundary.statements[0].sid == "OnlyKms"


def test_a_duplicate_key_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    """Issue 12 item 10: a second ``permissions_boundary: null`` used to drop the boundary (the
    user could then CreateKey). Every duplicate key is a file:line error, in YAML and JSON."""
    boundary = json.dumps(ALLOW_DECRYPT)
    text = f"""\
account: "111122223333"
identities:
  - arn: arn:aws:iam::111122223333:user/alice
    access_key_id: AKIAALICEEXAMPLE0001
    secret_access_key: alice-secret
    permissions_boundary: '{boundary}'
    policies: [policies/alice.json]
    permissions_boundary: null
"""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}:8:5: duplicate key `permissions_boundary`"):
        load_identities(path)
    as_json = json.dumps({"account": "111122223333", "identities": []})
    as_json = as_json.replace('"identities"', '"account": "444455556666", "identities"')
    path = write(tmp_path, as_json, "ids.json")
    with pytest.raises(ConfigError, match=rf"^{path}:1:\d+: duplicate key `account`"):
        load_identities(path)


def test_regions_served_default_to_aws_and_can_be_listed(tmp_path: Path) -> None:
    config = load_identities(write(tmp_path, GOOD))
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= config.regions
    assert "moon-base-1" not in config.regions and "cn-north-1" not in config.regions
    listed = GOOD.replace("region: us-east-1\n", "region: eu-west-1\nregions: [eu-west-1, lab-1]\n")
    assert load_identities(write(tmp_path, listed)).regions == {"eu-west-1", "lab-1"}
    unlisted = GOOD.replace("region: us-east-1\n", "region: us-east-1\nregions: [eu-west-1]\n")
    path = write(tmp_path, unlisted)
    with pytest.raises(ConfigError, match=rf"^{path}:2: the default region `us-east-1` is not"):
        load_identities(path)


def test_quotas_in_the_identities_file(tmp_path: Path) -> None:
    from kmspolicy.server.identities import quotas_for

    text = GOOD + "quotas:\n  requests: false\n  requests_per_second: {CreateKey: 50}\n"
    config = load_identities(write(tmp_path, text + "  grants_per_key: 10\n"))
    assert config.quotas.requests is False
    quotas = quotas_for(config, requests=True)
    assert quotas.rate("CreateKey", "us-east-1") == 50 and quotas.grants_per_key == 10
    path = write(tmp_path, GOOD + "quotas:\n  requests_per_second: {MakeCoffee: 5}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: `MakeCoffee` is not a request quota"):
        load_identities(path)
    path = write(tmp_path, GOOD + "quotas:\n  requests_per_second: {CreateKey: 0}\n")
    with pytest.raises(ConfigError, match="positive number"):
        load_identities(path)
