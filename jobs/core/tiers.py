"""Customer tier from annual value (SPEC §2: high ≥ 500k, potential 100k–500k, normal)."""
from __future__ import annotations

from decimal import Decimal


def tier_for(annual_value: Decimal | int | float, high: int, potential: int) -> str:
    """The tier an annual value puts a customer in, for the configured thresholds."""
    if annual_value >= high:
        return "high"
    return "potential" if annual_value >= potential else "normal"
