"""``kmspolicy lint``: a misspelt action gets a did-you-mean, and findings on a minified policy
show a window of the long line rather than the whole of it."""

from __future__ import annotations

import json

from kmspolicy.authz.lint import lint_text


def _policy(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": list(actions),
                    "Resource": "*",
                }
            ],
        }
    )


def _unknown(text: str) -> dict[str, str | None]:
    return {
        f.message.split("`")[1]: f.help
        for f in lint_text(text, "p.json")
        if f.code == "UNKNOWN_ACTION"
    }


def test_a_misspelt_action_gets_the_closest_kms_action() -> None:
    found = _unknown(_policy("kms:Encrpyt", "kms:decrpyt", "kms:GenerateDataKeyWithoutPlaintex"))
    assert found == {
        "kms:Encrpyt": "did you mean `kms:Encrypt`?",
        "kms:decrpyt": "did you mean `kms:Decrypt`?",
        "kms:GenerateDataKeyWithoutPlaintex": "did you mean `kms:GenerateDataKeyWithoutPlaintext`?",
    }


def test_no_suggestion_for_a_far_name_or_a_wildcard_pattern() -> None:
    assert _unknown(_policy("kms:Frobnicate", "kms:Encrpyt*")) == {
        "kms:Frobnicate": None,
        "kms:Encrpyt*": None,
    }


def test_the_suggestion_is_rendered_as_a_help_line() -> None:
    text = _policy("kms:Encrpyt")
    [finding] = [f for f in lint_text(text, "p.json") if f.code == "UNKNOWN_ACTION"]
    assert "  help: did you mean `kms:Encrypt`?" in finding.render(text).splitlines()


def test_a_finding_on_a_minified_policy_shows_a_window_with_the_caret_under_it() -> None:
    statements = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:Decrypt" if i != 6 else "kms:Encrpyt",
            "Resource": "*",
        }
        for i in range(10)
    ]
    text = json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))
    [finding] = [f for f in lint_text(text, "p.json") if f.code == "UNKNOWN_ACTION"]
    rendered = finding.render(text).splitlines()
    source, caret = rendered[1], rendered[2]
    assert source.startswith("1 | …") and source.endswith("…") and len(source) < 140
    assert caret.count("^") == 1
    assert source[caret.index("^") :].startswith('"kms:Encrpyt"')


def test_operator_type_mismatch_uses_the_right_article() -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceIp": "10.0.0.1"}},
                }
            ],
        }
    )
    [finding] = [f for f in lint_text(text, "p.json") if f.code == "OPERATOR_TYPE_MISMATCH"]
    assert "is an IP key" in finding.message and finding.help == "use an IP operator"
