"""vocab.parse_operator looks operators up in a table of every valid spelling: it must accept
and split exactly what splitting the text itself accepts (the table misses no spelling)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kmspolicy.lang import ConditionOperator, SetQualifier
from kmspolicy.lang.vocab import _split_operator, parse_operator

_pieces = st.tuples(
    st.sampled_from(["", ":", "X:", "ForAnyValue::", *(f"{q.value}:" for q in SetQualifier)]),
    st.sampled_from([*(op.value for op in ConditionOperator), "", "stringequals"]),
    st.sampled_from(["", "IfExists", "ifexists", "IfExistsIfExists", ":"]),
)


@given(_pieces.map("".join) | st.text(max_size=40))
def test_the_operator_table_accepts_what_splitting_accepts(text: str) -> None:
    assert parse_operator(text) == _split_operator(text)


def test_every_qualified_operator_is_in_the_table() -> None:
    for qualifier in (None, *SetQualifier):
        for op in ConditionOperator:
            for if_exists in (False, True) if op is not ConditionOperator.NULL else (False,):
                prefix = f"{qualifier.value}:" if qualifier else ""
                text = f"{prefix}{op.value}{'IfExists' if if_exists else ''}"
                assert parse_operator(text) == (qualifier, op, if_exists)
