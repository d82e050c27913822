"""Source positions: every AST node and every diagnostic points back into the text it came from.

Layer: lang (pure). Spans never take part in AST equality, so a policy read from JSON equals the
same policy parsed from the DSL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source text. Lines and columns are 1-based; ``end_*`` is exclusive."""

    source: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None
    #: JSON location of the node (``Statement[1].Condition.StringEquals``), when read from JSON
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"
