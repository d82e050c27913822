"""The file audit log: hash-chained JSON lines, append-only, shared by processes (audit layer).

Each ``append`` writes one complete line with one ``write`` on an ``O_APPEND`` descriptor while
holding an exclusive ``flock``, so the threads of this process and other processes on the same
machine (several servers on one data directory) extend one chain without interleaving. The
chain's tail is re-read from the file whenever its size is not what this process last wrote,
so no process chains from a stale tail. Processes on different machines need one file each.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

from kmspolicy.audit.chain import GENESIS, encode_line, record_hash, sealed_line
from kmspolicy.errors import InternalError
from kmspolicy.kms.ports import AuditRecord

_TAIL_CHUNK = 64 * 1024


class FileAuditLog:
    """A ``kms.ports.AuditLog`` writing to ``path`` (created 0600). ``fsync=True`` makes each
    record durable before ``append`` returns; otherwise the OS writes it back on its own."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o600)
        self._known_size = -1  # file size after our last write; -1: read the tail first
        self._next_seq = 0
        self._prev = GENESIS

    def append(self, record: AuditRecord) -> None:
        with self._lock:
            if self._fd < 0:
                raise InternalError("the audit log is closed")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                if size != self._known_size:
                    size = self._read_tail(size)
                line, digest = sealed_line(record, self._next_seq, self._prev)
                written = os.write(self._fd, line)
                if written != len(line):  # pragma: no cover - a full disk; the line is torn
                    raise InternalError("the audit log could not be written completely")
                if self._fsync:
                    os.fsync(self._fd)
                self._known_size = size + written
                self._next_seq += 1
                self._prev = digest
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _read_tail(self, size: int) -> int:
        """Continue the chain from the last complete record in the file; the file's size."""
        if size == 0:
            self._next_seq, self._prev = 0, GENESIS
            return 0
        with open(self.path, "rb") as f:
            start = max(0, size - _TAIL_CHUNK)
            while True:
                f.seek(start)
                data = f.read(size - start)
                lines = data.split(b"\n")
                # the last element is b"" after a final newline, or a torn line after a crash
                complete = [ln for ln in lines[:-1] if ln.strip()]
                if start > 0:
                    complete = complete[1:]  # the first line of a chunk may be partial
                if complete or start == 0:
                    break
                start = max(0, start - _TAIL_CHUNK)
        if lines[-1]:
            # A torn last line (crash mid-write): end it so the next record starts on its own
            # line; ``verify`` reports it, and the chain continues from the last whole record.
            os.write(self._fd, b"\n")
            size += 1
        if not complete:
            self._next_seq, self._prev = 0, GENESIS
        else:
            try:
                last = json.loads(complete[-1])
                # the record we chain from must be exactly as written: canonical, own hash
                if encode_line(last) != complete[-1] + b"\n" or record_hash(last) != last["hash"]:
                    raise ValueError("the last record does not verify")
                self._next_seq, self._prev = int(last["seq"]) + 1, str(last["hash"])
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                raise InternalError(
                    f"the audit log `{self.path}` ends with a record that is not ours; "
                    "run `kmspolicy audit verify` and move the file aside"
                ) from exc
        return size

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __repr__(self) -> str:
        return f"FileAuditLog({str(self.path)!r})"
