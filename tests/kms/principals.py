"""Principals and policies shared by the KMS service tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"  # IAM admin of KMS in her account
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"  # no identity policies at all
MALLORY = f"arn:aws:iam::{OTHER_ACCOUNT}:user/mallory"  # another account, full IAM rights


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


KMS_ADMIN = policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})


@contextmanager
def raises_code(code: str) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """Expect a ClientError with AWS error code ``code`` (e.g. AccessDeniedException, which
    is not a modeled exception class in botocore, so ``client.exceptions`` lacks it)."""
    with pytest.raises(ClientError) as info:
        yield info
    assert info.value.response["Error"]["Code"] == code, info.value.response["Error"]
