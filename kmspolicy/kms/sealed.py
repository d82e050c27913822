"""Sealed references: a key's secrets as its backend sealed them, opaque to everything else.

Layer: kms, the bottom (imports nothing of ours). A record carries key material and import
wrapping keys only as ``Sealed`` values (``KeyMaterial.sealed``,
``PendingImportParameters.sealed_wrapping_key``), so a record reaching a handler or a
lifecycle rule carries nothing secret: it can carry a reference over to the key's next record,
compare two references (in constant time) and ask whether there is one, and no more. No
attribute, ``bytes()``, buffer, ``str``/``repr``, ordering or pickle shows what is inside.

Only ``reveal`` reads it, and only two kinds of module call it: the key backends (the
kernel's, which unseal) and the stores' codec (which persists the sealed bytes as they are).
``tests/kms/test_sealed_refs.py`` walks every module of the package and fails on any other.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

__all__ = ["Sealed", "reveal"]


class Sealed:
    """One sealed secret (for the default backend: ciphertext under the root key, bound to its
    key, kind and version); made by a backend or read back by a store."""

    __slots__ = ("__blob",)
    __blob: bytes

    def __init__(self, blob: bytes) -> None:
        if type(blob) is not bytes or not blob:
            raise TypeError("a sealed reference is made of non-empty bytes")
        object.__setattr__(self, "_Sealed__blob", blob)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("a sealed reference is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sealed):
            return NotImplemented
        # INVARIANT: constant time, so a comparison says nothing about where two differ
        return self is other or hmac.compare_digest(self.__blob, other.__blob)

    def __hash__(self) -> int:
        return hash(self.__blob)

    def __repr__(self) -> str:  # INVARIANT: the contents never reach a repr or a log line
        return "Sealed(<opaque>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a sealed reference is not pickled; a store persists it as a record's")

    def __copy__(self) -> Sealed:
        return self

    def __deepcopy__(self, memo: object) -> Sealed:
        return self


def reveal(ref: Sealed) -> bytes:
    """The sealed bytes: for a backend to unseal them, or a store to persist them."""
    return ref._Sealed__blob  # type: ignore[attr-defined,no-any-return]  # the mangled slot
