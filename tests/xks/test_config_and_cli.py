"""The configuration file (errors with file:line), key persistence, and the real CLI process."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from kmspolicy.errors import ConfigError
from kmspolicy.xks.config import load_config
from kmspolicy.xks.keys import sealed_path
from tests.xks.conftest import CONFIG, running_proxy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xks.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONFIG.replace("BETWEEN2TENAND3TENCHARACTERS", "short"), ":4: credentials[0]"),
        (CONFIG.replace("PleaseReplaceThisWithSomeSecretOfLength43To64", "tiny"), "43 to 64"),
        (CONFIG.replace("  - id: impotent_key", "  - id: foo"), "listed twice"),
        (CONFIG.replace("  - id: impotent_key", "  - id: bad/id"), "external key id"),
        (CONFIG.replace("[encrypt]", "[sign]"), "keys[1].operations"),
        (CONFIG + "colour: blue\n", "unknown field"),
        (CONFIG.replace("data_dir: ./xks-data\n", ""), "give `data_dir`"),
        (CONFIG.replace("example/uri/path/prefix", "bad prefix!"), "uri_prefix may hold"),
        (CONFIG.replace("example/uri/path/prefix", "p" * 120), "longer than 128"),
        (CONFIG + "policy: missing.kmsp\n", "cannot read the policy"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert "PleaseReplaceThis" not in str(info.value)  # secrets are never quoted


def test_secrets_stay_out_of_the_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG))
    assert "PleaseReplaceThis" not in repr(config)
    assert config.base_path == "/example/uri/path/prefix/kms/xks/v1"


def test_keys_persist_across_restarts_and_are_sealed(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as first:
        out = first.encrypt("foo", plaintext=base64.b64encode(b"kept").decode()).body
    path = sealed_path(tmp_path / "xks-data", "foo")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with running_proxy(tmp_path) as second:
        fields = {k: out[k] for k in ("ciphertext", "initializationVector", "authenticationTag")}
        reply = second.decrypt("foo", **fields)
        assert base64.b64decode(reply.body["plaintext"]) == b"kept"


def test_a_sealed_key_file_moved_to_another_key_does_not_open(tmp_path: Path) -> None:
    with running_proxy(tmp_path):
        pass
    data = tmp_path / "xks-data"
    sealed_path(data, "encrypt_only_key").write_bytes(sealed_path(data, "foo").read_bytes())
    with pytest.raises(ConfigError, match="does not open"), running_proxy(tmp_path):
        pass


def test_cli_serves_and_stops_cleanly(tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmspolicy", "xks-proxy", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("kmspolicy xks-proxy: listening on http://127.0.0.1:"), line
        url = line.split()[4]
        host = url.split("/example")[0]
        with urllib.request.urlopen(host + "/_kmspolicy/health", timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        request = urllib.request.Request(url + "/health", data=b"{}", method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert '"error":"AuthenticationFailedException"' in err
    assert "Traceback" not in err


def test_cli_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG + "colour: blue\n")
    run = subprocess.run(
        [sys.executable, "-m", "kmspolicy", "xks-proxy", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )
    assert run.returncode == 2
    assert "xks.yaml:" in run.stderr and "unknown field" in run.stderr
    assert "Traceback" not in run.stderr


def test_cli_tls_options_go_together(tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kmspolicy",
            "xks-proxy",
            "--config",
            str(config),
            "--tls-client-ca",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "needs --tls-cert" in run.stderr
