"""Condition keys a KMS key contributes to every request made on it (KMS.md section 4).

Layer: kms (pure). Property keys (``kms:KeySpec``, ``kms:KeyUsage``, ``kms:KeyOrigin``,
``kms:MultiRegion``, ``kms:ResourceAliases``, ``aws:ResourceTag/*``) come from the key record;
request keys come from the operation's declaration in the operation table.
"""

from __future__ import annotations

from collections.abc import Sequence

from kmspolicy.kms.model import KeyRecord

__all__ = ["key_context", "request_tag_context"]


def key_context(key: KeyRecord, aliases: Sequence[str]) -> dict[str, object]:
    """The property condition keys of ``key`` (``aliases``: the alias names pointing at it)."""
    ctx: dict[str, object] = {
        "kms:KeySpec": key.key_spec,
        "kms:CustomerMasterKeySpec": key.key_spec,
        "kms:KeyUsage": key.key_usage,
        "kms:CustomerMasterKeyUsage": key.key_usage,
        "kms:KeyOrigin": key.origin.value,
        "kms:MultiRegion": key.multi_region,
        "kms:ResourceAliases": list(aliases),
    }
    if key.multi_region_key_type is not None:
        ctx["kms:MultiRegionKeyType"] = key.multi_region_key_type.value
    for tag in key.tags:
        ctx[f"aws:ResourceTag/{tag.key}"] = tag.value
    return ctx


def request_tag_context(tags: Sequence[dict[str, str]] | None) -> dict[str, object]:
    """``aws:RequestTag/<k>`` and ``aws:TagKeys`` of a request's ``Tags`` list."""
    if not tags:
        return {}
    ctx: dict[str, object] = {f"aws:RequestTag/{t['TagKey']}": t["TagValue"] for t in tags}
    ctx["aws:TagKeys"] = [t["TagKey"] for t in tags]
    return ctx
