"""Who may write what: the one scope check for every message a gateway sends.

A gateway speaks for its organisation only once it is registered (``vitalgate-cloud gateway
provision``) and until it is revoked. It may name a device of that organisation that is not
registered to another gateway, and a patient only while one such device is paired to them
(``pairings``, ``[valid_from, valid_to)``), at the time the reading, rollup or event was
taken. Everything else is refused with a reason; deny by default. The same ``Bindings``
judge readings, rollups, events and statuses, loaded with three small queries per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.store.models import GatewayRecord
from cloud.store.tenancy import Device, Pairing, Patient


@dataclass(frozen=True, slots=True)
class _Gateway:
    organisation_id: str | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Device:
    organisation_id: str
    gateway_id: str | None


@dataclass(frozen=True, slots=True)
class Window:
    device_id: str
    patient_id: str
    organisation_id: str
    valid_from: datetime
    valid_to: datetime | None

    def covers(self, ts: datetime) -> bool:
        return self.valid_from <= ts and (self.valid_to is None or ts < self.valid_to)


@dataclass
class Bindings:
    """The gateways, devices and pairings a batch names, and the refusals they imply."""

    gateways: dict[str, _Gateway] = field(default_factory=dict)
    devices: dict[str, _Device] = field(default_factory=dict)
    by_device: dict[str, list[Window]] = field(default_factory=lambda: defaultdict(list))
    by_patient: dict[str, list[Window]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(
        cls,
        session: Session,
        *,
        gateway_ids: Collection[str],
        device_ids: Collection[str] = (),
        patient_ids: Collection[str] = (),
    ) -> Bindings:
        """Look up what the gateways may speak for; ``patient_ids`` only for subjects named
        without a device (an edge event about a patient)."""
        out = cls()
        for gw, org, revoked in session.execute(
            select(GatewayRecord.id, GatewayRecord.organisation_id, GatewayRecord.revoked_at).where(
                GatewayRecord.id.in_(set(gateway_ids))
            )
        ):
            out.gateways[gw] = _Gateway(org, revoked)
        orgs = {g.organisation_id for g in out.gateways.values() if g.organisation_id}
        if not orgs:
            return out
        devices = set(device_ids)
        if devices:
            for device_id, owner, through in session.execute(
                select(Device.id, Device.organisation_id, Device.gateway_id).where(
                    Device.id.in_(devices), Device.organisation_id.in_(orgs)
                )
            ):
                out.devices[device_id] = _Device(owner, through)
        conditions = []
        if out.devices:
            conditions.append(Pairing.device_id.in_(out.devices))
        if patient_ids:
            conditions.append(Pairing.patient_id.in_(set(patient_ids)))
        for condition in conditions:
            rows = session.execute(
                select(
                    Pairing.device_id,
                    Pairing.patient_id,
                    Pairing.organisation_id,
                    Pairing.valid_from,
                    Pairing.valid_to,
                    Device.organisation_id,
                    Device.gateway_id,
                )
                .join(Device, Device.id == Pairing.device_id)
                .where(condition, Pairing.organisation_id.in_(orgs))
            )
            for dev, patient, org, start, end, dev_org, dev_gw in rows:
                out.devices.setdefault(dev, _Device(dev_org, dev_gw))
                window = Window(dev, patient, org, start, end)
                if window not in out.by_device[dev]:
                    out.by_device[dev].append(window)
                    out.by_patient[patient].append(window)
        return out

    def organisation_of(self, gateway_id: str) -> str | None:
        gateway = self.gateways.get(gateway_id)
        return gateway.organisation_id if gateway is not None else None

    def gateway_refusal(self, gateway_id: str) -> str | None:
        """Why a gateway may send nothing at all, or None."""
        gateway = self.gateways.get(gateway_id)
        if gateway is None or gateway.organisation_id is None:
            return f"gateway {gateway_id} is not registered: provision it first"
        if gateway.revoked_at is not None:
            return f"gateway {gateway_id} is revoked"
        return None

    def _device_refusal(self, gateway_id: str, device_id: str) -> str | None:
        device = self.devices.get(device_id)
        if device is None or device.organisation_id != self.organisation_of(gateway_id):
            return f"device {device_id} is not registered in this organisation"
        if device.gateway_id not in (None, gateway_id):
            return f"device {device_id} is registered to another gateway"
        return None

    def vouching(self, gateway_id: str, device_id: str, patient_id: str) -> tuple[Window, ...]:
        """The pairing windows in which ``gateway_id`` may report ``device_id`` for
        ``patient_id`` (empty when it may not at all): a reading is accepted if one covers
        its time; ``refusal`` then says why not."""
        if self.gateway_refusal(gateway_id) or self._device_refusal(gateway_id, device_id):
            return ()
        org = self.organisation_of(gateway_id)
        return tuple(
            w
            for w in self.by_device.get(device_id, ())
            if w.organisation_id == org and w.patient_id == patient_id
        )

    def refusal(
        self, gateway_id: str, *, patient_id: str | None, device_id: str | None, ts: datetime
    ) -> str | None:
        """Why ``gateway_id`` may not speak of this patient and device at ``ts``, or None."""
        reason = self.gateway_refusal(gateway_id)
        if reason is not None:
            return reason
        if device_id is not None:
            return self._pairing_refusal(gateway_id, device_id, patient_id, ts)
        if patient_id is not None:
            return self._patient_refusal(gateway_id, patient_id, ts)
        return None

    def _pairing_refusal(
        self, gateway_id: str, device_id: str, patient_id: str | None, ts: datetime
    ) -> str | None:
        reason = self._device_refusal(gateway_id, device_id)
        if reason is not None:
            return reason
        org = self.organisation_of(gateway_id)
        valid = [
            w
            for w in self.by_device.get(device_id, ())
            if w.organisation_id == org and w.covers(ts)
        ]
        if not valid:
            return f"device {device_id} is not paired to any patient at {ts.isoformat()}"
        if patient_id is not None and all(w.patient_id != patient_id for w in valid):
            return f"device {device_id} is paired to another patient at {ts.isoformat()}"
        return None

    def _patient_refusal(self, gateway_id: str, patient_id: str, ts: datetime) -> str | None:
        org = self.organisation_of(gateway_id)
        served = [
            w
            for w in self.by_patient.get(patient_id, ())
            if w.organisation_id == org
            and w.covers(ts)
            and self._device_refusal(gateway_id, w.device_id) is None
        ]
        if not served:
            return (
                f"patient {patient_id} has no device paired through this gateway at "
                f"{ts.isoformat()}"
            )
        return None


def unknown_patients(
    session: Session, organisation_id: str | None, patient_ids: set[str]
) -> set[str]:
    """The patient ids that are not the organisation's (for a clearer refusal reason)."""
    if organisation_id is None or not patient_ids:
        return set(patient_ids)
    known = set(
        session.scalars(
            select(Patient.id).where(
                Patient.id.in_(patient_ids), Patient.organisation_id == organisation_id
            )
        )
    )
    return patient_ids - known
