"""Multi-Region keys over HTTP: boto3 clients of two Regions, and the AWS CLI's replicate flow,
against a real `kmspolicy serve` (its Regions share one store). In-process:
tests/kms/test_multi_region.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.server.aws_cli import aws
from tests.server.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The module's server (SQLite store), or a server of its own on a PostgreSQL store."""
    if request.param == "sqlite":
        yield request.getfixturevalue("fresh")
        return
    srv = start_server(tmp_path, "--store", request.getfixturevalue("pg_store_url"))
    try:
        yield srv
    finally:
        assert stop_server(srv) == 0
        assert "Traceback" not in srv.access_log(), srv.access_log()[-3000:]


def test_boto3_replicates_and_decrypts_across_regions(any_store: Server) -> None:
    east, west = any_store.client(region="us-east-1"), any_store.client(region="eu-west-1")
    key = east.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    out = east.replicate_key(KeyId=key["Arn"], ReplicaRegion="eu-west-1", Description="copy")
    assert out["ReplicaKeyMetadata"]["KeyState"] == "Creating"
    assert out["ReplicaKeyMetadata"]["Arn"] == key["Arn"].replace("us-east-1", "eu-west-1")
    replica = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (replica["KeyState"], replica["Description"]) == ("Enabled", "copy")
    assert replica["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == "us-east-1"
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"over http")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over http"
    east.rotate_key_on_demand(KeyId=key["KeyId"])
    rotated = west.encrypt(KeyId=key["KeyId"], Plaintext=b"rotated")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"rotated"
    with pytest.raises(ClientError) as again:
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="eu-west-1")
    assert again.value.response["Error"]["Code"] == "AlreadyExistsException"
    with pytest.raises(ClientError) as unserved:  # a Region name the server does not serve
        east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="xx-moon-1")
    assert unserved.value.response["Error"]["Code"] == "UnsupportedOperationException"
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion="eu-west-1")
    described = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    conf = described["MultiRegionConfiguration"]
    assert (conf["MultiRegionKeyType"], conf["PrimaryKey"]["Region"]) == ("REPLICA", "eu-west-1")
    # both keys are Updating for seconds after the answer (on the server's real clock), then
    # Enabled again without anyone's help
    assert described["KeyState"] == "Updating"
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Updating"
    blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"mid-update")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"mid-update"
    deadline = time.monotonic() + 30
    while west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Updating":
        assert time.monotonic() < deadline, "the update never completed"
        time.sleep(0.25)
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_aws_cli_replicate_flow(fresh: Server, tmp_path: Path) -> None:
    created = json.loads(aws(fresh, "create-key", "--multi-region", tmp=tmp_path))
    key_id = created["KeyMetadata"]["KeyId"]
    assert key_id.startswith("mrk-")
    replicated = json.loads(
        aws(
            fresh,
            "replicate-key",
            "--key-id",
            key_id,
            "--replica-region",
            "ap-southeast-2",
            "--description",
            "cli replica",
            tmp=tmp_path,
        )
    )
    assert replicated["ReplicaKeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == (
        "REPLICA"
    )
    secret = tmp_path / "plain.bin"
    secret.write_bytes(b"from the primary's Region")
    enc = json.loads(
        aws(fresh, "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{secret}", tmp=tmp_path)
    )
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = json.loads(
        aws(
            fresh,
            "decrypt",
            "--ciphertext-blob",
            f"fileb://{blob}",
            "--region",
            "ap-southeast-2",
            tmp=tmp_path,
        )
    )
    assert base64.b64decode(dec["Plaintext"]) == b"from the primary's Region"
    assert dec["KeyId"] == f"arn:aws:kms:ap-southeast-2:111111111111:key/{key_id}"
    described = json.loads(
        aws(fresh, "describe-key", "--key-id", key_id, "--region", "ap-southeast-2", tmp=tmp_path)
    )
    assert described["KeyMetadata"]["Description"] == "cli replica"
