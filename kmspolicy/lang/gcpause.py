"""Defers Python's cyclic garbage collector while a large policy text is read.

Layer: lang (pure). Reading builds a tree of small objects that are all alive until the reader
returns, and contain no reference cycles; cyclic-GC passes over that growing tree made 1 MB reads
several times slower per kilobyte than 10 KB reads (bench/parse.py). Reference counting still
frees everything as usual; only the cycle detector waits until the read is over.

On resume the objects made meanwhile go straight to the oldest generation (``gc.freeze()`` then
``gc.unfreeze()``: two list splices) instead of waiting for the young generation's next pass,
which would only find the whole tree alive: that one pass over some 70k nodes and tuples took
about a fifth of a 1 MB read. Whatever else the process made young meanwhile is promoted too and
is looked at by the next full collection instead. So the promotion is done only where it can
touch nothing but the read's own work: in a process with one thread (a command), and with
nothing frozen. With other threads, their young objects (and garbage cycles) would be promoted
too, and another thread's ``gc.freeze()`` between the check and the splice would be undone; an
application that froze objects of its own (``gc.freeze()`` before forking workers, say) keeps
them frozen. In either case the tree is left young, as before.
The server's request paths stay below the threshold (a key policy past 32 KB is refused by its
size before it is read); the console's policy editor reads a candidate whole, oversized or not
(its diagnostics name the size), so one past the threshold pauses the collector as a command's
read does, but is not promoted (the server runs threads and froze its startup objects).
"""

from __future__ import annotations

import gc
import threading
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
        # unfreeze() would also release an application's frozen objects, and with other threads
        # about, their young objects and their own freeze() (docstring)
        if threading.active_count() == 1 and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
