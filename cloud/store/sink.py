"""The time-series sink: readings committed to the SQL record, copied to the time-series store.

The record is the truth; the time-series store is a projection of it for high-rate charts
and Grafana. The sink reads usable readings after its high-water mark in commit order
(``cloud.store.marks``), writes a chunk, and advances the mark in the database only after
the store took every point of it. An outage longer than influxdb-client's retry window
(``max_retry_time_ms``) therefore only delays the copy: the readings stay after the mark
and are written when the store is back. A chunk written again after a failure lands on the
same series and time stamps, which InfluxDB overwrites and VictoriaMetrics deduplicates
(``-dedup.minScrapeInterval=1ms``).

Run exactly one: ``vitalgate-cloud sink`` (two sinks stay correct but write everything twice).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import structlog
from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloud.metrics import SINK_ERRORS, SINK_POINTS
from cloud.store import leases
from cloud.store.influx import SeriesPoint, TimeSeriesError, TimeSeriesStore
from cloud.store.marks import (
    PendingSeriesDeletion,
    read_mark,
    save_mark,
    visible_horizon,
)
from cloud.store.models import GatewayRecord, Reading
from cloud.store.readings import number_unnumbered
from cloud.store.tenancy import Patient

log = structlog.get_logger(__name__)

MARK: Final = "influx"
RETRY_FIRST_S: Final = 1.0
RETRY_MAX_S: Final = 60.0


PointsSelect = Select[int | None, str, str, str, str, str, float, datetime, str | None]


def points_select() -> PointsSelect:
    """Usable readings as ``(seq, id, organisation, patient, device, metric, value, ts,
    registered patient id or None)``.

    The organisation is the patient's, else the sending gateway's, else empty (unclaimed).
    """
    organisation = func.coalesce(Patient.organisation_id, GatewayRecord.organisation_id, "")
    return (
        select(
            Reading.seq,
            Reading.id,
            organisation,
            Reading.patient_id,
            Reading.device_id,
            Reading.metric,
            Reading.value,
            Reading.ts,
            Patient.id,
        )
        .outerjoin(Patient, Patient.id == Reading.patient_id)
        .outerjoin(GatewayRecord, GatewayRecord.id == Reading.gateway_id)
        .where(Reading.usable.is_(True))
    )


def _chunk_query(mark: tuple[int, str], horizon: int | None, limit: int) -> PointsSelect:
    stmt = (
        points_select()
        .where(tuple_(Reading.seq, Reading.id) > tuple_(*mark))
        .order_by(Reading.seq, Reading.id)
        .limit(limit)
    )
    if horizon is not None:
        stmt = stmt.where(Reading.seq < horizon)
    return stmt


def finish_series_deletions(sessions: sessionmaker[Session], store: TimeSeriesStore) -> int:
    """Apply the time-series deletions erasures still owe (``cloud.store.retention``).

    Raises ``TimeSeriesError`` (the rest stay owed) when the store does not answer.
    """
    with sessions() as session:
        owed = list(session.scalars(select(PendingSeriesDeletion.patient_id)))
    for patient in owed:
        store.delete({"patient": patient})
        with sessions.begin() as session:
            session.execute(
                delete(PendingSeriesDeletion).where(PendingSeriesDeletion.patient_id == patient)
            )
    return len(owed)


class Sink:
    """Copies the record to the time-series store, one confirmed chunk at a time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: TimeSeriesStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.chunk = store.settings.batch_size
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="influx-sink", daemon=True)
        self.owner = leases.process_owner()
        settings = store.settings
        self.lease_s = max(30.0, 3 * settings.poll_s + 2 * settings.timeout_ms / 1000)
        """The ``sink`` lease: one sink writes, any others stand by and take over when it
        stops (at once) or dies (after this)."""

    def leased_round(self) -> int | None:
        """``run_once`` if this sink holds (or takes) the ``sink`` lease; None when another
        sink is writing."""
        now = datetime.now(UTC)
        if not leases.acquire(self.sessions, "sink", owner=self.owner, ttl_s=self.lease_s, now=now):
            return None
        return self.run_once()

    def run_once(self) -> int:
        """Write the next chunk after the mark and advance it; return the points written.

        Raises ``TimeSeriesError`` (mark unchanged) when the store did not take the chunk.
        """
        finish_series_deletions(self.sessions, self.store)
        with self.sessions.begin() as session:
            number_unnumbered(session)
        with self.sessions() as session:
            horizon = visible_horizon(session)
            mark = read_mark(session, MARK)
            rows = session.execute(_chunk_query(mark, horizon, self.chunk)).all()
        if not rows:
            return 0
        points = [SeriesPoint(*row[2:8]) for row in rows]
        registered = {row[8] for row in rows if row[8] is not None}
        self.store.write(points)
        seq, reading_id = rows[-1][0], rows[-1][1]
        assert seq is not None, "the chunk query selects numbered readings only"
        with self.sessions.begin() as session:
            save_mark(session, MARK, (seq, reading_id), now=self.clock())
        SINK_POINTS.inc(len(points))
        self._forget_erased(registered)
        return len(points)

    def _forget_erased(self, patients: set[str]) -> None:
        """Delete again the series of patients erased while their chunk was being written.

        ``patients`` were registered when the chunk was read (same statement, same
        snapshot); one gone now was erased since, and the erasure's own delete may have
        run before these points arrived.
        """
        if not patients:
            return
        with self.sessions() as session:
            alive = set(session.scalars(select(Patient.id).where(Patient.id.in_(patients))))
        for patient in sorted(patients - alive):
            self.store.delete({"patient": patient})

    def drain(self) -> int:
        """Write chunks until nothing is left after the mark; return the points written."""
        total = 0
        while written := self.run_once():
            total += written
        return total

    # ------------------------------------------------------------------ loop
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        leases.release(self.sessions, "sink", owner=self.owner, now=datetime.now(UTC))

    def run(self) -> None:
        """Until stopped: drain, then wait ``poll_s``; on failure back off and try the same chunk."""
        delay = RETRY_FIRST_S
        while not self._stop.is_set():
            try:
                written = self.leased_round()
                delay = RETRY_FIRST_S
                if written:
                    continue
                self._stop.wait(self.store.settings.poll_s)
            except (TimeSeriesError, SQLAlchemyError) as exc:
                SINK_ERRORS.inc()
                log.warning(
                    "sink.retry",
                    error=type(exc).__name__,
                    # Ours say what failed without data; SQLAlchemy's quote parameters.
                    detail=str(exc)[:300] if isinstance(exc, TimeSeriesError) else "",
                    retry_in_s=delay,
                    advice="nothing is lost: readings stay after the mark until the store takes them",
                )
                self._stop.wait(delay)
                delay = min(RETRY_MAX_S, delay * 2)
