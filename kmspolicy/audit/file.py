"""The file audit log: hash-chained JSON lines, append-only, shared by processes (audit layer).

Each ``append`` writes one complete line with one ``write`` on an ``O_APPEND`` descriptor while
holding an exclusive ``flock``, so the threads of this process and other processes on the same
machine (several servers on one data directory) extend one chain without interleaving.
Processes on different machines need one file each.

Before each append the writer checks that the log is still the one it was writing: the path
names the file it opened (device and inode: not removed, renamed or replaced), the file did not
shrink, its last line is byte for byte the record it chains from, and whatever other processes
appended since chains from it. Anything else is tampering: the log refuses this and every later
record (the service then refuses every request) until an operator has looked and restarted.
A line torn by a crash (an incomplete last line) is sealed off and recorded by a
``TornTailRecovered`` record, which ``verify`` reports as recovered rather than as a problem.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from datetime import datetime
from pathlib import Path

from kmspolicy.audit.chain import (
    GENESIS,
    LineSealer,
    encode_line,
    record_hash,
    record_mac,
)
from kmspolicy.errors import InternalError
from kmspolicy.kms.ports import EVENT_TORN_TAIL, AuditRecord

_TAIL_CHUNK = 64 * 1024


class Tampered(InternalError):
    """The log is not the one this writer was writing; it takes no record any more."""


class FileAuditLog:
    """A ``kms.ports.AuditLog`` writing to ``path`` (created 0600). ``fsync=True`` makes each
    record durable before ``append`` returns; otherwise the OS writes it back on its own.
    ``mac_key`` (the audit key, ``kmspolicy.audit.key``) adds a keyed seal to every record."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        mac_key: bytes | None = None,
    ) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._mac_key = mac_key
        self._sealer = LineSealer(mac_key)
        self._lock = threading.Lock()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # read access too: the tail is checked in place (pread) before each append
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o600)
        st = os.fstat(self._fd)
        self._dev, self._ino = st.st_dev, st.st_ino  # the file the path must keep naming
        self._fspath = os.fsencode(self.path)  # stat'ed before each append, encoded once
        self._known_size = -1  # file size after our last write; -1: read the tail first
        self._last_line = b""  # the line at the end of the file, as last written or checked
        self._next_seq = 0
        self._prev = GENESIS
        self._broken: str | None = None  # why the log takes no more records

    def append(self, record: AuditRecord) -> None:
        # Five system calls per record, the least that keeps every check: flock, stat of the
        # path (a file renamed, removed or replaced is only seen through the path), pread of
        # the last line (an edit in place changes neither size nor inode), write, unlock.
        with self._lock:
            fd = self._fd
            if fd < 0:
                raise InternalError("the audit log is closed")
            if self._broken is not None:
                raise Tampered(self._broken)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                try:
                    st = os.stat(self._fspath)
                except FileNotFoundError:
                    raise self._tampered("was removed or renamed") from None
                size = st.st_size
                last = self._last_line
                # the usual case, every check one comparison: the path names our file, which
                # nobody wrote since our last line, and that line is still byte for byte ours
                if (
                    size != self._known_size
                    or st.st_ino != self._ino
                    or st.st_dev != self._dev
                    or os.pread(fd, len(last), size - len(last)) != last
                ):
                    size = self._check(st, record.time)  # which says what is wrong, if any
                line, digest = self._sealer.seal(record, self._next_seq, self._prev)
                self._write(line, digest, size)
            except Tampered as exc:
                self._broken = str(exc)
                raise
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _write(self, line: bytes, digest: str, size: int) -> None:
        written = os.write(self._fd, line)
        if written != len(line):  # pragma: no cover - a full disk; the line is torn
            raise InternalError("the audit log could not be written completely")
        if self._fsync:
            os.fsync(self._fd)
        self._known_size = size + written
        self._last_line = line
        self._next_seq += 1
        self._prev = digest

    # --- is this still our log?

    def _check(self, st: os.stat_result, now: datetime) -> int:
        """The file's size once it is known to be the log we are writing (else ``Tampered``)."""
        if st.st_ino != self._ino or st.st_dev != self._dev:
            raise self._tampered("was replaced by another file")
        size = st.st_size
        if size == self._known_size:  # nobody else wrote since our last line
            self._check_last_line(size)
            return size
        if self._known_size < 0:  # the first append: continue the chain found in the file
            return self._read_tail(size, now)
        if size < self._known_size:
            raise self._tampered(f"shrank from {self._known_size} to {size} bytes (truncated)")
        self._check_last_line(self._known_size)
        return self._follow(size, now)  # another process appended: it must extend our chain

    def _check_last_line(self, end: int) -> None:
        n = len(self._last_line)
        if n and os.pread(self._fd, n, end - n) != self._last_line:
            raise self._tampered("has its last record changed in place")

    def _follow(self, size: int, now: datetime) -> int:
        """Check the records other writers appended after ours, and continue after them."""
        data = os.pread(self._fd, size - self._known_size, self._known_size)
        *lines, torn = data.split(b"\n")
        for raw in lines:
            self._accept(raw + b"\n")
        if torn:
            size = self._recover(torn, size, now)
        return size

    def _accept(self, line: bytes) -> None:
        """Chain from ``line`` if it is a record that extends the chain (else ``Tampered``)."""
        try:
            fields = json.loads(line)
            ok = (
                encode_line(fields) == line
                and record_hash(fields) == fields["hash"]
                and fields["seq"] == self._next_seq
                and fields["prev"] == self._prev
                and (
                    self._mac_key is None
                    or fields.get("mac") == record_mac(self._mac_key, fields["hash"])
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            ok = False
        if not ok:
            raise self._tampered(
                f"has a record {self._next_seq} that does not extend the chain "
                "(not ours, or edited)"
            )
        self._next_seq, self._prev = fields["seq"] + 1, str(fields["hash"])
        self._last_line = line

    def _read_tail(self, size: int, now: datetime) -> int:
        """Continue the chain from the last complete record in the file; the file's size."""
        if size == 0:
            return 0
        start = max(0, size - _TAIL_CHUNK)
        while True:
            data = os.pread(self._fd, size - start, start)
            *lines, torn = data.split(b"\n")
            if start > 0:
                lines = lines[1:]  # the first line of a chunk may be partial
            if lines or start == 0:
                break
            start = max(0, start - _TAIL_CHUNK)
        if lines:
            try:
                last = json.loads(lines[-1])
                # the record we chain from must be exactly as written: canonical, own hash
                line = lines[-1] + b"\n"
                if encode_line(last) != line or record_hash(last) != last["hash"]:
                    raise ValueError("the last record does not verify")
                # a record written before the log was keyed has no mac; a wrong one is forged
                if (
                    self._mac_key is not None
                    and "mac" in last
                    and last["mac"] != record_mac(self._mac_key, last["hash"])
                ):
                    raise ValueError("the last record's mac does not verify")
                self._next_seq, self._prev = int(last["seq"]) + 1, str(last["hash"])
                self._last_line = line
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                raise self._tampered("ends with a record that is not ours or was edited") from exc
        if torn:
            size = self._recover(torn, size, now)
        return size

    def _recover(self, torn: bytes, size: int, now: datetime) -> int:
        """A last line without its newline: a write interrupted by a crash. End it, then record
        what was sealed off, so the next record starts on its own line and ``verify`` can tell
        a recovered crash from an edit."""
        os.write(self._fd, b"\n")
        size += 1
        self._known_size = size
        line, digest = self._sealer.seal(
            AuditRecord(
                time=now,
                request_id="",
                operation="",
                principal="",
                actions=(),
                resources=(),
                allowed=False,
                decision="",
                reason="a line torn by an interrupted write was sealed off",
                context={"tornBytes": len(torn), "tornSha256": hashlib.sha256(torn).hexdigest()},
                event=EVENT_TORN_TAIL,
            ),
            self._next_seq,
            self._prev,
        )
        self._write(line, digest, size)
        return self._known_size

    def _tampered(self, what: str) -> Tampered:
        return Tampered(
            f"the audit log `{self.path}` {what}: it is not the log this process was writing, "
            "so no request is accepted; run `kmspolicy audit verify`, keep the file as evidence "
            "and restart"
        )

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __repr__(self) -> str:
        return f"FileAuditLog({str(self.path)!r})"
