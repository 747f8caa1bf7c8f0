"""Readings a registered gateway and a pairing do not vouch for, or with impossible times,
are kept aside.

Over a real Mosquitto and ingest worker, on SQLite and PostgreSQL: the batch is still
acknowledged (nothing is lost), the record and the rollups see only attributed readings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth import service as auth
from cloud.store.models import QuarantinedReading, Reading, Rollup
from cloud.store.tenancy import Patient
from cloud.tenancy import service as tenancy
from tests.fixtures.ingest import Publisher
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until
from tests.test_wire import batch, reading

pytestmark = pytest.mark.broker
NOV = datetime(2026, 11, 1, tzinfo=UTC)


def organise(sessions: sessionmaker[Session]) -> None:
    """``north`` owns gateway gw-1; d-1 is lent to p-1, d-3 was lent to p-1 until 20 Nov."""
    with sessions.begin() as s:
        auth.create_organisation(s, organisation_id="north", name="North", now=NOV)
        for pid in ("p-1", "p-2"):
            tenancy.create_patient(
                s,
                organisation_id="north",
                patient_id=pid,
                display_name=pid,
                program_id=None,
                now=NOV,
            )
        tenancy.provision_gateway(s, organisation_id="north", gateway_id="gw-1")
        p1 = s.get(Patient, "p-1")
        assert p1 is not None
        for device, until in (("d-1", None), ("d-3", datetime(2026, 11, 20, tzinfo=UTC))):
            tenancy.create_device(
                s,
                organisation_id="north",
                device_id=device,
                kind="hr_strap",
                address=None,
                gateway_id="gw-1",
                now=NOV,
            )
            tenancy.create_pairing(
                s,
                organisation_id="north",
                device_id=device,
                patient=p1,
                valid_from=NOV,
                valid_to=until,
                now=NOV,
            )


def test_unattributable_readings_are_quarantined_with_the_reason(stack: Any) -> None:
    sessions, pub = stack
    organise(sessions)
    now = datetime.now(UTC)
    readings = [
        reading(id="r-ok", device_id="d-1", patient_id="p-1", ts=now.isoformat()),
        reading(id="r-unpaired", device_id="d-2", patient_id="p-1", ts=now.isoformat()),
        reading(id="r-other", device_id="d-1", patient_id="p-2", ts=now.isoformat()),
        reading(id="r-ended", device_id="d-3", patient_id="p-1", ts=now.isoformat()),
        reading(id="r-before", device_id="d-1", patient_id="p-1", ts="2026-10-31T23:59:00Z"),
        reading(
            id="r-future",
            device_id="d-1",
            patient_id="p-1",
            ts=(now + timedelta(days=1)).isoformat(),
        ),
        reading(id="r-ancient", device_id="d-1", patient_id="p-1", ts="2020-01-01T00:00:00Z"),
    ]
    pub.publish(batch(*readings, batch_id="b-1"))
    wait_until(lambda: pub.acks == ["b-1"], what="the batch to be acknowledged")
    with sessions() as s:
        stored = s.scalars(select(Reading.id)).all()
        kept = {q.id: q.reason for q in s.scalars(select(QuarantinedReading))}
        rollup_counts = s.scalars(select(Rollup.count)).all()
        org = s.scalars(select(QuarantinedReading.organisation_id).distinct()).all()
    assert stored == ["r-ok"]
    assert rollup_counts == [1, 1]
    assert org == ["north"]
    assert sorted(kept) == ["r-ancient", "r-before", "r-ended", "r-future", "r-other", "r-unpaired"]
    assert "device d-2 is not registered in this organisation" in kept["r-unpaired"]
    assert "device d-1 is paired to another patient" in kept["r-other"]
    assert "device d-3 is not paired" in kept["r-ended"]
    assert "device d-1 is not paired" in kept["r-before"]
    assert "in the future: check the gateway's clock" in kept["r-future"]
    assert "more than 400 days old" in kept["r-ancient"]
    # Sent again (the gateway missed the ack): nothing new anywhere.
    pub.publish(batch(*readings, batch_id="b-1"))
    wait_until(lambda: pub.acks == ["b-1", "b-1"], what="the repeat's acknowledgement")
    with sessions() as s:
        assert len(s.scalars(select(QuarantinedReading.id)).all()) == 6
        assert s.scalars(select(Rollup.count)).all() == [1, 1]


def test_unregistered_gateways_and_organisations_without_pairings_store_nothing(
    stack: Any, broker: Mosquitto
) -> None:
    sessions, _ = stack
    organise(sessions)
    with sessions.begin() as s:  # an organisation with a gateway and a patient, no pairings
        auth.create_organisation(s, organisation_id="south", name="South", now=NOV)
        tenancy.provision_gateway(s, organisation_id="south", gateway_id="gw-south")
        tenancy.create_patient(
            s, organisation_id="south", patient_id="p-s", display_name="S", program_id=None, now=NOV
        )
    now = datetime.now(UTC).isoformat()
    for gateway_id in ("gw-unprovisioned", "gw-south"):
        other = Publisher(broker, gateway_id=gateway_id)
        try:
            body = batch(
                reading(id="r-x", patient_id="p-s", device_id="d-anything", ts=now),
                gateway_id=gateway_id,
                batch_id="b-x",
            )
            other.publish(body)
            wait_until(lambda o=other: o.acks == ["b-x"], what="the ack")  # type: ignore[misc]
        finally:
            other.close()
    with sessions() as s:
        assert s.scalars(select(Reading.id)).all() == []
        kept = {
            (q.gateway_id, q.organisation_id): q.reason
            for q in s.scalars(select(QuarantinedReading))
        }
    unregistered = "gateway gw-unprovisioned is not registered: provision it first"
    assert kept == {
        ("gw-unprovisioned", None): unregistered,
        ("gw-south", "south"): "device d-anything is not registered in this organisation",
    }
