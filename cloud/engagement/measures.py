"""Is engagement working? Adherence, responsiveness, sentiment and retention per patient.

Pure functions of what happened (days with data, prompts and replies, ratings), so the
organisation report and the tests compute them the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

ADHERENCE_WINDOW_DAYS: Final = 30
STOPPED_AFTER_DAYS: Final = 7
"""No reading for this many days and the patient counts as having stopped measuring."""


def adherence_days(
    data_days: Iterable[date], *, today: date, window: int = ADHERENCE_WINDOW_DAYS
) -> int:
    """Days with at least one reading among the last ``window`` days, today included."""
    first = today - timedelta(days=window - 1)
    return len({d for d in data_days if first <= d <= today})


@dataclass(frozen=True, slots=True)
class Responsiveness:
    prompts: int
    replies: int
    median_reply_s: float | None

    @property
    def reply_rate(self) -> float | None:
        return None if self.prompts == 0 else self.replies / self.prompts


def reply_delays(
    prompts: Sequence[datetime],
    replies: Sequence[datetime],
    *,
    within: timedelta = timedelta(days=1),
) -> list[float]:
    """Seconds from each answered prompt to its answer: the first reply after it, before the
    next prompt and within ``within``."""
    ordered, answers = sorted(prompts), sorted(replies)
    delays: list[float] = []
    for i, sent in enumerate(ordered):
        limit = min(sent + within, ordered[i + 1]) if i + 1 < len(ordered) else sent + within
        first = next((r for r in answers if sent <= r < limit), None)
        if first is not None:
            delays.append((first - sent).total_seconds())
    return delays


def responsiveness(
    prompts: Sequence[datetime],
    replies: Sequence[datetime],
    *,
    within: timedelta = timedelta(days=1),
) -> Responsiveness:
    """How many prompts were answered (``reply_delays``) and the median time to answer."""
    delays = reply_delays(prompts, replies, within=within)
    median = statistics.median(delays) if delays else None
    return Responsiveness(len(prompts), len(delays), median)


@dataclass(frozen=True, slots=True)
class Sentiment:
    ratings: int
    mean: float | None
    promoters: int
    """9–10"""
    passives: int
    """7–8"""
    detractors: int
    """0–6"""
    nps: float | None


def sentiment(ratings: Iterable[int]) -> Sentiment:
    """The rating answers (0–10) as a mean and a net-promoter split."""
    values = [r for r in ratings if 0 <= r <= 10]
    mean = round(statistics.fmean(values), 1) if values else None
    promoters, detractors = sum(r >= 9 for r in values), sum(r <= 6 for r in values)
    return Sentiment(
        len(values), mean, promoters, len(values) - promoters - detractors, detractors,
        net_promoter_score(values),
    )  # fmt: skip


def net_promoter_score(ratings: Iterable[int]) -> float | None:
    """% promoters (9–10) minus % detractors (0–6), from −100 to 100; None without ratings."""
    values = [r for r in ratings if 0 <= r <= 10]
    if not values:
        return None
    promoters = sum(r >= 9 for r in values)
    detractors = sum(r <= 6 for r in values)
    return round(100 * (promoters - detractors) / len(values), 1)


def stopped_measuring(last_reading: date | None, *, today: date) -> bool:
    """Retention: no reading for ``STOPPED_AFTER_DAYS`` days (or never)."""
    return last_reading is None or (today - last_reading).days >= STOPPED_AFTER_DAYS
