"""Grants to AWS service principals (issue 14 §3): GranteeServicePrincipal with its SourceArn
constraint, RetiringServicePrincipal, and the ListGrants / ListRetirableGrants filters.

A service calls on behalf of a resource, so its requests carry ``aws:SourceArn``; here
``service.dispatch(..., context=...)`` plays the service.
"""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, Identity
from kmspolicy.errors import AccessDeniedException
from tests.kms.principals import BOB, ROOT, policy, raises_code

LOGS = "logs.amazonaws.com"
GROUP = "arn:aws:logs:us-east-1:111122223333:log-group:app"
LIST_RETIRABLE = policy({"Effect": "Allow", "Action": "kms:ListRetirableGrants", "Resource": "*"})
OTHER_GROUP = "arn:aws:logs:us-east-1:111122223333:log-group:other"


def _service_grant(client: Any, key_id: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "KeyId": key_id,
        "GranteeServicePrincipal": LOGS,
        "RetiringServicePrincipal": LOGS,
        "Operations": ["Encrypt", "Decrypt", "GenerateDataKey"],
        "Constraints": {"SourceArn": GROUP},
    }
    params.update(extra)
    return client.create_grant(**{k: v for k, v in params.items() if v is not None})  # type: ignore[no-any-return]


def _as_logs(service: KMS, operation: str, params: dict[str, Any], source: str | None) -> Any:
    context = {"aws:SourceArn": source} if source is not None else None
    return service.dispatch(operation, LOGS, params, context=context)


def test_a_service_grant_is_created_listed_and_used_on_behalf_of_its_resource(
    service: KMS, client: Any, key_id: str
) -> None:
    grant = _service_grant(client, key_id)
    (entry,) = client.list_grants(KeyId=key_id)["Grants"]
    assert entry["GrantId"] == grant["GrantId"]
    assert entry["GranteeServicePrincipal"] == LOGS
    assert entry["RetiringServicePrincipal"] == LOGS and "RetiringPrincipal" not in entry
    assert entry["Constraints"] == {"SourceArn": GROUP}
    blob = _as_logs(service, "Encrypt", {"KeyId": key_id, "Plaintext": b"p"}, GROUP)
    out = _as_logs(service, "Decrypt", {"CiphertextBlob": blob["CiphertextBlob"]}, GROUP)
    assert out["Plaintext"] == b"p"


@pytest.mark.parametrize("source", [None, OTHER_GROUP])
def test_the_source_arn_constraint_binds_the_grant_to_its_resource(
    service: KMS, client: Any, key_id: str, source: str | None
) -> None:
    _service_grant(client, key_id)
    with pytest.raises(AccessDeniedException):
        _as_logs(service, "Encrypt", {"KeyId": key_id, "Plaintext": b"p"}, source)


def test_a_service_grant_does_not_reach_a_user_or_another_service(
    service: KMS, client: Any, key_id: str
) -> None:
    _service_grant(client, key_id)
    with raises_code("AccessDeniedException"):
        service.client(BOB).encrypt(KeyId=key_id, Plaintext=b"p")
    with pytest.raises(AccessDeniedException):
        service.dispatch(
            "Encrypt",
            "s3.amazonaws.com",
            {"KeyId": key_id, "Plaintext": b"p"},
            context={"aws:SourceArn": GROUP},
        )


def test_the_retiring_service_principal_retires_and_lists_its_grants(
    service: KMS, client: Any, key_id: str
) -> None:
    # ListRetirableGrants is authorized on "*" by identity policies: give the service one
    service.identities.add(Identity.of(LOGS, policies=[LIST_RETIRABLE]))
    grant = _service_grant(client, key_id)
    listed = _as_logs(service, "ListRetirableGrants", {"RetiringServicePrincipal": LOGS}, None)
    assert [g["GrantId"] for g in listed["Grants"]] == [grant["GrantId"]]
    _as_logs(service, "RetireGrant", {"KeyId": key_id, "GrantId": grant["GrantId"]}, None)
    assert client.list_grants(KeyId=key_id)["Grants"] == []


def test_only_that_service_may_list_the_grants_it_can_retire(
    service: KMS, client: Any, key_id: str
) -> None:
    _service_grant(client, key_id)
    with raises_code("AccessDeniedException"):
        client.list_retirable_grants(RetiringServicePrincipal=LOGS)
    with pytest.raises(AccessDeniedException):
        service.dispatch(
            "ListRetirableGrants", "s3.amazonaws.com", {"RetiringServicePrincipal": LOGS}
        )


def test_a_user_may_retire_a_service_grant_it_is_the_retiring_principal_of(
    service: KMS, client: Any, key_id: str
) -> None:
    grant = _service_grant(client, key_id, RetiringServicePrincipal=None, RetiringPrincipal=BOB)
    (entry,) = client.list_grants(KeyId=key_id)["Grants"]
    assert entry["RetiringPrincipal"] == BOB and "RetiringServicePrincipal" not in entry
    service.client(BOB).retire_grant(KeyId=key_id, GrantId=grant["GrantId"])
    assert client.list_grants(KeyId=key_id)["Grants"] == []


def test_list_grants_filters_by_grantee_service_principal(
    service: KMS, client: Any, key_id: str
) -> None:
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    client.put_key_policy(
        KeyId=key_id,
        PolicyName="default",
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Principal": {"Service": LOGS},
                "Action": "kms:ListGrants",
                "Resource": "*",
            },
        ),
    )
    service_grant = _service_grant(client, key_id)
    client.create_grant(KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"])
    assert len(client.list_grants(KeyId=key_id)["Grants"]) == 2
    listed = service.dispatch("ListGrants", LOGS, {"KeyId": arn, "GranteeServicePrincipal": LOGS})
    assert [g["GrantId"] for g in listed["Grants"]] == [service_grant["GrantId"]]
    # AWS: "This filter is only usable by callers in a service principal"; not both filters
    with raises_code("ValidationException"):
        client.list_grants(KeyId=key_id, GranteeServicePrincipal=LOGS)
    with raises_code("ValidationException"):
        client.list_grants(KeyId=key_id, GranteePrincipal=BOB, GranteeServicePrincipal=LOGS)


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"Constraints": None}, "SourceArn"),
        ({"RetiringServicePrincipal": None}, "RetiringPrincipal or a RetiringServicePrincipal"),
        ({"RetiringPrincipal": BOB}, "but not both"),
        ({"GranteePrincipal": BOB}, "but not both"),
        ({"GranteeServicePrincipal": "not a service"}, "failed to satisfy constraint"),
    ],
)
def test_create_grant_refuses_what_aws_refuses(
    client: Any, key_id: str, extra: dict[str, Any], why: str
) -> None:
    params = {
        "KeyId": key_id,
        "GranteeServicePrincipal": LOGS,
        "RetiringServicePrincipal": LOGS,
        "Operations": ["Encrypt"],
        "Constraints": {"SourceArn": GROUP},
    }
    params.update(extra)
    with raises_code("ValidationException") as info:
        client.create_grant(**{k: v for k, v in params.items() if v is not None})
    assert why in info.value.response["Error"]["Message"]
    assert client.list_grants(KeyId=key_id)["Grants"] == []
