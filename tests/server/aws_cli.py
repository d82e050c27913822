"""The AWS CLI, unchanged, run against a `kmspolicy serve` as alice."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.server.conftest import BIN, Server


def aws(server: Server, *args: str, tmp: Path) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIAALICE00000000001",
        "AWS_SECRET_ACCESS_KEY": "alice-secret",
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
    assert done.returncode == 0, done.stderr
    return done.stdout
