"""``kms.clock.advance(days=8)`` type-checks under strict mypy for the default clock (issue 14 §3):
``KMS`` is generic in its clock, ``KMS()`` is ``KMS[OffsetClock]``, and a clock without
``advance`` is still refused by the type checker."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

USER_CODE = """
from kmspolicy import KMS
from kmspolicy.kms.clock import FakeClock, SystemClock

default = KMS()
default.clock.advance(days=8)
fake = KMS(clock=FakeClock())
fake.clock.advance(hours=1)

def takes_any_kms(kms: KMS) -> None:
    kms.clock.advance(days=1)

wall = KMS(clock=SystemClock())
wall.clock.advance(days=1)  # the one error: a system clock does not move
"""


def test_the_default_clock_advances_under_strict_mypy(tmp_path: Path) -> None:
    source = tmp_path / "user.py"
    source.write_text(USER_CODE)
    out, _err, status = api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", str(source)]
    )
    assert status == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert "user.py:14:" in errors[0] and '"SystemClock" has no attribute "advance"' in errors[0]
