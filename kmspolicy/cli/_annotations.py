"""GitHub Actions workflow commands (``::error file=…,line=…::message``): the runner turns each
line into an annotation on the pull request's diff.

Layer: cli (adapter). Values are escaped as the runner unescapes them: ``%``, CR and LF in the
message; also ``:`` and ``,`` in properties.
"""

from __future__ import annotations


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, **props: str | int | None) -> str:
    """One workflow command; ``level`` is error, warning or notice; keyword names are the
    runner's (file, line, col, endLine, endColumn, title); None values are left out."""
    fields = ",".join(f"{k}={_prop(str(v))}" for k, v in props.items() if v is not None)
    return f"::{level} {fields}::{_data(message)}" if fields else f"::{level}::{_data(message)}"
