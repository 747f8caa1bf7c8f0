"""Which readings of a batch go to the record, and which to quarantine (with the reason).

Pure policy over three small look-ups per batch: the organisation of each gateway, which
of those organisations pair their devices, and the pairings of the devices in the batch.
An organisation with no pairings yet (the embedded default, the demo) takes readings as
the gateway attributes them; once it pairs devices, every reading must come from a device
paired to that patient at the time it was taken.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.store.models import GatewayRecord
from cloud.store.tenancy import Pairing

MAX_FUTURE: Final = timedelta(minutes=10)
"""Clock skew tolerated between a gateway and the cloud."""
MAX_PAST: Final = timedelta(days=400)
"""A device memory download may hold months of records; more than this is a broken clock."""


@dataclass
class Triage:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Window:
    patient_id: str
    organisation_id: str
    valid_from: datetime
    valid_to: datetime | None

    def covers(self, ts: datetime) -> bool:
        return self.valid_from <= ts and (self.valid_to is None or ts < self.valid_to)


def triage(session: Session, rows: Sequence[dict[str, Any]], *, now: datetime) -> Triage:
    """Split reading rows into those to store and those to quarantine."""
    result = Triage()
    if not rows:
        return result
    # A list, not the Result: dict() would take the Result's keys() for a mapping's.
    gateway_orgs = dict(
        session.execute(
            select(GatewayRecord.id, GatewayRecord.organisation_id).where(
                GatewayRecord.id.in_({r["gateway_id"] for r in rows})
            )
        ).all()
    )
    orgs = {org for org in gateway_orgs.values() if org is not None}
    pairing_orgs = set(
        session.scalars(
            select(Pairing.organisation_id).where(Pairing.organisation_id.in_(orgs)).distinct()
        )
    )
    windows: dict[str, list[_Window]] = defaultdict(list)
    if pairing_orgs:
        for p in session.scalars(
            select(Pairing).where(Pairing.device_id.in_({r["device_id"] for r in rows}))
        ):
            windows[p.device_id].append(
                _Window(p.patient_id, p.organisation_id, p.valid_from, p.valid_to)
            )
    for row in rows:
        org = gateway_orgs.get(row["gateway_id"])
        reason = _refusal(row, org, org in pairing_orgs, windows, now=now)
        if reason is None:
            result.accepted.append(row)
        else:
            result.quarantined.append({**row, "reason": reason, "organisation_id": org})
    return result


def _refusal(
    row: dict[str, Any],
    org: str | None,
    pairs_devices: bool,
    windows: dict[str, list[_Window]],
    *,
    now: datetime,
) -> str | None:
    ts: datetime = row["ts"]
    if ts > now + MAX_FUTURE:
        return f"time stamp {ts.isoformat()} is in the future: check the gateway's clock"
    if ts < now - MAX_PAST:
        return f"time stamp {ts.isoformat()} is more than {MAX_PAST.days} days old"
    if not pairs_devices:
        return None
    device = row["device_id"]
    valid = [w for w in windows.get(device, []) if w.organisation_id == org and w.covers(ts)]
    if not valid:
        return f"device {device} is not paired to any patient at {ts.isoformat()}"
    if all(w.patient_id != row["patient_id"] for w in valid):
        return f"device {device} is paired to another patient at {ts.isoformat()}"
    return None
