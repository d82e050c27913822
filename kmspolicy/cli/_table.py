"""A box-drawn text table for people (``simulate``), without a rendering library.

Layer: cli (adapter). Piped (``width=None``) every column is as wide as its widest cell, so an
ARN is never folded or cut; on a terminal the widest columns are folded until the table fits.
A cell's style (click's ``fg``/``bold``) is applied after padding, so colour never changes the
layout.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import click

_MIN_COLUMN = 8


def _widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> list[int]:
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    if width is None:
        return widths
    frame = 3 * len(columns) + 1  # "│ " before each cell, " " after, and the closing "│"
    while sum(widths) + frame > width:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= _MIN_COLUMN:
            break  # as narrow as it sensibly gets: let the terminal wrap the rest
        widths[widest] -= 1
    return widths


def _fold(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def render_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    styles: Mapping[tuple[int, int], Mapping[str, Any]] | None = None,
    color: bool = False,
    row_lines: bool = True,
) -> str:
    """The table as text; ``styles`` maps (row, column) to ``click.style`` keywords."""
    widths = _widths(columns, rows, width)
    styles = styles or {}

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def line(cells: Sequence[str], bar: str, row: int | None) -> list[str]:
        folded = [_fold(cell, w) for cell, w in zip(cells, widths, strict=True)]
        out = []
        for n in range(max(len(f) for f in folded)):
            parts = []
            for col, (lines, w) in enumerate(zip(folded, widths, strict=True)):
                text = (lines[n] if n < len(lines) else "").ljust(w)
                style = styles.get((row, col)) if row is not None else {"bold": True}
                if color and style:
                    text = click.style(text, **style)
                parts.append(f" {text} ")
            out.append(bar + bar.join(parts) + bar)
        return out

    total = sum(widths) + 3 * len(widths) + 1
    lines = [title.center(total).rstrip(), rule("┏", "━", "┳", "┓")]
    lines += line(columns, "┃", None)
    lines.append(rule("┡", "━", "╇", "┩"))
    for i, row in enumerate(rows):
        if i and row_lines:
            lines.append(rule("├", "─", "┼", "┤"))
        lines += line(row, "│", i)
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines)
