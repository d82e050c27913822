"""The AWS JSON reader: an IAM policy document → the AST, with a position on every node.

Layer: lang (pure). Accepts every shape IAM accepts (one statement object or a list, string or
list values, bool/number condition values, Version 2008-10-17/2012-10-17 or none) and reports
invalid documents like IAM Access Analyzer's ERROR findings: every problem found, each with its
JSON path and line:column. The writer lives in ``jsonwriter``.

The text is decoded by orjson's C decoder (when installed: the server extra brings it) and the
reader walks plain values; a node keeps only its span's key (its JSON steps, the locator and its
step: no object of its own), its Span is made on the first read of ``node.span``
(``ast._LazySpan``) and located by ``JsonLocator``, which scans the text once for positions when
a position is first read.

orjson keeps the last of repeated keys silently and turns an integer past 64 bits into a
float, so its tree vouches only for a document the reader accepts whole, with no float value,
whose objects hold as many members as the text has keys (``_member_bound``: a C-speed count
that no key escapes, so equal counts prove that no key repeats). Any other text (malformed,
invalid, a repeated key, a float) is read again by the exact path: the stdlib decoder with
hooks that refuse what only the positional scanner reports exactly (duplicate keys, NaN,
over-long numbers, surrogate escapes), and ``JsonScanner`` for those, whose tree the locator
reuses. Both paths give the same policy and the same diagnostics
(tests/lang/test_json_fast_path.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar

try:  # the server extra's; the toolkit alone (README: under 10 distributions) reads exactly
    import orjson
except ImportError:  # tests/lang/test_json_fast_path.py reads as if so
    orjson = None  # type: ignore[assignment]

from kmspolicy.lang import vocab
from kmspolicy.lang.ast import (
    Condition,
    ConditionValue,
    Effect,
    Policy,
    Principal,
    PrincipalKind,
    Statement,
    new_action,
    new_condition,
    new_condition_value,
    new_policy,
    new_principal,
    new_resource,
    new_statement,
)
from kmspolicy.lang.diagnostics import Diagnostic, PolicySyntaxError, suggestion
from kmspolicy.lang.gcpause import gc_paused
from kmspolicy.lang.jsonscan import (
    MAX_NUMBER_DIGITS,
    JNode,
    JObject,
    JsonLocator,
    JsonScanner,
    Part,
    Positions,
    Steps,
)
from kmspolicy.lang.span import Span

#: KMS key policy size limit (bytes, not adjustable) → LimitExceededException in AWS
KEY_POLICY_MAX_BYTES = 32_768
VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = ("Version", "Id", "Statement")
_PRINCIPAL_KINDS = tuple(k.value for k in PrincipalKind if k is not PrincipalKind.ANY)
_STATEMENT_KEYS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
#: a principal kind's name → its check and its node builder (made once, not per statement)
_PRINCIPAL_READERS = MappingProxyType(
    {
        kind.value: (partial(vocab.check_principal, kind), partial(new_principal, kind))
        for kind in PrincipalKind
        if kind is not PrincipalKind.ANY
    }
)
#: each list of allowed member names as a set
_ALLOWED = MappingProxyType(
    {names: frozenset(names) for names in (_TOP_KEYS, _STATEMENT_KEYS, _PRINCIPAL_KINDS)}
)
#: the Effect of its JSON text (an Enum call costs a Python-level lookup per statement)
_EFFECTS = MappingProxyType({e.value: e for e in Effect})
#: what a memo of checks holds for a text not checked yet
_UNCHECKED = object()
_SCALARS = (str, bool, int, float)
_NOT_A_SCALAR = "a condition value must be a string, number or boolean"
# KMS key policies: printable ASCII and Latin-1, TAB, LF, CR (KMS Developer Guide, key policies)
_KEY_POLICY_BAD_CHAR = re.compile(r"[^\t\n\r\x20-\x7e\xa0-\xff]")
# a \uD800-\uDFFF escape: the stdlib C decoder accepts a lone one, IAM (and JsonScanner) do not
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# the end of a key written with whitespace before its colon (``"Sid" : ...``); the usual ``":``
# is counted by str.count, ~2x faster than this pattern
_SPACED_COLON = re.compile(r'"[ \t\n\r]+:')

T = TypeVar("T")


def decode_text(data: str | bytes, source: str) -> str:
    """Bytes → str as UTF-8 (a leading BOM is dropped); a non-UTF-8 byte is a positioned error."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"a policy text is str or bytes, not {type(data).__name__}")
    data = bytes(data)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        span = Span(source, line, column, line, column + 1)
        raise PolicySyntaxError(
            [
                Diagnostic(
                    "not-utf8",
                    f"byte 0x{data[exc.start]:02x} is not valid UTF-8",
                    span,
                    "policy documents must be encoded as UTF-8",
                )
            ],
            # the whole text, the bad bytes shown as U+FFFD: the excerpt shows the full line
            data.decode("utf-8", "replace"),
        ) from None


def read_json(text: str | bytes, source: str = "<string>", *, key_policy: bool = False) -> Policy:
    """Read one AWS JSON policy document. Raises PolicySyntaxError listing every problem found.

    ``key_policy=True`` adds the KMS key-policy rules: at most 32,768 bytes, the KMS character
    set, and a Principal (or NotPrincipal) in every statement.
    """
    decoded = decode_text(text, source)  # first: it rejects what is neither str nor bytes
    diagnostics: list[Diagnostic] = []
    raw_size = 0
    if key_policy:
        raw_size = (
            len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
        )
    if raw_size > KEY_POLICY_MAX_BYTES:
        diagnostics.append(
            Diagnostic(
                "policy-too-large",
                f"key policy is {raw_size} bytes, more than the {KEY_POLICY_MAX_BYTES}-byte limit",
                Positions(decoded, source).span(0, 1),
                "split statements or use grants; the KMS limit is not adjustable",
            )
        )
    if key_policy and (bad := _KEY_POLICY_BAD_CHAR.search(decoded)):
        diagnostics.append(
            Diagnostic(
                "invalid-character",
                f"character U+{ord(bad.group()):04X} is not allowed in a key policy",
                Positions(decoded, source).span(bad.start(), bad.end()),
                "key policies allow printable ASCII and Latin-1 characters, tab and newlines",
            )
        )
    with gc_paused(len(decoded)):
        # the key-policy findings are reported with the exact path's (it finds them all)
        policy = None if diagnostics else _vouched(decoded, source, key_policy)
        if policy is None:
            policy = _exact(decoded, source, key_policy, diagnostics)
    if diagnostics or policy is None:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise PolicySyntaxError(diagnostics, decoded)
    return policy


def _vouched(text: str, source: str, key_policy: bool) -> Policy | None:
    """The policy read from orjson's tree, or None unless that tree vouches for the text: the
    reader accepts it whole, reads no float, and its objects hold every key the text has.
    None without orjson (an install without the server extra): the exact path reads it all."""
    if orjson is None:
        return None
    try:
        root = orjson.loads(text)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return None
    reader = _Reader(source, JsonLocator(text, source), key_policy)
    policy = reader.policy(root)
    # freed while the collector still waits: its first pass then walks only the AST
    del root
    if reader.diagnostics or reader.floats or policy is None:
        return None
    return policy if reader.member_count == _member_bound(text) else None


def _member_bound(text: str) -> int:
    """At least the number of object members in ``text``: each key's closing quote is followed
    by optional whitespace and a colon, and no two keys share a match. Other quotes may add
    matches (one inside a string, ``"a\\":"``, or one opening a string that starts with a
    colon), never remove one: the fast path then gives way, the text is still read right."""
    return text.count('":') + len(_SPACED_COLON.findall(text))


def _exact(
    text: str, source: str, key_policy: bool, diagnostics: list[Diagnostic]
) -> Policy | None:
    """The policy read exactly as written (every problem added to ``diagnostics``): the stdlib
    decoder's tree when it holds what the text says, else ``JsonScanner``'s."""
    try:
        root = _decode(text)
        locator = JsonLocator(text, source)
    except _NotDecoded:
        positions = Positions(text, source)
        scanner = JsonScanner(text, positions)  # raises the positioned syntax error
        tree = scanner.document()
        diagnostics += scanner.diagnostics
        locator = JsonLocator(text, source, tree, positions)
        root = _plain(tree)
    reader = _Reader(source, locator, key_policy)
    policy = reader.policy(root)
    del root  # as in _vouched
    diagnostics += reader.diagnostics
    return policy


class _NotDecoded(Exception):
    """The text holds something only ``JsonScanner`` reports exactly (or rejects)."""


def _decode(text: str) -> Any:
    """The text's value by the stdlib C decoder. Raises _NotDecoded unless it is plain valid JSON
    that ``JsonScanner`` accepts as is (else the scanner's positioned diagnostics are wanted)."""
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):  # the plain find first: ~30x faster
        raise _NotDecoded
    try:
        return json.loads(
            text,
            object_pairs_hook=_members,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise _NotDecoded from None


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):  # a duplicate key: the scanner reports it
        raise _NotDecoded
    return found


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _NotDecoded
    return int(text)


def _float(text: str) -> float:
    number = float(text)
    if len(text) > MAX_NUMBER_DIGITS or not math.isfinite(number):
        raise _NotDecoded
    return number


def _constant(text: str) -> float:
    raise _NotDecoded  # NaN, Infinity: not JSON


def _plain(node: JNode) -> Any:
    """A scanned tree as the values ``json.loads`` gives (duplicate keys already dropped)."""
    value = node.value
    if isinstance(value, JObject):
        return {key.name: _plain(v) for key, v in value.items}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Reader:
    def __init__(self, source: str, locator: JsonLocator, key_policy: bool) -> None:
        self.source = source
        self.locator = locator
        self.key_policy = key_policy
        self.diagnostics: list[Diagnostic] = []
        #: each Sid with the steps to its statement (its span is made only for a duplicate)
        self.sids: list[tuple[str, Steps]] = []
        #: what each check said of each text already checked, by check (a policy repeats its
        #: actions and condition keys; the memo lives as long as the read)
        self.checked: dict[Callable[..., Any], dict[str, Any]] = {}
        #: the members of every object read (each object counted once: _vouched compares the
        #: sum with the text's keys) and whether a float was read (orjson's may be inexact)
        self.member_count = 0
        self.floats = False

    def span(self, steps: Steps, *, name: bool = False) -> Span:
        """The (deferred) span of the value at ``steps``, or of its member name."""
        return Span.deferred(self.source, self.locator, steps, Part.NAME if name else None)

    def error(
        self, code: str, message: str, steps: Steps, help: str | None = None, *, name: bool = False
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.span(steps, name=name), help))

    def memo(self, check: Callable[..., Any]) -> dict[str, Any]:
        """What ``check`` said of each text already given to it in this read."""
        checked = self.checked.get(check)
        if checked is None:
            checked = self.checked[check] = {}
        return checked

    def members(
        self, value: Any, steps: Steps, allowed: tuple[str, ...], what: str
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error("wrong-type", f"{what} must be a JSON object", steps)
            return None
        self.member_count += len(value)
        if value.keys() <= _ALLOWED[allowed]:  # one set comparison for the usual object
            return value
        found: dict[str, Any] = {}
        for name, member in value.items():
            if name in allowed:
                found[name] = member
            else:
                self.error(
                    "unknown-element",
                    f"unknown element `{name}` in {what}",
                    (*steps, name),
                    suggestion(name, allowed, cutoff=0.6) or f"allowed: {', '.join(allowed)}",
                    name=True,
                )
        return found

    def string(self, value: Any, steps: Steps, what: str) -> str | None:
        if isinstance(value, str):
            return value
        self.error("wrong-type", f"{what} must be a string", steps)
        return None

    def strings(
        self,
        value: Any,
        steps: Steps,
        what: str,
        check: Callable[[str], vocab.Problem | None],
        make: Callable[[str, Steps, JsonLocator, int | None], T],
    ) -> tuple[T, ...] | None:
        """A string or a non-empty list of strings, each checked by ``check`` and turned into a
        node by ``make`` (a ``new_*`` builder, its span left to be made on first read); the hot
        loop of the reader: one pass, no per-item helper calls."""
        checked = self.memo(check)
        if isinstance(value, str) and checked.get(value, _UNCHECKED) is None:
            return (make(value, steps, self.locator, None),)  # one value, known good
        single = not isinstance(value, list)
        if not single and not value:
            self.error("empty-list", f"{what} must not be an empty list", steps)
            return None
        source, locator, diagnostics = self.source, self.locator, self.diagnostics
        out: list[T] = []
        ok = True
        for i, item in enumerate((value,) if single else value):
            if not isinstance(item, str):
                item_steps = steps if single else (*steps, i)
                self.error("wrong-type", f"each {what} value must be a string", item_steps)
                ok = False
                continue
            # the items share the list's steps as their spans' key, each node holding its index
            step = None if single else i
            problem = checked.get(item, _UNCHECKED)
            if problem is _UNCHECKED:
                problem = checked[item] = check(item)
            if problem is None:
                out.append(make(item, steps, locator, step))
            else:
                span = Span.deferred(source, locator, steps, step)
                diagnostics.append(Diagnostic(problem.code, problem.message, span, problem.help))
                ok = False
        return tuple(out) if ok else None

    def policy(self, root: Any) -> Policy | None:
        top = self.members(root, (), _TOP_KEYS, "the policy document")
        if top is None:
            return None
        version = ident = None
        if "Version" in top:
            version = self.string(top["Version"], ("Version",), "Version")
            if version is not None and version not in VERSIONS:
                self.error(
                    "invalid-version",
                    f"unsupported Version `{version}`",
                    ("Version",),
                    "Version is `2012-10-17` (or the legacy `2008-10-17`)",
                )
        if "Id" in top:
            ident = self.string(top["Id"], ("Id",), "Id")
        if "Statement" not in top:
            self.error(
                "missing-statement",
                "policy has no `Statement` element",
                (),
                'add `"Statement": [...]`',
            )
            return None
        value = top["Statement"]
        if not isinstance(value, list):
            statements = [self.statement(value, ("Statement",))]
        else:
            if not value:
                self.error("empty-list", "Statement must not be an empty list", ("Statement",))
            statements = [self.statement(v, ("Statement", i)) for i, v in enumerate(value)]
        self.duplicate_sids()
        if any(s is None for s in statements):
            return None
        statements_ = tuple(s for s in statements if s is not None)
        return new_policy(statements_, version, ident, (), (), self.locator)

    def duplicate_sids(self) -> None:
        seen: set[str] = set()
        for sid, steps in self.sids:
            if sid in seen:
                self.diagnostics.append(
                    Diagnostic(
                        "duplicate-sid",
                        f"duplicate Sid `{sid}`",
                        self.span((*steps, "Sid")),
                        "each statement's Sid must be unique within the policy",
                    )
                )
            seen.add(sid)

    def statement(self, value: Any, steps: Steps) -> Statement | None:
        m = self.members(value, steps, _STATEMENT_KEYS, "a statement")
        if m is None:
            return None
        before = len(self.diagnostics)
        sid = m.get("Sid")
        if "Sid" in m and not isinstance(sid, str):
            sid = self.string(sid, (*steps, "Sid"), "Sid")  # reports it
        if sid:
            self.sids.append((sid, steps))
        effect = None
        if "Effect" not in m:
            self.error(
                "missing-effect",
                "statement has no `Effect`",
                steps,
                'add `"Effect": "Allow"` or `"Effect": "Deny"`',
            )
        else:
            text = m["Effect"]
            if not isinstance(text, str):
                self.string(text, (*steps, "Effect"), "Effect")  # reports it
            elif (effect := _EFFECTS.get(text)) is None:
                self.error(
                    "invalid-effect",
                    f"Effect `{text}` is neither `Allow` nor `Deny`",
                    (*steps, "Effect"),
                    suggestion(text, ("Allow", "Deny"), cutoff=0.5),
                )
        principals, not_principal = self.principal_element(m, steps)
        actions, not_action = self.pair(
            m, steps, "Action", vocab.check_action, new_action, required=True
        )
        resources, not_resource = self.pair(
            m, steps, "Resource", vocab.check_resource, new_resource
        )
        conditions: tuple[Condition, ...] = ()
        if "Condition" in m:
            conditions = self.conditions(m["Condition"], (*steps, "Condition"))
        if len(self.diagnostics) > before or effect is None or actions is None:
            return None
        return new_statement(
            effect,
            actions,
            sid,
            principals,
            not_principal,
            not_action,
            resources,
            not_resource,
            conditions,
            steps,
            (),
            self.locator,
        )

    def pair(
        self,
        m: dict[str, Any],
        steps: Steps,
        name: str,
        check: Callable[[str], vocab.Problem | None],
        make: Callable[[str, Steps, JsonLocator, int | None], T],
        required: bool = False,
    ) -> tuple[tuple[T, ...] | None, bool]:
        negated = "Not" + name
        if name in m and negated not in m:  # the usual case first
            return self.strings(m[name], (*steps, name), name, check, make), False
        if name in m:
            self.error(
                f"{name.lower()}-and-not{name.lower()}",
                f"statement has both `{name}` and `{negated}`",
                (*steps, negated),
                f"use either `{name}` or `{negated}`",
                name=True,
            )
            return None, False
        if name not in m and negated not in m:
            if required:
                self.error(
                    f"missing-{name.lower()}",
                    f"statement has neither `{name}` nor `{negated}`",
                    steps,
                    f'add `"{name}": ...`',
                )
            return None, False
        element = name if name in m else negated
        strings = self.strings(m[element], (*steps, element), element, check, make)
        return strings, element == negated

    def principal_element(
        self, m: dict[str, Any], steps: Steps
    ) -> tuple[tuple[Principal, ...] | None, bool]:
        if "Principal" in m and "NotPrincipal" in m:
            self.error(
                "principal-and-notprincipal",
                "statement has both `Principal` and `NotPrincipal`",
                (*steps, "NotPrincipal"),
                name=True,
            )
            return None, False
        if "Principal" not in m and "NotPrincipal" not in m:
            if self.key_policy:
                self.error(
                    "missing-principal",
                    "key policy statement has no `Principal`",
                    steps,
                    "every key policy statement names its principals",
                )
            return None, False
        element = "Principal" if "Principal" in m else "NotPrincipal"
        value = m[element]
        esteps = (*steps, element)
        if value == "*":
            any_ = new_principal(PrincipalKind.ANY, "*", esteps, self.locator)
            return (any_,), element != "Principal"
        members = self.members(value, esteps, _PRINCIPAL_KINDS, element)
        if members is None:
            self.diagnostics[-1] = Diagnostic(
                "wrong-type",
                f'{element} must be `"*"` or an object',
                self.span(esteps),
                'for example `{"AWS": "arn:aws:iam::111122223333:root"}`',
            )
            return None, False
        if not members:
            if isinstance(value, dict) and not value:
                self.error("empty-principal", f"{element} names no principal", esteps)
            return None, False
        out: list[Principal] = []
        for name, v in members.items():
            check, make = _PRINCIPAL_READERS[name]
            built = self.strings(v, (*esteps, name), f"{element}.{name}", check, make)
            if built is None:
                return None, False
            out.extend(built)
        return tuple(out), element != "Principal"

    def conditions(self, value: Any, steps: Steps) -> tuple[Condition, ...]:
        if not isinstance(value, dict):
            self.error("wrong-type", "Condition must be a JSON object", steps)
            return ()
        self.member_count += len(value)
        locator = self.locator
        checked = self.memo(vocab.check_condition_key)
        out: list[Condition] = []
        for op_name, block in value.items():
            parsed = vocab.parse_operator(op_name)
            if parsed is None:
                found = vocab.suggest_operator(op_name)
                self.error(
                    "unknown-operator",
                    f"unknown condition operator `{op_name}`",
                    (*steps, op_name),
                    f"did you mean `{found}`?" if found else None,
                    name=True,
                )
                continue
            qualifier, operator, if_exists = parsed
            if not isinstance(block, dict):
                self.error(
                    "wrong-type", f"the `{op_name}` block must be a JSON object", (*steps, op_name)
                )
                continue
            self.member_count += len(block)
            if not block:
                self.error(
                    "empty-condition",
                    f"the `{op_name}` block has no condition key",
                    (*steps, op_name),
                )
                continue
            for key, values in block.items():
                key_steps = (*steps, op_name, key)
                problem = checked.get(key, _UNCHECKED)
                if problem is _UNCHECKED:
                    problem = checked[key] = vocab.check_condition_key(key)
                if problem is not None:
                    self.error(
                        "unknown-condition-key", problem[0], key_steps, problem[1], name=True
                    )
                    continue
                if isinstance(values, str):  # the usual: one string
                    built: tuple[ConditionValue, ...] | None = (
                        new_condition_value(values, key_steps, locator, None),
                    )
                else:
                    built = self.values(values, key_steps)
                if built is not None:
                    out.append(
                        new_condition(
                            operator,
                            key,
                            built,
                            qualifier,
                            if_exists,
                            key_steps,
                            locator,
                            Part.NAME,
                        )
                    )
        return tuple(out)

    def values(self, value: Any, steps: Steps) -> tuple[ConditionValue, ...] | None:
        if not isinstance(value, list):
            if isinstance(value, _SCALARS):
                self.floats |= value.__class__ is float
                return (new_condition_value(value, steps, self.locator, None),)
            self.error("wrong-type", _NOT_A_SCALAR, steps)
            return None
        if not value:
            self.error("empty-list", "condition values must not be an empty list", steps)
            return None
        locator = self.locator
        out: list[ConditionValue] = []
        for i, item in enumerate(value):
            if not isinstance(item, _SCALARS):
                self.error("wrong-type", _NOT_A_SCALAR, (*steps, i))
                return None
            if item.__class__ is float:
                self.floats = True
            out.append(new_condition_value(item, steps, locator, i))
        return tuple(out)
