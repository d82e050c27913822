"""Which condition keys read the clock, and whether a policy reads one.

Layer: authz (pure). A decision from a policy that reads the time (``aws:CurrentTime`` and
friends, as a condition key or a ``${...}`` policy variable) may change without any input
changing, so callers that memoize decisions ask ``policy_reads_time`` first.
"""

from __future__ import annotations

from kmspolicy.lang import Policy

__all__ = ["TIME_KEYS", "policy_reads_time"]

#: Lower-cased names of the global condition keys whose value depends on when a request is made.
TIME_KEYS: tuple[str, ...] = (
    "aws:currenttime",
    "aws:epochtime",
    "aws:tokenissuetime",
    "aws:multifactorauthage",
)


def _mentions(text: str) -> bool:
    lower = text.lower()
    return any(key in lower for key in TIME_KEYS)


def policy_reads_time(policy: Policy) -> bool:
    """True when a decision from ``policy`` may depend on the clock.

    Conservative: any mention of a time key counts, as a condition key, inside a condition
    value (``${aws:CurrentTime}``) or inside a resource pattern.
    """
    for statement in policy.statements:
        for condition in statement.conditions:
            if condition.key.lower() in TIME_KEYS:
                return True
            for value in condition.values:
                if isinstance(value.value, str) and _mentions(value.value):
                    return True
        for resource in statement.resources or ():
            if _mentions(resource.arn):
                return True
    return False
