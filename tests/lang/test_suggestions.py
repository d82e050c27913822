"""Did-you-mean help never repeats the rejected text; a bare prefix key says what is missing."""

from __future__ import annotations

import pytest

from kmspolicy.lang import PolicySyntaxError, parse_dsl
from kmspolicy.lang.diagnostics import did_you_mean, suggestion

HEADER = 'policy "p" version 2012-10-17\nallow principal * action kms:Decrypt resource *\n'


def test_did_you_mean_skips_a_candidate_identical_to_the_word() -> None:
    assert did_you_mean("aws:PrincipalTag/", ["aws:PrincipalTag/"]) is None
    assert suggestion("StringEquals", ["StringEquals", "StringEqualsIgnoreCase"]) != (
        "did you mean `StringEquals`?"
    )


def test_did_you_mean_still_fixes_the_case_of_a_word() -> None:
    assert did_you_mean("stringequals", ["StringEquals"]) == "StringEquals"


@pytest.mark.parametrize("key", ["aws:PrincipalTag/", "kms:EncryptionContext:"])
def test_a_prefix_key_without_its_name_is_reported_as_incomplete(key: str) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_dsl(f'{HEADER}  when StringEquals "{key}" "x"\n', "p.kmsp")
    [diagnostic] = info.value.diagnostics
    assert diagnostic.code == "unknown-condition-key"
    assert diagnostic.message == f"condition key `{key}` is incomplete"
    assert diagnostic.help == f"name what follows the prefix, e.g. `{key}team`"


def test_readers_reject_a_text_that_is_neither_str_nor_bytes_with_a_type_error() -> None:
    from kmspolicy.lang import read_json

    for reader in (read_json, lambda t: parse_dsl(t, "p.kmsp")):
        with pytest.raises(TypeError, match="a policy text is str or bytes, not int"):
            reader(5)


def test_a_non_utf8_byte_is_shown_in_its_whole_line() -> None:
    from kmspolicy.lang import read_json

    with pytest.raises(PolicySyntaxError) as info:
        read_json(b'{"Version":"2012-10-17","Statement":[{"Sid":"caf\xe9","Effect":"Allow"}]}')
    source, caret = info.value.render().split("\n")[1:3]
    assert source == (
        '1 | {"Version":"2012-10-17","Statement":[{"Sid":"caf\ufffd","Effect":"Allow"}]}'
    )
    assert source[caret.index("^")] == "\ufffd"
