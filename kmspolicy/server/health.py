"""``GET /_kmspolicy/health``: what a load balancer, an orchestrator or a person needs to know
before sending requests: the version, whether the store and the root key answer, the decision
log's state, and readiness (HTTP 503 while not ready), as LocalStack's and OPA's endpoints do.

Layer: server (adapter). Each check runs the real path a request would take (a read-only store
transaction, a seal and unseal under the root key, the decision log's file), never a secret in
the answer: the store URL is shown without its password.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from kmspolicy._version import __version__
from kmspolicy.wiring import Runtime

_PROBE_ARN = "arn:aws:kms:us-east-1:000000000000:key/health-probe"


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a failing dependency is the answer, not an error
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def health_check(runtime: Runtime) -> Callable[[], tuple[bool, dict[str, Any]]]:
    """A callable returning (ready, report) for ``runtime``; it blocks (store, HSM): the app
    runs it in a worker thread."""

    def store() -> dict[str, Any]:
        with runtime.store.transaction(readonly=True) as tx:
            tx.get_key(_PROBE_ARN)
        return {"store": runtime.store_description}

    def root_key() -> dict[str, Any]:
        key = runtime.root_key
        if key is None:
            return {"root_key": "none (in-memory store)"}
        if key.unseal(key.seal(b"health", b"kmspolicy-health"), b"kmspolicy-health") != b"health":
            raise RuntimeError("the root key did not unseal what it sealed")
        return {"root_key": runtime.root_key_description}

    def audit_log() -> dict[str, Any]:
        path = getattr(runtime.audit, "path", None)
        if path is None:
            return {"audit_log": repr(runtime.audit)}
        if not os.access(path, os.W_OK):
            raise RuntimeError(f"the decision log `{path}` is not writable")
        return {"audit_log": str(path), "bytes": os.stat(path).st_size}

    def report() -> tuple[bool, dict[str, Any]]:
        checks = {"store": _timed(store), "root_key": _timed(root_key), "audit": _timed(audit_log)}
        ready = all(c["ok"] for c in checks.values())
        return ready, {
            "status": "ok" if ready else "unavailable",
            "ready": ready,
            "version": __version__,
            "checks": checks,
        }

    return report
