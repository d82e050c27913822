"""Helpers shared by the handler modules: key metadata, paging markers, tags, policies.

Layer: kms.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from types import MappingProxyType
from typing import Any

from kmspolicy.crypto import specs
from kmspolicy.errors import (
    InvalidMarkerException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    PolicyError,
    TagException,
)
from kmspolicy.kms import ids
from kmspolicy.kms.lifecycle.imports import expiration_summary
from kmspolicy.kms.model import KeyInfo, KeyState, Tag
from kmspolicy.lang import Policy
from kmspolicy.lang.awsjson import KEY_POLICY_MAX_BYTES, read_json

MAX_TAGS = 50


#: The KeyMetadata / GetPublicKey field listing a key's algorithms, by its key usage.
ALGORITHM_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        specs.KeyUsage.ENCRYPT_DECRYPT: "EncryptionAlgorithms",
        specs.KeyUsage.SIGN_VERIFY: "SigningAlgorithms",
        specs.KeyUsage.GENERATE_VERIFY_MAC: "MacAlgorithms",
        specs.KeyUsage.KEY_AGREEMENT: "KeyAgreementAlgorithms",
        specs.KeyUsage.ENCAPSULATE_DECAPSULATE: "EncapsulationAlgorithms",
    }
)


#: The algorithms DescribeKey lists, for every (key spec, key usage) pair
_ALGORITHM_NAMES: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType(
    {
        (str(spec), str(usage)): tuple(str(a) for a in specs.algorithms_for(spec, usage))
        for spec in specs.KeySpec
        for usage in specs.KeyUsage
    }
)


def algorithm_names(spec: str, usage: str) -> tuple[str, ...]:
    """The algorithms DescribeKey lists for a key of ``spec`` and ``usage``."""
    found = _ALGORITHM_NAMES.get((spec, usage))
    return found if found is not None else tuple(str(a) for a in specs.algorithms_for(spec, usage))


def key_metadata(key: KeyInfo) -> dict[str, Any]:
    """DescribeKey's ``KeyMetadata`` (also returned by CreateKey)."""
    md: dict[str, Any] = {
        "AWSAccountId": key.account,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.creation_date,
        "Enabled": key.key_state is KeyState.ENABLED,
        "Description": key.description,
        "KeyUsage": key.key_usage,
        "KeyState": key.key_state.value,
        "Origin": key.origin.value,
        "KeyManager": key.key_manager.value,
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "MultiRegion": key.multi_region,
    }
    field = ALGORITHM_FIELDS.get(key.key_usage)
    if field is not None:
        md[field] = list(algorithm_names(key.key_spec, key.key_usage))
    if key.deletion_date is not None:
        md["DeletionDate"] = key.deletion_date
    if key.pending_deletion_window_days is not None and (
        key.key_state is KeyState.PENDING_REPLICA_DELETION
    ):
        md["PendingDeletionWindowInDays"] = key.pending_deletion_window_days
    if key.custom_key_store_id is not None:
        md["CustomKeyStoreId"] = key.custom_key_store_id
    current = key.current_material
    if current is not None and key.key_spec == "SYMMETRIC_DEFAULT":
        md["CurrentKeyMaterialId"] = current.material_id
    # AWS reports the earliest expiry across every imported material, not the current one's
    expiration_model, valid_to = expiration_summary(key)
    if expiration_model is not None:
        md["ExpirationModel"] = expiration_model.value
        if valid_to is not None:
            md["ValidTo"] = valid_to
    if key.multi_region and key.multi_region_key_type is not None:
        # every member carries the set's membership (kms.lifecycle.multiregion)
        primary = key.primary_region or key.region
        md["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": key.multi_region_key_type.value,
            "PrimaryKey": {"Arn": ids.key_arn(primary, key.account, key.key_id), "Region": primary},
            "ReplicaKeys": [
                {"Arn": ids.key_arn(region, key.account, key.key_id), "Region": region}
                for region in key.replica_regions
            ],
        }
    return md


_URLSAFE = str.maketrans("-_", "+/")


def encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")


def decode_marker(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        raw = binascii.a2b_base64(
            marker.translate(_URLSAFE).encode("ascii"), strict_mode=True
        ).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raw = ""
    # a marker names a stored id or name, and none holds NUL (PostgreSQL text cannot): one
    # that does was not issued here, and compared as a bound it would read a different page
    # on each store (PostgreSQL finds nothing, the others what follows it)
    if not raw or "\x00" in raw:
        raise InvalidMarkerException(f"Invalid marker: {marker}")
    return raw


def page(
    items: Sequence[Any], params: Mapping[str, Any], key_of: Any, *, default: int, maximum: int
) -> tuple[list[Any], dict[str, Any]]:
    """A Limit/Marker page of ``items`` (sorted by ``key_of``) plus Truncated/NextMarker."""
    limit = min(int(params.get("Limit") or default), maximum)
    after = decode_marker(params.get("Marker"))
    if after is not None:
        items = [i for i in items if key_of(i) > after]
    chunk = list(items[:limit])
    if len(items) > limit:
        return chunk, {"Truncated": True, "NextMarker": encode_marker(key_of(chunk[-1]))}
    return chunk, {"Truncated": False}


def parse_tags(tags: Sequence[Mapping[str, str]] | None) -> tuple[Tag, ...]:
    """Validated request tags (TagException for reserved keys and duplicates)."""
    if not tags:
        return ()
    if len(tags) > MAX_TAGS:
        raise TagException(f"A KMS key may have at most {MAX_TAGS} tags.")
    seen: dict[str, Tag] = {}
    for t in tags:
        key, value = t["TagKey"], t["TagValue"]
        if key.lower().startswith("aws:"):
            raise TagException("Tags beginning with aws: are reserved.")
        if key in seen:
            raise TagException(f"Duplicate tag keys: {key}")
        seen[key] = Tag(key, value)
    return tuple(seen.values())


def merge_tags(current: Sequence[Tag], added: Sequence[Tag]) -> tuple[Tag, ...]:
    merged = {t.key: t for t in current}
    for t in added:
        merged[t.key] = t
    if len(merged) > MAX_TAGS:
        raise LimitExceededException(f"A key may have at most {MAX_TAGS} tags.")
    return tuple(merged.values())


def parse_key_policy(text: str) -> Policy:
    """A key policy from a request: LimitExceededException past 32 KB, else Malformed…"""
    if len(text.encode("utf-8", "surrogatepass")) > KEY_POLICY_MAX_BYTES:
        raise LimitExceededException(
            f"The key policy exceeds the {KEY_POLICY_MAX_BYTES}-byte size limit."
        )
    try:
        return read_json(text, "key policy", key_policy=True)
    except PolicyError as exc:
        diagnostics = getattr(exc, "diagnostics", None)
        first = diagnostics[0].message if diagnostics else str(exc).splitlines()[0]
        raise MalformedPolicyDocumentException(f"The key policy is malformed: {first}") from None


LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


_ROOT_PLACEHOLDER = "\x00root\x00"  # escaped by json.dumps, so it cannot clash with the text
#: The programmatic default key policy (KMS.md 3.2), formatted as KMS returns it, with a
#: placeholder (JSON-escaped) where the account's root ARN goes
_DEFAULT_KEY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": _ROOT_PLACEHOLDER},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    },
    indent=2,
).replace('": ', '" : ')


_ROOT_PLACEHOLDER_JSON = encode_basestring_ascii(_ROOT_PLACEHOLDER)


def default_key_policy(account: str) -> str:
    """The programmatic default key policy (KMS.md 3.2) of ``account``, as KMS returns it."""
    # the root ARN as json.dumps writes a string (ensure_ascii), quotes included
    root = encode_basestring_ascii(ids.account_root_arn(account))
    return _DEFAULT_KEY_POLICY.replace(_ROOT_PLACEHOLDER_JSON, root)
