"""``policy_reads_time``: which policies make a decision depend on the clock."""

from __future__ import annotations

import json

import pytest

from kmspolicy.authz.clock_keys import policy_reads_time
from kmspolicy.lang import read_json


def _policy(statement: dict[str, object]) -> str:
    base = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [{**base, **statement}]})


@pytest.mark.parametrize(
    ("statement", "reads"),
    [
        ({}, False),
        ({"Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}}, False),
        ({"Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}, True),
        ({"Condition": {"NumericLessThan": {"AWS:EPOCHTIME": "1900000000"}}}, True),
        ({"Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "300"}}}, True),
        ({"Condition": {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01"}}}, True),
        ({"Condition": {"StringEquals": {"kms:EncryptionContext:t": "${aws:CurrentTime}"}}}, True),
        ({"Resource": "arn:aws:kms:*:*:key/${aws:EpochTime}"}, True),
    ],
    ids=[
        "no-condition",
        "other-key",
        "current-time",
        "epoch-time-any-case",
        "mfa-age",
        "token-issue-time",
        "policy-variable",
        "resource-variable",
    ],
)
def test_policy_reads_time(statement: dict[str, object], reads: bool) -> None:
    assert policy_reads_time(read_json(_policy(statement))) is reads
