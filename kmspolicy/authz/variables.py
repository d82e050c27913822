"""Policy variables: ``${aws:username}``, defaults ``${key, 'x'}``, escapes such as ``${*}``.

Layer: authz (pure). Only Version 2012-10-17 documents substitute variables (others keep the
text literally). A template resolves to pieces; substituted text and escapes are literal, so a
``*`` inside a user name never acts as a wildcard. An unresolvable variable resolves to None.
A template that would resolve to more than ``MAX_RESOLVED_CHARS`` (a variable naming a request
value, repeated) stops the decision: the request is denied (authz/limits.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kmspolicy.authz.limits import MAX_RESOLVED_CHARS, EvaluationLimitExceeded
from kmspolicy.authz.matching import Piece

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request

_VAR = re.compile(r"\$\{([^}]*)\}")
_REF = re.compile(r"^\s*([A-Za-z0-9:/_.\-]+)\s*(?:,\s*'([^']*)'\s*)?$")
_ESCAPES = MappingProxyType({"*": "*", "?": "?", "$": "$"})


@dataclass(frozen=True, slots=True)
class Variable:
    key: str
    key_lower: str
    default: str | None


Part = str | Variable


@dataclass(frozen=True, slots=True)
class Template:
    """A value with variables: text parts (wildcards active) and variables."""

    parts: tuple[Part, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.parts if isinstance(p, Variable) and p.key)

    def resolve(self, request: Request) -> tuple[Piece, ...] | None:
        """The pieces after substitution, or None when a variable has no value and no default;
        raises :class:`EvaluationLimitExceeded` past ``MAX_RESOLVED_CHARS``."""
        out: list[Piece] = []
        chars = 0
        for part in self.parts:
            if isinstance(part, str):
                out.append((part, False))
                chars += len(part)
                continue
            value = _single(request.lookup(part.key_lower)) if part.key_lower else None
            if value is None:
                value = part.default
            if value is None:
                return None
            chars += len(value)
            if chars > MAX_RESOLVED_CHARS:
                raise EvaluationLimitExceeded("the length of a policy value after substitution")
            out.append((value, True))
        return tuple(out)


def _single(values: tuple[Any, ...] | None) -> str | None:
    if values is None or len(values) != 1:
        return None
    value = values[0]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def parse_template(text: str) -> Template | None:
    """Parse ``text``; None when it holds no variables or escapes (plain literal)."""
    if "${" not in text:
        return None
    parts: list[Part] = []
    pos = 0
    for m in _VAR.finditer(text):
        inner = m.group(1)
        if inner in _ESCAPES:
            # an escape is a variable that never resolves, with the literal as its default
            var = Variable("", "", _ESCAPES[inner])
        else:
            ref = _REF.match(inner)
            if ref is None:
                continue  # not a variable reference: the text stays as written
            var = Variable(ref.group(1), ref.group(1).lower(), ref.group(2))
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append(var)
        pos = m.end()
    if not parts:
        return None
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts))
