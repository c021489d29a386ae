"""The A/B variants of an SOP's message steps on its data page (SPEC §10): per variant,
the deliveries handed over and the N-day conversion of those customers with its 95 %
Wilson interval; per pair, the difference with Newcombe's interval; the variant ahead
once that interval excludes zero (jobs/core/variants.py). Aggregate SQL, one query."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, case, exists, func, select

from jobs.analytics import within
from jobs.counters import plus_days
from jobs.core.effect import Rate, rate
from jobs.core.variants import Comparison, compare, leader
from models import Delivery, Enrollment, Order, Sop

HANDED = ("queued", "sent")  # the customer got (or is getting) this variant


@dataclass(frozen=True)
class VariantRow:
    key: str
    sent: int  # deliveries handed over
    conversion: Rate  # of those customers, who ordered within N days of entering


@dataclass(frozen=True)
class StepVariants:
    position: int
    label: str
    days: int
    variants: list[VariantRow]
    comparisons: list[Comparison]
    leader: str | None  # ahead of every other variant, once the intervals say so


def variant_stats(session, sop: Sop, visible: Select | None = None) -> list[StepVariants]:
    days = sop.conversion_days
    ordered = exists().where(
        Order.customer_id == Delivery.customer_id, Order.placed_at >= Enrollment.enrolled_at,
        Order.placed_at < plus_days(session, Enrollment.enrolled_at, days))
    rows = session.execute(
        select(Delivery.position, Delivery.variant, func.count(),
               func.sum(case((ordered, 1), else_=0)))
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .where(Delivery.sop_id == sop.id, Delivery.variant.is_not(None),
               Delivery.status.in_(HANDED), *within(Delivery.customer_id, visible))
        .group_by(Delivery.position, Delivery.variant)).all()
    counts: dict[int, dict[str, tuple[int, int]]] = {}
    for position, key, n, converted in rows:
        counts.setdefault(position, {})[key] = (n, converted or 0)
    steps = {s.position: s for s in sop.steps}
    for step in steps.values():
        if step.action == "message" and step.variants:
            counts.setdefault(step.position, {})
    out = []
    for position in sorted(counts):
        step = steps.get(position)
        keys = [v["key"] for v in (step.variants or [])] if step else []
        keys += sorted(k for k in counts[position] if k not in keys)
        rates = {k: rate(counts[position].get(k, (0, 0))[1], counts[position].get(k, (0, 0))[0])
                 for k in keys}
        comparisons = compare(rates)
        out.append(StepVariants(
            position, str(step) if step else f"#{position + 1}", days,
            [VariantRow(k, rates[k].entrants, rates[k]) for k in keys], comparisons,
            leader(comparisons)))
    return out


def as_json(steps: list[StepVariants]) -> list[dict]:
    """For `GET /sops/<key>/stats`: shares as fractions, intervals as [low, high]."""
    def share(r: Rate) -> dict:
        return {"customers": r.entrants, "converted": r.converted, "rate": r.value,
                "interval": [r.low, r.high] if r.low is not None else None}

    return [{"step": s.position, "label": s.label, "days": s.days, "leader": s.leader,
             "variants": [{"variant": v.key, "sent": v.sent, **share(v.conversion)}
                          for v in s.variants],
             "differences": [{"variant": c.variant, "other": c.other,
                              "difference": c.lift.difference,
                              "interval": [c.lift.low, c.lift.high]
                              if c.lift.low is not None else None,
                              "ahead": c.ahead} for c in s.comparisons]}
            for s in steps]
