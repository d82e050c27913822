"""Spans made on first read (kmspolicy.lang.ast._LazySpan) are exactly the spans an eager reader
gives: the oracle here writes each document itself, recording where every value and member name
starts and ends as it writes, and computes line and column from those offsets on its own (no
part of the reader's scanner or locator). Texts vary in layout, line endings (LF, CRLF),
non-ASCII characters written raw or as \\u escapes, escaped ``/``; invalid documents (wrong
types, unknown names, duplicate keys, truncated text) must put every diagnostic where the
oracle says its path is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.lang import Policy, PolicySyntaxError, PrincipalKind, read_json
from kmspolicy.lang.span import Span

from .json_members import Members, policy_members
from .strategies import policies

SOME = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Layout:
    indent: int | None
    newline: str
    ascii_only: bool
    escape_slash: bool


class Writer:
    """Writes a document and records, by path, where each value and member name lies (the
    first occurrence of a repeated name; later ones are kept in ``repeated``)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.out: list[str] = []
        self.size = 0
        self.values: dict[Path, tuple[int, int]] = {}
        self.names: dict[Path, tuple[int, int]] = {}
        self.repeated: list[tuple[int, int]] = []

    def _put(self, text: str) -> tuple[int, int]:
        start = self.size
        self.out.append(text)
        self.size += len(text)
        return start, self.size

    def _string(self, text: str) -> str:
        quoted = json.dumps(text, ensure_ascii=self.layout.ascii_only)
        return quoted.replace("/", "\\/") if self.layout.escape_slash else quoted

    def _break(self, depth: int) -> None:
        if self.layout.indent is not None:
            self._put(self.layout.newline + " " * (self.layout.indent * depth))

    def write(self, value: Any, path: Path = (), depth: int = 0) -> str:
        start = self.size
        if isinstance(value, Members):
            self._put("{")
            for n, (name, member) in enumerate(value.pairs):
                self._put(", " if n and self.layout.indent is None else "," if n else "")
                self._break(depth + 1)
                where = self._put(self._string(name))
                if (*path, name) in self.names:
                    self.repeated.append(where)
                    self._put(": ")
                    self.write(member, (*path, name, "<repeated>"), depth + 1)
                    continue
                self.names[(*path, name)] = where
                self._put(": ")
                self.write(member, (*path, name), depth + 1)
            if value.pairs:
                self._break(depth)
            self._put("}")
        elif isinstance(value, list):
            self._put("[")
            for n, item in enumerate(value):
                self._put(", " if n else "")
                self.write(item, (*path, n), depth + 1)
            self._put("]")
        elif isinstance(value, str):
            self._put(self._string(value))
        else:
            self._put(json.dumps(value))
        self.values[path] = (start, self.size)
        return "".join(self.out)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _path_text(path: Path) -> str | None:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}" if out else step
    return out or None


def _span(text: str, where: tuple[int, int], path: Path) -> Span:
    line, column = _line_column(text, where[0])
    end_line, end_column = _line_column(text, where[1])
    return Span("p.json", line, column, end_line, end_column, _path_text(path))


def _items(value: Any, path: Path) -> list[Path]:
    """The paths of a string-or-list element's values."""
    return [(*path, n) for n in range(len(value))] if isinstance(value, list) else [path]


def _member(members: Members, name: str) -> Any:
    return next(v for k, v in members.pairs if k == name)


def _expected(policy: Policy, doc: Members, writer: Writer, text: str) -> list[tuple[Any, Span]]:
    """Each node of the read policy with the span the oracle gives it, matched by structure."""
    at = writer.values
    out: list[tuple[Any, Span]] = [(policy, _span(text, at[()], ()))]
    statements = _member(doc, "Statement")
    for statement, path in zip(policy.statements, _items(statements, ("Statement",)), strict=True):
        out.append((statement, _span(text, at[path], path)))
        members = dict((statements[path[1]] if len(path) > 1 else statements).pairs)
        name = "NotAction" if statement.not_action else "Action"
        paths = _items(members[name], (*path, name))
        out += [(a, _span(text, at[p], p)) for a, p in zip(statement.actions, paths, strict=True)]
        if statement.resources is not None:
            name = "NotResource" if statement.not_resource else "Resource"
            paths = _items(members[name], (*path, name))
            out += [
                (r, _span(text, at[p], p)) for r, p in zip(statement.resources, paths, strict=True)
            ]
        if statement.principals is not None:
            name = "NotPrincipal" if statement.not_principal else "Principal"
            element = members[name]
            if statement.principals[0].kind is PrincipalKind.ANY:
                paths = [(*path, name)]
            else:
                paths = [p for kind, v in element.pairs for p in _items(v, (*path, name, kind))]
            out += [
                (p, _span(text, at[q], q)) for p, q in zip(statement.principals, paths, strict=True)
            ]
        conditions = members.get("Condition", Members([]))
        keys = [
            (key, values, (*path, "Condition", op, key))
            for op, block in conditions.pairs
            for key, values in block.pairs
        ]
        for condition, (_, values, key_path) in zip(statement.conditions, keys, strict=True):
            out.append((condition, _span(text, writer.names[key_path], key_path)))
            value_paths = _items(values, key_path)
            out += [
                (v, _span(text, at[p], p))
                for v, p in zip(condition.values, value_paths, strict=True)
            ]
    return out


layouts = st.builds(
    Layout,
    st.sampled_from([None, 0, 2]),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
)


@SOME
@given(policies(), layouts)
def test_spans_made_on_first_read_equal_the_eager_spans(policy: Policy, layout: Layout) -> None:
    doc = policy_members(policy)
    writer = Writer(layout)
    text = writer.write(doc)
    read = read_json(text, "p.json")
    assert read == policy
    for node, span in _expected(read, doc, writer, text):
        assert node.span == span, (node, node.span, span)
        assert str(node.span) == f"p.json:{span.line}:{span.column}"


#: diagnostics that point at a member's name rather than its value
_AT_NAME = {
    "unknown-element",
    "unknown-operator",
    "unknown-condition-key",
    "action-and-notaction",
    "resource-and-notresource",
    "principal-and-notprincipal",
}
#: the last step of the path of the diagnostics that always point at one member
_LAST_STEP = {
    "duplicate-sid": "Sid",
    "invalid-effect": "Effect",
    "action-and-notaction": "NotAction",
    "resource-and-notresource": "NotResource",
    "principal-and-notprincipal": "NotPrincipal",
}


@st.composite
def broken(draw: st.DrawFn, doc: Members) -> Members:
    """``doc`` with one to three statements broken: a wrong type, a misspelt name or value, a
    member repeated, an element doubled by its negation, a Sid given twice."""
    statements = _member(doc, "Statement")
    listed = statements if isinstance(statements, list) else [statements]
    for _ in range(draw(st.integers(1, 3))):
        statement: Members = draw(st.sampled_from(listed))
        pairs = statement.pairs
        n = draw(st.integers(0, len(pairs) - 1))
        name, value = pairs[n]
        change = draw(st.integers(0, 6))
        if change == 0:
            pairs[n] = (name, draw(st.sampled_from([5, True, None, [], Members([])])))
        elif change == 1:
            pairs.insert(n, (name + draw(st.sampled_from(["x", "s", "Ã©"])), value))
        elif change == 2:
            pairs.insert(draw(st.integers(0, len(pairs))), (name, value))  # a repeated key
        elif change == 3:
            pairs.append(("NotAction", "kms:Decrypt"))
        elif change == 4:
            pairs[n] = (name, [draw(st.sampled_from(["bad", "kms:", "arn:aws:kms", "Alow"]))])
        elif change == 5:
            pairs.append(("Condition", Members([("StringEqual", Members([("kms:Bogus", "x")]))])))
        else:  # the same Sid in this statement and the first (a duplicate unless they are one)
            for target in {id(s): s for s in (listed[0], statement)}.values():
                target.pairs = [(k, v) for k, v in target.pairs if k != "Sid"] + [("Sid", "twice")]
    return doc


@SOME
@given(st.data(), policies(), layouts)
def test_every_diagnostic_is_where_the_eager_reader_puts_it(
    data: st.DataObject, policy: Policy, layout: Layout
) -> None:
    doc = data.draw(broken(policy_members(policy)))
    writer = Writer(layout)
    text = writer.write(doc)
    try:
        read_json(text, "p.json")
    except PolicySyntaxError as exc:
        diagnostics = exc.diagnostics
    else:
        return  # the change happened to be harmless (a repeated Sid of one statement, ...)
    by_text = {_path_text(p): (p, w) for p, w in writer.values.items()}
    names = {_path_text(p): (p, w) for p, w in writer.names.items()}
    repeated = [_span(text, w, ()) for w in writer.repeated]
    for d in diagnostics:
        assert d.span is not None
        if d.code == "duplicate-key":
            assert d.span in repeated
            continue
        table = names if d.code in _AT_NAME else by_text
        path, where = table[d.span.path]
        assert d.code not in _LAST_STEP or path[-1] == _LAST_STEP[d.code], d
        assert d.span == _span(text, where, path), (d, d.span)


@SOME
@given(policies(), layouts, st.integers(1, 10**6))
def test_a_truncated_text_is_one_positioned_syntax_error(
    policy: Policy, layout: Layout, cut: int
) -> None:
    text = Writer(layout).write(policy_members(policy))
    text = text[: cut % len(text)]  # never the closing brace: never a whole document
    try:
        read_json(text, "p.json")
    except PolicySyntaxError as exc:
        (d,) = exc.diagnostics
        assert d.code == "json-syntax" and d.span is not None
        line, column = d.span.line, d.span.column
        assert (line, column) <= _line_column(text, len(text))
        assert str(exc).startswith(f"p.json:{line}:{column}: error[json-syntax]")
    else:
        raise AssertionError("a truncated document was read")
