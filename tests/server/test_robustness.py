"""Malformed requests and start-up files: an AWS error name (server) or a clear message with
exit 2 (``kmspolicy serve``), never a traceback, never a 500. Each test is a regression."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmspolicy.cli import main
from kmspolicy.errors import ConfigError, SerializationException
from kmspolicy.kms import wire
from kmspolicy.server.identities import load_identities
from tests.server.conftest import ALICE, Server, start_server, stop_server

pytestmark = pytest.mark.server

DEEP = 20_000  # far past the C JSON decoder's recursion limit; the body is ~40 KB


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("kmsp-robust"), "--request-timeout", "1")
    yield srv
    assert stop_server(srv) == 0
    assert "Traceback" not in srv.access_log(), srv.access_log()[-3000:]


def signed_post(
    server: Server, target: str, body: bytes, path: str = "/"
) -> tuple[int, dict[str, object]]:
    request = AWSRequest(
        method="POST",
        url=server.url + path,
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
    )
    secret = "alice-secret"  # conftest.IDENTITIES
    SigV4Auth(Credentials(ALICE, secret), "kms", "us-east-1").add_auth(request)
    status, payload = server.post(path, body, dict(request.headers.items()))
    return status, json.loads(payload)


def serve(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "0", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    code = info.value.code
    return (code if isinstance(code, int) else 0), err


# --- 1. bodies nested deeper than the JSON decoder recurses


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("ListKeys", b'{"Limit": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
        (
            "Encrypt",
            b'{"KeyId": "alias/a", "Plaintext": "aGk=", "EncryptionContext": '
            + b'{"a": ' * DEEP
            + b"1"
            + b"}" * DEEP
            + b"}",
        ),
    ],
)
def test_deeply_nested_body_is_serialization_exception(
    slow_server: Server, operation: str, body: bytes
) -> None:
    with pytest.raises(SerializationException):
        wire.decode_request(operation, body)
    status, reply = signed_post(slow_server, f"TrentService.{operation}", body)
    assert (status, reply["__type"]) == (400, "SerializationException")


# --- 4. a path other than /


def test_wrong_path_is_unknown_operation_404_naming_the_path(slow_server: Server) -> None:
    status, reply = signed_post(slow_server, "TrentService.ListKeys", b"{}", path="/other")
    assert (status, reply["__type"]) == (404, "UnknownOperationException")
    assert "`/other`" in str(reply["message"]) and "ListKeys" not in str(reply["message"])


# --- 5. slow clients: the request must arrive within --request-timeout


def _raw(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_body_shorter_than_content_length_is_closed_with_408(slow_server: Server) -> None:
    with _raw(slow_server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
            b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 1000\r\n\r\n{}"
        )
        answer = _read_all(sock)  # ends when the server closes the connection
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"__type":"RequestTimeoutException"' in answer
    assert elapsed < 8  # the 1 s deadline, not the client's 10 s socket timeout


def test_headers_that_never_end_and_silent_connections_are_closed(slow_server: Server) -> None:
    with _raw(slow_server) as trickle, _raw(slow_server) as silent:
        trickle.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # no blank line: head never ends
        assert _read_all(trickle).startswith(b"HTTP/1.1 408 ")
        assert _read_all(silent).startswith(b"HTTP/1.1 408 ")
    # the server still answers everyone else
    status, _ = signed_post(slow_server, "TrentService.ListKeys", b"{}")
    assert status == 200


def test_keep_alive_requests_each_get_a_fresh_deadline(slow_server: Server) -> None:
    kms = slow_server.client()
    kms.list_keys()
    time.sleep(1.5)  # longer than the deadline, idle between requests (keep-alive 75 s)
    assert kms.list_keys()["Keys"] == []
    kms.close()


# --- 2. identities files


def test_binary_identities_file(tmp_path: Path) -> None:
    path = tmp_path / "ids.yaml"
    path.write_bytes(b'account: "111122223333"\nidentities:\n  - arn: \xe9\xff\n')
    with pytest.raises(ConfigError, match=rf"{path}:3: the identities file is not UTF-8"):
        load_identities(path)


def test_impossible_yaml_date_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ids.yaml"
    path.write_text('account: "111122223333"\nidentities:\n  - created: 2026-02-30\n')
    with pytest.raises(ConfigError, match=rf"{path}:3:\d+: invalid value `2026-02-30`"):
        load_identities(path)


def test_deeply_nested_identities_file(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_identities(path)


def test_policy_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "somedir").mkdir()
    path = tmp_path / "ids.yaml"
    path.write_text(
        'account: "111122223333"\nidentities:\n'
        "  - arn: arn:aws:iam::111122223333:user/a\n"
        "    access_key_id: AKIAAAAAAAAAAAAAAAA1\n"
        "    secret_access_key: s\n"
        "    policies: [somedir]\n"
    )
    with pytest.raises(ConfigError, match=r"ids.yaml:6: policy path `somedir` is a directory"):
        load_identities(path)


def test_serve_with_a_binary_identities_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ids.bin"
    path.write_bytes(bytes(range(256)))
    code, err = serve(
        capsys, tmp_path, "--data-dir", str(tmp_path / "d"), "--identities", str(path)
    )
    assert code == 2 and "is not UTF-8" in err


# --- 3. stores that cannot be opened


def test_serve_on_a_file_that_is_not_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\x01not sqlite at all" * 300)
    code, err = serve(
        capsys, tmp_path, "--data-dir", str(tmp_path / "d"), "--store", f"sqlite://{junk}"
    )
    assert code == 2 and f"not a kmspolicy database: `{junk}`" in err


def test_serve_on_another_applications_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    code, err = serve(
        capsys, tmp_path, "--data-dir", str(tmp_path / "d"), "--store", f"sqlite://{other}"
    )
    assert code == 2 and "not a kmspolicy database" in err and "customers" in err
    with sqlite3.connect(other) as conn:  # left untouched: no kmspolicy tables added
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"customers"}


def test_serve_with_postgresql_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test?connect_timeout=2"
    code, err = serve(capsys, tmp_path, "--data-dir", str(tmp_path / "d"), "--store", url)
    assert code == 2 and "unreachable" in err


# --- 6. data directories that cannot hold the root key


@pytest.mark.parametrize("data_dir", ["/proc", "/sys/kernel"])
def test_serve_with_an_unusable_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_dir: str
) -> None:
    if not Path(data_dir).is_dir():
        pytest.skip(f"{data_dir} does not exist here")
    code, err = serve(capsys, tmp_path, "--data-dir", data_dir)
    assert code == 2 and f"cannot create the root-key file `{data_dir}/root.key`" in err


def test_serve_with_a_store_in_an_unusable_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = serve(
        capsys, tmp_path, "--data-dir", str(tmp_path / "d"), "--store", "sqlite:///proc/kms.db"
    )
    assert code == 2 and "cannot create the SQLite store" in err


# --- 7. TLS files that are not a certificate and key


def test_serve_with_binary_tls_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(bytes(range(256)) * 4)
    code, err = serve(
        capsys,
        tmp_path,
        "--data-dir",
        str(tmp_path / "d"),
        "--tls-cert",
        str(junk),
        "--tls-key",
        str(junk),
    )
    assert code == 2 and "cannot load TLS certificate/key" in err


# --- the audit log in the data directory, read back by `audit verify` and by the server


def test_audit_verify_of_a_deeply_nested_line_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.log"
    log.write_text("[" * DEEP + "]" * DEEP + "\n")
    with pytest.raises(SystemExit):
        main(["audit", "verify", str(log)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "BROKEN (1 problem)" in out + err
