"""Bookkeeping of the time-series sink: the readings' commit sequence, its high-water mark,
and time-series deletions still owed.

The sink must see every reading exactly once, in the order readings became visible, even
when several ingest transactions commit out of order. Each database gives that differently:

* **SQLite** has one writer at a time, so a counter bumped inside the writing transaction
  (``reading_sequence``) numbers readings in commit order; ``upsert_readings`` does it.
* **PostgreSQL** runs writers concurrently, and a sequence value is taken at insert, not at
  commit: a reading numbered 10 may commit after one numbered 11, behind a mark already at
  11. So there ``readings.seq`` is the id of the transaction that wrote it
  (``pg_current_xact_id()``, a 64-bit counter that never wraps), and the sink reads only
  below the oldest transaction still running (``pg_snapshot_xmin``): every transaction under
  that horizon has finished, so the set of readings below it can no longer grow. A single
  counter row would do the same by serialising every ingest transaction on one row lock.

The mark is the last ``(seq, id)`` written; readings share a ``seq`` on PostgreSQL (one per
transaction), so the reading id breaks ties.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.store.base import ID, WIRE_ID, Base


class ReadingSequence(Base):
    """One row: the last ``readings.seq`` handed out on SQLite (unused on PostgreSQL)."""

    __tablename__ = "reading_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SinkMark(Base):
    """How far a sink has written: every usable reading up to ``(seq, reading_id)``."""

    __tablename__ = "sink_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    reading_id: Mapped[str] = mapped_column(ID)
    updated_at: Mapped[datetime]


class PendingSeriesDeletion(Base):
    """A patient erased from the record whose time series may still hold points.

    Written in the erasure's transaction and removed once the time-series store confirmed
    the delete, so an erasure during a time-series outage is finished when it is back.
    """

    __tablename__ = "pending_series_deletions"

    patient_id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)
    requested_at: Mapped[datetime]


def next_seqs(session: Session, count: int) -> int:
    """Reserve ``count`` sequence numbers on SQLite; return the first.

    The update takes SQLite's write lock, held until commit, so numbers follow commit order.
    """
    top = session.execute(
        update(ReadingSequence)
        .where(ReadingSequence.id == 1)
        .values(value=ReadingSequence.value + count)
        .returning(ReadingSequence.value)
    ).scalar_one()
    return int(top) - count + 1


def visible_horizon(session: Session) -> int | None:
    """On PostgreSQL, the oldest transaction id still running: readings below it are final.

    ``None`` on SQLite, where every committed reading is below any still being written.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    horizon = session.execute(
        text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    ).scalar_one()
    return int(horizon)


def read_mark(session: Session, name: str) -> tuple[int, str]:
    row = session.execute(
        select(SinkMark.seq, SinkMark.reading_id).where(SinkMark.name == name)
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else (-1, "")


def save_mark(session: Session, name: str, mark: tuple[int, str], *, now: datetime) -> None:
    row = session.get(SinkMark, name)
    if row is None:
        session.add(SinkMark(name=name, seq=mark[0], reading_id=mark[1], updated_at=now))
    else:
        row.seq, row.reading_id, row.updated_at = mark[0], mark[1], now
