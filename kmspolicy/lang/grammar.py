"""Loads the DSL grammar and builds the one LALR parser (cached).

Layer: lang. The only file access in the package besides ``load_policies``: the grammar ships
inside the wheel as ``kmspolicy/grammar/kmspolicy.lark`` and lives in the repository's
``grammar/`` in a source checkout (an editable install reads it from there).
"""

from __future__ import annotations

import importlib.resources
from contextvars import ContextVar
from pathlib import Path

from lark import Lark, Token

from kmspolicy._cache import Once

GRAMMAR_NAME = "kmspolicy.lark"

#: comments seen by the lexer during the current parse (the lexer callback has no other channel)
COMMENTS: ContextVar[list[Token] | None] = ContextVar("kmspolicy_dsl_comments", default=None)


def grammar_text() -> str:
    packaged = importlib.resources.files("kmspolicy") / "grammar" / GRAMMAR_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME
    return checkout.read_text(encoding="utf-8")


def _collect_comment(token: Token) -> Token:
    sink = COMMENTS.get()
    if sink is not None:
        sink.append(token)
    return token


def build_parser(*, strict: bool = False) -> Lark:
    """A fresh parser; ``strict=True`` (used by a test) fails on any conflict or collision.

    Without ``strict``, Lark still looks for terminal collisions whenever ``interegular`` is
    installed (a dev dependency), capped by Lark at 0.2 s; the strict test proves there are
    none. We no longer switch that search off through Lark's module global: it was a private
    knob, and the search costs about 0.1 s at a development process's first parse.
    """
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
        lexer_callbacks={"COMMENT": _collect_comment},
    )


#: the DSL's parser, built on first use
parser = Once(build_parser)
