"""The reference evaluator's own wildcard matching: the textbook two-pointer glob.

Layer: authz (pure). Written apart from ``authz.matching`` on purpose, so a bug in one is caught
by the property tests comparing them. The two pointers walk text and pattern once; on a mismatch
after a ``*`` the star absorbs one more character and the pattern resumes right after it. Only
the LAST star is ever revisited (an earlier one can never do better), so the work is at most
(len(text) + 1) × (len(pattern) + 1) steps: no exponential backtracking.
"""

from __future__ import annotations

#: (text, literal): literal pieces come from variable values and escapes (``*``/``?`` plain)
Piece = tuple[str, bool]

_STAR = "star"
_ANY = "any"


class Steps:
    """Counts the loop iterations of :func:`glob_match` (tests bound the work with it)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def _tokens(pieces: tuple[Piece, ...], fold: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for text, literal in pieces:
        for ch in text.lower() if fold else text:
            if not literal and ch == "*":
                out.append((_STAR, ""))
            elif not literal and ch == "?":
                out.append((_ANY, ""))
            else:
                out.append(("char", ch))
    return out


def glob_match(
    pattern: str | tuple[Piece, ...],
    text: str,
    *,
    fold: bool = False,
    steps: Steps | None = None,
) -> bool:
    """Whether all of ``text`` matches the glob (``fold``: both lower-cased first)."""
    pieces = ((pattern, False),) if isinstance(pattern, str) else pattern
    pat = _tokens(pieces, fold)
    if fold:
        text = text.lower()
    p = t = 0
    star = -1  # pattern index of the last star seen
    resume = 0  # text index that star has absorbed up to
    count = 0
    while t < len(text):
        count += 1
        kind, ch = pat[p] if p < len(pat) else ("end", "")
        if kind == _STAR:
            star, resume = p, t
            p += 1
        elif kind == _ANY or (kind == "char" and ch == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            break
    else:
        while p < len(pat) and pat[p][0] == _STAR:
            p += 1
        if steps is not None:
            steps.count += count
        return p == len(pat)
    if steps is not None:
        steps.count += count
    return False


def _segments(pieces: tuple[Piece, ...]) -> list[tuple[Piece, ...]]:
    """Split pieces on every ``:`` into at most six segments (the sixth keeps its colons)."""
    out: list[list[Piece]] = [[]]
    for text, literal in pieces:
        chunk = ""
        for ch in text:
            if ch == ":" and len(out) < 6:
                out[-1].append((chunk, literal))
                out.append([])
                chunk = ""
            else:
                chunk += ch
        out[-1].append((chunk, literal))
    return [tuple(seg) for seg in out]


def arn_match(pattern: str | tuple[Piece, ...], arn: str, *, steps: Steps | None = None) -> bool:
    """IAM's ARN matching: six ``:``-separated parts compared apart, so a wildcard in the
    first five never spans a ``:``; a pattern not starting with ``arn:`` is a plain glob."""
    pieces = ((pattern, False),) if isinstance(pattern, str) else pattern
    if not "".join(t for t, _ in pieces).startswith("arn:"):
        return glob_match(pieces, arn, steps=steps)
    wanted = _segments(pieces)
    have = arn.split(":", 5)
    return len(wanted) == len(have) and all(
        glob_match(w, h, steps=steps) for w, h in zip(wanted, have, strict=True)
    )
