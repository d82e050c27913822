"""Diagnostics as data: a stable code, a severity, a message, a span and a help line.

Layer: lang (pure). Both readers (DSL and AWS JSON) report through these; ``render`` prints a
diagnostic the way a compiler does (``file:line:col: message``, the source line, a caret, help).
Messages follow one style: one sentence, lowercase, no final period, user input in backticks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kmspolicy.errors import PolicyError
from kmspolicy.lang.span import Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a policy text. ``code`` is stable (tests and tools match on it)."""

    code: str
    message: str
    span: Span | None = None
    help: str | None = None
    severity: Severity = Severity.ERROR

    def render(self, source_text: str | SourceLines | None = None) -> str:
        """``file:line:col: error[code]: message``, then the source line with a caret, then help."""
        where = f"{self.span}: " if self.span is not None else ""
        path = f" (at {self.span.path})" if self.span is not None and self.span.path else ""
        lines = [f"{where}{self.severity.value}[{self.code}]: {self.message}{path}"]
        if self.span is not None and source_text is not None:
            lines.extend(excerpt(source_text, self.span))
        if self.help:
            lines.append(f"  help: {self.help}")
        return "\n".join(lines)


#: characters of context shown on each side of the column on a long (e.g. minified) line
EXCERPT_CONTEXT = 60


def line_starts(text: str) -> list[int]:
    """The offset at which each line of ``text`` starts. Lines are split on "\n" only, as the
    readers count them (str.splitlines would also split on U+2028, form feeds, …)."""
    starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


class SourceLines:
    """A source text whose line starts are found once (on first use), so excerpts for any
    number of diagnostics cost one scan of the text plus the excerpts themselves."""

    __slots__ = ("_starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    def bounds(self, number: int) -> tuple[int, int] | None:
        """(start, end) offsets of 1-based line ``number`` without its "\n", or None."""
        if self._starts is None:
            self._starts = line_starts(self.text)
        starts = self._starts
        if not 1 <= number <= len(starts):
            return None
        end = starts[number] - 1 if number < len(starts) else len(self.text)
        return starts[number - 1], end


def excerpt(source: str | SourceLines, span: Span, *, underline: bool = True) -> list[str]:
    """The source line of ``span`` with a caret under it (two lines, or none when the line is
    out of range). A long line is cut to a window of ``EXCERPT_CONTEXT`` characters on each side
    of the column, marked with ``…``; ``underline=False`` puts a single ``^`` at the column.
    Only the window is copied, so a long minified line costs no more than a short one."""
    lines = source if isinstance(source, SourceLines) else SourceLines(source)
    found = lines.bounds(span.line)
    if found is None:
        return []
    line_start, line_end = found
    text = lines.text
    if line_end > line_start and text[line_end - 1] == "\r":
        line_end -= 1
    length = line_end - line_start  # a tab shows as one space: one column per char
    start = min(span.column - 1, length)
    width = 1
    if underline and span.end_line == span.line and span.end_column is not None:
        width = max(1, span.end_column - span.column)
    elif underline and span.end_line is not None and span.end_line > span.line:
        width = length - start  # a multi-line node: underline to the end of the line
    lo = max(0, start - EXCERPT_CONTEXT)
    hi = min(length, start + min(max(width, 1), EXCERPT_CONTEXT) + EXCERPT_CONTEXT)
    width = max(1, min(width, hi - start))
    prefix = "…" if lo > 0 else ""
    window = text[line_start + lo : line_start + hi].replace("\t", " ")
    shown = f"{prefix}{window}{'…' if hi < length else ''}"
    gutter = f"{span.line} | "
    return [
        f"{gutter}{shown}",
        f"{' ' * (len(gutter) - 2)}| {' ' * (len(prefix) + start - lo)}{'^' * width}",
    ]


class PolicySyntaxError(PolicyError):
    """An invalid policy text. ``diagnostics`` holds every error found; ``str()`` renders them."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source_text: str | None = None) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        self.source_text = source_text
        super().__init__(self.render())

    def render(self) -> str:
        lines = SourceLines(self.source_text) if self.source_text is not None else None
        return "\n".join(d.render(lines) for d in self.diagnostics)

    @property
    def span(self) -> Span | None:
        """The position of the first error (every syntax error has one)."""
        return self.diagnostics[0].span if self.diagnostics else None


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = 0.75) -> str | None:
    """The closest candidate to a misspelt ``word`` (case-insensitive), or None."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        if candidate != word:  # suggesting the very text that was rejected helps nobody
            by_lower.setdefault(candidate.lower(), candidate)
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[found[0]] if found else None


def suggestion(word: str, candidates: Iterable[str], *, cutoff: float = 0.75) -> str | None:
    """A ``help`` line "did you mean `x`?" for a misspelt word, or None."""
    found = did_you_mean(word, candidates, cutoff=cutoff)
    return f"did you mean `{found}`?" if found is not None else None
