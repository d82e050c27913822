"""The documentation, read from the installed package: the wheel ships ``docs/`` as
``kmspolicy/docs``; a source checkout (editable install) reads the repository's ``docs/``.

Layer: cli (adapter: file access). ``kmspolicy docs``, ``kmspolicy lint --explain`` and the
SARIF rule help all read the same pages, so what a user reads offline is what the repository
says.
"""

from __future__ import annotations

import importlib.resources
import re
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

from kmspolicy._cache import Once
from kmspolicy.errors import ConfigError

LINT_PAGE = "lint.md"


def docs_root() -> Traversable:
    packaged = importlib.resources.files("kmspolicy") / "docs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "docs"


def pages() -> list[str]:
    """Every page's name, ``index.md`` first."""
    names = sorted(p.name for p in docs_root().iterdir() if p.name.endswith(".md"))
    return sorted(names, key=lambda n: n != "index.md")


def read_page(name: str) -> str:
    """A page by name (``lint`` or ``lint.md``); ConfigError naming the pages there are."""
    wanted = name if name.endswith(".md") else f"{name}.md"
    page = docs_root() / wanted
    if not page.is_file():
        raise ConfigError(f"no documentation page `{name}`; pages: {', '.join(pages())}")
    return page.read_text(encoding="utf-8")


def page_uri(name: str) -> str:
    """An absolute ``file:`` URI of a page as installed here (SARIF wants absolute URIs)."""
    root = docs_root()
    return Path(str(root / name)).resolve().as_uri()


_ANCHOR = re.compile(r'^<a id="([a-z0-9-]+)"></a>\s*$', re.MULTILINE)


def _lint_rule_docs() -> MappingProxyType[str, str]:
    """code → that code's section of ``lint.md`` (Markdown, heading included)."""
    text = read_page(LINT_PAGE)
    marks = list(_ANCHOR.finditer(text))
    sections: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        body = text[mark.end() : end]
        # a section ends where the next anchor or the next severity heading (## …) begins
        body = re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0]
        sections[mark.group(1).upper().replace("-", "_")] = body.strip()
    return MappingProxyType(sections)


#: code → that code's section of ``lint.md``, read on first use
lint_rule_docs = Once(_lint_rule_docs)
