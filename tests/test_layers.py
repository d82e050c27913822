"""The dependency arrows of docs/design.md, and no import cycle, checked on the source.

The module graph is built from the source text, not from what Python happened to import: every
``import`` and ``from ... import`` (absolute or relative, at module level, inside a function or
under ``TYPE_CHECKING``), every module named by a string in a module that calls
``importlib.import_module``, and the package ``__init__`` that importing a submodule from
outside its package runs first (a package re-exporting its own submodules is a facade, not a
loop; the root facade ``kmspolicy`` is left out: nothing inside imports it, see below).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kmspolicy"
ROOT = "kmspolicy"

# layer -> the layers of ours it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "_cache": set(),
    "errors": set(),
    "messages": set(),
    "yamlpos": {"errors"},
    "optable": {"errors"},
    "lang": {"errors"},
    "authz": {"errors", "lang", "optable"},
    # the solver beside the evaluator: reasons about lang ASTs with authz semantics, no service
    "reasoning": {"errors", "lang", "authz"},
    "crypto": {"errors"},
    "kms": {"errors", "lang", "authz", "crypto", "optable"},
    "store": {"errors", "lang", "authz", "crypto", "kms", "optable"},
    "audit": {"errors", "lang", "authz", "crypto", "kms", "optable"},
    "server": {
        # the console's access matrix: who-can (reasoning) and the one-call decision (facade)
        "facade",
        "reasoning",
        "errors",
        "lang",
        "authz",
        "crypto",
        "kms",
        "optable",
        "store",
        "audit",
        "wiring",
        "yamlpos",
    },
    # kmspolicy xks-proxy: an adapter beside server (its SigV4 verifier and uvicorn stack)
    "xks": {
        "errors",
        "lang",
        "authz",
        "crypto",
        "kms",
        "optable",
        "store",
        "server",
        "yamlpos",
    },
    "cli": {
        "_extras",
        "xks",
        "errors",
        "lang",
        "authz",
        "crypto",
        "kms",
        "optable",
        "store",
        "audit",
        "server",
        "wiring",
        "testing",
        "yamlpos",
        "reasoning",
    },
    "testing": {
        "errors",
        "lang",
        "authz",
        "reasoning",
        "crypto",
        "kms",
        "optable",
        "store",
        "audit",
        "wiring",
        "yamlpos",
        "facade",
        "server",  # serve_in_thread / kms_endpoint: the real HTTP server, for tests
    },
    # kmspolicy.authorize: one call over lang and authz
    "facade": {"errors", "lang", "authz", "optable"},
    "wiring": {"errors", "lang", "authz", "crypto", "kms", "optable", "store", "audit"},
    # the facade re-exports the library layers; it never pulls in an adapter that needs a server
    "__init__": {
        "_extras",
        "errors",
        "lang",
        "authz",
        "crypto",
        "kms",
        "optable",
        "store",
        "audit",
        "wiring",
        "testing",
        "yamlpos",
        "facade",
    },
    "__main__": {"cli"},
    "_version": set(),
    "_files": set(),
    "_rng": set(),
    "_frozen": set(),
    "_extras": {"errors"},  # which extra brings which module: the CLI's and the facade's hint
}
# below every layer: the bounded cache, _files (write-once files), _version (one constant),
# _rng (the injected-randomness type), _frozen (the records' quicker __init__) and messages
# (AWS's error texts)
for _layer in ALLOWED:
    ALLOWED[_layer] |= {"_cache", "_files", "_frozen", "_rng", "_version", "messages"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(p): p for p in SOURCES}


def _resolve(importer: str, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside ``importer``."""
    if level == 0:
        return module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(name: str) -> Iterator[tuple[int, str]]:
    """(line, module of ours) for every import ``name``'s source makes, of any kind."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]))
    uses_importlib = False
    strings: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if sub in MODULES else base
        elif (isinstance(node, ast.Attribute) and node.attr == "import_module") or (
            isinstance(node, ast.Name) and node.id == "import_module"
        ):
            uses_importlib = True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append((node.lineno, node.value))
    if uses_importlib:
        for line, text in strings:
            if text in MODULES and "." in text:  # a dotted module name, not a distribution
                yield line, text


def edges(name: str) -> set[str]:
    """The modules of ours that importing ``name`` runs, by any of the means above."""
    out: set[str] = set()
    for _line, target in imports_of(name):
        if target not in MODULES or target == name:
            continue
        out.add(target)
        parts = target.split(".")
        for i in range(2, len(parts)):
            package = ".".join(parts[:i])
            if not (name == package or name.startswith(package + ".")):
                out.add(package)
    return out


def _layer_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("name", sorted(MODULES), ids=str)
def test_imports_point_down_the_stack(name: str) -> None:
    layer = _layer_of(name)
    allowed = ALLOWED[layer] | {layer}
    for line, module in imports_of(name):
        if module.split(".")[0] != ROOT:
            continue
        target = _layer_of(module)
        assert target in allowed, f"{name}:{line} imports {module} ({layer} -> {target})"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != ROOT), ids=str)
def test_nothing_imports_the_facade(name: str) -> None:
    for line, module in imports_of(name):
        assert module != ROOT, f"{name}:{line} imports the facade `kmspolicy` itself"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    components = sorted(c for c in strongly_connected(graph) if len(c) > 1)
    assert components == [["a", "b", "c"]]


def test_the_graph_sees_every_kind_of_import() -> None:
    # a relative import, an importlib string and a function-level import of the real package
    assert "kmspolicy.kms.handlers.keys" in edges("kmspolicy.kms.implemented")
    assert "kmspolicy.kms.client" in edges("kmspolicy.kms.service")
    assert "kmspolicy.kms.model" in edges("kmspolicy.kms.memory")
    # importing a submodule from outside its package runs the package's __init__ first
    assert "kmspolicy.kms.lifecycle" in edges("kmspolicy.store.sql")
    assert "kmspolicy.kms.lifecycle" not in edges("kmspolicy.kms.lifecycle.due")


def test_no_import_cycles() -> None:
    graph = {name: edges(name) for name in MODULES}
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles (strongly connected modules):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_crypto_touches_hazmat(path: Path) -> None:
    if path.relative_to(PACKAGE).parts[0] == "crypto":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert not name.startswith("cryptography.hazmat"), (
                f"{path}:{node.lineno} imports {name}"
            )
