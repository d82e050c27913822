"""Defers Python's cyclic garbage collector while a large policy text is read.

Layer: lang (pure). Reading builds a tree of small objects that are all alive until the reader
returns, and contain no reference cycles; cyclic-GC passes over that growing tree made 1 MB reads
several times slower per kilobyte than 10 KB reads (bench/parse.py). Reference counting still
frees everything as usual; only the cycle detector waits until the read is over.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: below this many characters GC passes cost nothing worth avoiding
THRESHOLD = 64 * 1024


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    if size < THRESHOLD or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
