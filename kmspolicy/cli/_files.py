"""Writing the files the commands produce: atomically, and with a clean error when it fails.

Layer: cli (adapter). A write goes to a temporary file beside the target and replaces it only
when complete, so a full disk or a read-only target never leaves a half-written policy behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from kmspolicy.errors import UserError


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), keeping its permissions; UserError on failure."""
    target = Path(os.path.realpath(path))  # through a symlink: replace the file, keep the link
    if target.exists() and not os.access(target, os.W_OK):
        raise UserError(f"cannot write `{path}`: the file is read-only")
    tmp: str | None = None
    try:
        mode = target.stat().st_mode & 0o7777 if target.exists() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise UserError(f"cannot write `{path}`: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
