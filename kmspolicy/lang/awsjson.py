"""The AWS JSON reader: an IAM policy document → the AST, with a position on every node.

Layer: lang (pure). Accepts every shape IAM accepts (one statement object or a list, string or
list values, bool/number condition values, Version 2008-10-17/2012-10-17 or none) and reports
invalid documents like IAM Access Analyzer's ERROR findings: every problem found, each with its
JSON path and line:column. The writer lives in ``jsonwriter``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from kmspolicy.lang import vocab
from kmspolicy.lang.ast import (
    Action,
    Condition,
    ConditionValue,
    Effect,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    ScalarValue,
    Statement,
)
from kmspolicy.lang.diagnostics import Diagnostic, PolicySyntaxError, suggestion
from kmspolicy.lang.gcpause import gc_paused
from kmspolicy.lang.jsonscan import JKey, JNode, JObject, JsonScanner, Positions
from kmspolicy.lang.span import Span

#: KMS key policy size limit (bytes, not adjustable) → LimitExceededException in AWS
KEY_POLICY_MAX_BYTES = 32_768
VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = ("Version", "Id", "Statement")
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
# KMS key policies: printable ASCII and Latin-1, TAB, LF, CR (KMS Developer Guide, key policies)
_KEY_POLICY_BAD_CHAR = re.compile(r"[^\t\n\r\x20-\x7e\xa0-\xff]")

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
    raw_size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    positions = Positions(decoded, source)
    diagnostics: list[Diagnostic] = []
    if key_policy and raw_size > KEY_POLICY_MAX_BYTES:
        diagnostics.append(
            Diagnostic(
                "policy-too-large",
                f"key policy is {raw_size} bytes, more than the {KEY_POLICY_MAX_BYTES}-byte limit",
                positions.span(0, 1),
                "split statements or use grants; the KMS limit is not adjustable",
            )
        )
    if key_policy and (bad := _KEY_POLICY_BAD_CHAR.search(decoded)):
        diagnostics.append(
            Diagnostic(
                "invalid-character",
                f"character U+{ord(bad.group()):04X} is not allowed in a key policy",
                positions.span(bad.start(), bad.end()),
                "key policies allow printable ASCII and Latin-1 characters, tab and newlines",
            )
        )
    scanner = JsonScanner(decoded, positions)
    reader = _Reader(positions, key_policy)
    with gc_paused(len(decoded)):
        policy = reader.policy(scanner.document())
    diagnostics += scanner.diagnostics + reader.diagnostics
    if diagnostics or policy is None:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise PolicySyntaxError(diagnostics, decoded)
    return policy


class _Reader:
    def __init__(self, positions: Positions, key_policy: bool) -> None:
        self.pos = positions
        self.key_policy = key_policy
        self.diagnostics: list[Diagnostic] = []
        self.sids: list[tuple[str, Span]] = []

    def error(
        self, code: str, message: str, at: JNode | JKey, path: str, help: str | None = None
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.span(at, path), help))

    def span(self, at: JNode | JKey, path: str) -> Span:
        return self.pos.span(at.start, at.end, path or None)

    def members(
        self, node: JNode, path: str, allowed: tuple[str, ...], what: str
    ) -> dict[str, tuple[JKey, JNode]] | None:
        if not isinstance(node.value, JObject):
            self.error("wrong-type", f"{what} must be a JSON object", node, path)
            return None
        found: dict[str, tuple[JKey, JNode]] = {}
        for key, value in node.value.items:
            if key.name in allowed:
                found[key.name] = (key, value)
            else:
                self.error(
                    "unknown-element",
                    f"unknown element `{key.name}` in {what}",
                    key,
                    _join(path, key.name),
                    suggestion(key.name, allowed, cutoff=0.6) or f"allowed: {', '.join(allowed)}",
                )
        return found

    def string(self, node: JNode, path: str, what: str) -> str | None:
        if isinstance(node.value, str):
            return node.value
        self.error("wrong-type", f"{what} must be a string", node, path)
        return None

    def strings(
        self, node: JNode, path: str, what: str, build: Callable[[str, Span], T | None]
    ) -> tuple[T, ...] | None:
        """A string or a non-empty list of strings, each turned into a node by ``build``."""
        items = (
            [(node, path)]
            if not isinstance(node.value, list)
            else [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        )
        if isinstance(node.value, list) and not node.value:
            self.error("empty-list", f"{what} must not be an empty list", node, path)
            return None
        out: list[T] = []
        ok = True
        for item, item_path in items:
            text = self.string(item, item_path, f"each {what} value")
            built = None if text is None else build(text, self.span(item, item_path))
            if built is None:
                ok = False
            else:
                out.append(built)
        return tuple(out) if ok else None

    def checked(self, problem: vocab.Problem | None, span: Span) -> bool:
        if problem is not None:
            self.diagnostics.append(Diagnostic(problem.code, problem.message, span, problem.help))
        return problem is None

    def policy(self, root: JNode) -> Policy | None:
        top = self.members(root, "", _TOP_KEYS, "the policy document")
        if top is None:
            return None
        version = ident = None
        if "Version" in top:
            node = top["Version"][1]
            version = self.string(node, "Version", "Version")
            if version is not None and version not in VERSIONS:
                self.error(
                    "invalid-version",
                    f"unsupported Version `{version}`",
                    node,
                    "Version",
                    "Version is `2012-10-17` (or the legacy `2008-10-17`)",
                )
        if "Id" in top:
            ident = self.string(top["Id"][1], "Id", "Id")
        if "Statement" not in top:
            self.error(
                "missing-statement",
                "policy has no `Statement` element",
                root,
                "",
                'add `"Statement": [...]`',
            )
            return None
        node = top["Statement"][1]
        nodes = node.value if isinstance(node.value, list) else [node]
        if not nodes:
            self.error("empty-list", "Statement must not be an empty list", node, "Statement")
        single = not isinstance(node.value, list)
        statements = [
            self.statement(n, "Statement" if single else f"Statement[{i}]")
            for i, n in enumerate(nodes)
        ]
        self.duplicate_sids()
        if any(s is None for s in statements):
            return None
        return Policy(
            tuple(s for s in statements if s is not None), version, ident, self.span(root, "")
        )

    def duplicate_sids(self) -> None:
        seen: set[str] = set()
        for sid, span in self.sids:
            if sid in seen:
                self.diagnostics.append(
                    Diagnostic(
                        "duplicate-sid",
                        f"duplicate Sid `{sid}`",
                        span,
                        "each statement's Sid must be unique within the policy",
                    )
                )
            seen.add(sid)

    def statement(self, node: JNode, path: str) -> Statement | None:
        m = self.members(node, path, _STATEMENT_KEYS, "a statement")
        if m is None:
            return None
        before = len(self.diagnostics)
        span = self.span(node, path)
        sid = self.string(m["Sid"][1], f"{path}.Sid", "Sid") if "Sid" in m else None
        if sid:
            self.sids.append((sid, self.span(m["Sid"][1], f"{path}.Sid")))
        effect = None
        if "Effect" not in m:
            self.error(
                "missing-effect",
                "statement has no `Effect`",
                node,
                path,
                'add `"Effect": "Allow"` or `"Effect": "Deny"`',
            )
        else:
            text = self.string(m["Effect"][1], f"{path}.Effect", "Effect")
            if text in ("Allow", "Deny"):
                effect = Effect(text)
            elif text is not None:
                self.error(
                    "invalid-effect",
                    f"Effect `{text}` is neither `Allow` nor `Deny`",
                    m["Effect"][1],
                    f"{path}.Effect",
                    suggestion(text, ("Allow", "Deny"), cutoff=0.5),
                )
        principals, not_principal = self.principal_element(node, m, path)
        actions, not_action = self.pair(node, m, path, "Action", self.action, required=True)
        resources, not_resource = self.pair(node, m, path, "Resource", self.resource)
        conditions: tuple[Condition, ...] = ()
        if "Condition" in m:
            conditions = self.conditions(m["Condition"][1], f"{path}.Condition")
        if len(self.diagnostics) > before or effect is None or actions is None:
            return None
        return Statement(
            effect,
            actions,
            sid,
            principals,
            not_principal,
            not_action,
            resources,
            not_resource,
            conditions,
            span,
        )

    def pair(
        self,
        node: JNode,
        m: dict[str, tuple[JKey, JNode]],
        path: str,
        name: str,
        build: Callable[[str, Span], T | None],
        required: bool = False,
    ) -> tuple[tuple[T, ...] | None, bool]:
        negated = f"Not{name}"
        if name in m and negated in m:
            self.error(
                f"{name.lower()}-and-not{name.lower()}",
                f"statement has both `{name}` and `{negated}`",
                m[negated][0],
                f"{path}.{negated}",
                f"use either `{name}` or `{negated}`",
            )
            return None, False
        if name not in m and negated not in m:
            if required:
                self.error(
                    f"missing-{name.lower()}",
                    f"statement has neither `{name}` nor `{negated}`",
                    node,
                    path,
                    f'add `"{name}": ...`',
                )
            return None, False
        element = name if name in m else negated
        return self.strings(m[element][1], f"{path}.{element}", element, build), element == negated

    def action(self, text: str, span: Span) -> Action | None:
        return Action(text, span) if self.checked(vocab.check_action(text), span) else None

    def resource(self, text: str, span: Span) -> Resource | None:
        return Resource(text, span) if self.checked(vocab.check_resource(text), span) else None

    def principal_element(
        self, node: JNode, m: dict[str, tuple[JKey, JNode]], path: str
    ) -> tuple[tuple[Principal, ...] | None, bool]:
        if "Principal" in m and "NotPrincipal" in m:
            self.error(
                "principal-and-notprincipal",
                "statement has both `Principal` and `NotPrincipal`",
                m["NotPrincipal"][0],
                f"{path}.NotPrincipal",
            )
            return None, False
        if "Principal" not in m and "NotPrincipal" not in m:
            if self.key_policy:
                self.error(
                    "missing-principal",
                    "key policy statement has no `Principal`",
                    node,
                    path,
                    "every key policy statement names its principals",
                )
            return None, False
        element = "Principal" if "Principal" in m else "NotPrincipal"
        value = m[element][1]
        epath = f"{path}.{element}"
        if value.value == "*":
            anyone = Principal(PrincipalKind.ANY, "*", self.span(value, epath))
            return (anyone,), element != "Principal"
        kinds = tuple(k.value for k in PrincipalKind if k is not PrincipalKind.ANY)
        members = self.members(value, epath, kinds, element)
        if members is None:
            self.diagnostics[-1] = Diagnostic(
                "wrong-type",
                f'{element} must be `"*"` or an object',
                self.span(value, epath),
                'for example `{"AWS": "arn:aws:iam::111122223333:root"}`',
            )
            return None, False
        if not members:
            if isinstance(value.value, JObject) and not value.value.items:
                self.error("empty-principal", f"{element} names no principal", value, epath)
            return None, False
        out: list[Principal] = []
        for name, (_, v) in members.items():
            kind = PrincipalKind(name)

            def build(text: str, span: Span, kind: PrincipalKind = kind) -> Principal | None:
                ok = self.checked(vocab.check_principal(kind, text), span)
                return Principal(kind, text, span) if ok else None

            built = self.strings(v, f"{epath}.{name}", f"{element}.{name}", build)
            if built is None:
                return None, False
            out.extend(built)
        return tuple(out), element != "Principal"

    def conditions(self, node: JNode, path: str) -> tuple[Condition, ...]:
        if not isinstance(node.value, JObject):
            self.error("wrong-type", "Condition must be a JSON object", node, path)
            return ()
        out: list[Condition] = []
        for op_key, block in node.value.items:
            op_path = _join(path, op_key.name)
            parsed = vocab.parse_operator(op_key.name)
            if parsed is None:
                found = vocab.suggest_operator(op_key.name)
                self.error(
                    "unknown-operator",
                    f"unknown condition operator `{op_key.name}`",
                    op_key,
                    op_path,
                    f"did you mean `{found}`?" if found else None,
                )
                continue
            qualifier, operator, if_exists = parsed
            if not isinstance(block.value, JObject):
                self.error(
                    "wrong-type", f"the `{op_key.name}` block must be a JSON object", block, op_path
                )
                continue
            if not block.value.items:
                self.error(
                    "empty-condition",
                    f"the `{op_key.name}` block has no condition key",
                    block,
                    op_path,
                )
            for key, values in block.value.items:
                key_path = _join(op_path, key.name)
                problem = vocab.check_condition_key(key.name)
                if problem is not None:
                    self.error("unknown-condition-key", problem[0], key, key_path, problem[1])
                    continue
                built = self.values(values, key_path)
                if built is not None:
                    out.append(
                        Condition(
                            operator,
                            key.name,
                            built,
                            qualifier,
                            if_exists,
                            self.span(key, key_path),
                        )
                    )
        return tuple(out)

    def values(self, node: JNode, path: str) -> tuple[ConditionValue, ...] | None:
        items = node.value if isinstance(node.value, list) else [node]
        if not items:
            self.error("empty-list", "condition values must not be an empty list", node, path)
            return None
        out: list[ConditionValue] = []
        for i, item in enumerate(items):
            item_path = f"{path}[{i}]" if isinstance(node.value, list) else path
            if isinstance(item.value, (str, bool, int, float)):
                scalar: ScalarValue = item.value
                out.append(ConditionValue(scalar, self.span(item, item_path)))
            else:
                self.error(
                    "wrong-type",
                    "a condition value must be a string, number or boolean",
                    item,
                    item_path,
                )
                return None
        return tuple(out)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
