"""Billing readiness against the CMS 2026 remote-monitoring rules (docs/architecture.md, "Clinical references")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cloud.engagement.billing import management_codes, supply_status

START = date(2026, 11, 1)


def days(*offsets: int) -> list[date]:
    return [START + timedelta(days=o) for o in offsets]


def test_16_days_earn_99454_and_2_to_15_earn_99445() -> None:
    full = supply_status(days(*range(16)), period_start=START, today=START + timedelta(days=29))
    assert (full.days_with_data, full.code, full.days_left) == (16, "99454", 0)
    some = supply_status(days(0, 5), period_start=START, today=START + timedelta(days=29))
    assert some.code == "99445"
    one = supply_status(days(3), period_start=START, today=START + timedelta(days=29))
    assert one.code is None


def test_projection_names_who_will_miss_the_16_day_rule() -> None:
    # Day 10 of 30 with data on 5 days: pace 0.5/day → 5 + 20 × 0.5 = 15 projected: at risk.
    at_risk = supply_status(
        days(0, 2, 4, 6, 8), period_start=START, today=START + timedelta(days=9)
    )
    assert (at_risk.days_with_data, at_risk.days_left, at_risk.projected_days) == (5, 20, 15.0)
    assert at_risk.can_reach_99454
    assert at_risk.at_risk
    # Day 25 with 4 days: even every remaining day cannot reach 16.
    lost = supply_status(days(0, 1, 2, 3), period_start=START, today=START + timedelta(days=24))
    assert not lost.can_reach_99454
    assert not lost.at_risk
    # Days outside the period and in the future do not count.
    odd = supply_status(days(-1, 30, 2), period_start=START, today=START + timedelta(days=2))
    assert odd.days_with_data == 1


@pytest.mark.parametrize(
    ("minutes", "codes"),
    [
        (0, []),
        (9.9, []),
        (10, ["99470"]),
        (19, ["99470"]),
        (20, ["99457"]),
        (39, ["99457"]),
        (40, ["99457", "99458"]),
        (65, ["99457", "99458", "99458"]),
    ],
)
def test_management_time_codes(minutes: float, codes: list[str]) -> None:
    assert management_codes(minutes, interactive_communication=True) == codes
    assert management_codes(minutes, interactive_communication=False) == []
