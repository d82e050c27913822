"""Secondary authorization: a kmspolicy policy over requestMetadata decides each key request.

The proxy answers AccessDeniedException (403) on a denial and logs the deciding statement;
GetHealthStatus is never authorized. ``kmspolicy simulate --policy`` decides the same
requests the same way (docs/xks-proxy.md).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.xks.conftest import CONFIG, METADATA, Proxy, running_proxy

ALICE = "arn:aws:iam::123456789012:user/Alice"
BOB = "arn:aws:iam::123456789012:user/Bob"
RESOURCE = "arn:aws:kms-xks-proxy:us-east-1::key/foo"

POLICY = """\
policy "xks" version 2012-10-17

allow "AliceUsesFoo"
  principal aws "arn:aws:iam::123456789012:user/Alice"
  action kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey, kms:CreateKey
  resource "arn:aws:kms-xks-proxy:us-east-1::key/foo"

deny "NotThroughS3"
  principal *
  action kms:*
  resource *
  when StringEquals xks:KmsViaService "s3"

deny "OnlyFromOurVpc"
  principal *
  action kms:Decrypt
  resource *
  when StringNotEqualsIfExists aws:SourceVpc "vpc-12345678"
"""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("xks-policy")
    (directory / "xks-policy.kmsp").write_text(POLICY)
    with running_proxy(directory, CONFIG + "policy: xks-policy.kmsp\n") as proxy:
        yield proxy


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encrypt(proxy: Proxy, key: str = "foo", **metadata: str):
    return proxy.encrypt(key, plaintext=b64(b"data key"), metadata=metadata)


def test_allowed_principal(guarded: Proxy) -> None:
    assert encrypt(guarded).status == 200
    assert encrypt(guarded, kmsOperation="GenerateDataKey").status == 200
    assert guarded.metadata("foo").status == 200


@pytest.mark.parametrize(
    "change",
    [
        {"awsPrincipalArn": BOB},  # implicit deny: no statement allows Bob
        {"awsPrincipalArn": "AWS Internal"},  # a principal no statement names
        {"kmsViaService": "s3"},  # explicit deny
        {"kmsOperation": "ReEncrypt"},  # an operation the policy does not allow
    ],
)
def test_denied(guarded: Proxy, change: dict, caplog: pytest.LogCaptureFixture) -> None:
    reply = encrypt(guarded, **change)
    assert (reply.status, reply.body["errorName"]) == (403, "AccessDeniedException")


def test_other_key_is_denied_before_it_is_looked_up(guarded: Proxy) -> None:
    # authorization first: a key the policy does not allow, existing or not, is denied alike
    for key in ("encrypt_only_key", "no-such-key"):
        reply = encrypt(guarded, key)
        assert (reply.status, reply.body["errorName"]) == (403, "AccessDeniedException")


def test_source_vpc_condition(guarded: Proxy) -> None:
    out = encrypt(guarded).body
    fields = {
        "ciphertext": out["ciphertext"],
        "initializationVector": out["initializationVector"],
        "authenticationTag": out["authenticationTag"],
    }
    # IfExists: a request from no VPC at all is denied too
    assert guarded.decrypt("foo", **fields).status == 403
    inside = guarded.decrypt("foo", metadata={"awsSourceVpc": "vpc-12345678"}, **fields)
    assert inside.status == 200
    outside = guarded.decrypt("foo", metadata={"awsSourceVpc": "vpc-87654321"}, **fields)
    assert (outside.status, outside.body["errorName"]) == (403, "AccessDeniedException")


def test_health_is_never_authorized(guarded: Proxy) -> None:
    assert guarded.health().status == 200


def test_the_log_names_the_deciding_statement(
    guarded: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="kmspolicy.xks")
    encrypt(guarded, kmsViaService="s3", kmsRequestId="req-explicit")
    encrypt(guarded, awsPrincipalArn=BOB, kmsRequestId="req-implicit")
    entries = {e["kmsRequestId"]: e for e in _entries(caplog)}
    explicit = entries["req-explicit"]
    assert explicit["error"] == "AccessDeniedException"
    assert "explicitDeny by NotThroughS3" in explicit["cause"]
    assert "xks-policy.kmsp:" in explicit["cause"]
    implicit = entries["req-implicit"]
    assert implicit["cause"].startswith("implicitDeny")
    assert implicit["awsPrincipalArn"] == BOB


def _entries(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "kmspolicy.xks" and r.getMessage().startswith("{")
    ]


@pytest.mark.parametrize(
    ("principal", "action", "context", "expect"),
    [
        (ALICE, "kms:Encrypt", [], "allowed"),
        (BOB, "kms:Encrypt", [], "implicitDeny"),
        (ALICE, "kms:Encrypt", ["xks:KmsViaService=s3"], "explicitDeny"),
        (ALICE, "kms:Decrypt", ["aws:SourceVpc=vpc-87654321"], "explicitDeny"),
        (ALICE, "kms:Decrypt", ["aws:SourceVpc=vpc-12345678"], "allowed"),
    ],
)
def test_simulate_decides_as_the_proxy(
    guarded: Proxy, tmp_path: Path, principal: str, action: str, context: list, expect: str
) -> None:
    policy = tmp_path / "xks-policy.kmsp"
    policy.write_text(POLICY)
    args = [
        sys.executable,
        "-m",
        "kmspolicy",
        "simulate",
        "--policy",
        str(policy),
        "--principal",
        principal,
        "--action",
        action,
        "--resource",
        RESOURCE,
        "--format",
        "json",
    ]
    for item in context:
        args += ["--context", item]
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["results"][0]["decision"] == expect
    # and the proxy agrees
    metadata = {"awsPrincipalArn": principal, "kmsOperation": action.removeprefix("kms:")}
    for item in context:
        key, _, value = item.partition("=")
        metadata[{"xks:KmsViaService": "kmsViaService", "aws:SourceVpc": "awsSourceVpc"}[key]] = (
            value
        )
    if action == "kms:Decrypt":
        metadata.setdefault("awsSourceVpc", "vpc-12345678")
        reply = guarded.decrypt(
            "foo",
            metadata=metadata,
            ciphertext=b64(b"x"),
            initializationVector=b64(bytes(12)),
            authenticationTag=b64(bytes(16)),
        )
        denied = reply.status == 403
    else:
        denied = encrypt(guarded, **metadata).status == 403
    assert denied == (expect != "allowed")


def test_a_policy_with_a_syntax_error_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "bad.kmsp").write_text("allow\n  action\n")
    (tmp_path / "c.yaml").write_text(CONFIG + "policy: bad.kmsp\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kmspolicy",
            "xks-proxy",
            "--config",
            str(tmp_path / "c.yaml"),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "bad.kmsp:" in run.stderr and "Traceback" not in run.stderr


def test_metadata_is_logged_but_never_plaintext(
    guarded: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="kmspolicy.xks")
    secret = b"PLAINTEXT-NEVER-LOGGED"
    aad = b"AAD-NEVER-LOGGED"
    reply = guarded.encrypt(
        "foo",
        plaintext=b64(secret),
        additionalAuthenticatedData=b64(aad),
        metadata={"kmsRequestId": "req-log"},
    )
    assert reply.status == 200
    fields = {k: reply.body[k] for k in ("ciphertext", "initializationVector", "authenticationTag")}
    guarded.decrypt(
        "foo",
        additionalAuthenticatedData=b64(aad),
        metadata={"kmsRequestId": "req-log-2"},
        **fields,
    )
    text = caplog.text
    for forbidden in (
        secret,
        aad,
        b64(secret).encode(),
        b64(aad).encode(),
        fields["ciphertext"].encode(),
    ):
        assert forbidden.decode() not in text
    entry = next(e for e in _entries(caplog) if e["kmsRequestId"] == "req-log")
    assert entry["api"] == "Encrypt" and entry["keyId"] == "foo" and entry["status"] == 200
    assert entry["kmsKeyArn"] == METADATA["kmsKeyArn"] and entry["kmsViaService"] == "ebs"
    assert isinstance(entry["ms"], float)
    assert entry["decision"] == "allowed by AliceUsesFoo"


SUITE = """\
suite: xks proxy policy
policies:
  plain: xks-policy.kmsp
defaults:
  resource: arn:aws:kms-xks-proxy:us-east-1::key/foo
  principal: arn:aws:iam::123456789012:user/Alice
cases:
  - {name: alice encrypts, action: kms:Encrypt, expect: allowed, because: AliceUsesFoo}
  - {name: bob does not, principal: "arn:aws:iam::123456789012:user/Bob", action: kms:Encrypt,
     expect: implicitDeny}
  - {name: not through s3, action: kms:Encrypt, context: {xks:KmsViaService: s3},
     expect: explicitDeny, because: NotThroughS3}
  - {name: decrypt in our vpc, action: kms:Decrypt, context: {aws:SourceVpc: vpc-12345678},
     expect: allowed}
  - {name: decrypt elsewhere, action: kms:Decrypt, context: {aws:SourceVpc: vpc-1}, expect: denied}
  - {name: another key, action: kms:Encrypt, resource: "arn:aws:kms-xks-proxy:us-east-1::key/bar",
     expect: implicitDeny}
"""


def test_a_compliance_suite_targets_the_policy(tmp_path: Path) -> None:
    (tmp_path / "xks-policy.kmsp").write_text(POLICY)
    (tmp_path / "xks.kmstest.yaml").write_text(SUITE)
    run = subprocess.run(
        [sys.executable, "-m", "kmspolicy", "test", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "6 passed, 0 failed" in run.stdout


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ("  plain: p.kmsp\n  key: p.kmsp\n", "`plain` policies are decided alone; remove `key`"),
        ("  identity: {alice: p.kmsp}\n", "give the key policy (`key`) or plain policies"),
    ],
)
def test_plain_policies_are_decided_alone(tmp_path: Path, policies: str, message: str) -> None:
    (tmp_path / "p.kmsp").write_text(POLICY)
    suite = "policies:\n" + policies + "cases:\n  - {name: c, principal: '" + ALICE + "',"
    suite += " action: kms:Encrypt, expect: allowed}\n"
    (tmp_path / "s.kmstest.yaml").write_text(suite)
    run = subprocess.run(
        [sys.executable, "-m", "kmspolicy", "test", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and message in run.stdout + run.stderr
