"""``load_policies(path)``: a policy file → policies, whichever face it is written in.

Layer: lang (the one place it reads a file). A file whose first non-blank character is ``{`` is
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
    source = os.fspath(path)
    text = decode_text(Path(path).read_bytes(), source)
    if is_json(text):
        return [read_json(text, source, key_policy=key_policy)]
    return parse_dsl(text, source)
