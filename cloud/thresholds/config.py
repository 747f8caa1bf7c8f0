"""Gateway configs: what each gateway must know so edge and cloud judge alike.

A patient's rules live on the gateways their devices are paired to. Issuing a config
builds the whole ``vg.config/1`` of a gateway (its paired devices and patients, and the
whole active rule set of each of those patients in the ``gateway.signal.ruleset`` form,
``rules_version`` = ``wire.RULES_VERSION``), gives it the next version and stores it; the
``ConfigPublisher`` puts it retained on ``…/config``. The gateway applies only newer
versions and reports the one it runs in its status, which is how the cloud shows that a
change reached the edge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.alerts.rulebook import Mode, RuleBook
from cloud.store.models import GatewayConfigRecord, GatewayRecord
from cloud.store.tenancy import Device, Pairing, Patient
from gateway import wire
from gateway.signal import edge_rules


def gateways_of_patient(session: Session, patient_id: str, *, now: datetime) -> list[str]:
    """The gateways the patient's devices are paired through now."""
    rows = session.scalars(
        select(Device.gateway_id)
        .join(Pairing, Pairing.device_id == Device.id)
        .where(
            Pairing.patient_id == patient_id,
            Device.gateway_id.is_not(None),
            Pairing.valid_from <= now,
            or_(Pairing.valid_to.is_(None), Pairing.valid_to > now),
        )
        .distinct()
    ).all()
    return sorted(g for g in rows if g is not None)


def build_config(
    session: Session, rulebook: RuleBook, gateway_id: str, *, version: int, now: datetime
) -> wire.GatewayConfig:
    rows = session.execute(
        select(Device.id, Device.kind, Device.address, Pairing.patient_id)
        .join(Pairing, Pairing.device_id == Device.id)
        .where(
            Device.gateway_id == gateway_id,
            Pairing.valid_from <= now,
            or_(Pairing.valid_to.is_(None), Pairing.valid_to > now),
        )
        .order_by(Device.id, Pairing.patient_id)
    ).all()
    devices: dict[str, tuple[str, str | None, list[str]]] = {}
    patients_of: dict[str, list[str]] = defaultdict(list)
    for device_id, kind, address, patient_id in rows:
        devices.setdefault(device_id, (kind, address, []))[2].append(patient_id)
        patients_of[device_id].append(patient_id)
    patients = sorted({p for ps in patients_of.values() for p in ps})
    rulebook.refresh(session, patients)
    # Shadow rules notify no one: they stay in the cloud, which records their findings.
    active = [
        eff.rule
        for patient_id in patients
        for eff in rulebook.patient(patient_id).rules
        if eff.mode is Mode.ACTIVE
    ]
    return wire.GatewayConfig(
        gateway_id=gateway_id,
        version=version,
        issued_at=now,
        patients=tuple(patients),
        first_names=_first_names(session, patients),
        pairings=tuple(
            wire.Pairing(
                device_id=device_id,
                kind=kind,
                address=address,
                patients=tuple(wire.PatientAssignment(patient_id=p) for p in ps),
            )
            for device_id, (kind, address, ps) in devices.items()
        ),
        rules_version=wire.RULES_VERSION,
        rules=edge_rules.to_config(active),
    )


def _first_names(session: Session, patients: list[str]) -> dict[str, str]:
    """Patient id → the first word of their display name: what the household's pairing page
    shows ("Who will use this device? Maria · José"), nothing more of the record."""
    if not patients:
        return {}
    rows = session.execute(
        select(Patient.id, Patient.display_name).where(Patient.id.in_(patients))
    ).all()
    return {pid: name.split()[0] for pid, name in rows if name and name.split()}


def issue_configs(
    session: Session, rulebook: RuleBook, gateway_ids: Iterable[str], *, now: datetime
) -> list[GatewayConfigRecord]:
    """Store the next config of each gateway (published after the transaction commits)."""
    out = []
    for gateway_id in sorted(set(gateway_ids)):
        record = session.get(GatewayConfigRecord, gateway_id)
        gateway = session.get(GatewayRecord, gateway_id)
        applied = (gateway.status or {}).get("config_version") if gateway else None
        # Above anything the gateway already runs, so it never takes ours for a stale copy.
        version = max(record.version if record else 0, int(applied or 0)) + 1
        config = build_config(session, rulebook, gateway_id, version=version, now=now)
        as_json = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        if record is None:
            record = GatewayConfigRecord(
                gateway_id=gateway_id,
                version=version,
                body=as_json,
                issued_at=now,
                published_version=0,
                published_at=None,
            )
            session.add(record)
        else:
            record.version, record.body, record.issued_at = version, as_json, now
        out.append(record)
    session.flush()
    return out


def config_states(
    session: Session, gateway_ids: Iterable[str]
) -> list[tuple[str, GatewayConfigRecord | None, int | None]]:
    """(gateway id, newest issued config, the version the gateway reports running)."""
    out = []
    for gateway_id in sorted(set(gateway_ids)):
        gateway = session.get(GatewayRecord, gateway_id)
        applied = (gateway.status or {}).get("config_version") if gateway else None
        out.append(
            (
                gateway_id,
                session.get(GatewayConfigRecord, gateway_id),
                int(applied) if applied is not None else None,
            )
        )
    return out
