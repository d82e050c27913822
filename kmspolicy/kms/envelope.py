"""The envelope key: new key material sealed in process under a data key its root key wraps.

Layer: kms, below the backends (imports the ports and ``cryptography``). With a root key in an
HSM every seal is a round trip to the token (a ``C_Encrypt``); an ``Envelope`` makes one round
trip per *envelope key* instead: a random AES-256 key, wrapped by the root key once, that
seals new material in this process. What it may seal, and when it is dropped, is the kernel's
business (``kms.kernel``): it seals only material the kernel holds open from the moment it is
made, and it is dropped as soon as anything it sealed leaves the kernel's cache. So the current
envelope key opens nothing the kernel does not hold open already (the argument:
``docs/hsm.md``, "The envelope key"), and a dropped one is as gone as an evicted version.

Sealed layout (the root key's blobs are ``"ks"``/``"kh"``; this is a third kind)::

    "ke" | 0x01 | length of W (2, big-endian) | W | the envelope key's own blob

``W`` is the envelope key sealed by the root key, bound to ``ENVELOPE_KEY_AAD``; the envelope
key seals with the file root key's recipe (``crypto.seal.RootKey``: AES-256-GCM, a random
96-bit nonce) bound to the bytes before its blob followed by the caller's associated data (the
key ARN, kind and version, as for the root key's own blobs). ``unseal`` opens every kind: a
blob of the current envelope key in process, one of an earlier envelope key with one root-key
unseal of its ``W`` (that key is not kept), anything else by the root key itself.
"""

from __future__ import annotations

import os
import threading

from kmspolicy.crypto.seal import ROOT_KEY_LENGTH, RootKey, SealError
from kmspolicy.kms.ports import SealingKey

__all__ = ["ENVELOPE_KEY_AAD", "Envelope", "wants_envelope"]

MAGIC = b"ke"
VERSION = 1
_START = len(MAGIC) + 1 + 2  # magic, version, length of W
#: what the root key binds a wrapped envelope key to: it opens as nothing else
ENVELOPE_KEY_AAD = b"kmspolicy/envelope-key/v1\x00"


def wants_envelope(root_key: SealingKey) -> bool:
    """Whether sealing under ``root_key`` is a round trip worth saving: a key whose value is in
    this process (kind ``file``: a root-key file or a generated key) seals as fast as an
    envelope key would, and would only add a wrapped key to every blob."""
    return root_key.kind != "file"


class _Current:
    """The envelope key in use, and the header of every blob it seals (which holds its W)."""

    __slots__ = ("header", "key")

    def __init__(self, key: RootKey, header: bytes) -> None:
        self.key = key
        self.header = header


class Envelope:
    """Seals under a current envelope key (made on first use), unseals every kind of blob."""

    __slots__ = ("_current", "_lock", "_root", "made")

    def __init__(self, root_key: SealingKey) -> None:
        self._root = root_key
        self._current: _Current | None = None
        self._lock = threading.Lock()
        #: envelope keys made so far (one root-key seal each): for tests and diagnostics
        self.made = 0

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        current = self._current
        if current is None:
            current = self._make()
        header = current.header
        return header + current.key.seal(plaintext, header + aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        """The plaintext of any blob sealed by this envelope, an earlier one or the root key;
        SealError when it does not open with this root key and ``aad``."""
        if sealed[:2] != MAGIC:
            return self._root.unseal(sealed, aad)
        if len(sealed) < _START or sealed[2] != VERSION:
            raise SealError
        end = _START + int.from_bytes(sealed[3:_START], "big")
        header = sealed[:end]
        current = self._current
        if current is not None and header == current.header:
            key = current.key
        else:
            # An earlier envelope key: unwrapped for this call only. Keeping it would open
            # every secret it sealed, some of which the kernel no longer holds.
            raw = self._root.unseal(sealed[_START:end], ENVELOPE_KEY_AAD)
            if len(raw) != ROOT_KEY_LENGTH:
                raise SealError
            key = RootKey(raw, "<envelope key>")
        return key.unseal(sealed[end:], header + aad)

    def sealed_by_current(self, sealed: bytes) -> bool:
        """Whether the current envelope key sealed ``sealed``."""
        current = self._current
        return current is not None and sealed.startswith(current.header)

    def drop(self) -> None:
        """Forget the current envelope key; the next seal makes another."""
        self._current = None

    def _make(self) -> _Current:
        with self._lock:
            current = self._current
            if current is None:
                raw = os.urandom(ROOT_KEY_LENGTH)
                wrapped = self._root.seal(raw, ENVELOPE_KEY_AAD)
                header = MAGIC + bytes((VERSION,)) + len(wrapped).to_bytes(2, "big") + wrapped
                current = self._current = _Current(RootKey(raw, "<envelope key>"), header)
                self.made += 1
            return current

    def __repr__(self) -> str:
        return f"Envelope({self._root!r}, made={self.made})"
