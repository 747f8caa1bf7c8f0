"""Store-and-forward: a durable SQLite outbox between the signal stage and the MQTT uplink.

Every reading, rollup and event is committed here before anything is published, and a row
leaves only when the cloud's end-to-end acknowledgement for its batch arrives (DESIGN.md:
a broker's PUBACK is not durable). The database runs in WAL mode with
``synchronous=FULL``: in WAL mode, NORMAL may lose the last transactions on power loss
(it skips the fsync at commit), and a measurement a cuff has already handed over must
not be lost, so each commit is fsynced. Writes are batched, so the cost is one fsync per
batch, not per reading.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    priority   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    payload    TEXT    NOT NULL,
    batch_id   TEXT,
    sent_at    REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (batch_id, priority, seq);
CREATE INDEX IF NOT EXISTS outbox_batch ON outbox (batch_id);
"""


class Kind(IntEnum):
    """What a row holds; the value is its priority (lower is sent first, thinned last)."""

    EVENT = 0
    READING = 1
    ROLLUP = 2


TOPIC_LEAF: Final[dict[Kind, str]] = {
    Kind.EVENT: "events",
    Kind.READING: "readings",
    Kind.ROLLUP: "rollups",
}


class OutboxError(Exception):
    """The outbox database cannot be used (disk full, corrupt file, wrong permissions)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows of one kind sent together under one id; re-sent with the same id until acked."""

    batch_id: str
    kind: Kind
    payloads: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    unsent: int
    in_flight_batches: int
    oldest_age_s: float | None


class Outbox:
    """Thread-safe: the pipeline writes from asyncio threads, the MQTT thread acknowledges."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(
                f"cannot open outbox {path}: {exc}; check the disk and its permissions"
            ) from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, items: Iterable[tuple[Kind, str]], *, now: float | None = None) -> int:
        """Commit rows (kind, JSON payload) in one transaction; return how many."""
        created = time.time() if now is None else now
        rows = [(kind.name.lower(), int(kind), created, payload) for kind, payload in items]
        if not rows:
            return 0
        with self._lock, self._tx():
            self._db.executemany(
                "INSERT INTO outbox (kind, priority, created_at, payload) VALUES (?, ?, ?, ?)", rows
            )
        return len(rows)

    def take_batch(self, *, limit: int) -> Batch | None:
        """Assign a new batch id to the highest-priority unsent rows of one kind."""
        with self._lock, self._tx():
            first = self._db.execute(
                "SELECT priority FROM outbox WHERE batch_id IS NULL ORDER BY priority, seq LIMIT 1"
            ).fetchone()
            if first is None:
                return None
            kind = Kind(first[0])
            rows = self._db.execute(
                "SELECT seq, payload FROM outbox WHERE batch_id IS NULL AND priority = ? "
                "ORDER BY seq LIMIT ?",
                (int(kind), limit),
            ).fetchall()
            batch_id = uuid.uuid4().hex
            self._db.executemany(
                "UPDATE outbox SET batch_id = ? WHERE seq = ?", [(batch_id, seq) for seq, _ in rows]
            )
        return Batch(batch_id, kind, tuple(payload for _, payload in rows))

    def mark_sent(self, batch_id: str, *, now: float | None = None) -> None:
        """The broker acknowledged the batch (PUBACK); keep it until the cloud acks it."""
        sent = time.time() if now is None else now
        with self._lock, self._tx():
            self._db.execute("UPDATE outbox SET sent_at = ? WHERE batch_id = ?", (sent, batch_id))

    def acknowledge(self, batch_ids: Sequence[str]) -> int:
        """The cloud committed these batches: delete their rows; return how many."""
        with self._lock, self._tx():
            cur = self._db.executemany(
                "DELETE FROM outbox WHERE batch_id = ?", [(b,) for b in batch_ids]
            )
            return cur.rowcount

    def due_for_resend(self, *, older_than_s: float, now: float | None = None) -> list[Batch]:
        """Batches never acknowledged by the cloud: never published, or published too long ago."""
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._lock:
            ids = self._db.execute(
                "SELECT batch_id, MIN(priority) FROM outbox WHERE batch_id IS NOT NULL "
                "GROUP BY batch_id HAVING MAX(COALESCE(sent_at, 0)) < ? ORDER BY MIN(priority), MIN(seq)",
                (cutoff,),
            ).fetchall()
            batches = []
            for batch_id, priority in ids:
                payloads = self._db.execute(
                    "SELECT payload FROM outbox WHERE batch_id = ? ORDER BY seq", (batch_id,)
                ).fetchall()
                batches.append(Batch(batch_id, Kind(priority), tuple(p for (p,) in payloads)))
        return batches

    def stats(self, *, now: float | None = None) -> OutboxStats:
        with self._lock:
            depth, unsent, batches, oldest = self._db.execute(
                "SELECT COUNT(*), SUM(batch_id IS NULL), COUNT(DISTINCT batch_id), MIN(created_at) "
                "FROM outbox"
            ).fetchone()
        age = None if oldest is None else max(0.0, (time.time() if now is None else now) - oldest)
        return OutboxStats(depth, unsent or 0, batches, age)

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, turning sqlite errors into OutboxError with advice."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._db.execute("ROLLBACK")
                raise OutboxError(f"outbox commit failed: {err}; is the disk full?") from err
        else:
            self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(f"outbox write failed: {exc}; is the disk full?") from exc
