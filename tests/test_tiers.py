"""Tier thresholds (pure, no database needed)."""
from decimal import Decimal

import pytest

from jobs.core.tiers import tier_for


@pytest.mark.parametrize("value, tier", [
    (0, "normal"), (99_999.99, "normal"), (100_000, "potential"), (Decimal("499999.99"), "potential"),
    (500_000, "high"), (2_000_000, "high"),
])
def test_default_thresholds(value, tier):
    assert tier_for(value, 500_000, 100_000) == tier


def test_configured_thresholds_move_the_bands():
    assert tier_for(60_000, 200_000, 50_000) == "potential"
    assert tier_for(250_000, 200_000, 50_000) == "high"
