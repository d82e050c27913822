"""The work one decision may do matching patterns, and what happens past it: the decision fails
closed.

Layer: authz (pure). A key policy is written by whoever may set it, and a request by whoever
calls: the cost of ``*Like`` conditions is the product of the two (every request value tested
against every pattern, each test scanning the value), so neither bound alone keeps one request
from stalling the others. Each condition's glob tests are charged their worst case before they
run: ``TEST_COST`` per (value, pattern) test plus, per character of the values, the pattern's
``Glob.weight`` (the characters one test may compare per character of text), and a pattern
resolved from request values ``COMPILE_COST`` per character of regex it compiles. A decision may
be charged ``MAX_PATTERN_WORK`` in all (about 65,000 tests, or 16 MB scanned: tens of
milliseconds; a realistic policy is charged a few thousand). Past it, and when a policy
variable resolves to more than ``MAX_RESOLVED_CHARS``, the evaluation stops and the whole
request is denied with a reason that says so (``Decision.over_limit``): a Deny's condition is
never taken as "not matching", which would fail open. AWS specifies no such bound
(docs/deviations.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmspolicy.authz.decision import PolicyType

#: the work, in characters compared, the glob tests of one decision may be charged
MAX_PATTERN_WORK = 1 << 24
#: what one glob test is charged beyond the characters it scans (a Python call, about as long
#: as scanning this many characters in C)
TEST_COST = 256
#: what one character of regex source compiled for a pattern resolved from a request is
#: charged, each time it is resolved (``re.compile`` parses it in Python: ~1 us a character;
#: a ``?`` run holding a variable's value)
COMPILE_COST = 4096
#: the longest text a policy variable's template may resolve to (AWS's own encryption
#: context is at most 8 KB)
MAX_RESOLVED_CHARS = 8 * 1024


class EvaluationLimitExceeded(Exception):
    """A decision went past a bound of this module: the evaluators turn it into a denial.
    ``what`` says which bound (never a request or policy value); ``policy_type`` is the
    policy being matched, set by the evaluation that ran it."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.policy_type: PolicyType | None = None
