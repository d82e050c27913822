"""``KMS.preview``: the pipeline's decision on a request, without running or recording it —
the same answer as running it (grants included), and no audit record, no change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kmspolicy import KMS, Identities, Identity
from kmspolicy.audit import open_audit_log
from kmspolicy.errors import AccessDeniedException
from tests.kms.principals import ACCOUNT, ALICE, BOB, KMS_ADMIN


def _outcome(service: KMS, operation: str, principal: str, params: dict[str, Any]) -> bool:
    try:
        service.dispatch(operation, principal, params)
    except AccessDeniedException:
        return False
    return True


def test_a_preview_is_the_decision_running_it_makes_and_records_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    service = KMS(
        account=ACCOUNT,
        identities=Identities([Identity.of(ALICE, policies=[KMS_ADMIN]), Identity.of(BOB)]),
        audit=open_audit_log(log),
    )
    key = service.as_principal(ALICE).create_key()["KeyMetadata"]["Arn"]
    asks = [
        ("DescribeKey", {"KeyId": key}),
        ("CreateGrant", {"KeyId": key}),  # the grantee and operations not chosen yet
        ("DisableKey", {"KeyId": key}),
    ]
    before = log.read_text()
    bob = [service.preview(op, BOB, params) for op, params in asks]
    assert [p.allowed for p in bob] == [False, False, False]  # no policy, no grant
    assert log.read_text() == before  # previews are not requests: nothing recorded
    service.as_principal(ALICE).create_grant(
        KeyId=key, GranteePrincipal=BOB, Operations=["DescribeKey", "CreateGrant"]
    )
    bob = [service.preview(op, BOB, params) for op, params in asks]
    assert [p.allowed for p in bob] == [True, True, False]  # allowed by the grant alone
    assert bob[2].decided and "DisableKey" in bob[2].reason and bob[2].resource == key
    assert _outcome(service, "DescribeKey", BOB, {"KeyId": key})
    assert not _outcome(service, "DisableKey", BOB, {"KeyId": key})
    # a candidate key policy, as the lockout check before saving asks it
    nobody = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}
            ],
        }
    )
    put = {"KeyId": key, "PolicyName": "default"}
    assert service.preview("PutKeyPolicy", ALICE, put).allowed
    assert not service.preview("PutKeyPolicy", ALICE, put, policy=nobody).allowed
