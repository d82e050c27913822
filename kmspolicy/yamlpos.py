"""YAML with positions: load a document and remember where every value was written.

Layer: a foundation module (imports only ``errors``), the one YAML reading path of the project:
compliance suites (``testing``) and the server's identities file (``server``) both load through
it. Both are validated by pydantic, whose errors name a location path (``cases.3.expect``); this
module maps such a path back to ``file:line:col`` so an author sees where the mistake is, not only
what it is. Duplicate mapping keys are refused everywhere (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from kmspolicy.errors import ConfigError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a YAML source."""

    source: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(slots=True)
class Located:
    """A loaded YAML document plus the position of each value, keyed by its path."""

    data: Any
    source: str
    marks: dict[PathKey, Mark] = field(default_factory=dict)

    def mark_for(self, loc: tuple[Any, ...]) -> Mark:
        """The position of the deepest value along ``loc`` that exists in the document.

        Pydantic locations may contain union tags (``str``, ``function-after[...]``) that are not
        keys of the data: they are skipped, so the answer is the nearest real value.
        """
        path: list[str | int] = []
        node = self.data
        for part in loc:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if in_dict or in_list:
                path.append(part)
                node = node[part]
        while path and tuple(path) not in self.marks:
            path.pop()
        return self.marks.get(tuple(path), Mark(self.source, 1, 1))


def load_yaml(text: str, source: str) -> Located:
    """Parse one YAML document; raise ConfigError (with ``file:line:col``) if it is not valid YAML.

    Duplicate mapping keys are rejected: PyYAML would silently keep the last one, and a suite
    whose second ``expect:`` hides the first is exactly the kind of mistake a reviewer misses.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        located = Located(data=None, source=source)
        if node is not None:
            located.data = _build(loader, node, (), located)
        return located
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, out: Located) -> Any:
    out.marks[path] = Mark(out.source, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves ``<<: *defaults`` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, out.source)
            if not isinstance(key, str | int):
                key = str(key)
            if key in result:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                raise ConfigError(f"{out.source}:{line}:{col}: duplicate key `{key}`")
            result[key] = _build(loader, value_node, (*path, key), out)
            # a key's own position is better than its value's for "unknown field" errors
            out.marks[(*path, key)] = Mark(
                out.source, key_node.start_mark.line + 1, key_node.start_mark.column + 1
            )
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), out) for i, item in enumerate(node.value)]
    return _construct(loader, node, out.source)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, source: str) -> Any:
    """A scalar's value; a scalar PyYAML recognises but cannot build (``2026-02-30``, a
    timestamp out of range) is a positioned ConfigError, not a ValueError traceback."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:
        where = f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
        raise ConfigError(f"{where}: invalid value `{node.value}`: {exc}") from None
