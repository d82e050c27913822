"""Compliance suites: the ``*.kmstest.yaml`` format (``schema``, ``suite``), the runner and its
statement coverage (``runner``, ``coverage``, ``report``), ``simulate`` and the pytest plugin.

Layer: testing (assembles lang + authz, and the in-process service for the plugin's fixtures).
Nothing heavy is imported here: pytest loads ``kmspolicy.testing.plugin`` at every startup.
``serve_in_thread`` (a real HTTP endpoint for non-Python clients) loads the server on first call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmspolicy.server.thread import Endpoint


@contextmanager
def serve_in_thread(
    *,
    identities: str | Path | None = None,
    store_url: str = "memory:",
    data_dir: str | Path | None = None,
    dev: bool = True,
    seed: str | Path | None = None,
) -> Iterator[Endpoint]:
    """``with serve_in_thread() as endpoint:`` a real ``kmspolicy serve`` on a free loopback
    port (in memory, the development identity) for the block's duration; ``endpoint.url``,
    ``endpoint.env()`` for client processes, ``endpoint.client()`` for boto3; ``seed`` creates
    the keys of a seed file first (``kmspolicy serve --seed``)."""
    from kmspolicy.server.thread import serve_in_thread as serve

    with serve(
        identities=identities, store_url=store_url, data_dir=data_dir, dev=dev, seed=seed
    ) as endpoint:
        yield endpoint
