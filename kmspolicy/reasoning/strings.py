"""Strings for the solver: literals, the evaluator's globs as z3 regexes, case folding, decoding.

Layer: reasoning (pure; z3). Every function here mirrors one string rule of ``kmspolicy.authz``
exactly: ``glob_regex`` is ``authz.matching``'s glob (``*``/``?`` never cross ``:`` in the
first five segments of an ARN pattern, whose segment count must be the text's);
``mapped_regex`` is "``text.casefold()`` (or ``lower()``) equals the policy value's", over the
whole Unicode range z3 represents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from types import MappingProxyType

import z3

from kmspolicy._cache import Once

#: the largest character z3 represents (its default Unicode encoding)
MAX_CHAR = 0x2FFFF
_RE_SORT = z3.ReSort(z3.StringSort())
ANY_CHAR = z3.AllChar(_RE_SORT)
NOT_COLON = z3.Union(z3.Range("\x00", "9"), z3.Range(";", chr(MAX_CHAR)))
ANY_TEXT = z3.Star(ANY_CHAR)
EMPTY = z3.Re(z3.StringVal(""))

#: (text, literal): as ``authz.matching.Piece`` — literal pieces have no wildcards
Piece = tuple[str, bool]


def lit(text: str) -> z3.SeqRef:
    """A z3 string constant for ``text`` exactly (z3 would read ``\\u{…}`` in it as an escape)."""
    return z3.StringVal(text.replace("\\", "\\u{5c}"))


def re_lit(text: str) -> z3.ReRef:
    return z3.Re(lit(text))


def chars(allowed: str) -> z3.ReRef:
    """One character out of a small set written like a regex class body (``a-z0-9-``)."""
    parts: list[z3.ReRef] = []
    i = 0
    while i < len(allowed):
        if i + 2 < len(allowed) and allowed[i + 1] == "-":
            parts.append(z3.Range(allowed[i], allowed[i + 2]))
            i += 3
        else:
            parts.append(re_lit(allowed[i]))
            i += 1
    return parts[0] if len(parts) == 1 else z3.Union(*parts)


def plus(one: z3.ReRef) -> z3.ReRef:
    return z3.Plus(one)


def glob_regex(pieces: Iterable[Piece], *, arn: bool, fold: bool = False) -> z3.ReRef:
    """The language of an evaluator glob (``authz.matching.Glob``/``ArnGlob``) as a z3 regex.

    ``fold``: ASCII case-insensitive (only used for action names, which are ASCII)."""
    out: list[z3.ReRef] = []
    segment = 0
    for text, literal in pieces:
        for ch in text:
            if ch == ":":
                segment += 1
                out.append(re_lit(":"))
            elif not literal and ch == "*":
                out.append(z3.Star(NOT_COLON if arn and segment < 5 else ANY_CHAR))
            elif not literal and ch == "?":
                out.append(NOT_COLON if arn and segment < 5 else ANY_CHAR)
            elif fold and ch.isascii() and ch.isalpha():
                out.append(z3.Union(re_lit(ch.lower()), re_lit(ch.upper())))
            else:
                out.append(re_lit(ch))
    if not out:
        return EMPTY
    return out[0] if len(out) == 1 else z3.Concat(*out)


def arn_pattern_regex(pieces: tuple[Piece, ...]) -> z3.ReRef:
    """``authz.matching.compile_arn_pieces``: segment-wise when the text starts with ``arn:``."""
    text = "".join(t for t, _ in pieces)
    return glob_regex(pieces, arn=text.startswith("arn:"))


def plain_glob_regex(pattern: str) -> z3.ReRef:
    """``authz.matching.compile_glob`` (case-sensitive): ``StringLike`` values."""
    return glob_regex(((pattern, False),), arn=False)


def _preimages(mapping: str) -> dict[str, tuple[str, ...]]:
    """mapped text → the characters ``mapping`` (``casefold``/``lower``) sends to it, for the
    characters it changes."""
    out: dict[str, list[str]] = {}
    for code in range(MAX_CHAR + 1):
        ch = chr(code)
        mapped = getattr(ch, mapping)()
        if mapped != ch:
            out.setdefault(mapped, []).append(ch)
    return {k: tuple(v) for k, v in out.items()}


#: the preimage tables of the two mappings, each built on first use (a scan of every character)
_PREIMAGES = MappingProxyType({m: Once(partial(_preimages, m)) for m in ("casefold", "lower")})


def mapped_regex(value: str, mapping: str) -> z3.ReRef:
    """Every string ``s`` with ``getattr(s, mapping)() == getattr(value, mapping)()``.

    ``mapping`` is ``casefold`` (IgnoreCase operators) or ``lower`` (context-key names). Both
    map character by character, to at most three characters."""
    target = getattr(value, mapping)()
    table = _PREIMAGES[mapping]()
    memo: dict[int, z3.ReRef | None] = {}

    def from_(i: int) -> z3.ReRef | None:
        if i == len(target):
            return EMPTY
        if i in memo:
            return memo[i]
        options: list[z3.ReRef] = []
        for size in (1, 2, 3):
            piece = target[i : i + size]
            if len(piece) < size:
                break
            sources = list(table.get(piece, ()))
            if size == 1 and getattr(piece, mapping)() == piece:
                sources.append(piece)
            rest = from_(i + size) if sources else None
            if rest is None:
                continue
            alts = [re_lit(s) for s in dict.fromkeys(sources)]
            head = alts[0] if len(alts) == 1 else z3.Union(*alts)
            options.append(z3.Concat(head, rest) if i + size < len(target) else head)
        memo[i] = None if not options else options[0] if len(options) == 1 else z3.Union(*options)
        return memo[i]

    found = from_(0)
    # no string maps to a target that is not itself mapped (kept total anyway)
    return found if found is not None else z3.Empty(_RE_SORT)


_ESCAPE = re.compile(r"\\u\{([0-9a-fA-F]+)\}")


def decode(value: z3.SeqRef) -> str:
    """A model's string value as Python text (z3 escapes ``\\`` and non-ASCII as ``\\u{…}``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value.as_string())
