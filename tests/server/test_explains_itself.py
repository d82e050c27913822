"""A server that explains itself (issue 15 §3): the paste-ready banner, the log's causes for
authentication failures, emulators' access keys, configuration by environment, JSON logs, the
health endpoint, and the in-thread server behind the ``kms_endpoint`` fixture."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from kmspolicy.server.health import health_check
from kmspolicy.server.identities import development_identities, parse_identities
from kmspolicy.server.main import banner
from kmspolicy.testing import serve_in_thread
from kmspolicy.wiring import ServiceSettings, build_runtime
from tests.server.conftest import BIN, stop_server

pytestmark = pytest.mark.server

NO_RETRY = Config(retries={"max_attempts": 1})


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMSPOLICY_"))}
    env.update(extra)
    return env


def _start(
    args: list[str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[str], list[str]]:
    with log.open("w") as err:
        proc = subprocess.Popen(
            [str(BIN / "kmspolicy"), "serve", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(2)]
    if "listening on" not in lines[0]:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{lines!r}\n{log.read_text()}")
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> None:
    from tests.server.conftest import Server

    assert stop_server(Server(proc, "", Path(), Path())) == 0


# --- the banner ---------------------------------------------------------------------------


def test_banner_exports_are_ready_to_paste_into_a_shell(tmp_path: Path) -> None:
    """The printed export line, pasted into a shell with no AWS configuration at all, is
    enough for the AWS CLI's first `create-key` (it needs the region)."""
    env = _clean_env(HOME=str(tmp_path), KMSPOLICY_PORT="0", KMSPOLICY_DATA_DIR=str(tmp_path / "d"))
    proc, lines = _start([], env, tmp_path / "log")
    try:
        export = lines[1].strip()
        assert export.startswith("export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:")
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION=us-east-1",
            "AWS_DEFAULT_REGION=us-east-1",
        ):
            assert f" {name}" in export
        aws = shutil.which("aws", path=str(BIN)) or str(BIN / "aws")
        script = f"{export}\n{aws} kms create-key --description pasted --output json"
        done = subprocess.run(
            ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["KeyMetadata"]["Description"] == "pasted"
    finally:
        _stop(proc)


def test_banner_never_prints_an_identities_files_secrets() -> None:
    config = parse_identities(
        "account: '111122223333'\nregion: eu-west-1\nidentities:\n"
        "  - arn: arn:aws:iam::111122223333:user/alice\n"
        "    access_key_id: AKIAALICEEXAMPLE0001\n    secret_access_key: very-secret\n",
        source="ids.yaml",
        base=Path("."),
    )
    text = banner(config, "https://kms.internal:4599")
    assert "very-secret" not in text and "AKIAALICEEXAMPLE0001" not in text
    assert text == (
        "export AWS_ENDPOINT_URL_KMS=https://kms.internal:4599 AWS_REGION=eu-west-1 "
        "AWS_DEFAULT_REGION=eu-west-1  # with an access key of ids.yaml"
    )
    dev = banner(development_identities(), "http://127.0.0.1:4599")
    assert " AWS_ACCESS_KEY_ID=AKIAKMSPOLICYLOCAL01 " in dev
    assert dev.endswith(
        "# development identity arn:aws:iam::000000000000:root (docs/identities.md)"
    )


# --- authentication failures: AWS's answer on the wire, the cause in the log --------------


def _signed_with(url: str, key: str, secret: str, token: str | None = None) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=NO_RETRY,
    )


def test_auth_failures_log_their_cause_and_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        serve_in_thread(data_dir=tmp_path) as endpoint,
        caplog.at_level("WARNING", logger="kmspolicy.auth"),
    ):
        cases = [
            (
                _signed_with(endpoint.url, "AKIAUNKNOWN000000001", "s3cr3t-unknown"),
                "UnrecognizedClientException",
                "unknown access key id 'AKIAUNKNOWN000000001'",
            ),
            (
                _signed_with(endpoint.url, endpoint.access_key_id or "", "s3cr3t-wrong"),
                "InvalidSignatureException",
                "signature mismatch for access key id",
            ),
            (
                _signed_with(
                    endpoint.url,
                    endpoint.access_key_id or "",
                    endpoint.secret_access_key or "",
                    token="s3cr3t-token",
                ),
                "UnrecognizedClientException",
                "a session token was sent",
            ),
        ]
        for client, code, cause in cases:
            with pytest.raises(client.exceptions.ClientError) as info:
                client.list_keys()
            assert info.value.response["Error"]["Code"] == code
            assert cause not in str(info.value)  # the wire answer stays AWS's
            assert any(cause in r.getMessage() for r in caplog.records), cause
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"canonical request SHA-256 here: [0-9a-f]{64}", logged)
    assert "s3cr3t" not in logged and (endpoint.secret_access_key or "?") not in logged


def test_clock_skew_and_wrong_service_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime, timedelta

    from kmspolicy.errors import InvalidSignatureException
    from kmspolicy.server.sigv4 import Credential, Verifier

    verifier = Verifier({"AKIAKEY0000000000001": Credential("AKIAKEY0000000000001", "s", "p")}.get)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    signed = now + timedelta(seconds=420)

    def headers(service: str, at: datetime) -> dict[str, str]:
        stamp = at.strftime("%Y%m%dT%H%M%SZ")
        return {
            "host": "h",
            "x-amz-date": stamp,
            "authorization": "AWS4-HMAC-SHA256 Credential=AKIAKEY0000000000001/"
            f"{stamp[:8]}/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, "
            "Signature=" + "0" * 64,
        }

    with pytest.raises(InvalidSignatureException) as skew:
        verifier.verify("POST", "/", "", headers("kms", signed), b"", now)
    assert skew.value.cause is not None and "clock skew of +420 s" in skew.value.cause
    with pytest.raises(InvalidSignatureException) as service:
        verifier.verify("POST", "/", "", headers("s3", now), b"", now)
    assert service.value.cause == "the credential scope names service 's3', not 'kms'"


# --- emulators' keys ----------------------------------------------------------------------


@pytest.mark.parametrize(("key", "secret"), [("test", "test"), ("FOOBARKEY", "FOOBARSECRET")])
def test_localstack_and_moto_keys_sign_in_as_the_development_identity(
    kms_endpoint: Any, key: str, secret: str
) -> None:
    client = _signed_with(kms_endpoint.url, key, secret)
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"] == "000000000000"
    with pytest.raises(client.exceptions.ClientError):
        _signed_with(kms_endpoint.url, key, secret + "x").list_keys()


# --- environment configuration, JSON logs, log level --------------------------------------


def test_environment_configures_serve_and_json_logs(tmp_path: Path) -> None:
    env = _clean_env(
        KMSPOLICY_PORT="0",
        KMSPOLICY_DATA_DIR=str(tmp_path / "from-env"),
        KMSPOLICY_LOG_FORMAT="json",
    )
    log = tmp_path / "log"
    proc, lines = _start([], env, log)
    try:
        assert f"sqlite://{(tmp_path / 'from-env' / 'kms.db').resolve()}" in lines[0]
        url = re.search(r"listening on (\S+)", lines[0]).group(1)  # type: ignore[union-attr]
        _signed_with(url, "test", "test").list_keys()
        wrong = _signed_with(url, "test", "wrong")
        with pytest.raises(wrong.exceptions.ClientError):
            wrong.list_aliases()
    finally:
        _stop(proc)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert {"time", "logger", "level", "message"} <= set(entries[0])
    access = [e for e in entries if e["logger"] == "kmspolicy.access"]
    assert any(" ListKeys " in e["message"] for e in access)
    assert any(
        e["logger"] == "kmspolicy.auth" and "signature mismatch" in e["message"] for e in entries
    )


def test_a_flag_wins_over_the_environment_and_log_level_filters(tmp_path: Path) -> None:
    env = _clean_env(KMSPOLICY_PORT="1", KMSPOLICY_LOG_LEVEL="warning")
    log = tmp_path / "log"
    proc, lines = _start(["--port", "0", "--data-dir", str(tmp_path / "d")], env, log)
    try:
        url = re.search(r"listening on (\S+)", lines[0]).group(1)  # type: ignore[union-attr]
        assert not url.endswith(":1")
        _signed_with(url, "test", "test").list_keys()
    finally:
        _stop(proc)
    assert "kmspolicy.access" not in log.read_text()  # INFO lines are below WARNING


# --- health ----------------------------------------------------------------------------------


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _sigv4_headers(endpoint: Any, url: str, secret: str | None = None) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(endpoint.access_key_id, secret or endpoint.secret_access_key)
    SigV4Auth(credentials, "kms", endpoint.region).add_auth(request)
    return dict(request.prepare().headers)


def test_health_reports_version_store_root_key_and_audit_log(tmp_path: Path) -> None:
    import kmspolicy

    with serve_in_thread(store_url=f"sqlite:///{tmp_path}/kms.db", data_dir=tmp_path) as endpoint:
        url = endpoint.url + "/_kmspolicy/health"
        status, report = _get(url, _sigv4_headers(endpoint, url))
    assert status == 200 and report["ready"] is True and report["status"] == "ok"
    assert report["version"] == kmspolicy.__version__
    checks = report["checks"]
    assert checks["store"]["ok"] and checks["store"]["store"].startswith("sqlite://")
    assert checks["root_key"]["ok"] and "root.key" in checks["root_key"]["root_key"]
    assert checks["audit"]["ok"] and checks["audit"]["audit_log"] == str(tmp_path / "audit.log")
    assert "Encrypt" in report["operations"]


def test_health_shows_no_path_or_store_to_a_caller_who_did_not_sign(tmp_path: Path) -> None:
    """The endpoint answers anyone (load balancers do not sign), so unsigned or badly signed it
    says only whether each check passed: no data directory, store URL or error text."""
    with serve_in_thread(store_url=f"sqlite:///{tmp_path}/kms.db", data_dir=tmp_path) as endpoint:
        url = endpoint.url + "/_kmspolicy/health"
        answers = [_get(url), _get(url, _sigv4_headers(endpoint, url, secret="wrong" * 8))]
    for status, report in answers:
        assert status == 200 and report["ready"] is True
        assert report["checks"] == {name: {"ok": True} for name in ("store", "root_key", "audit")}
        assert str(tmp_path) not in json.dumps(report) and "sqlite" not in json.dumps(report)


def test_health_is_503_when_the_store_does_not_answer(tmp_path: Path) -> None:
    from kmspolicy.kms.identities import Identities

    runtime = build_runtime(ServiceSettings(data_dir=tmp_path, store_url="memory:"), Identities([]))
    try:
        check = health_check(runtime)
        assert check()[0] is True

        class Unreachable:  # a PostgreSQL that went away
            def transaction(self, **_: Any) -> Any:
                raise OSError("connection refused")

        store, runtime.store = runtime.store, Unreachable()  # type: ignore[assignment]
        ready, report = check()
        assert ready is False and report["status"] == "unavailable"
        assert report["checks"]["store"] == {
            "ok": False,
            "error": "OSError: connection refused",
            "ms": report["checks"]["store"]["ms"],
        }
        runtime.store = store
    finally:
        runtime.close()


def test_the_app_answers_503_when_not_ready() -> None:
    from tests.server.asgi import make_app, run

    app, _ = make_app(health=lambda: (False, {"status": "unavailable", "ready": False}))
    status, reply = run(app, [], method="GET", path="/_kmspolicy/health")
    assert status == 503 and reply["ready"] is False


# --- the in-thread server and its fixture ---------------------------------------------------


def test_kms_endpoint_serves_a_client_process(kms_endpoint: Any, tmp_path: Path) -> None:
    """A client that is not this Python process: the AWS CLI, with only the endpoint's env."""
    env = _clean_env(HOME=str(tmp_path), **kms_endpoint.env())
    done = subprocess.run(
        [str(BIN / "aws"), "kms", "create-key", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    key_id = json.loads(done.stdout)["KeyMetadata"]["KeyId"]
    assert kms_endpoint.client().describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"]


def test_serve_in_thread_stops_when_the_block_ends() -> None:
    with serve_in_thread() as endpoint:
        endpoint.client(config=NO_RETRY).list_keys()
        url = endpoint.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/_kmspolicy/health", timeout=2)
