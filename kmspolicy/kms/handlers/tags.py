"""Tags: TagResource, UntagResource, ListResourceTags.

Layer: kms (handlers bound to the operation table). Tag changes can change access
(``aws:ResourceTag/*``), so they are authorized like any other key operation, with the
request's tags as ``aws:RequestTag/*`` and ``aws:TagKeys``. AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmspolicy.kms.context import request_tag_context
from kmspolicy.kms.handlers.common import merge_tags, page, parse_tags
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def tag_resource(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html"""
    key = call.key.info
    call.update_key(call.key, tags=merge_tags(key.tags, parse_tags(call.params["Tags"])))
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UntagResource.html"""
    key = call.key.info
    drop = set(call.params["TagKeys"])
    call.update_key(call.key, tags=tuple(t for t in key.tags if t.key not in drop))
    return {}


def list_resource_tags(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListResourceTags.html"""
    tags = sorted(call.key.info.tags, key=lambda t: t.key)
    chunk, more = page(tags, call.params, lambda t: t.key, default=50, maximum=50)
    return {"Tags": [{"TagKey": t.key, "TagValue": t.value} for t in chunk], **more}


def _tag_keys(params: Mapping[str, Any]) -> dict[str, object]:
    return {"aws:TagKeys": list(params["TagKeys"])}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind(
        "TagResource",
        tag_resource,
        context=lambda p: request_tag_context(p["Tags"]),
    ),
    bind("UntagResource", untag_resource, context=_tag_keys),
    bind("ListResourceTags", list_resource_tags),
)
