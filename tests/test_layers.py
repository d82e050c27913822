"""The dependency arrows of DESIGN.md, checked by walking every import of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kmspolicy"

# layer -> the layers of ours it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
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
    "cli": {
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
}


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "kmspolicy"]


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_stack(path: Path) -> None:
    layer = _layer_of(path)
    # _version (one constant) is importable from every layer
    allowed = ALLOWED[layer] | {layer, "_version"}
    for line, module in _imports(path):
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else "__init__"
        assert target in allowed, (
            f"{path.relative_to(PACKAGE)}:{line} imports {module} ({layer} -> {target})"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_crypto_touches_hazmat(path: Path) -> None:
    if _layer_of(path) == "crypto":
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
