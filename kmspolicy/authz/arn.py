"""ARNs as values: ``arn:<partition>:<service>:<region>:<account>:<resource>``, parsed once.

Layer: authz (pure; imports only errors). The one place an ARN is taken apart: principals,
resources, key and alias ARNs, grant key ARNs. Patterns (``Resource``/``ArnLike`` values with
wildcards and policy variables) are not ARNs: ``authz.matching`` compares them segment by
segment. The reference evaluator (``authz.reference``) keeps its own splitting, so the
differential tests compare two readings of an ARN, not one.

The parser is strict: the ``arn`` prefix, exactly six fields (the resource may hold ``:``), a
partition of AWS's shape (``aws``, ``aws-cn``, ``aws-us-gov`` …), a service, a Region of
lowercase letters, digits and dashes or none (IAM, S3), an account of 12 digits, ``aws`` (AWS
managed IAM policies) or none (S3), and a resource without control characters.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from kmspolicy.errors import InvalidArnException

__all__ = ["Arn"]

# The resource's class is written positively: "not \x00-\x1f nor \x7f" is exactly "\x20-\x7e or
# \x80 and above", and the engine tests the positive class in fewer instructions per character
# (the resource is most of an ARN; every decision parses one). tests/authz/test_arn.py holds
# this pattern to the negated one on generated texts. The runs are possessive (``*+``, ``++``):
# each is followed by a character its class cannot match (``:``) or by the end of the text, so
# giving characters back could never make a match, and the engine then keeps no backtracking
# state for them.
_ARN = re.compile(
    r"arn:(aws(?:-[a-z]+)*+):([a-z0-9][a-z0-9.-]*+):([a-z0-9-]*+):(\d{12}|aws|)"
    r":([ -~\x80-\U0010ffff]++)"
)
#: an Arn from its fields without ``_make``'s Python frame
_new = tuple.__new__


class Arn(NamedTuple):
    """One ARN's five fields (a tuple: immutable, cheap to make on a request's path)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def of(cls, text: str) -> Arn | None:
        """The ARN ``text`` is, or None when it is not one."""
        m = _ARN.fullmatch(text)
        return None if m is None else _new(cls, m.groups())

    @classmethod
    def parse(cls, text: str) -> Arn:
        """The ARN ``text`` is; InvalidArnException naming it when it is not one."""
        arn = cls.of(text)
        if arn is None:
            raise InvalidArnException(f"`{text}` is not a valid ARN")
        return arn

    @property
    def resource_type(self) -> str:
        """The resource up to its first ``/`` (``key``, ``alias``, ``role``, ``user`` …)."""
        return self.resource.partition("/")[0]

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"
