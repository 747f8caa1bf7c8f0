"""The demo's world beyond its live gateways: a care coordinator on every patient's care
team, and one patient of each program with 30 days of synthetic history, so every page of
the web app shows real trends on first visit.

The history is written through the cloud's own store functions (the reading upsert and the
rollups ingest keeps), seeded and deterministic for a given day; reading ids come from the
patient, metric and time, so a rerun of the demo stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
from sqlalchemy import select

from cloud.auth import service as auth
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.readings import upsert_readings
from cloud.store.rollups import add_to_rollups
from cloud.store.tenancy import CareTeamMember, Device, Patient, Role, User
from cloud.tenancy import service as tenancy

DAYS: Final = 30
COORDINATOR: Final = "coordinator@demo.vitalgate.test"
COORDINATOR_PASSWORD: Final = "demo-coordinator-password"  # noqa: S105 - synthetic, printed in the banner


@dataclass(frozen=True)
class HistoryPatient:
    patient_id: str
    name: str
    program: str
    seed: int


HISTORY: Final = (
    HistoryPatient("p-hf-01", "Heart failure demo", "heart_failure", 11),
    HistoryPatient("p-copd-01", "COPD demo", "copd", 12),
    HistoryPatient("p-htn-01", "Hypertension demo", "hypertension", 13),
    HistoryPatient("p-dm-01", "Diabetes demo", "diabetes", 14),
)


def _row(
    pid: str, metric: str, unit: str, value: float, ts: datetime, *, measurement: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"demo-{pid}-{metric}-{ts:%Y%m%d%H%M}", "gateway_id": f"gw-{pid}",
        "patient_id": pid, "device_id": f"{pid}-{metric.split('_', maxsplit=1)[0]}", "metric": metric,
        "value": round(float(value), 1), "unit": unit, "ts": ts, "measurement_id": measurement,
        "usable": True, "quality": {"source": "demo history"}, "received_at": ts,
    }  # fmt: skip


def history_rows(patient: HistoryPatient, *, today: datetime) -> list[dict[str, Any]]:
    """Thirty days of the readings the patient's program asks for, ending this morning."""
    rng = np.random.default_rng(patient.seed)
    start = today.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS)
    rows: list[dict[str, Any]] = []
    pid = patient.patient_id
    for d in range(DAYS):
        morning = start + timedelta(days=d, hours=7, minutes=int(rng.integers(0, 50)))
        evening = morning + timedelta(hours=12)
        late = d >= DAYS - 5  # the last five days tell a story
        if patient.program in ("heart_failure", "hypertension"):
            for k, at in enumerate((morning, evening)):
                lift = 18 if patient.program == "hypertension" and late else 0
                m = f"demo-{pid}-bp-{d}-{k}"
                rows.append(
                    _row(
                        pid,
                        "systolic_bp",
                        "mm[Hg]",
                        132 + lift + rng.normal(0, 7),
                        at,
                        measurement=m,
                    )
                )
                rows.append(
                    _row(
                        pid,
                        "diastolic_bp",
                        "mm[Hg]",
                        82 + lift / 2 + rng.normal(0, 5),
                        at,
                        measurement=m,
                    )
                )
                rows.append(
                    _row(pid, "pulse_rate", "/min", 72 + rng.normal(0, 5), at, measurement=m)
                )
        if patient.program == "heart_failure":
            gain = 0.45 * (d - (DAYS - 6)) if late else 0.0  # about 2 kg in 5 days
            rows.append(_row(pid, "body_weight", "kg", 84 + gain + rng.normal(0, 0.25), morning))
        if patient.program == "copd":
            dip = -3.0 if late else 0.0
            for at in (morning, evening):
                rows.append(_row(pid, "spo2", "%", min(100, 93 + dip + rng.normal(0, 1)), at))
                rows.append(_row(pid, "pulse_rate", "/min", 84 - dip * 2 + rng.normal(0, 5), at))
            rows.append(_row(pid, "body_temperature", "Cel", 36.8 + rng.normal(0, 0.2), morning))
        if patient.program == "diabetes":
            for k, hour in enumerate((7, 12, 18, 22)):
                at = start + timedelta(days=d, hours=hour)
                base = 110 if k == 0 else 150
                rows.append(_row(pid, "blood_glucose", "mg/dL", base + rng.normal(0, 25), at))
    return [r for r in rows if r["ts"] <= today]


@dataclass(frozen=True)
class LiveDevice:
    """A device a demo gateway reads: registered to that gateway and paired to its patient,
    so ingest stores its readings (it refuses a device nobody paired)."""

    device_id: str
    kind: str
    address: str
    gateway_id: str
    patient_id: str


def seed_demo_world(
    db_url: str,
    *,
    organisation: str,
    live_patients: list[str],
    live_devices: Sequence[LiveDevice] = (),
    now: datetime | None = None,
) -> None:
    """The coordinator, the history patients, the coordinator on every care team, and the
    live gateways' devices paired to their patients."""
    now = now or datetime.now(UTC)
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    try:
        with sessions() as s, s.begin():
            coordinator = s.scalar(select(User).where(User.email == COORDINATOR))
            if coordinator is None:
                coordinator = auth.create_user(
                    s, organisation_id=organisation, email=COORDINATOR,
                    password=COORDINATOR_PASSWORD, role=Role.CARE_COORDINATOR, patient_id=None,
                    now=now,
                )  # fmt: skip
            for p in HISTORY:
                if s.get(Patient, p.patient_id) is None:
                    tenancy.create_patient(s, organisation_id=organisation, patient_id=p.patient_id,
                                           display_name=p.name, program_id=p.program, now=now)  # fmt: skip
            for pid in [*live_patients, *(p.patient_id for p in HISTORY)]:
                on_team = s.get(CareTeamMember, (pid, coordinator.id))
                patient = s.get(Patient, pid)
                if on_team is None and patient is not None:
                    tenancy.add_care_team_member(s, organisation_id=organisation, patient=patient,
                                                 user_id=coordinator.id, team_role="coordinator", now=now)  # fmt: skip
        with sessions() as s, s.begin():
            for d in live_devices:
                patient = s.get(Patient, d.patient_id)
                if s.get(Device, d.device_id) is not None or patient is None:
                    continue
                tenancy.create_device(
                    s, organisation_id=organisation, device_id=d.device_id, kind=d.kind,
                    address=d.address, gateway_id=d.gateway_id, now=now,
                )  # fmt: skip
                tenancy.create_pairing(
                    s, organisation_id=organisation, device_id=d.device_id, patient=patient,
                    valid_from=now - timedelta(hours=1), valid_to=None, now=now,
                )  # fmt: skip
        for p in HISTORY:
            rows = history_rows(p, today=now)
            with sessions() as s, s.begin():
                inserted = upsert_readings(s, rows)
                add_to_rollups(s, [r for r in rows if r["id"] in inserted])
    finally:
        engine.dispose()
