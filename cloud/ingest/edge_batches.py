"""Ingest of the edge's own reports: ``…/events`` and ``…/rollups`` batches, and the
alerts that events and gateway status changes open (``cloud.alerts.gateway_findings``).

Kept apart from the readings path of the worker: the worker parses these batches into an
``EdgeBatch``, lets ``refuse_unauthorised`` take out what the sending gateway may not say
(``cloud.ingest.authorise``: the same scope as readings), and calls ``commit`` inside its
transaction, before it records statuses. A refused event, rollup or status is kept as a
dead letter with its reason and never reaches an alert or the gateway's record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud.alerts import gateway_findings
from cloud.alerts.service import AlertChange
from cloud.ingest.authorise import Bindings
from cloud.store.edge_records import EdgeEvent, EdgeRollup, event_row, insert_new, rollup_row
from cloud.store.models import DeadLetter
from gateway import wire

REFUSED: Final = "refused:"
"""How the reason of a dead letter refused by the binding checks starts."""


@dataclass
class EdgeBatch:
    events: list[tuple[str, wire.Event]] = field(default_factory=list)
    rollups: list[dict[str, Any]] = field(default_factory=list)
    rollup_items: list[wire.Rollup] = field(default_factory=list)
    """The wire rollups behind ``rollups`` (same order), for a dead letter if refused."""
    received_at: datetime | None = None

    def add(
        self, gateway_id: str, message: wire.EventBatch | wire.RollupBatch, *, now: datetime
    ) -> None:
        self.received_at = now
        if isinstance(message, wire.EventBatch):
            self.events.extend((gateway_id, e) for e in message.events)
        else:
            self.rollups.extend(
                rollup_row(r, gateway_id=gateway_id, received_at=now) for r in message.rollups
            )
            self.rollup_items.extend(message.rollups)

    def merge(self, other: EdgeBatch) -> None:
        self.events += other.events
        self.rollups += other.rollups
        self.rollup_items += other.rollup_items
        self.received_at = other.received_at or self.received_at


def refuse_unauthorised(
    session: Session,
    batch: EdgeBatch,
    statuses: MutableMapping[str, wire.Status],
    *,
    now: datetime,
    topic_root: str,
) -> list[DeadLetter]:
    """Take out of ``batch`` and ``statuses`` what their gateway may not report; return a
    dead letter (the item as JSON, and the reason) for each."""
    gateways = {gw for gw, _ in batch.events} | {r["gateway_id"] for r in batch.rollups}
    if not gateways and not statuses:
        return []
    bindings = Bindings.load(
        session,
        gateway_ids=gateways | set(statuses),
        device_ids={e.device_id for _, e in batch.events if e.device_id}
        | {r["device_id"] for r in batch.rollups},
        patient_ids={e.patient_id for _, e in batch.events if e.patient_id and not e.device_id},
    )
    dead: list[DeadLetter] = []

    def refuse(gateway_id: str, leaf: str, item: BaseModel, reason: str) -> None:
        body = item.model_dump(mode="json", by_alias=True, exclude_none=True)
        dead.append(
            DeadLetter(
                received_at=now,
                topic=wire.Topics(gateway_id, topic_root).leaf(leaf)[:512],
                reason=f"{REFUSED} {reason}",
                payload=json.dumps(body).encode(),
            )
        )

    kept_events = []
    for gw, event in batch.events:
        reason = bindings.refusal(
            gw, patient_id=event.patient_id, device_id=event.device_id, ts=event.ts
        )
        if reason is None:
            kept_events.append((gw, event))
        else:
            refuse(gw, "events", event, reason)
    kept_rows, kept_items = [], []
    for row, item in zip(batch.rollups, batch.rollup_items, strict=True):
        gw = row["gateway_id"]
        reason = bindings.refusal(
            gw, patient_id=row["patient_id"], device_id=row["device_id"], ts=row["start"]
        )
        if reason is None:
            kept_rows.append(row)
            kept_items.append(item)
        else:
            refuse(gw, "rollups", item, reason)
    for gw in list(statuses):
        reason = bindings.gateway_refusal(gw)
        if reason is not None:
            refuse(gw, "status", statuses.pop(gw), reason)
    batch.events, batch.rollups, batch.rollup_items = kept_events, kept_rows, kept_items
    return dead


def commit(
    session: Session,
    batch: EdgeBatch,
    statuses: Mapping[str, wire.Status],
    *,
    now: datetime,
    channels: Sequence[str],
) -> list[AlertChange]:
    """Store new events and rollups (repeats skipped), then carry events and gateway state
    changes into alerts."""
    rows = [event_row(e, gateway_id=gw, received_at=now) for gw, e in batch.events]
    inserted = insert_new(session, EdgeEvent, rows)
    fresh = list({e.id: (gw, e) for gw, e in batch.events if e.id in inserted}.values())
    changes: list[AlertChange] = []
    for event_id, change in gateway_findings.events(session, fresh, now=now, channels=channels):
        if change is not None:
            changes.append(change)
            session.execute(
                update(EdgeEvent).where(EdgeEvent.id == event_id).values(alert_id=change.alert_id)
            )
    insert_new(session, EdgeRollup, batch.rollups)
    changes += gateway_findings.gateway_states(session, statuses, now=now, channels=channels)
    return changes
