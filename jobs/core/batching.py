"""Batches (SPEC §5, DESIGN step 3). Pure.

The due deliveries of one SOP step for one sender, due at one time, are split into
batches of the SOP's size; batch k goes out no earlier than due + k x interval, so
an employee (or WeCom) is never handed thousands of customers at once. A key that
already has batches continues their numbering, keeping the spacing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PlannedBatch:
    seq: int  # k, counted over the key's batches
    not_before: datetime
    delivery_ids: tuple[int, ...]


def split(delivery_ids: Sequence[int], *, due_at: datetime, size: int, interval_minutes: int,
          first_seq: int = 0) -> list[PlannedBatch]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    ids = sorted(delivery_ids)
    return [
        PlannedBatch(seq, due_at + timedelta(minutes=seq * interval_minutes),
                     tuple(ids[start:start + size]))
        for seq, start in enumerate(range(0, len(ids), size), start=first_seq)
    ]


def backoff_seconds(attempts: int, *, base: int = 30, cap: int = 600) -> int:
    """Wait before the next try after `attempts` failed ones: 30 s, 60 s, 120 s ... 10 min."""
    return min(cap, base * 2 ** max(0, attempts - 1))
