"""The service behind the wire: decode with the shared codec, run the pipeline, encode.

Layer: server (adapter). ``kmspolicy.kms.wire`` (the botocore-model-driven JSON 1.1 codec shared
with the in-process client) turns bodies into validated parameters and results into bodies; the
service decides and performs. Keys are regional: one service instance per region named in the
SigV4 credential scope, all over the same store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmspolicy.errors import ServiceError
from kmspolicy.kms import wire
from kmspolicy.server.app import Call, Reply

# Read-mostly data-plane and describe operations run on the event loop (no thread hand-off:
# they cost tens of microseconds); the others (key generation, writes that fsync) run in a
# worker thread so that they never stall the loop.
INLINE_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "DescribeKey",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "GetPublicKey",
        "ListAliases",
        "ListGrants",
        "ListKeyPolicies",
        "ListKeyRotations",
        "ListKeys",
        "ListResourceTags",
        "ListRetirableGrants",
    }
)


class ServiceBackend:
    """Adapts the KMS service (one instance per region) to the app's ``Backend`` protocol."""

    def __init__(self, for_region: Callable[[str], Any], operations: frozenset[str]) -> None:
        self._for_region = for_region  # cached per region by the runtime
        self._operations = operations

    def operations(self) -> frozenset[str]:
        return self._operations

    def offload(self, operation: str) -> bool:
        return operation not in INLINE_OPERATIONS

    def call(self, call: Call[str]) -> Reply:
        params = wire.decode_request(call.operation, call.body)
        service = self._for_region(call.region)
        result = service.dispatch(
            call.operation,
            call.principal,
            params,
            context=call.context,
            request_id=call.request_id,
        )
        return Reply(wire.encode_response(call.operation, result), call.principal)

    def encode_error(self, error: ServiceError) -> bytes:
        encoded: bytes = wire.encode_error(error)
        return encoded

    def principal_arn(self, principal: str) -> str:
        return principal
