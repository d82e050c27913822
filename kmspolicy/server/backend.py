"""The service behind the wire: decode with the shared codec, run the pipeline, encode.

Layer: server (adapter). ``kmspolicy.kms.wire`` (the botocore-model-driven JSON 1.1 codec shared
with the in-process client) turns bodies into validated parameters and results into bodies; the
service decides and performs. Keys are regional: one service instance per region named in the
SigV4 credential scope, all over the same store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from kmspolicy.errors import ServiceError
from kmspolicy.kms import wire
from kmspolicy.kms.pipeline import Preview
from kmspolicy.kms.ports import RunInThread, Store, Transaction
from kmspolicy.optable import OpSpec
from kmspolicy.server.app import Call, Reply


def inline_operations(operations: Iterable[OpSpec], *, local_store: bool) -> frozenset[str]:
    """The operations run on the event loop: those the operation table declares neither
    writing nor CPU-bound (``OpSpec.may_run_on_event_loop``: they cost microseconds), when the
    store is in-process (memory, SQLite: no network round trip). Over PostgreSQL every
    operation waits for the network, so none runs on the loop."""
    if not local_store:
        return frozenset()
    return frozenset(op.name for op in operations if op.may_run_on_event_loop)


def _on_event_loop() -> bool:
    """Whether this thread is running an event loop (public API only: asyncio has no public
    "running loop or None"; the exception costs a microsecond, off the loop only)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class LoopWriteGuard:
    """The store, refusing to open a write transaction on the event loop's thread, and making
    the read-only ones opened there ``inline``: a decision whose caller many grants name
    (more than ``kms.ports.INLINE_GRANTS``, of up to 50,000 on a key) would test each of them
    while every other client waits, so its read raises ``RunInThread`` instead, before
    anything is decided, and the request runs in a worker thread like a writing one.

    A read-only operation may still write: an AWS managed key created on first use of
    ``alias/aws/<service>``, or lifecycle work found due on a key. A SQLite commit itself is
    fast (WAL, one fsync: about a millisecond), but taking the write lock can wait for a
    worker thread's transaction (a CreateKey generating an RSA key holds it for a second). So
    such a call raises ``RunInThread`` before it takes any lock — its read-only transaction has
    written nothing, and nothing was audited — and the app runs it again in a worker thread.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def transaction(
        self, *, readonly: bool = False, inline: bool = False
    ) -> AbstractContextManager[Transaction]:
        if not readonly:
            if _on_event_loop():
                raise RunInThread
            return self._store.transaction()
        return self._store.transaction(readonly=True, inline=inline or _on_event_loop())

    def close(self) -> None:
        self._store.close()

    def __getattr__(self, name: str) -> Any:  # store-specific extras (descriptions, tests)
        return getattr(self._store, name)


class ServiceBackend:
    """Adapts the KMS service (one instance per region) to the app's ``Backend`` protocol."""

    def __init__(
        self,
        for_region: Callable[[str], Any],
        operations: frozenset[str],
        inline: frozenset[str] = frozenset(),
    ) -> None:
        self._for_region = for_region  # cached per region by the runtime
        self._operations = operations
        self._inline = inline  # see inline_operations

    def operations(self) -> frozenset[str]:
        return self._operations

    def offload(self, operation: str) -> bool:
        return operation not in self._inline

    def call(self, call: Call[str]) -> Reply:
        params = wire.decode_request(call.operation, call.body)
        service = self._for_region(call.region)
        result = service.dispatch(
            call.operation,
            call.principal,
            params,
            context=call.context,
            request_id=call.request_id,
            admitted=call.rerun,
            now=call.now,
        )
        # (a NamedTuple's __new__ is a Python function: 1 k instructions more per request)
        return tuple.__new__(Reply, (wire.encode_response(call.operation, result), call.principal))

    def preview(
        self,
        operation: str,
        principal: str,
        region: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        policy: str | None = None,
    ) -> Preview:
        """Whether ``principal`` would be allowed ``operation`` with ``params`` (the parameters
        known so far: the rest is what a form's user fills in), decided by the service's own
        decision point without running or recording it (``KMS.preview``)."""
        preview: Preview = self._for_region(region).preview(
            operation, principal, params, context=context, policy=policy
        )
        return preview

    def encode_error(self, error: ServiceError) -> bytes:
        encoded: bytes = wire.encode_error(error)
        return encoded

    def principal_arn(self, principal: str) -> str:
        return principal
