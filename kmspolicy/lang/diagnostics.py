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

    def render(self, source_text: str | None = None) -> str:
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


def excerpt(source_text: str, span: Span, *, underline: bool = True) -> list[str]:
    """The source line of ``span`` with a caret under it (two lines, or none when the line is
    out of range). A long line is cut to a window of ``EXCERPT_CONTEXT`` characters on each side
    of the column, marked with ``…``; ``underline=False`` puts a single ``^`` at the column."""
    # Lines are split on "\n" only, as the readers count them (str.splitlines would also split
    # on U+2028, form feeds, … and show the wrong line).
    text_lines = source_text.split("\n")
    if not 1 <= span.line <= len(text_lines):
        return []
    line = text_lines[span.line - 1].removesuffix("\r").expandtabs(1)  # one column per char
    start = min(span.column - 1, len(line))
    width = 1
    if underline and span.end_line == span.line and span.end_column is not None:
        width = max(1, span.end_column - span.column)
    elif underline and span.end_line is not None and span.end_line > span.line:
        width = len(line) - start  # a multi-line node: underline to the end of the line
    lo = max(0, start - EXCERPT_CONTEXT)
    hi = min(len(line), start + min(max(width, 1), EXCERPT_CONTEXT) + EXCERPT_CONTEXT)
    width = max(1, min(width, hi - start))
    prefix = "…" if lo > 0 else ""
    shown = f"{prefix}{line[lo:hi]}{'…' if hi < len(line) else ''}"
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
        return "\n".join(d.render(self.source_text) for d in self.diagnostics)

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
