"""The outbox's disk budget and the order in which it thins when full (pure policy).

When the gateway stays offline long enough for the outbox to reach its budget, something
must give. The order is fixed and documented (docs/architecture.md, "Bounded"):

1. **Rollups**, oldest first. They summarise streams the cloud can still partly see from
   the raw readings, and they are the cheapest to lose clinically.
2. **Readings**, oldest first, a whole measurement at a time (a cuff's systolic, diastolic
   and mean arterial pressure go together, never one without the others). The newest
   values are the ones a clinician can still act on.
3. **Events are never dropped.** If only events (and batches already in flight) are left,
   the outbox goes over budget and says so in its log and status.

Rows already handed to the broker (in a batch awaiting the cloud's acknowledgement) are not
thinned: the cloud may already hold them, and thinning them would blur what was lost.

Bytes are counted as payload length plus a fixed per-row overhead, a close proxy for the
SQLite file's growth; the WAL is bounded separately (``journal_size_limit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

ROW_OVERHEAD_BYTES: Final = 64
"""Approximate bytes SQLite spends per row beyond the payload (keys, index entries, header)."""

DEFAULT_BUDGET_BYTES: Final = 256 * 1024 * 1024
"""256 MB: about two weeks of a 1 Hz strap plus spot readings, a small part of an SD card."""

THIN_ORDER: Final = ("rollup", "reading")
"""Kinds thinned when the budget is reached, first to last; events are never thinned."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An unsent row that may be thinned: its sequence number, measurement group and size."""

    seq: int
    group: str | None
    nbytes: int


def row_bytes(payload: str) -> int:
    """Bytes a row with this JSON payload counts against the budget."""
    return len(payload) + ROW_OVERHEAD_BYTES


def over_budget(used_bytes: int, budget_bytes: int) -> int:
    """Bytes that must be freed to get back under the budget (0 when within it)."""
    return max(0, used_bytes - budget_bytes)


def plan_thinning(candidates: Sequence[Candidate], needed_bytes: int) -> list[int]:
    """Seqs to delete, oldest first, freeing at least ``needed_bytes`` if the candidates allow.

    ``candidates`` are one kind's unsent rows in seq order. The last measurement touched is
    taken whole, so a multi-value measurement is never split.
    """
    chosen: list[int] = []
    freed = 0
    last_group: str | None = None
    for cand in candidates:
        done = freed >= needed_bytes
        if done and (last_group is None or cand.group != last_group):
            break
        chosen.append(cand.seq)
        freed += cand.nbytes
        last_group = cand.group
    return chosen
