"""No module-level mutable state in kmspolicy (issue 10 §7): caches and registries belong to
instances (a ``KMS``, a store, a verifier), bounded, never to a module or a class.

Read statically from the source (nothing is imported): at module level and in class bodies, an
assignment of a mutable container (dict, list or set displays and comprehensions, or calls of
``dict``, ``list``, ``set``, ``defaultdict``, ``OrderedDict``, ``deque``, ``Counter``,
``bytearray``); a ``global`` or ``nonlocal``-free ``global`` statement anywhere; and
``functools.cache`` / ``lru_cache`` on any function (its memo is one per process). Read-only
tables are ``MappingProxyType``, ``frozenset`` or tuples; a resource too costly to build at
import is a ``kmspolicy._cache.Once`` (loaded from a function of no arguments: one value,
forever). Field defaults of pydantic models are not shared (pydantic copies them per
instance), so their class bodies are not read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kmspolicy"

_MUTABLE_CALLS = frozenset(
    {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter", "bytearray"}
)
_MUTABLE_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
_MEMO_DECORATORS = frozenset({"cache", "lru_cache"})
#: names that may be bound to a mutable value at module level: the star-import list (a
#: language convention, read by ``import *`` and the public-API test, never written)
_ALLOWED_NAMES = frozenset({"__all__"})
#: (file, name) allowed, each with its reason
ALLOWED = {
    # PKCS#11 keeps login state per application (process), not per session: the registry
    # mirrors that process-wide state of the token library, so one HsmRootKey closing its
    # session does not log out another one on the same token (docs/hsm.md)
    ("kmspolicy/store/pkcs11.py", "_Login._registry"),
}


def _called_name(node: ast.expr) -> str | None:
    """``f`` for ``f(...)``, ``mod.f(...)``, ``f``, ``mod.f`` (decorators with or without
    arguments)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_mutable(value: ast.expr) -> bool:
    if isinstance(value, _MUTABLE_DISPLAYS):
        return True
    return isinstance(value, ast.Call) and _called_name(value) in _MUTABLE_CALLS


def _targets(node: ast.stmt) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    names = []
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                names.append(n.id)
            elif isinstance(n, ast.Attribute):
                names.append(ast.unparse(n))
    return names


def _pydantic_models(tree: ast.Module) -> set[str]:
    """Classes of this module deriving from pydantic's ``BaseModel`` (directly or through
    another class of the module)."""
    models: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name not in models:
                bases = {_called_name(b) for b in node.bases}
                if "BaseModel" in bases or bases & models:
                    models.add(node.name)
                    changed = True
    return models


def _bodies(tree: ast.Module) -> list[tuple[str, list[ast.stmt]]]:
    """Statement lists executed once per process, with their scope's name: the module's (with
    its if/try blocks) and every class body's but pydantic models'."""
    models = _pydantic_models(tree)
    out: list[tuple[str, list[ast.stmt]]] = []
    todo: list[tuple[str, list[ast.stmt]]] = [("", tree.body)]
    while todo:
        scope, body = todo.pop()
        out.append((scope, body))
        for node in body:
            if isinstance(node, ast.ClassDef):
                if node.name not in models:
                    todo.append((f"{scope}{node.name}.", node.body))
            elif isinstance(node, ast.If | ast.With):
                todo.extend([(scope, node.body), (scope, getattr(node, "orelse", []))])
            elif isinstance(node, ast.Try):
                todo.extend([(scope, node.body), (scope, node.orelse), (scope, node.finalbody)])
                todo.extend((scope, h.body) for h in node.handlers)
    return out


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Where ``source`` keeps state in a module or a class, one line each."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    for scope, body in _bodies(tree):
        for node in body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                names = [
                    f"{scope}{n}"
                    for n in _targets(node)
                    if n not in _ALLOWED_NAMES and (filename, f"{scope}{n}") not in ALLOWED
                ]
                if names and _is_mutable(node.value):
                    found.append(
                        f"{filename}:{node.lineno}: {', '.join(names)} is a mutable "
                        "container shared by the whole process (use MappingProxyType, "
                        "frozenset or a tuple, or move it into an instance)"
                    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.append(f"{filename}:{node.lineno}: global {', '.join(node.names)}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                if _called_name(deco) in _MEMO_DECORATORS:
                    found.append(
                        f"{filename}:{node.lineno}: {node.name} memoizes per process "
                        f"(@{_called_name(deco)}); keep the memo in an instance, bounded"
                    )
    return found


def test_kmspolicy_keeps_no_state_in_modules_or_classes() -> None:
    found = [
        v
        for path in sorted(PACKAGE.rglob("*.py"))
        for v in violations(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    ]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "_CACHE = {}",
        "_CACHE: dict[str, int] = {}",
        "SEEN = set()",
        "ORDER = []",
        "A = B = {1: 2}",
        "TABLE = {k: k for k in 'ab'}",
        "from collections import OrderedDict\n_LRU = OrderedDict()",
        "import collections\n_BY = collections.defaultdict(list)",
        "if True:\n    _X = []",
        "try:\n    _X = {}\nexcept ImportError:\n    pass",
        "class Registry:\n    entries: dict[str, int] = {}",
        "def f():\n    global _last\n    _last = 1",
        "from functools import cache\n@cache\ndef f(x): return x",
        "import functools\n@functools.lru_cache(maxsize=8)\ndef f(x): return x",
        "from functools import lru_cache\nclass C:\n    @lru_cache\n    def m(self): return 1",
        "class Plain:\n    fields: list[str] = []",
    ],
)
def test_the_check_finds_state(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "__all__ = ['a', 'b']",
        "from types import MappingProxyType\nTABLE = MappingProxyType({'a': 1})",
        "NAMES = frozenset({'a', 'b'})",
        "ORDER = ('a', 'b')",
        "def f():\n    seen = {}\n    return seen",
        "class C:\n    def __init__(self):\n        self.cache = {}",
        "class C:\n    __slots__ = ('a',)",
        "from functools import cached_property\n"
        "class C:\n    @cached_property\n    def v(self): return 1",
        "from kmspolicy._cache import Once\nMODEL = Once(lambda: {'a': 1})",
        "from pydantic import BaseModel\nclass M(BaseModel):\n    tags: dict[str, str] = {}",
        "from pydantic import BaseModel\n"
        "class B(BaseModel): pass\nclass M(B):\n    xs: list[int] = []",
    ],
)
def test_the_check_passes_read_only_tables_and_instance_state(source: str) -> None:
    assert violations(source) == []


def test_the_allowlist_names_only_what_exists() -> None:
    """An allowed entry that the code no longer has is removed from the list."""
    for filename, name in ALLOWED:
        source = (PACKAGE.parent / filename).read_text()
        without = violations(source, "<elsewhere>")  # the allowlist does not apply there
        assert any(f" {name} is a mutable" in v for v in without), (filename, name)
