"""A real `kmspolicy serve` process per test module, reset between tests through --dev."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

BIN = Path(sys.executable).parent
ALLOW_ALL_KMS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}

# Two accounts, so that cross-account use can be tested; see docs/identities.md.
IDENTITIES = {
    "account": "111111111111",
    "region": "us-east-1",
    "identities": [
        {
            "arn": "arn:aws:iam::111111111111:user/alice",
            "access_key_id": "AKIAALICE00000000001",
            "secret_access_key": "alice-secret",
            "policies": [ALLOW_ALL_KMS],
            "tags": {"team": "finance"},
        },
        {
            "arn": "arn:aws:iam::111111111111:user/nobody",
            "access_key_id": "AKIANOBODY0000000001",
            "secret_access_key": "nobody-secret",
        },
        {
            "arn": "arn:aws:sts::111111111111:assumed-role/app/session-1",
            "access_key_id": "ASIAAPPSESSION000001",
            "secret_access_key": "session-secret",
            "session_token": "session-token-1",
            "policies": [ALLOW_ALL_KMS],
        },
        {
            "arn": "arn:aws:iam::222222222222:user/bob",
            "access_key_id": "AKIABOB0000000000001",
            "secret_access_key": "bob-secret",
            "policies": [ALLOW_ALL_KMS],
        },
    ],
}
SECRETS = {i["access_key_id"]: i for i in IDENTITIES["identities"]}  # type: ignore[index]
ALICE, NOBODY, SESSION, BOB = (i["access_key_id"] for i in IDENTITIES["identities"])  # type: ignore[index]


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    log: Path

    def client(self, access_key: str = ALICE, region: str = "us-east-1", **kw: Any) -> Any:
        ident = SECRETS[access_key]
        return boto3.client(
            "kms",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=ident["secret_access_key"],
            aws_session_token=ident.get("session_token"),
            config=Config(retries={"max_attempts": 1}),
            **kw,
        )

    def post(
        self,
        path: str,
        data: bytes = b"",
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def reset(self) -> None:
        status, body = self.post("/_kmspolicy/reset")
        assert status == 200, body

    def operations(self) -> set[str]:
        status, body = self.post("/_kmspolicy/health", method="GET")
        assert status == 200
        return set(json.loads(body)["operations"])

    def access_log(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(tmp: Path, *extra: str, identities: dict[str, Any] | None = IDENTITIES) -> Server:
    tmp.mkdir(parents=True, exist_ok=True)
    args = [str(BIN / "kmspolicy"), "serve", "--port", "0", "--data-dir", str(tmp / "data"), *extra]
    if identities is not None:
        ids = tmp / "identities.json"
        ids.write_text(json.dumps(identities))
        args += ["--identities", str(ids)]
    log = tmp / "server.log"
    with log.open("w") as log_file:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (https?://[^ ]+)", line)
    if match is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise RuntimeError(f"server did not start: {line!r}\n{log.read_text()}")
    return Server(proc, match.group(1).replace("://0.0.0.0", "://127.0.0.1"), tmp / "data", log)


def stop_server(server: Server) -> int:
    server.proc.terminate()
    try:
        return server.proc.wait(15)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if server.proc.stdout is not None:
            server.proc.stdout.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("kmsp-server"), "--dev")
    yield srv
    assert stop_server(srv) == 0
    # every failure must have been an AWS error: no bug reached the server log
    assert "Traceback" not in srv.access_log(), srv.access_log()[-3000:]


@pytest.fixture
def fresh(server: Server) -> Server:
    """The module's server with every key, alias and grant removed."""
    server.reset()
    return server


ClientFactory = Callable[..., Any]
