"""The population ranking on both stores: the PostgreSQL path (an index walk per series)
and the SQLite path (a window over recent readings) give the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.api import World, running_world
from tests.web.conftest import NOW, seed_recent


@pytest.fixture
def pop_world(db_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(db_url, tmp_path / "cloud", clock=lambda: NOW) as world:
        seed_recent(world)
        yield world


def test_population_rows_on_each_store(pop_world: World) -> None:
    rows = pop_world.get("/api/v1/population", "clin@north.test").json()
    assert [r["patient_id"] for r in rows] == ["p-n2", "p-n1"]
    p_n1 = rows[1]
    assert [(x["metric"], x["value"], x["direction"]) for x in p_n1["latest"]] == [
        ("heart_rate", 130.0, "up")
    ]
    assert p_n1["data_days"] == 2  # the day before and the day of NOW
    assert p_n1["clinical_alerts"] == {"medium": 1}
    p_n2 = rows[0]
    assert [(x["metric"], x["value"], x["direction"]) for x in p_n2["latest"]] == [
        ("body_weight", 81.6, "up")
    ]
    coordinator = pop_world.get("/api/v1/population", "coord@north.test").json()
    assert [r["patient_id"] for r in coordinator] == ["p-n1"]
    filtered = pop_world.client.get(
        "/api/v1/population", params={"program": "heart_failure"},
        headers=pop_world.token("clin@north.test"),
    ).json()  # fmt: skip
    assert filtered == []
