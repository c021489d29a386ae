"""A/B variants of a message step (SPEC §10): who gets which, and which is ahead. Pure.

Each enrollment lands in one of `BUCKETS` buckets by its customer and SOP, so a
customer sees the same arm at every step of an SOP whose steps share variant keys,
and the split is independent of the holdout (which buckets by `id mod 100`: this
one goes through a prime modulus first). The buckets are cut in proportion to the
weights, so the split follows them over many customers, and the same customer
always gets the same variant. `variant_sql` in jobs/variants_sql.py is the same
rule in SQL; a test keeps the two agreeing.

Which is ahead: per pair of variants, the difference of their N-day conversion
rates with Newcombe's 95 % interval (jobs/core/effect.py); a variant is ahead of
another once that interval excludes zero.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jobs.core.effect import Lift, Rate, lift

BUCKETS = 10007  # a prime: the bucket does not follow the holdout's id mod 100
SPREAD = 7927  # a prime multiplier spreading consecutive ids


def bucket(customer_id: int, sop_id: int) -> int:
    return (customer_id * SPREAD + sop_id * 31) % BUCKETS


def thresholds(weights: Sequence[int]) -> list[int]:
    """Cumulative weights: variant i takes the buckets b with
    b * total < thresholds[i] * BUCKETS (and not an earlier one)."""
    out, running = [], 0
    for w in weights:
        running += w
        out.append(running)
    return out


def pick(weights: Sequence[int], customer_id: int, sop_id: int) -> int:
    """The index of the variant this enrollment gets."""
    b, cuts = bucket(customer_id, sop_id), thresholds(weights)
    total = cuts[-1]
    for i, cut in enumerate(cuts):
        if b * total < cut * BUCKETS:
            return i
    return len(cuts) - 1


@dataclass(frozen=True)
class Comparison:
    variant: str
    other: str
    lift: Lift  # variant minus other

    @property
    def ahead(self) -> str | None:
        """The variant ahead, once the interval of the difference excludes zero."""
        if not self.lift.significant:
            return None
        return self.variant if self.lift.low > 0 else self.other


def compare(rates: dict[str, Rate]) -> list[Comparison]:
    """Every pair, in the variants' order (A vs B, A vs C, B vs C)."""
    keys = list(rates)
    return [Comparison(a, b, lift(rates[a], rates[b]))
            for i, a in enumerate(keys) for b in keys[i + 1:]]


def leader(comparisons: Sequence[Comparison]) -> str | None:
    """The variant ahead of every other one, if there is one yet."""
    keys = {c.variant for c in comparisons} | {c.other for c in comparisons}
    for key in sorted(keys):
        if all(c.ahead == key for c in comparisons if key in (c.variant, c.other)):
            return key
    return None
