"""The edge's per-minute rollups, HRV included, where the cloud stores them and on
``GET /api/v1/rollups``, scoped like readings: the strap's own RR intervals go through the
gateway's signal stage, the stored row and the API unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.store.edge_records import EdgeRollup, insert_new, rollup_row
from firmware_sim.devices.hr_strap import HeartRateStrap
from gateway import wire
from gateway.app import rows_readings_rr
from gateway.ble.measurement import Measurement
from gateway.ble.profiles.heart_rate import decode_heart_rate
from gateway.signal.stage import EdgeStage
from tests.fixtures.api import World

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLIN_N, CLIN_S = "clin@north.test", "clin@south.test"


def strap_rollups(patient_id: str) -> list[wire.Rollup]:
    """Two minutes of the simulated strap through the gateway's signal stage."""
    strap = HeartRateStrap("C0:FF:EE:00:0A:02", seed=5)
    stage = EdgeStage()
    out: list[wire.Rollup] = []
    for i in range(120):
        at = T0 + timedelta(seconds=i)
        m = Measurement("hrm-n1", patient_id, "2a37", decode_heart_rate(strap.measure()), at)
        _, readings, rr = rows_readings_rr([m])
        out += stage.observe(readings, now=at.timestamp(), rr=rr)[1]
    return out + stage.flush(now=(T0 + timedelta(minutes=5)).timestamp())


def test_rollups_with_hrv_are_stored_and_listed_within_scope(world: World) -> None:
    rollups = strap_rollups("p-n1")
    assert len(rollups) == 2
    assert all(r.hrv is not None for r in rollups)
    with world.session() as s, s.begin():
        insert_new(
            s, EdgeRollup, [rollup_row(r, gateway_id="gw-x", received_at=T0) for r in rollups]
        )

    r = world.get("/api/v1/rollups", CLIN_N, patient_id="p-n1", metric="heart_rate")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [row["start"] for row in listed] == ["2026-11-23T12:01:00Z", "2026-11-23T12:00:00Z"]
    newest, sent = listed[0], rollups[1]
    assert sent.hrv is not None
    assert (newest["count"], newest["mean"], newest["last"]) == (sent.count, sent.mean, sent.last)
    assert newest["hrv"] == sent.hrv.model_dump(mode="json")

    since = world.get("/api/v1/rollups", CLIN_N, since="2026-11-23T12:01:00Z").json()
    assert [row["id"] for row in since] == [newest["id"]]
    # Another organisation's clinician sees none of them, and may not ask for that patient.
    assert world.get("/api/v1/rollups", CLIN_S).json() == []
    assert world.get("/api/v1/rollups", CLIN_S, patient_id="p-n1").status_code == 404
