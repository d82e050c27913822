"""Request ids: the one scheme for ``x-amzn-RequestId`` and the audit log's request id.

Layer: kms (the in-process client and the server draw their ids from here).
UUID-shaped like AWS's: a random per-generator prefix from the injected ``Rng`` and a counter,
so ids are unique per process run, reproducible under a seeded rng, and ~20x cheaper than uuid4.
"""

from __future__ import annotations

import itertools

from kmspolicy.kms.ports import Rng

__all__ = ["RequestIds"]


class RequestIds:
    """Calling it returns the next request id, e.g. ``1b4f0e9a-7c21-4d0b-9a3e-00000000002a``."""

    __slots__ = ("_numbers", "_prefix")

    def __init__(self, rng: Rng) -> None:
        raw = rng(10).hex()
        self._prefix = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-"
        # next() on itertools.count is atomic under the GIL: safe across server threads
        self._numbers = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._numbers) & 0xFFFFFFFFFFFF:012x}"
