"""Conjunctions and disjunctions built straight from their arguments.

Layer: reasoning (pure; z3). ``z3.And``/``z3.Or`` check and coerce every argument's sort on
each call (several Python calls per argument); the encoders build tens of thousands of them
from arguments that are Boolean terms already, and at 1,000 statements that coercion was most
of the time a check spent before the solver started. These build the same term (the same z3
``mk_and``/``mk_or`` call) and accept only Boolean terms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3


def _nary(make: Callable[..., Any], terms: tuple[z3.BoolRef, ...], empty: bool) -> z3.BoolRef:
    if not terms:
        return z3.BoolVal(empty)
    if len(terms) == 1:
        return terms[0]
    ctx = terms[0].ctx
    array = (z3.Ast * len(terms))()
    for i, term in enumerate(terms):
        array[i] = term.as_ast()
    return z3.BoolRef(make(ctx.ref(), len(terms), array), ctx)


def all_of(*terms: z3.BoolRef) -> z3.BoolRef:
    """``z3.And(*terms)`` for Boolean terms (``True`` when there are none)."""
    return _nary(z3.Z3_mk_and, terms, True)


def any_of(*terms: z3.BoolRef) -> z3.BoolRef:
    """``z3.Or(*terms)`` for Boolean terms (``False`` when there are none)."""
    return _nary(z3.Z3_mk_or, terms, False)
