"""Files that appear complete or not at all: the root key and the audit key are written once.

Layer: below every layer (stdlib only).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["create_once", "fsync_dir"]


def create_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) unless ``path`` exists, so that it appears
    complete or not at all. Two processes starting at once agree on one file: ``link`` fails
    when the name exists, and the loser's data is dropped."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits, but be explicit
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
