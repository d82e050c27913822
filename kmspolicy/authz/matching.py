"""Wildcard matching for actions, resources and ARN condition values (compiled to regexes).

Layer: authz (pure). Actions are case-insensitive globs; ARNs are matched segment by segment:
in the first five colon-separated segments a wildcard never crosses ``:``, in the sixth (the
resource part) ``*`` spans anything. Compiled patterns are cached (they are pure functions of text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

#: (text, literal): literal pieces come from variable values and escapes (``*``/``?`` plain)
Piece = tuple[str, bool]


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _glob_regex(pieces: Iterable[Piece], *, arn: bool) -> str:
    out: list[str] = []
    segment = 0
    for text, literal in pieces:
        for ch in text:
            if ch == ":":
                segment += 1
                out.append(":")
            elif not literal and ch == "*":
                out.append("[^:]*" if arn and segment < 5 else ".*")
            elif not literal and ch == "?":
                out.append("[^:]" if arn and segment < 5 else ".")
            else:
                out.append(re.escape(ch))
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A plain glob (``*`` any run, ``?`` one character) as a full-match regex."""
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile(_glob_regex([(pattern, False)], arn=False), flags)


@lru_cache(maxsize=4096)
def compile_arn(pattern: str) -> re.Pattern[str]:
    """An ARN pattern matched segment by segment (see module docstring)."""
    return compile_arn_pieces(((pattern, False),))


@lru_cache(maxsize=1024)
def compile_arn_pieces(pieces: tuple[Piece, ...]) -> re.Pattern[str]:
    """An ARN pattern assembled from pieces (after policy-variable substitution)."""
    text = "".join(t for t, _ in pieces)
    if not text.startswith("arn:"):
        return re.compile(_glob_regex(pieces, arn=False), re.DOTALL)
    return re.compile(_glob_regex(pieces, arn=True), re.DOTALL)


@lru_cache(maxsize=1024)
def compile_glob_pieces(pieces: tuple[Piece, ...], ignore_case: bool = False) -> re.Pattern[str]:
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile(_glob_regex(pieces, arn=False), flags)


def action_matches(pattern: str, action: str) -> bool:
    """Case-insensitive glob match of one Action value against an action name."""
    if pattern == "*":
        return True
    return compile_glob(pattern, ignore_case=True).fullmatch(action) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    """One Resource value against a resource ARN (``*`` matches everything)."""
    if pattern == "*":
        return True
    return compile_arn(pattern).fullmatch(resource) is not None


# --- a deliberately simple glob for the reference evaluator (no regexes, no caches) ---

_STAR = object()
_ONE = object()


def _tokens(pattern: str | tuple[Piece, ...]) -> list[object]:
    pieces = ((pattern, False),) if isinstance(pattern, str) else pattern
    out: list[object] = []
    for text, literal in pieces:
        for ch in text:
            out.append(
                _STAR if ch == "*" and not literal else _ONE if ch == "?" and not literal else ch
            )
    return out


def simple_glob(
    pattern: str | tuple[Piece, ...], text: str, *, stop: str = "", fold: bool = False
) -> bool:
    """Iterative wildcard match; wildcards never consume a character in ``stop``."""
    pat = _tokens(pattern)
    if fold:
        pat = [c.lower() if isinstance(c, str) else c for c in pat]
        text = text.lower()
    p = t = 0
    star_p = star_t = -1
    while t < len(text):
        if p < len(pat) and pat[p] is _ONE and text[t] not in stop:
            p += 1
            t += 1
        elif p < len(pat) and pat[p] is _STAR:
            star_p, star_t = p, t
            p += 1
        elif p < len(pat) and pat[p] == text[t]:
            p += 1
            t += 1
        elif star_p >= 0 and text[star_t] not in stop:
            star_t += 1
            p, t = star_p + 1, star_t
        else:
            return False
    while p < len(pat) and pat[p] is _STAR:
        p += 1
    return p == len(pat)


def _split_pieces(pieces: tuple[Piece, ...], limit: int) -> list[tuple[Piece, ...]]:
    """Split pieces on ``:`` (in any piece) into at most ``limit + 1`` segments."""
    segments: list[list[Piece]] = [[]]
    for text, literal in pieces:
        chunk = ""
        for ch in text:
            if ch == ":" and len(segments) <= limit:
                segments[-1].append((chunk, literal))
                segments.append([])
                chunk = ""
            else:
                chunk += ch
        segments[-1].append((chunk, literal))
    return [tuple(seg) for seg in segments]


def simple_arn_match(pattern: str | tuple[Piece, ...], arn: str) -> bool:
    """Segment-wise ARN match built on :func:`simple_glob` (reference implementation)."""
    pieces = ((pattern, False),) if isinstance(pattern, str) else pattern
    text = "".join(t for t, _ in pieces)
    if text == "*" and not pieces[0][1]:
        return True
    if not text.startswith("arn:"):
        return simple_glob(pieces, arn)
    p_parts = _split_pieces(pieces, 5)
    a_parts = arn.split(":", 5)
    if len(p_parts) != len(a_parts):
        return False
    head = all(simple_glob(p, a, stop=":") for p, a in zip(p_parts[:5], a_parts[:5], strict=False))
    return head and (len(p_parts) < 6 or simple_glob(p_parts[5], a_parts[5]))
