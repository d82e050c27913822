"""The sealed backend's associated data is a storage format: its bytes never change."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kmspolicy.kms.backends import MATERIAL, WRAPPING_KEY, secret_aad


@given(st.text(), st.sampled_from([MATERIAL, WRAPPING_KEY]), st.text())
def test_secret_aad_is_the_json_of_the_triple(arn: str, kind: str, ref: str) -> None:
    expected = json.dumps([arn, kind, ref], separators=(",", ":")).encode()
    assert secret_aad(arn, kind, ref) == b"kmspolicy/store/v1\x00" + expected


def test_secret_aad_of_a_known_triple() -> None:
    aad = secret_aad("arn:aws:kms:us-east-1:111122223333:key/k", MATERIAL, "ab")
    assert (
        aad == b'kmspolicy/store/v1\x00["arn:aws:kms:us-east-1:111122223333:key/k","material","ab"]'
    )
