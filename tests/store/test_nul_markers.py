"""Review finding: on PostgreSQL a ListGrants, ListRetirableGrants or ListKeys Marker holding
NUL answered an empty page with Truncated false (the store's NUL guard assumed every lookup was
by equality; a marker is the bound of a range read), while memory and SQLite answered what
follows it. No marker issued here holds NUL: every store now refuses one as not issued."""

from __future__ import annotations

import base64

import pytest
from conftest import StoreFactory

from kmspolicy import KMS
from kmspolicy.errors import InvalidMarkerException
from kmspolicy.kms.clock import FakeClock

BOB = "arn:aws:iam::111122223333:user/bob"


def _marker(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_marker_holding_nul_is_invalid_on_every_store(store_factory: StoreFactory) -> None:
    kms = KMS(store=store_factory(), clock=FakeClock())
    arn = kms.call("CreateKey", {})["KeyMetadata"]["Arn"]
    kms.call(
        "CreateGrant",
        {
            "KeyId": arn,
            "GranteePrincipal": BOB,
            "Operations": ["Encrypt"],
            "RetiringPrincipal": BOB,
        },
    )
    for operation, params in [
        ("ListGrants", {"KeyId": arn, "Marker": _marker(b"\x00")}),
        ("ListRetirableGrants", {"RetiringPrincipal": BOB, "Marker": _marker(b"\x00 g")}),
        ("ListKeys", {"Marker": _marker(b"\x00")}),
    ]:
        with pytest.raises(InvalidMarkerException):
            kms.call(operation, params)
    # the markers the store issues still page (and none of them holds NUL)
    first = kms.call("ListKeys", {"Limit": 1})
    assert first["Truncated"] is False and len(first["Keys"]) == 1
