"""A small JSON scanner that keeps the position of every value and key (the stdlib keeps none).

Layer: lang (pure). Strict RFC 8259: no comments, no trailing commas, no NaN; duplicate object
keys are reported (IAM rejects them) rather than silently overwritten. Linear time; nesting depth
is bounded so hostile input cannot exhaust the stack.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import threading
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from kmspolicy.lang.diagnostics import Diagnostic, PolicySyntaxError
from kmspolicy.lang.span import Location, Span

MAX_DEPTH = 64
#: longer numbers are surely mistakes (and Python caps int() at 4300 digits)
MAX_NUMBER_DIGITS = 100

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"((?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*)"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_LITERALS = MappingProxyType({"true": True, "false": False, "null": None})


@dataclass(slots=True)
class JNode:
    """A JSON value: ``value`` is a scalar, a list of JNode, or a JObject's items."""

    value: object
    start: int
    end: int


@dataclass(slots=True)
class JKey:
    name: str
    start: int
    end: int


@dataclass(slots=True)
class JObject:
    items: list[tuple[JKey, JNode]] = field(default_factory=list)


class Positions:
    """Maps character offsets of one text to 1-based (line, column)."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def location(self, start: int, end: int, path: str | None = None) -> Location:
        line = bisect.bisect_right(self._starts, start)
        end_line = bisect.bisect_right(self._starts, end)
        return (
            line,
            start - self._starts[line - 1] + 1,
            end_line,
            end - self._starts[end_line - 1] + 1,
            path,
        )

    def span(self, start: int, end: int, path: str | None = None) -> Span:
        return Span(self.source, *self.location(start, end, path))


#: the steps from the root of a JSON text to a value: object member names and list indices
Steps = tuple[str | int, ...]


class Part(Enum):
    """The step of a deferred span that covers the name of the member its steps lead to
    (``"Action"`` in ``"Action": ...``) rather than the member's value."""

    NAME = "name"


#: the step of a deferred span of a JSON text: None for the value its steps lead to, an index
#: for an item of that (list) value, ``Part.NAME`` for the name of the member they lead to
JsonStep = int | Part | None


def path_text(steps: Steps) -> str:
    """``("Statement", 1, "Condition")`` → ``Statement[1].Condition`` (how diagnostics name it)."""
    out = ""
    for step in steps:
        out = f"{out}[{step}]" if isinstance(step, int) else f"{out}.{step}" if out else step
    return out


class JsonLocator:
    """Positions for the deferred spans of one JSON text (``Span.deferred(source, locator,
    steps, step)`` with ``Steps`` and a ``JsonStep``): the first span read makes it scan the
    text once with ``JsonScanner``; a reader that already scanned passes its tree instead.

    Only texts the scanner accepts are given to a locator, and keys name members that exist
    (the reader made them while walking the same document)."""

    def __init__(
        self, text: str, source: str, root: JNode | None = None, positions: Positions | None = None
    ) -> None:
        self.text = text
        self.source = source
        self._root = root
        self._positions = positions
        self._lock = threading.Lock()

    def _tree(self) -> tuple[JNode, Positions]:
        with self._lock:
            if self._positions is None:
                self._positions = Positions(self.text, self.source)
            if self._root is None:
                self._root = JsonScanner(self.text, self._positions).document()
            return self._root, self._positions

    def locate(self, steps: Steps, step: JsonStep) -> Location:
        of_name = step is Part.NAME
        if isinstance(step, int):
            steps = (*steps, step)
        root, positions = self._tree()
        at: JNode | JKey = root
        for i, down in enumerate(steps):
            assert isinstance(at, JNode)  # INVARIANT: only the last step can pick a name
            if isinstance(down, int):
                assert isinstance(at.value, list)  # INVARIANT: the key was made from this text
                at = at.value[down]
                continue
            assert isinstance(at.value, JObject)
            name, value = next((k, v) for k, v in at.value.items if k.name == down)
            at = name if of_name and i == len(steps) - 1 else value
        return positions.location(at.start, at.end, path_text(steps) or None)


class JsonScanner:
    def __init__(self, text: str, positions: Positions) -> None:
        self.text = text
        self.pos = positions
        self.diagnostics: list[Diagnostic] = []

    def fail(self, offset: int, message: str, help: str | None = None) -> PolicySyntaxError:
        span = self.pos.span(offset, min(offset + 1, len(self.text)))
        return PolicySyntaxError([Diagnostic("json-syntax", message, span, help)], self.text)

    def document(self) -> JNode:
        node, i = self.value(self._skip(0), 0)
        i = self._skip(i)
        if i != len(self.text):
            raise self.fail(i, "unexpected text after the JSON document")
        return node

    def _describe(self, i: int) -> str:
        return "end of input" if i >= len(self.text) else f"`{self.text[i]}`"

    def value(self, i: int, depth: int) -> tuple[JNode, int]:
        if depth > MAX_DEPTH:
            raise self.fail(i, f"JSON nested deeper than {MAX_DEPTH} levels")
        ch = self.text[i : i + 1]
        if ch == "{":
            return self._object(i, depth)
        if ch == "[":
            return self._array(i, depth)
        if ch == '"':
            text, end = self.string(i)
            return JNode(text, i, end), end
        m = _NUMBER.match(self.text, i)
        if m and m.end() > i:
            number: int | float
            if len(m.group()) > MAX_NUMBER_DIGITS:
                raise self.fail(i, f"number has more than {MAX_NUMBER_DIGITS} characters")
            if m.group(1) is None and m.group(2) is None:
                number = int(m.group())
            else:
                number = float(m.group())
                if not math.isfinite(number):
                    raise self.fail(i, f"number `{m.group()}` is out of range")
            return JNode(number, i, m.end()), m.end()
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, i):
                return JNode(literal, i, i + len(word)), i + len(word)
        raise self.fail(i, f"expected a JSON value, found {self._describe(i)}")

    def string(self, i: int) -> tuple[str, int]:
        m = _STRING.match(self.text, i)
        if m is None:
            raise self.fail(
                i,
                "malformed JSON string",
                'strings need a closing `"`; escape control characters, `"` and `\\`',
            )
        raw = m.group(1)
        if "\\" in raw:
            raw = json.loads(m.group())
            if any(0xD800 <= ord(c) <= 0xDFFF for c in raw):
                raise self.fail(i, "JSON string contains an unpaired surrogate escape")
        return raw, m.end()

    def _skip(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]  # [ \t\n\r]* always matches

    def _object(self, start: int, depth: int) -> tuple[JNode, int]:
        obj = JObject()
        seen: set[str] = set()
        i = self._skip(start + 1)
        if self.text[i : i + 1] == "}":
            return JNode(obj, start, i + 1), i + 1
        while True:
            if self.text[i : i + 1] != '"':
                raise self.fail(i, f"expected a quoted key, found {self._describe(i)}")
            name, key_end = self.string(i)
            key = JKey(name, i, key_end)
            i = self._skip(key_end)
            if self.text[i : i + 1] != ":":
                raise self.fail(i, f"expected `:` after the key, found {self._describe(i)}")
            node, i = self.value(self._skip(i + 1), depth + 1)
            if name in seen:
                self.diagnostics.append(
                    Diagnostic(
                        "duplicate-key",
                        f"duplicate JSON key `{name}`",
                        self.pos.span(key.start, key.end),
                        "IAM rejects documents that repeat a key in one object",
                    )
                )
            else:
                seen.add(name)
                obj.items.append((key, node))
            i = self._skip(i)
            ch = self.text[i : i + 1]
            if ch == "}":
                return JNode(obj, start, i + 1), i + 1
            if ch != ",":
                raise self.fail(i, f"expected `,` or `}}`, found {self._describe(i)}")
            i = self._skip(i + 1)

    def _array(self, start: int, depth: int) -> tuple[JNode, int]:
        items: list[JNode] = []
        i = self._skip(start + 1)
        if self.text[i : i + 1] == "]":
            return JNode(items, start, i + 1), i + 1
        while True:
            node, i = self.value(i, depth + 1)
            items.append(node)
            i = self._skip(i)
            ch = self.text[i : i + 1]
            if ch == "]":
                return JNode(items, start, i + 1), i + 1
            if ch != ",":
                raise self.fail(i, f"expected `,` or `]`, found {self._describe(i)}")
            i = self._skip(i + 1)
