"""A policy's AWS JSON as written, for tests that write it back in their own layouts: each
object as its members in order (repeated names allowed), so a test can reorder, repeat, respell
or break members and still write the text it means."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kmspolicy.lang import Policy, write_json


@dataclass
class Members:
    """A JSON object as written: its members in order, repeated names allowed. A name may be
    any object a test's writer knows how to write (a string, or text written as is)."""

    pairs: list[tuple[Any, Any]]


def members(value: Any) -> Any:
    """A decoded JSON value with every object as ``Members``."""
    if isinstance(value, dict):
        return Members([(k, members(v)) for k, v in value.items()])
    if isinstance(value, list):
        return [members(v) for v in value]
    return value


def policy_members(policy: Policy) -> Members:
    """``policy`` as the AWS JSON writer writes it, as ``Members``."""
    written: Members = members(json.loads(write_json(policy)))
    return written
