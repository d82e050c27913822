"""A root key watched from outside: it counts its seals and unseals."""

from __future__ import annotations

from kmspolicy.crypto.seal import RootKey


class CountingRootKey:
    """A root key that counts how often anything was sealed and unsealed with it."""

    kind = "file"
    source = "<counting>"

    def __init__(self) -> None:
        self._inner = RootKey.generate()
        self.unseals = 0
        self.seals = 0

    @property
    def fingerprint(self) -> str:
        return self._inner.fingerprint

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        self.seals += 1
        return self._inner.seal(plaintext, aad)

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes:
        self.unseals += 1
        return self._inner.unseal(sealed, aad)

    def describe(self) -> str:
        return "counting"

    def close(self) -> None:
        pass


class CountingTokenKey(CountingRootKey):
    """The same, standing in for a root key in an HSM (each call a round trip to the token):
    the kernel seals new material under an envelope key it wraps (``kms.envelope``)."""

    kind = "pkcs11"
    source = "<counting token>"
