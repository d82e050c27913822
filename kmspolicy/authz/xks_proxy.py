"""The vocabulary of ``kmspolicy xks-proxy``'s secondary authorization: what a request to the
proxy looks like as an authorization question (docs/xks-proxy.md).

Layer: authz (pure data). ``xks.policy`` builds its requests from it; ``kmspolicy lint
--policy-type xks-proxy`` checks policies against it.
"""

from __future__ import annotations

from types import MappingProxyType

#: condition keys set from the request's requestMetadata: {wire member: condition key}
METADATA_CONDITION_KEYS = MappingProxyType(
    {
        "kmsViaService": "xks:KmsViaService",
        "kmsKeyArn": "xks:KmsKeyArn",
        "kmsOperation": "xks:KmsOperation",
        "kmsRequestId": "xks:KmsRequestId",
        # the specification defines these two as aws:SourceVpc and aws:SourceVpce of the KMS request
        "awsSourceVpc": "aws:SourceVpc",
        "awsSourceVpce": "aws:SourceVpce",
    }
)
#: condition keys the proxy adds: the XKS API called and the external key id
API_KEY = "xks:Api"
KEY_ID_KEY = "xks:ExternalKeyId"
#: every xks: condition key a request can carry
XKS_CONDITION_KEYS = frozenset(
    {k for k in METADATA_CONDITION_KEYS.values() if k.startswith("xks:")} | {API_KEY, KEY_ID_KEY}
)
#: the only kms: condition key a proxy request has (derived from the caller's ARN); the KMS
#: request's own (kms:EncryptionContext:..., kms:ViaService...) never reach the proxy
KMS_CONDITION_KEYS = frozenset({"kms:CallerAccount"})
RESOURCE_PREFIX = "arn:aws:kms-xks-proxy:"


def resource_arn(region: str, key_id: str) -> str:
    """The external key ``key_id`` as the resource of a proxy request."""
    return f"{RESOURCE_PREFIX}{region}::key/{key_id}"
