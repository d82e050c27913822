"""``load_policies(path)``, ``read_policies(text)``: policies, whichever face they are written in;
``as_policy(value)``: one policy from whatever a library caller has at hand.

Layer: lang (the one place it reads a file). A text whose first non-blank character is ``{`` is
an AWS JSON document; anything else is the DSL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from kmspolicy.errors import ConfigError
from kmspolicy.lang.ast import Policy
from kmspolicy.lang.awsjson import decode_text, read_json
from kmspolicy.lang.dsl import parse_dsl


def is_json(text: str) -> bool:
    """True when ``text`` looks like an AWS JSON document rather than DSL (a leading BOM, which
    the readers drop, does not count)."""
    return text.lstrip("\ufeff").lstrip().startswith("{")


def load_policies(path: str | os.PathLike[str], *, key_policy: bool = False) -> list[Policy]:
    """Read a ``.kmsp`` (one or more policies) or ``.json`` (one document) file.

    Raises PolicySyntaxError for bad content and OSError when the file cannot be read.
    """
    return read_policies(Path(path).read_bytes(), os.fspath(path), key_policy=key_policy)


def read_policies(
    text: str | bytes, source: str = "<string>", *, key_policy: bool = False
) -> list[Policy]:
    """The policies in ``text``: one AWS JSON document, or any number of DSL policies.

    Raises PolicySyntaxError (also for bytes that are not UTF-8).
    """
    decoded = decode_text(text, source)
    if is_json(decoded):
        return [read_json(decoded, source, key_policy=key_policy)]
    return parse_dsl(decoded, source)


#: a policy as a caller may give it: parsed, a file path, JSON or DSL text, or a JSON document
#: as a dict
PolicyLike = Policy | str | PathLike[str] | Mapping[str, Any]


def as_policy(value: PolicyLike, *, key_policy: bool = False) -> Policy:
    """Read one policy from any ``PolicyLike``; a string is a path when it names an existing
    ``.json``/``.kmsp`` file, else policy text (a multi-policy DSL text is an error here)."""
    if isinstance(value, Policy):
        return value
    if isinstance(value, Mapping):
        return read_json(json.dumps(value), "<dict>", key_policy=key_policy)
    if isinstance(value, PathLike) or (
        "\n" not in value and Path(value).suffix in (".json", ".kmsp") and Path(value).is_file()
    ):
        policies = load_policies(value, key_policy=key_policy)
        source = os.fspath(value)
    else:
        policies = read_policies(value, "<string>", key_policy=key_policy)
        source = "<string>"
    if len(policies) != 1:
        raise ConfigError(f"{source} holds {len(policies)} policies; expected exactly one")
    return policies[0]
