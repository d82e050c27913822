"""The transport facts the server adds to every request reach the policy decision."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.server.conftest import Server

pytestmark = pytest.mark.server


def with_statement(server: Server, statement: dict[str, object]) -> tuple[object, str]:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    policy["Statement"].append(statement)
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
    return kms, key_id


def deny_encrypt_if(condition: dict[str, object]) -> dict[str, object]:
    return {
        "Sid": "Transport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "Condition": condition,
    }


def test_plain_http_is_not_secure_transport(fresh: Server) -> None:
    kms, key_id = with_statement(fresh, deny_encrypt_if({"Bool": {"aws:SecureTransport": "false"}}))
    with pytest.raises(ClientError) as err:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_source_ip_is_the_tcp_peer(fresh: Server) -> None:
    kms, key_id = with_statement(
        fresh, deny_encrypt_if({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    )
    with pytest.raises(ClientError):
        kms.encrypt(KeyId=key_id, Plaintext=b"x")  # type: ignore[attr-defined]
    kms2, key2 = with_statement(
        fresh, deny_encrypt_if({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    )
    assert kms2.encrypt(KeyId=key2, Plaintext=b"x")["CiphertextBlob"]  # type: ignore[attr-defined]


def test_x_forwarded_for_does_not_change_the_source_ip(fresh: Server) -> None:
    # deny unless the source is in 10.0.0.0/8: a loopback client claiming 10.1.2.3 is refused
    kms, key_id = with_statement(
        fresh, deny_encrypt_if({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    )

    def forwarded(request: object, **_: object) -> None:
        request.headers["X-Forwarded-For"] = "10.1.2.3"  # type: ignore[attr-defined]

    kms.meta.events.register("before-sign.kms.Encrypt", forwarded)  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as err:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_current_time_comes_from_the_server_clock(fresh: Server) -> None:
    kms, key_id = with_statement(
        fresh, deny_encrypt_if({"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}})
    )
    with pytest.raises(ClientError):
        kms.encrypt(KeyId=key_id, Plaintext=b"x")  # type: ignore[attr-defined]


def test_requested_region(fresh: Server) -> None:
    kms, key_id = with_statement(
        fresh, deny_encrypt_if({"StringEquals": {"aws:RequestedRegion": "us-east-1"}})
    )
    with pytest.raises(ClientError):
        kms.encrypt(KeyId=key_id, Plaintext=b"x")  # type: ignore[attr-defined]
