"""Fixtures of the web app tests: the API world with a fixed clock and recent readings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.store.models import Alert
from cloud.store.readings import upsert_readings
from cloud.store.rollups import add_to_rollups
from firmware_sim.cgm_glucose import CgmGlucoseModel
from firmware_sim.physiology import PatientModel
from tests.fixtures.api import World, reading_row, running_world

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HR_READINGS = 48
"""p-n1's heart rate: one reading every 30 minutes over the last day."""


def seed_recent(world: World) -> None:
    """A day of heart rate for p-n1 (slowly rising, then a jump to 130), two weights for p-n2, and an open high alert."""
    rows = [
        reading_row(f"w-hr-{i}", "p-n1", "strap-1", 70.0 + i, NOW - timedelta(minutes=30 * (HR_READINGS - i)))
        for i in range(HR_READINGS - 1)
    ]  # fmt: skip
    rows.append(reading_row("w-hr-last", "p-n1", "strap-1", 130.0, NOW - timedelta(minutes=30)))
    for i, kg in enumerate((80.0, 81.6)):
        row = reading_row(
            f"w-kg-{i}", "p-n2", "scale-1", kg, NOW - timedelta(days=7 * (1 - i), hours=1)
        )
        row.update(metric="body_weight", unit="kg")
        rows.append(row)
    with world.session() as s, s.begin():
        upsert_readings(s, rows)
        add_to_rollups(s, rows)
        alert = Alert(
            patient_id="p-n2", rule_id="weight_gain", rule_version=1, category="clinical",
            priority="high", metric="body_weight", status="open", opened_at=NOW - timedelta(hours=1),
            updated_at=NOW - timedelta(hours=1), resolved_at=None, first_value=81.6,
            last_value=81.6, worst_value=81.6, count=1, evidence={"note": "synthetic"},
        )  # fmt: skip
        s.add(alert)
        s.flush()
        world.alerts["p-n2"] = alert.id


def store_cgm(
    world: World, patient_id: str, *, days: int = 14, seed: int = 31
) -> tuple[list[datetime], list[float]]:
    """Store ``days`` of a simulated CGM's 5-minute values for the patient (gaps where the
    sensor lost its signal); returns the times and values stored."""
    start = NOW - timedelta(days=days)
    model = CgmGlucoseModel(PatientModel(seed=seed, start=start))
    times: list[datetime] = []
    values: list[float] = []
    rows = []
    for k in range(days * 288):
        at = start + timedelta(minutes=5 * (k + 1))
        value = model.reading(at)
        if value is None:
            continue
        times.append(at)
        values.append(value)
        row = reading_row(f"cgm-{patient_id}-{k}", patient_id, "cgm-1", value, at)
        row.update(metric="blood_glucose", unit="mg/dL")
        rows.append(row)
    with world.session() as s, s.begin():
        upsert_readings(s, rows)
        add_to_rollups(s, rows)
    return times, values


@pytest.fixture
def web_world(tmp_path: Path) -> Iterator[World]:
    with running_world(
        f"sqlite:///{tmp_path / 'cloud.sqlite3'}", tmp_path / "cloud", clock=lambda: NOW
    ) as world:
        seed_recent(world)
        yield world
