"""The KMS decision table itself: every row can decide something, the last decides everything,
rows are named once, and the explicit deny outranks every allow."""

from __future__ import annotations

from kmspolicy.authz.kms import RULES, Fact, Outcome, rule_for

ALL_FACTS = [v for k, v in vars(Fact).items() if k.isupper()]
EVERY_COMBINATION = range(1 << len(ALL_FACTS))


def test_fact_bits_are_distinct_powers_of_two() -> None:
    assert sorted(ALL_FACTS) == [1 << i for i in range(len(ALL_FACTS))]


def test_rule_names_are_unique_and_the_last_row_catches_all() -> None:
    assert len({r.name for r in RULES}) == len(RULES)
    last = RULES[-1]
    assert last.needs == 0 and last.refuses == 0 and last.outcome is Outcome.IMPLICIT_DENY


def test_no_row_is_shadowed_by_the_rows_above_it() -> None:
    """A row no fact combination reaches would be dead text pretending to be a rule."""
    reached = {rule_for(bits).name for bits in EVERY_COMBINATION}
    assert reached == {r.name for r in RULES}


def test_explicit_deny_and_scp_gap_come_before_any_allow() -> None:
    for bits in EVERY_COMBINATION:
        rule = rule_for(bits)
        if bits & Fact.DENIED:
            assert rule.outcome is Outcome.EXPLICIT_DENY
        elif bits & Fact.SCP_GAP:
            assert rule.outcome is not Outcome.ALLOW


def test_only_a_key_policy_grant_or_identity_allow_can_allow() -> None:
    """Silence denies: with nothing allowing (no grant, no key-policy allow, no identity allow,
    not the root user at home) no row allows."""
    silent = Fact.GRANT | Fact.DIRECT | Fact.VIA_ROLE | Fact.VIA_ACCOUNT | Fact.KEY_POLICY_ALLOWS
    silent |= Fact.IDENTITY | Fact.IDENTITY_OK | Fact.ROOT_HERE
    for bits in EVERY_COMBINATION:
        if not bits & silent:
            assert rule_for(bits).outcome is not Outcome.ALLOW


def test_rule_for_is_the_first_row_that_applies() -> None:
    """The byte tables answer what a scan of RULES in order answers, for every combination."""
    for bits in range(1 << 16):
        first = next(r for r in RULES if bits & r.needs == r.needs and not bits & r.refuses)
        assert rule_for(bits) is first, bin(bits)
