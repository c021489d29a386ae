"""Effect analysis math (SPEC §3 效果分析): conversion rates and the lift of a holdout.

Standard library only. A rate is `converted / entrants` with a Wilson score interval;
the lift is the difference of two independent proportions (messaged minus holdout)
with Newcombe's hybrid score interval (his method 10, 1998), which behaves where the
Wald interval does not: small groups, rates near 0 or 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import sqrt

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile


@dataclass(frozen=True)
class Rate:
    converted: int
    entrants: int
    low: float | None  # the 95 % Wilson interval; None without entrants
    high: float | None

    @property
    def value(self) -> float | None:
        return self.converted / self.entrants if self.entrants else None


@dataclass(frozen=True)
class Lift:
    messaged: Rate
    holdout: Rate
    difference: float | None  # messaged minus holdout, as a share (0.05 = 5 points)
    low: float | None  # its 95 % Newcombe interval
    high: float | None
    relative: float | None  # difference / holdout rate; None when that rate is 0

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def wilson(converted: int, entrants: int, z: float = Z95) -> tuple[float, float] | None:
    if entrants <= 0:
        return None
    if not 0 <= converted <= entrants:
        raise ValueError(f"converted must be within 0..{entrants}, got {converted}")
    p, n, z2 = converted / entrants, entrants, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(converted: int, entrants: int, z: float = Z95) -> Rate:
    interval = wilson(converted, entrants, z)
    low, high = interval if interval else (None, None)
    return Rate(converted, entrants, low, high)


def lift(messaged: Rate, holdout: Rate, z: float = Z95) -> Lift:
    """Messaged minus holdout, with Newcombe's interval (None while a group is empty)."""
    p1, p2 = messaged.value, holdout.value
    if p1 is None or p2 is None:
        return Lift(messaged, holdout, None, None, None, None)
    d = p1 - p2
    low = d - sqrt((p1 - messaged.low) ** 2 + (holdout.high - p2) ** 2)
    high = d + sqrt((messaged.high - p1) ** 2 + (p2 - holdout.low) ** 2)
    return Lift(messaged, holdout, d, low, high, d / p2 if p2 else None)
