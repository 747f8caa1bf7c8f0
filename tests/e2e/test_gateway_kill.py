"""``kill -9`` of the gateway mid-stream, then a restart: every reading the gateway had made
durable reaches the cloud exactly once.

What "every reading taken" can mean here: a heart-rate strap streams a value once a second
and keeps nothing; a value notified to the gateway lives only in memory until the outbox
writer commits it (within milliseconds). A ``kill -9`` in that gap loses it, as it would
lose a value notified a second later, while the gateway is down; no design can recover a
value that neither end stored. So the guarantee tested is: every value committed to the
outbox is in the cloud exactly once, and the values are the strap's own sequence with no
gap before the kill and no repeat. (A device that stores measurements — a cuff, a glucose
meter — keeps them until downloaded, and their ids come from the device's record, so a
re-download after a crash is absorbed by the cloud's upsert; see test_duplicates.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud.store.models import Reading
from gateway.settings import SimDevice
from tests.fixtures.gateway_process import (
    GatewayProcess,
    expected_values,
    gateway_toml,
    outbox_readings,
)
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def cloud_readings(engine: Any) -> list[Reading]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(Reading).where(Reading.metric == "heart_rate").order_by(Reading.ts)
            ).all()
        )


def test_gateway_killed_mid_stream_loses_nothing_it_stored(
    broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    cloud = cloud_factory(broker, binding={"gateway_id": "gw-kill-1", "pairs": [("p-9", "hrm-9")]})
    strap = SimDevice(address="C0:FF:EE:00:00:09", seed=23, real_interval_s=0.01)
    data = tmp_path / "gw"
    config = tmp_path / "gateway.toml"
    config.write_text(
        gateway_toml(
            broker, data, gateway_id="gw-kill-1", strap=strap, device_id="hrm-9", patient_id="p-9"
        )
    )
    gw = GatewayProcess(config, tmp_path / "gateway.log")
    engine = create_engine(cloud.db_url)
    try:
        gw.start()
        wait_until(lambda: len(cloud_readings(engine)) >= 150, timeout=30, what="readings flowing")
        gw.kill()
        # Durable at the moment of the kill: what the outbox holds plus what the cloud has.
        left = outbox_readings(data / "outbox.sqlite3")
        in_cloud = {r.id for r in cloud_readings(engine)}
        committed = {r["id"] for r in left} | in_cloud
        assert left, "the kill should catch readings waiting for the cloud's acknowledgement"
        killed_at = max(r.ts for r in cloud_readings(engine))

        gw.start()  # the restart publishes what the killed gateway left behind
        wait_until(
            lambda: committed <= {r.id for r in cloud_readings(engine)},
            timeout=30,
            what="every reading left in the outbox to reach the cloud",
        )
        wait_until(lambda: gw.running(data), what="the restarted gateway to be up")
        assert gw.terminate() == 0
        rows = cloud_readings(engine)
        leftover_after_stop = outbox_readings(data / "outbox.sqlite3")
    finally:
        if gw.alive():
            gw.kill()
        engine.dispose()

    run1 = [r for r in rows if r.id in committed]
    run2 = [r for r in rows if r.id not in committed]
    # Run 1: the strap's sequence from its first value, each exactly once, no gap.
    assert [r.value for r in run1] == expected_values(strap, len(run1))
    assert len(run1) == len(committed)
    assert all(r.ts <= killed_at or r.id in {x["id"] for x in left} for r in run1)
    # Run 2 (the same seeded strap starts again) then a clean stop: nothing lost either;
    # what had not been published yet is still in the outbox.
    run2_by_id = {r.id: (_utc(r.ts), r.value) for r in run2}
    for x in leftover_after_stop:
        if x["id"] not in committed:  # acknowledged by the cloud, but the ack came too late
            ts = datetime.fromisoformat(x["ts"].replace("Z", "+00:00"))
            run2_by_id.setdefault(x["id"], (ts, float(x["value"])))
    values2 = [value for _, value in sorted(run2_by_id.values())]
    assert len(values2) > 0
    assert values2 == expected_values(strap, len(values2))
    assert len({r.id for r in rows}) == len(rows)
