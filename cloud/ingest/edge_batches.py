"""Ingest of the edge's own reports: ``…/events`` and ``…/rollups`` batches, and the
alerts that events and gateway status changes open (``cloud.alerts.gateway_findings``).

Kept apart from the readings path of the worker: the worker parses these batches into an
``EdgeBatch`` and calls ``commit`` inside its transaction, before it records statuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud.alerts import gateway_findings
from cloud.alerts.service import AlertChange
from cloud.store.edge_records import EdgeEvent, EdgeRollup, event_row, insert_new, rollup_row
from gateway import wire


@dataclass
class EdgeBatch:
    events: list[tuple[str, wire.Event]] = field(default_factory=list)
    rollups: list[dict[str, Any]] = field(default_factory=list)
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
