"""Turn a decoded measurement into wire readings with stable ids.

A reading's id must survive a second download of the same measurement and never be reused
(docs/architecture.md, "Reading ids"). Where the device gives the measurement an identity (a glucose record's sequence
number, a cuff's stored time stamp) the id is a UUIDv5 of that identity, so the cloud's
upsert absorbs repeats; a streamed value with no identity gets a random UUID, which the
outbox stores before it is ever published, so re-sends keep it.
"""

from __future__ import annotations

import uuid
from typing import Final

from gateway import wire
from gateway.ble.measurement import Measurement
from gateway.ble.uuids import short_uuid

READING_NAMESPACE: Final = uuid.UUID("6f2a4c1e-5b0d-4e8a-9a57-1d3c2b7e9f10")


def measurement_identity(m: Measurement) -> str | None:
    """What identifies this measurement on the device itself, if anything."""
    key = getattr(m.decoded, "measurement_key", None)
    if key is not None:  # a passive sensor's repeated advertisements of one measurement
        return f"key:{key}"
    seq = getattr(m.decoded, "sequence_number", None)
    if seq is not None:
        return f"seq:{seq}"
    ts = getattr(m.decoded, "timestamp", None)
    if ts is not None:
        return f"ts:{ts.isoformat()}"
    return None


def to_wire(m: Measurement) -> list[wire.Reading]:
    """The wire readings of one measurement (several for a multi-value one, sharing an id)."""
    short = short_uuid(m.characteristic)
    source = f"{short:04x}" if short is not None else m.characteristic
    identity = measurement_identity(m)
    if identity is None:
        measurement_id = uuid.uuid4().hex
    else:
        key = f"{m.device_id}|{source}|{identity}"
        measurement_id = uuid.uuid5(READING_NAMESPACE, key).hex
    ts = m.corrected_ts or getattr(m.decoded, "timestamp", None) or m.received_at
    usable = bool(getattr(m.decoded, "usable", True))
    flags = tuple(getattr(m.decoded, "flags", ()) or ()) + m.flags
    if not usable and "sensor_contact_lost" not in flags and source == "2a37":
        flags = (*flags, "sensor_contact_lost")
    out: list[wire.Reading] = []
    for r in m.decoded.readings():
        quality = wire.Quality(
            usable=usable, flags=flags, source=source, source_unit=getattr(r, "source_unit", None)
        )
        out.append(
            wire.Reading(
                id=f"{measurement_id}-{r.metric.value}",
                patient_id=m.patient_id,
                device_id=m.device_id,
                metric=r.metric,
                value=r.value,
                unit=r.unit,
                ts=ts,
                measurement_id=measurement_id,
                quality=quality,
            )
        )
    return out
