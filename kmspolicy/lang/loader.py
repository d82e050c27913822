"""``load_policies(path)``, ``read_policies(text)``: policies, whichever face they are written in.

Layer: lang (the one place it reads a file). A text whose first non-blank character is ``{`` is
an AWS JSON document; anything else is the DSL.
"""

from __future__ import annotations

import os
from pathlib import Path

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
