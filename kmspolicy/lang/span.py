"""Source positions: every AST node and every diagnostic points back into the text it came from.

Layer: lang (pure). Spans never take part in AST equality, so a policy read from JSON equals the
same policy parsed from the DSL.

A span is either given its position when made (the DSL parser, diagnostics) or *deferred*: it
holds a locator and a key and asks the locator for the position on first use. The AWS JSON
reader decodes with a C decoder (orjson's, else the stdlib's), which keeps no positions; its
nodes keep only the key of their span, which is made (deferred) on the first read of
``node.span`` (ast._LazySpan), and the first position read makes the locator scan the text once
(most reads never look at a span: a policy that is valid and then only evaluated). Either way a
span reads the same: equality, hash, ``str`` and the fields do not show whether it was deferred.
"""

from __future__ import annotations

from typing import Any, Protocol

#: (line, column, end_line, end_column, path) of a located span
Location = tuple[int, int, int | None, int | None, str | None]


class Locator(Protocol):
    """Finds the position of a deferred span from the key and step it was made with."""

    def locate(self, key: Any, step: Any) -> Location: ...


class Span:
    """A region of a source text. Lines and columns are 1-based; ``end_*`` is exclusive.

    Immutable: the fields are read-only properties; a deferred span fills them in once.
    """

    __slots__ = (
        "_column",
        "_end_column",
        "_end_line",
        "_key",
        "_line",
        "_locator",
        "_path",
        "_source",
        "_step",
    )

    def __init__(
        self,
        source: str,
        line: int,
        column: int,
        end_line: int | None = None,
        end_column: int | None = None,
        path: str | None = None,
    ) -> None:
        self._source = source
        self._line = line
        self._column = column
        self._end_line = end_line
        self._end_column = end_column
        #: JSON location of the node (``Statement[1].Condition.StringEquals``), when read from JSON
        self._path = path
        self._locator: Locator | None = None
        self._key: object = None
        self._step: object = None

    @classmethod
    def deferred(cls, source: str, locator: Locator, key: object, step: object = None) -> Span:
        """A span whose position ``locator.locate(key, step)`` finds when a field is first read.

        The step lets spans share a key (the items of a list share the list's key, each with
        its index) rather than each holding a key object of its own: a reader makes tens of
        thousands of spans, and every extra object costs its allocation and a GC pass."""
        span = cls.__new__(cls)
        span._source = source
        span._locator = locator
        span._key = key
        span._step = step
        return span

    def _located(self) -> Span:
        locator = self._locator
        if locator is not None:
            (self._line, self._column, self._end_line, self._end_column, self._path) = (
                locator.locate(self._key, self._step)
            )
            self._locator = None  # the locator (and the text it holds) can be freed
        return self

    @property
    def source(self) -> str:
        return self._source

    @property
    def line(self) -> int:
        return self._located()._line

    @property
    def column(self) -> int:
        return self._located()._column

    @property
    def end_line(self) -> int | None:
        return self._located()._end_line

    @property
    def end_column(self) -> int | None:
        return self._located()._end_column

    @property
    def path(self) -> str | None:
        return self._located()._path

    def _fields(self) -> tuple[str, int, int, int | None, int | None, str | None]:
        s = self._located()
        return (s._source, s._line, s._column, s._end_line, s._end_column, s._path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Span):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        source, line, column, end_line, end_column, path = self._fields()
        return (
            f"Span(source={source!r}, line={line!r}, column={column!r}, end_line={end_line!r}, "
            f"end_column={end_column!r}, path={path!r})"
        )

    def __reduce__(self) -> tuple[type[Span], tuple[object, ...]]:
        return Span, self._fields()

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"
