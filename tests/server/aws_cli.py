"""The AWS CLI, unchanged, run against a `kmspolicy serve`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.server.conftest import BIN, Server

#: alice's access key (tests/server/conftest.py's identities)
ALICE_KEY = ("AKIAALICE00000000001", "alice-secret")


def run_aws(
    server: Server,
    *args: str,
    tmp: Path,
    key: tuple[str, str] = ALICE_KEY,
    ok: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``aws kms ARGS`` signed with ``key`` (access key id, secret), no config or credentials
    files; asserts it succeeded (``ok``) or failed."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-credentials"),
    }
    env.pop("AWS_SESSION_TOKEN", None)
    done = subprocess.run(
        [str(BIN / "aws"), "kms", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (done.returncode == 0) == ok, done.stderr
    return done


def aws(server: Server, *args: str, tmp: Path) -> str:
    """What a successful ``aws kms ARGS`` as alice prints."""
    return run_aws(server, *args, tmp=tmp).stdout
