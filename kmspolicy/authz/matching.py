"""Wildcard matching for actions, resources and glob/ARN condition values, without backtracking.

Layer: authz (pure). Actions are case-insensitive globs; ARNs are matched segment by segment:
in the first five colon-separated segments a wildcard never crosses ``:``, in the sixth (the
resource part) ``*`` spans anything.

Why not regexes: a glob with a few ``*`` compiled to ``.*a.*b.*c`` backtracks, and one request
value of 60 KB against such a condition stalled the server for seconds (issue 12). Here a glob
is cut at its ``*`` into chunks; the first chunk must match at the start of the text, the last
at its end, and each chunk in between at its LEFTMOST place after the previous one. Leftmost is
always right for ``*`` (a later place only leaves less text for the chunks after it), so no
choice is ever revisited: one scan per chunk, O(len(text) × len(pattern)) at worst, done by
``str.find`` or by a fixed-width regex (a chunk holding ``?``: no quantifier, no alternation).
``str.find`` is not linear: for most needles CPython compares, at each place, up to the whole
needle (Objects/stringlib/fastsearch.h; its linear two-way search runs only for some long
needles in long texts), and ``Glob.weight`` charges it so. The ``?`` at a chunk's ends are
skipped by offset, never compared: ``*????????b*`` is a search for ``b``.
Compiled globs are cached (they are pure functions of the pattern text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kmspolicy._cache import BoundedCache

#: (text, literal): literal pieces come from variable values and escapes (``*``/``?`` plain)
Piece = tuple[str, bool]
#: globs kept per compiled statement or condition, by the pieces a template resolved to
RESOLVED_MEMO_SIZE = 256
#: the characters of the resolved patterns one such memo keeps (a glob holds about its text
#: again): its entries are the few user names or roles a statement sees, not request data
RESOLVED_MEMO_CHARS = 32 * 1024
#: a resolved pattern longer than this is compiled for each request (linear in its length),
#: not kept: one request's long value would otherwise evict the memo's working set
RESOLVED_MEMO_LONGEST = 1024

P = TypeVar("P")


def resolved_memo() -> BoundedCache[tuple[Piece, ...], Any]:
    """A memo of the patterns a template resolved to, bounded by count and characters."""
    return BoundedCache(RESOLVED_MEMO_SIZE, maxweight=RESOLVED_MEMO_CHARS)


def memoised(
    memo: BoundedCache[tuple[Piece, ...], Any],
    pieces: tuple[Piece, ...],
    compile_pieces: Callable[[tuple[Piece, ...]], P],
) -> P:
    """The pattern ``pieces`` compile to, from ``memo`` or compiled (and kept, if short)."""
    found: P | None = memo.get(pieces)
    if found is None:
        found = compile_pieces(pieces)
        chars = sum(len(text) for text, _ in pieces)
        if chars <= RESOLVED_MEMO_LONGEST:
            memo.put(pieces, found, chars)
    return found


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


class _Chunk:
    """A run of the pattern between two ``*``: literal characters and ``?`` (any one).

    A ``?`` matches whatever is there, so the ``?`` at either end of the run are never
    compared: only the core between them is looked for, ``lead`` characters into the run."""

    __slots__ = (
        "core_width",
        "lead",
        "literal",
        "plain",
        "regex",
        "search_cost",
        "source",
        "width",
    )

    def __init__(self, parts: list[str | None]) -> None:
        self.width = sum(1 if p is None else len(p) for p in parts)
        lead = next((i for i, p in enumerate(parts) if p is not None), len(parts))
        trail = next((i for i, p in enumerate(reversed(parts)) if p is not None), 0)
        core = parts[lead : len(parts) - trail]
        self.lead = lead
        self.core_width = self.width - lead - trail
        #: the core's text when it holds no ``?`` (found with str.find), else the source of a
        #: fixed-width regex that starts and ends with literal text, compiled at first use
        #: (``re.compile`` parses it in Python, ~1 us a character: a resolved pattern's is
        #: charged before, ``Glob.compile_chars``)
        self.literal: str | None = None
        self.source: str | None = None
        self.regex: re.Pattern[str] | None = None
        if None in core:
            self.source = "".join("." if p is None else re.escape(p) for p in core)
        else:
            self.literal = "".join(p for p in core if p is not None)
        #: the whole run's text when it holds no ``?`` at all
        self.plain = self.literal if self.width == self.core_width else None
        #: the characters a search for the chunk (:meth:`find`) compares per character of text:
        #: at each place, ``str.find`` compares at most the core's length (a needle of one
        #: character is a memchr), the regex its width
        self.search_cost = self.core_width if self.literal is None else max(1, len(self.literal))

    def _compiled(self) -> re.Pattern[str]:
        regex = self.regex
        if regex is None:
            regex = self.regex = re.compile(self.source or "", re.DOTALL)
        return regex

    def at(self, text: str, pos: int) -> bool:
        """Whether the chunk matches ``text`` at exactly ``pos``."""
        if pos + self.width > len(text):
            return False
        if self.literal is not None:
            return text.startswith(self.literal, pos + self.lead)
        regex = self.regex or self._compiled()  # a call only the first time
        return regex.match(text, pos + self.lead) is not None

    def find(self, text: str, start: int, end: int) -> int:
        """The leftmost place in ``text[start:end]`` where the whole chunk matches, or -1."""
        lo, hi = start + self.lead, end - (self.width - self.lead - self.core_width)
        if self.literal is not None:
            found = text.find(self.literal, lo, hi)
        else:
            m = (self.regex or self._compiled()).search(text, lo, hi)
            found = -1 if m is None else m.start()
        return -1 if found < 0 else found - self.lead


class Glob:
    """A compiled glob: ``*`` any run (also empty), ``?`` exactly one character."""

    __slots__ = (
        "_chunks",
        "_exact",
        "_fold",
        "_min",
        "_prefix",
        "_suffix",
        "compile_chars",
        "weight",
    )

    def __init__(self, pieces: Iterable[Piece], *, fold: bool = False) -> None:
        self._fold = fold
        # each chunk: runs of literal text and None for each ``?``, a piece's text taken whole
        # (a resolved variable may be kilobytes: never one list item per character)
        chunks: list[list[str | None]] = [[]]
        for text, literal in pieces:
            if fold:
                text = text.lower()
            if literal:
                if text:
                    chunks[-1].append(text)
                continue
            for star, run in enumerate(text.split("*")):
                if star:
                    chunks.append([])
                for mark, part in enumerate(run.split("?")):
                    if mark:
                        chunks[-1].append(None)
                    if part:
                        chunks[-1].append(part)
        # empty chunks between two stars (``**``) constrain nothing
        inner = [c for c in chunks[1:-1] if c]
        kept = [chunks[0], *inner, chunks[-1]] if len(chunks) > 1 else chunks
        self._chunks = tuple(_Chunk(c) for c in kept)
        self._min = sum(c.width for c in self._chunks)
        #: the characters one test may compare per character of text (limits.py): the head and
        #: the tail, compared where they stand (disjoint: 1 in all), then a search for each
        #: chunk between them
        self.weight = 1 + sum(c.search_cost for c in self._chunks[1:-1])
        #: the characters of regex source its first test compiles (limits.py)
        self.compile_chars = sum(len(c.source or "") for c in self._chunks)
        # the common shapes, answered without the general loop: no wildcard at all, and one
        # ``*`` between literal text (``kms:Generate*``, ``key/*``, ``*.amazonaws.com``)
        head, tail = self._chunks[0], self._chunks[-1]
        self._exact = head.plain if len(self._chunks) == 1 else None
        simple = len(self._chunks) == 2 and head.plain is not None and tail.plain is not None
        self._prefix = head.plain if simple else None
        self._suffix = tail.plain if simple else None

    @property
    def chunk_count(self) -> int:
        """How many scans a match performs at most (one per chunk)."""
        return len(self._chunks)

    def matches(self, text: str) -> bool:
        """Whether the whole of ``text`` matches."""
        return self.matches_lowered(text.lower() if self._fold else text)

    def matches_lowered(self, text: str) -> bool:
        """:meth:`matches` for a text already lower-cased when the glob folds case (actions)."""
        if self._exact is not None:
            return text == self._exact
        if self._prefix is not None and self._suffix is not None:
            return (
                len(text) >= self._min
                and text.startswith(self._prefix)
                and text.endswith(self._suffix)
            )
        chunks = self._chunks
        if len(chunks) == 1:
            only = chunks[0]
            return len(text) == only.width and only.at(text, 0)
        if len(text) < self._min:
            return False
        head, tail = chunks[0], chunks[-1]
        end = len(text) - tail.width
        if not head.at(text, 0) or not tail.at(text, end):
            return False
        pos = head.width
        for chunk in chunks[1:-1]:
            found = chunk.find(text, pos, end)
            if found < 0:
                return False
            pos = found + chunk.width
        return True


def _split_segments(pieces: Iterable[Piece], limit: int) -> list[list[Piece]]:
    """Pieces cut at ``:`` (in any piece, literal or not) into at most ``limit + 1`` segments."""
    segments: list[list[Piece]] = [[]]
    for text, literal in pieces:
        start = 0
        while len(segments) <= limit:
            colon = text.find(":", start)
            if colon < 0:
                break
            segments[-1].append((text[start:colon], literal))
            segments.append([])
            start = colon + 1
        segments[-1].append((text[start:], literal))
    return segments


class ArnGlob:
    """An ARN pattern: six segments matched apart (see the module docstring); a pattern that
    does not start with ``arn:`` (``*``, a service principal) is a plain glob."""

    __slots__ = ("_count", "_exact", "_globs", "_plain", "compile_chars", "weight")

    def __init__(self, pieces: tuple[Piece, ...]) -> None:
        text = "".join(t for t, _ in pieces)
        self._plain: Glob | None = None
        self._count = 0
        #: (segment index, text) of segments without wildcards: compared with ``==``
        self._exact: tuple[tuple[int, str], ...] = ()
        #: (segment index, glob) of the others; a segment that is just ``*`` is left out
        self._globs: tuple[tuple[int, Glob], ...] = ()
        if not text.startswith("arn:"):
            self._plain = Glob(pieces)
            self.weight = self._plain.weight
            self.compile_chars = self._plain.compile_chars
            return
        segments = _split_segments(pieces, 5)
        self._count = len(segments)
        exact: list[tuple[int, str]] = []
        globs: list[tuple[int, Glob]] = []
        for i, segment in enumerate(segments):
            if all(literal or not has_wildcard(t) for t, literal in segment):
                exact.append((i, "".join(t for t, _ in segment)))
            elif segment != [("*", False)]:
                globs.append((i, Glob(segment)))
        self._exact = tuple(exact)
        self._globs = tuple(globs)
        #: as ``Glob.weight``: the split of the text, then each segment's glob
        self.weight = 1 + sum(glob.weight for _, glob in globs)
        self.compile_chars = sum(glob.compile_chars for _, glob in globs)

    def matches(self, arn: str) -> bool:
        if self._plain is not None:
            return self._plain.matches(arn)
        parts = arn.split(":", 5)
        if len(parts) != self._count:
            return False
        for i, text in self._exact:
            if parts[i] != text:
                return False
        # a head segment of the text holds no ``:``, so a wildcard there cannot cross one
        return all(glob.matches(parts[i]) for i, glob in self._globs)


def compile_glob(pattern: str, *, ignore_case: bool = False) -> Glob:
    """A plain glob (``*`` any run, ``?`` one character) matched against a whole text."""
    return Glob(((pattern, False),), fold=ignore_case)


def compile_arn(pattern: str) -> ArnGlob:
    """An ARN pattern matched segment by segment (see module docstring)."""
    return ArnGlob(((pattern, False),))


def compile_arn_pieces(pieces: tuple[Piece, ...]) -> ArnGlob:
    """An ARN pattern assembled from pieces (after policy-variable substitution); compiled
    statements and conditions keep what they compiled, per request value, bounded."""
    return ArnGlob(pieces)


def compile_glob_pieces(pieces: tuple[Piece, ...], ignore_case: bool = False) -> Glob:
    return Glob(pieces, fold=ignore_case)


def action_matches(pattern: str, action: str) -> bool:
    """Case-insensitive glob match of one Action value against an action name."""
    if pattern == "*":
        return True
    return compile_glob(pattern, ignore_case=True).matches(action)


def resource_matches(pattern: str, resource: str) -> bool:
    """One Resource value against a resource ARN (``*`` matches everything)."""
    if pattern == "*":
        return True
    return compile_arn(pattern).matches(resource)
