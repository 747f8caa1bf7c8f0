"""What one batch of MQTT messages becomes: each message decoded on its own (a failure makes
it a dead letter, never a stuck batch), then one transaction that authorises, quarantines,
stores, rolls up, records statuses and evaluates alerts. ``cloud.ingest.worker`` brings the
batches in and acknowledges them once this has committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service as alerts
from cloud.alerts.rulebook import RuleBook
from cloud.ingest import edge_batches, faults
from cloud.ingest.triage import triage
from cloud.store.models import DeadLetter, GatewayRecord
from cloud.store.quarantine import quarantine
from cloud.store.readings import Upserted, key, reading_row, store_readings
from cloud.store.rollups import add_to_rollups
from gateway import wire

log = structlog.get_logger(__name__)

MAX_PAYLOAD_BYTES: Final = 1_000_000
CONFLICT: Final = "conflict"
"""The quarantine reason of a reading that repeats its gateway's id with other content."""


@dataclass
class Pending:
    """What one batch of MQTT messages becomes before it is committed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    statuses: dict[str, wire.Status] = field(default_factory=dict)
    acks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    dead_batches: set[str] = field(default_factory=set)
    """Those of ``acks``' batch ids that were kept whole as dead letters, not stored."""
    oldest_sent_at: datetime | None = None
    edge: edge_batches.EdgeBatch = field(default_factory=edge_batches.EdgeBatch)


@dataclass
class Outcome:
    """What a committed batch did, for the steps after the commit."""

    pending: Pending
    stored: Upserted
    quarantined: int
    now: datetime
    refused: int = 0
    new_alerts: bool = False


def parse(topic: str, payload: bytes, pending: Pending, *, now: datetime, topic_root: str) -> None:
    """Decode one message into ``pending``; any failure makes it a dead letter instead."""
    try:
        gateway_id, message = decode_message(topic, payload, topic_root)
        rows: list[dict[str, Any]] = []
        edge = edge_batches.EdgeBatch()
        if isinstance(message, wire.ReadingBatch):
            rows = [
                reading_row(r, gateway_id=gateway_id, received_at=now) for r in message.readings
            ]
        elif isinstance(message, wire.EventBatch | wire.RollupBatch):
            edge.add(gateway_id, message, now=now)
    except Exception as exc:  # whatever one message does, it stops only itself
        reason = str(exc) if isinstance(exc, wire.WireError) else faults.undecodable(exc)
        pending.dead.append(
            DeadLetter(
                received_at=now,
                topic=faults.clean(topic)[:512],
                reason=faults.clean(reason),
                payload=payload,
            )
        )
        log.warning("ingest.dead_letter", topic=topic[:128], reason=reason[:200])
        return
    if isinstance(message, wire.ReadingBatch):
        pending.rows.extend(rows)
        pending.acks[gateway_id].append(message.batch_id)
        if pending.oldest_sent_at is None or message.sent_at < pending.oldest_sent_at:
            pending.oldest_sent_at = message.sent_at
    elif isinstance(message, wire.Status):
        pending.statuses[gateway_id] = message
    elif isinstance(message, wire.EventBatch | wire.RollupBatch):
        pending.edge.merge(edge)
        pending.acks[gateway_id].append(message.batch_id)


def decode_message(topic: str, payload: bytes, topic_root: str) -> tuple[str, wire.WireMessage]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise wire.WireError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    gateway_id, leaf = wire.split_topic(topic, topic_root)
    message = _decode(payload, leaf)
    if (
        isinstance(message, wire.ReadingBatch | wire.Status | wire.EventBatch | wire.RollupBatch)
        and message.gateway_id != gateway_id
    ):
        raise wire.WireError(
            f"gateway_id {message.gateway_id!r} does not match topic gateway {gateway_id!r}"
        )
    return gateway_id, message


def store(
    sessions: sessionmaker[Session],
    pending: Pending,
    *,
    now: datetime,
    channels: Sequence[str],
    rulebook: RuleBook,
    topic_root: str,
    binding_checks: bool = True,
) -> Outcome:
    """The batch's one transaction: dead letters, quarantine, readings, edge reports,
    statuses and alerts. Raises only what the database (or a fault of ours) raises."""
    with sessions.begin() as session:
        if binding_checks:
            pending.dead += edge_batches.refuse_unauthorised(
                session,
                pending.edge,
                pending.statuses,
                now=now,
                topic_root=topic_root,
            )
        session.add_all(pending.dead)
        sorted_rows = triage(session, pending.rows, now=now, enforce=binding_checks)
        stored = store_readings(session, sorted_rows.accepted, check_conflicts=binding_checks)
        conflicts = [
            {**row, "reason": CONFLICT, "organisation_id": _organisation(session, row)}
            for row in stored.conflicts
        ]
        quarantined = quarantine(session, [*sorted_rows.quarantined, *conflicts])
        new_rows = sorted_rows.accepted  # as many keys stored as rows: all new, each once
        if len(stored.inserted) < len(new_rows):  # repeats: only the rows stored now
            fresh = {key(r): r for r in new_rows if key(r) in stored.inserted}
            new_rows = list(fresh.values())
        add_to_rollups(session, new_rows)
        edge_changes = edge_batches.commit(
            session, pending.edge, pending.statuses, now=now, channels=channels
        )
        for gateway_id, status in pending.statuses.items():
            _record_status(session, gateway_id, status, now=now)
        touched: dict[tuple[str, str], datetime] = {}
        for row in new_rows:
            series = (row["patient_id"], row["metric"])
            touched[series] = min(row["ts"], touched.get(series, row["ts"]))
        changes = alerts.evaluate(session, touched, now=now, channels=channels, rulebook=rulebook)
    return Outcome(
        pending=pending,
        stored=stored,
        quarantined=quarantined,
        refused=len(sorted_rows.quarantined),
        now=now,
        new_alerts=any(c.change == "opened" for c in [*changes, *edge_changes]),
    )


def _decode(payload: bytes, leaf: str) -> wire.WireMessage:
    """``wire.decode``, with pydantic's JSON parser on readings (several times faster than
    ``json.loads`` then validation); a refused payload is decoded again for its reason."""
    if leaf == "readings":
        try:
            return wire.ReadingBatch.model_validate_json(payload)
        except ValueError:  # pydantic's ValidationError included
            pass
    return wire.decode(payload, expect=wire.TOPIC_SCHEMAS[leaf])


def _organisation(session: Session, row: dict[str, Any]) -> str | None:
    record = session.get(GatewayRecord, row["gateway_id"])
    return record.organisation_id if record is not None else None


def _record_status(
    session: Session, gateway_id: str, status: wire.Status, *, now: datetime
) -> None:
    record = session.get(GatewayRecord, gateway_id)
    body = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if record is None:
        session.add(
            GatewayRecord(id=gateway_id, state=status.state.value, last_seen=now, status=body)
        )
    else:
        record.state, record.last_seen, record.status = status.state.value, now, body
