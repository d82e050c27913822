"""The ``*.kmstest.yaml`` format: validation errors carry ``file:line:col``, unknown fields are
rejected, cases and tables expand to one request each."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Expectation
from kmspolicy.errors import ConfigError
from kmspolicy.testing.suite import load_suite
from kmspolicy.yamlpos import load_yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

HEADER = f"""\
principals:
  app: arn:aws:iam::111122223333:role/App
policies:
  key: {FIXTURES / "default-key-policy.json"}
defaults:
  resource: {KEY}
"""


def _suite(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "s.kmstest.yaml"
    path.write_text(header + body, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return str(info.value)


def test_unknown_field_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
cases:
  - name: typo
    principal: app
    action: kms:Decrypt
    expcet: allowed
""",
    )
    message = _error(path)
    assert f"{path}:11:5: cases.0.expcet: unknown field" in message
    assert f"{path}:8:5: cases.0.expect: Field required" in message


def test_bad_expectation_names_the_choices(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
cases:
  - name: bad
    principal: app
    action: kms:Decrypt
    expect: permitted
""",
    )
    message = _error(path)
    assert message.startswith(f"{path}:11:5: cases.0.expect:")
    assert "'allowed', 'denied', 'explicitDeny' or 'implicitDeny'" in message


def test_action_typo_suggests_the_action(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
cases:
  - name: typo
    principal: app
    action: kms:Decrpyt
    expect: allowed
""",
    )
    assert _error(path) == (
        f"{path}:8:5: `kms:Decrpyt` is not a KMS action (did you mean `kms:Decrypt`?)"
    )


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
cases:
  - name: twice
    principal: app
    action: kms:Decrypt
    expect: allowed
    expect: implicitDeny
""",
    )
    assert _error(path) == f"{path}:12:5: duplicate key `expect`"


def test_invalid_yaml_has_a_position(tmp_path: Path) -> None:
    path = _suite(tmp_path, "cases: [\n  - name: x\n")
    assert _error(path).startswith(f"{path}:")


def test_missing_policy_file_is_reported_where_it_is_named(tmp_path: Path) -> None:
    case = "cases: [{name: c, principal: app, action: Decrypt, expect: allowed}]\n"
    path = _suite(tmp_path, case, header="policies:\n  key: nowhere.json\n")
    assert _error(path).startswith(f"{path}:2:3: cannot read policy `nowhere.json`")


def test_invalid_policy_shows_the_policy_diagnostic(tmp_path: Path) -> None:
    header = HEADER.replace(str(FIXTURES / "default-key-policy.json"), "bad.json")
    (tmp_path / "bad.json").write_text('{"Statement": [{"Effect": "Allow"}]}')
    path = _suite(
        tmp_path,
        "tables: []\ncases: [{name: c, principal: app, action: Decrypt, expect: allowed}]\n",
        header=header,
    )
    message = _error(path)
    assert message.startswith(f"{path}:4:3: invalid key policy")
    assert "bad.json:1:" in message


def test_grant_operation_typo_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    header = HEADER.replace(
        "defaults:", "  grants:\n    - {grantee: app, operations: [Encrypt, Decrpyt]}\ndefaults:"
    )
    path = _suite(
        tmp_path,
        "cases: [{name: c, principal: app, action: Decrypt, expect: allowed}]\n",
        header=header,
    )
    message = _error(path)
    assert message.startswith(f"{path}:6:")
    assert "`Decrpyt` is not a grant operation; did you mean `Decrypt`?" in message


def test_policy_file_that_is_not_utf8_is_a_diagnostic_not_a_crash(tmp_path: Path) -> None:
    header = HEADER.replace(str(FIXTURES / "default-key-policy.json"), "latin1.json")
    (tmp_path / "latin1.json").write_bytes(b'{"Statement": [], "Id": "caf\xe9"}')
    path = _suite(
        tmp_path,
        "cases: [{name: c, principal: app, action: Decrypt, expect: allowed}]\n",
        header=header,
    )
    message = _error(path)
    assert message.startswith(f"{path}:4:3: invalid key policy")
    assert "byte 0xe9 is not valid UTF-8" in message


def test_case_without_principal_or_default(tmp_path: Path) -> None:
    path = _suite(tmp_path, "cases:\n  - {name: c, action: kms:Decrypt, expect: allowed}\n")
    assert _error(path) == f"{path}:8:5: case `c` has no `principal` (and no default)"


def test_table_rows_must_match_the_actions(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
tables:
  - name: t
    actions: [kms:Encrypt, kms:Decrypt]
    expect:
      app: [allowed]
""",
    )
    assert "row `app` has 1 cells for 2 actions" in _error(path)


def test_suite_without_cases_is_an_error(tmp_path: Path) -> None:
    assert "at least one entry in `cases`, `tables` or `checks`" in _error(_suite(tmp_path, ""))


def test_cases_and_tables_expand_and_inherit_defaults(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
defaults:
  resource: arn:aws:kms:us-east-1:111122223333:key/other
  context: {kms:ViaService: s3.us-east-1.amazonaws.com, aws:SecureTransport: true}
cases:
  - name: both
    principal: app
    actions: [Decrypt, kms:encrypt]
    context: {kms:ViaService: null}
    expect: denied
tables:
  - name: grid
    actions: [kms:Decrypt, kms:DescribeKey]
    expect:
      app: [allowed, implicitDeny]
      arn:aws:iam::111122223333:role/Other: [explicitDeny, denied]
""",
        header=HEADER.replace("defaults:\n  resource: " + KEY + "\n", ""),
    )
    suite = load_suite(path)
    names = [c.name for c in suite.cases]
    assert names == [
        "both [Decrypt]",
        "both [kms:encrypt]",
        "grid: app × kms:Decrypt",
        "grid: app × kms:DescribeKey",
        "grid: arn:aws:iam::111122223333:role/Other × kms:Decrypt",
        "grid: arn:aws:iam::111122223333:role/Other × kms:DescribeKey",
    ]
    first = suite.cases[0]
    assert first.action == "kms:Decrypt" and suite.cases[1].action == "kms:Encrypt"
    assert first.context == {"aws:SecureTransport": True}  # null removed the default
    assert first.resource.endswith("key/other")
    assert [c.expect for c in suite.cases[2:]] == [
        Expectation.ALLOWED,
        Expectation.IMPLICIT_DENY,
        Expectation.EXPLICIT_DENY,
        Expectation.DENIED,
    ]
    assert suite.cases[2].principal.arn == "arn:aws:iam::111122223333:role/App"
    assert suite.cases[4].mark.line == suite.cases[2].mark.line + 1


def test_inline_policies_json_and_dsl(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
  identity:
    app:
      - Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: kms:Decrypt, Resource: "*"}]
      - |
        policy version 2012-10-17

        allow "Enc"
          action kms:Encrypt
          resource *
cases: [{name: c, principal: app, action: kms:Decrypt, expect: allowed}]
""",
        header=HEADER.replace("defaults:", "XX").split("XX")[0],
    )
    # the header ends inside `policies:`; the identity block continues it
    text = path.read_text().replace("cases:", f"defaults:\n  resource: {KEY}\ncases:", 1)
    path.write_text(text)
    suite = load_suite(path)
    [(arn, policies)] = suite.identity.items()
    assert arn == "arn:aws:iam::111122223333:role/App"
    assert [p.policy.statements[0].actions[0].name for p in policies] == [
        "kms:Decrypt",
        "kms:Encrypt",
    ]


def test_yaml_marks_follow_pydantic_locations() -> None:
    located = load_yaml("a:\n  - x: 1\n    y: [2, 3]\n", "f.yaml")
    assert str(located.mark_for(("a", 0, "y", 1))) == "f.yaml:3:12"
    assert str(located.mark_for(("a", 0, "function-after[x]", "y"))) == "f.yaml:3:5"
    assert str(located.mark_for(("nope",))) == "f.yaml:1:1"


_names = st.text(alphabet="abcdefgh", min_size=1, max_size=6)
_trees = st.recursive(
    st.one_of(st.integers(0, 99), _names),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(_names, inner, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


@settings(max_examples=60, deadline=None)
@given(tree=st.dictionaries(_names, _trees, min_size=1, max_size=4))
def test_every_mapping_key_is_marked_on_its_own_line(tree: dict[str, object]) -> None:
    text = yaml.safe_dump(tree, default_flow_style=False)
    located = load_yaml(text, "t.yaml")
    assert located.data == tree
    lines = text.splitlines()
    for path in _paths(tree)[1:]:
        mark = located.mark_for(path)
        if isinstance(path[-1], str):
            assert lines[mark.line - 1][mark.column - 1 :].startswith(f"{path[-1]}:")
