"""Defers Python's cyclic garbage collector while a large policy text is read.

Layer: lang (pure). Reading builds a tree of small objects that are all alive until the reader
returns, and contain no reference cycles; cyclic-GC passes over that growing tree made 1 MB reads
several times slower per kilobyte than 10 KB reads (bench/parse.py). Reference counting still
frees everything as usual; only the cycle detector waits until the read is over.

On resume the objects made meanwhile go straight to the oldest generation (``gc.freeze()`` then
``gc.unfreeze()``: two list splices) instead of waiting for the young generation's next pass,
which would only find the whole tree alive: that one pass over some 70k nodes and tuples took
about a fifth of a 1 MB read. Whatever else the process made young meanwhile is promoted too and
is looked at by the next full collection instead. An application that froze objects of its own
(``gc.freeze()`` before forking workers, say) keeps them frozen: then the tree is left young.
The server's request paths stay below the threshold (a key policy past 32 KB is refused by its
size before it is read); the console's policy editor reads a candidate whole, oversized or not
(its diagnostics name the size), so one past the threshold pauses and promotes as a command's
read does.
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
        if gc.get_freeze_count() == 0:  # unfreeze() would also release an application's
            gc.freeze()
            gc.unfreeze()
        gc.enable()
