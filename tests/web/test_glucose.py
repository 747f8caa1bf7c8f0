"""Glucose as clinicians read it: 14 days of a simulated CGM stored in the record give the
same time in range, GMI, CV and AGP through the API as ``gateway.signal.glucose`` computes
straight from the simulator's values, and the patient page draws the AGP."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gateway.signal import glucose
from tests.fixtures.api import World
from tests.web.conftest import NOW, store_cgm
from tests.web.test_pages import sign_in

DAYS = 14


@pytest.fixture
def cgm_values(web_world: World) -> tuple[list[datetime], np.ndarray]:
    times, values = store_cgm(web_world, "p-n2", days=DAYS)
    return times, np.array(values)


def test_time_in_range_and_agp_equal_the_simulators(
    web_world: World,
    cgm_values: tuple[list, np.ndarray],  # type: ignore[type-arg]
) -> None:
    times, values = cgm_values
    expected = glucose.summary(values, times, start=NOW - timedelta(days=DAYS), end=NOW)
    got = web_world.get("/api/v1/patients/p-n2/glucose", "clin@north.test").json()
    assert got["readings"] == len(values) == expected.n_readings
    for name in ("tbr_54", "tbr_70", "tir", "tar_180", "tar_250", "mean_mg_dl", "cv", "wear"):
        assert got[name] == pytest.approx(getattr(expected, name), abs=0.051), name
    assert got["gmi"] == pytest.approx(expected.gmi, abs=0.006)
    agp = glucose.agp(values, times, end=NOW)
    assert got["agp"]["p50"] == pytest.approx([round(float(v), 1) for v in agp.p50], abs=0.051)
    assert sum(got["agp"]["count"]) == len(values)
    assert web_world.get("/api/v1/patients/p-n1/glucose", "clin@north.test").status_code == 404

    sign_in(web_world, "clin@north.test")
    page = web_world.client.get("/patients/p-n2").text
    assert 'data-metric="agp" data-points="96"' in page
    tir = re.search(r"In range \(70–180\)</dt><dd>([\d.]+) %", page)
    assert tir is not None
    assert float(tir.group(1)) == pytest.approx(expected.tir, abs=0.051)


def test_the_agp_is_by_the_patients_own_time_of_day(
    web_world: World,
    cgm_values: tuple[list, np.ndarray],  # type: ignore[type-arg]
) -> None:
    """A patient in New York (UTC-5 in this season) has their breakfast rise at 8 local,
    not at 13: the AGP is binned by the time zone of their preferences."""
    times, values = cgm_values
    utc = web_world.get("/api/v1/patients/p-n2/glucose", "clin@north.test").json()["agp"]
    assert utc["timezone"] == "UTC"
    r = web_world.client.put(
        "/api/v1/patients/p-n2/preferences",
        json={"timezone": "America/New_York"},
        headers=web_world.token("clin@north.test"),
    )
    assert r.status_code == 200, r.text
    local = web_world.get("/api/v1/patients/p-n2/glucose", "clin@north.test").json()["agp"]
    assert local["timezone"] == "America/New_York"
    expected = glucose.agp(values, times, end=NOW, tz=ZoneInfo("America/New_York"))
    assert local["p50"] == pytest.approx([round(float(v), 1) for v in expected.p50], abs=0.051)
    # The same profile, five hours (20 bins of 15 min) earlier in the local day.
    assert local["p50"] == utc["p50"][20:] + utc["p50"][:20]
    sign_in(web_world, "clin@north.test")
    assert "by time of day (America/New_York)" in web_world.client.get("/patients/p-n2").text
