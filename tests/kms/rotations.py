"""On-demand rotation in tests: RotateKeyOnDemand only starts a rotation, which completes as
due work ``ON_DEMAND_ROTATION_TAKES`` later on the service clock."""

from __future__ import annotations

from typing import Any

from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES


def rotate_on_demand(client: Any, clock: FakeClock, key_id: str) -> None:
    """RotateKeyOnDemand, the clock moved to the moment the rotation is due, and the key used
    once (DescribeKey), which completes it."""
    client.rotate_key_on_demand(KeyId=key_id)
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    client.describe_key(KeyId=key_id)
