"""Timing shared by the benchmarks: calls per second of one workload, after a warm-up call."""

from __future__ import annotations

import time
from collections.abc import Callable


def rate(fn: Callable[[], object], seconds: float, batch: int = 10) -> float:
    """Calls/s of ``fn`` over at least ``seconds``, reading the clock once per ``batch`` calls."""
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        n += batch
    return n / elapsed
