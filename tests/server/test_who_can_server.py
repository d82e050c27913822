"""``kmspolicy who-can`` against the real server: for a key created through boto3, every cell of
the matrix the CLI prints for the server's own identities file is what the server answers to
those identities' signed requests (allowed, denied, or allowed exactly when the condition holds)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import botocore.exceptions
import pytest

from kmspolicy.authz import Caller, Request
from kmspolicy.lang import read_json
from kmspolicy.reasoning.whocan import Access, callers_from_directory, who_can
from kmspolicy.server.identities import load_identities, to_directory
from tests.server.conftest import ALICE, BIN, BOB, NOBODY, SESSION, Server

pytest.importorskip("z3")

A, B = "111111111111", "222222222222"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EnableIAM",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "AppUsesPayrollData",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:role/app"},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:app": "payroll"}},
        },
        {
            "Sid": "NobodyDescribes",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:user/nobody"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
        {
            "Sid": "PartnerDecrypts",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:app": "hr"}},
        },
        {
            "Sid": "NeverWithoutContext",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}},
        },
    ],
}
ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:GetKeyPolicy")
CONTEXTS: tuple[dict[str, str], ...] = ({}, {"app": "payroll"}, {"app": "hr"})
DENIED = "AccessDeniedException"


def _call(client: Any, action: str, key: str, ctx: dict[str, str], blobs: dict[str, Any]) -> bool:
    """Whether the server authorized the request (a later non-authorization error counts as
    authorized: authorization comes before any crypto)."""
    try:
        if action == "kms:Encrypt":
            client.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=ctx)
        elif action == "kms:Decrypt":
            blob = blobs.get(ctx.get("app", ""), blobs["payroll"])
            client.decrypt(KeyId=key, CiphertextBlob=blob, EncryptionContext=ctx)
        elif action == "kms:DescribeKey":
            client.describe_key(KeyId=key)
        else:
            client.get_key_policy(KeyId=key, PolicyName="default")
    except botocore.exceptions.ClientError as exc:
        return exc.response["Error"]["Code"] != DENIED
    return True


def test_the_matrix_is_what_the_server_answers(fresh: Server) -> None:
    alice = fresh.client(ALICE)
    key = alice.create_key(Policy=json.dumps(POLICY))["KeyMetadata"]["Arn"]
    blobs = {
        app: alice.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": app})[
            "CiphertextBlob"
        ]
        for app in ("payroll", "hr")
    }
    identities = fresh.data_dir.parent / "identities.json"
    policy_file = fresh.data_dir.parent / "key.json"
    policy_file.write_text(json.dumps(POLICY))
    args = [str(BIN / "kmspolicy"), "who-can", str(policy_file), "--identities", str(identities)]
    args += ["--key-arn", key, "--format", "json"]
    for action in ACTIONS:
        args += ["--action", action]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)

    # the same matrix through the Python API, whose cells decide concrete requests
    config = load_identities(identities)
    arns = [s.arn for s in config.identities]
    callers = callers_from_directory(to_directory(config), arns, A)
    result = who_can(
        read_json(json.dumps(POLICY), key_policy=True), callers, key_arn=key, actions=list(ACTIONS)
    )
    assert [c["access"] for c in printed["cells"]] == [c.access.value for c in result.cells]

    by_arn = {s.arn: s.access_key_id for s in config.identities}
    assert set(by_arn.values()) == {ALICE, NOBODY, SESSION, BOB}
    seen = set()
    for cell in result.cells:
        assert cell.access is not Access.UNKNOWN, cell.to_dict()
        seen.add(cell.access)
        client = fresh.client(by_arn[cell.principal])
        for ctx in CONTEXTS:
            pairs = {f"kms:EncryptionContext:{k}": v for k, v in ctx.items()}
            if pairs:
                pairs["kms:EncryptionContextKeys"] = list(ctx)  # type: ignore[assignment]
            caller = Caller.from_arn(cell.principal)
            expected = cell.allows(Request(caller, cell.action, key, pairs))
            got = _call(client, cell.action, key, ctx, blobs)
            assert got == expected, (cell.to_dict(), ctx)
    assert seen == {Access.ALLOWED, Access.DENIED, Access.CONDITIONAL}
