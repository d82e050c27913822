"""The two DSL readers agree: whatever the one-pass reader (``dslscan``) accepts, Lark's LALR
parser reads to the same policies, with the same spans and comments; what it gives up on,
``parse_dsl`` reads with Lark (so errors are Lark's, exactly as before)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.lang import Policy, PolicySyntaxError, format_dsl, parse_dsl
from kmspolicy.lang.dsl import _read_with_lark, terminals
from kmspolicy.lang.dslscan import Scanner

from .strategies import policies
from .test_properties import _mutate, mutations

SOME = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _everything(value: object) -> object:
    """A node with all its fields, spans and comments included (AST equality skips those)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(_everything(getattr(value, f.name)) for f in dataclasses.fields(value)),
        )
    if isinstance(value, tuple | list):
        return tuple(_everything(v) for v in value)
    return (type(value).__name__, repr(value))  # a span's repr shows every field


def _both(text: str) -> tuple[object, object]:
    """(what dslscan reads or None, what Lark reads or the error it raises)."""
    fast = Scanner(text, "p.kmsp", terminals()).read()
    try:
        slow: object = _read_with_lark(text, "p.kmsp")
    except PolicySyntaxError as exc:
        slow = exc
    return fast, slow


blanks = st.sampled_from([" ", "  ", "\t", "\n", " \n  ", "\r\n", " # note\n", "\n\n# a\n# b\n"])


@SOME
@given(st.lists(policies(), min_size=1, max_size=3), st.data())
def test_well_formed_text_is_read_alike(batch: list[Policy], data: st.DataObject) -> None:
    text = format_dsl(batch)
    # the same text with other blanks and comments between its tokens
    pieces = text.split(" ")
    spaced = pieces[0] + "".join(data.draw(blanks) + p for p in pieces[1:])
    for variant in (text, spaced):
        fast, slow = _both(variant)
        if variant is text:
            assert fast is not None, "the one-pass reader gave up on formatted text"
        if fast is not None:
            assert not isinstance(slow, PolicySyntaxError), str(slow)
            assert _everything(fast) == _everything(slow)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), mutations)
def test_mutated_text_is_read_alike_or_left_to_lark(
    policy: Policy, edits: list[tuple[str, int, str]]
) -> None:
    fast, slow = _both(_mutate(format_dsl([policy]), edits))
    if fast is not None:
        assert not isinstance(slow, PolicySyntaxError), str(slow)
        assert _everything(fast) == _everything(slow)


@pytest.mark.parametrize(
    "text",
    [
        # Lark's contextual lexer splits these where the one-pass reader sees one word
        "policy version 2012-10-17allow action kms:Decrypt",
        'policy allow action kms:Decrypt,kms:Encrypt resource"arn:aws:kms:*:111122223333:key/*"',
        "policy allow action * when Bool aws:SecureTransport true\x0c",
        'policy allow action "kms:Decrypt" when NumericLessThan kms:X 1e3',
    ],
)
def test_text_the_one_pass_reader_leaves_reads_as_before(text: str) -> None:
    _, slow = _both(text)
    if isinstance(slow, PolicySyntaxError):
        with pytest.raises(PolicySyntaxError) as caught:
            parse_dsl(text, "p.kmsp")
        assert str(caught.value) == str(slow)
    else:
        assert _everything(parse_dsl(text, "p.kmsp")) == _everything(slow[0])  # type: ignore[index]
