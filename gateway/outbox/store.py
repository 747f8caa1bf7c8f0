"""Store-and-forward: a durable SQLite outbox between the signal stage and the MQTT uplink.

Every reading, rollup and event is committed here before anything is published, and a row
leaves only when the cloud's end-to-end acknowledgement for its batch arrives (docs/architecture.md,
a broker's PUBACK is not durable).

Durability: WAL mode with ``synchronous=FULL`` for every transaction that stores rows. In
WAL mode, NORMAL skips the fsync at commit and may lose the last transactions on power loss
(the database stays consistent, but a measurement a cuff has already handed over and
deleted would be gone). FULL fsyncs the WAL at every commit. Writes are batched (one
transaction per drained queue), so the cost is one fsync per batch, not per reading;
``gateway_pipeline`` measures it.

Bookkeeping transactions (assigning a batch id, marking a batch PUBACKed, deleting what the
cloud acknowledged) commit with NORMAL: the next FULL commit fsyncs them too, and losing one
to a power cut only means a batch is sent again (under a new id, or after an ack already
received), which the cloud's upsert on reading ids absorbs. Nothing is lost that way; it
saves two fsyncs per batch on the path from notification to PUBACK.

Wall-clock times stored here (``created_at``, ``sent_at``) are for reporting only; when to
re-send is decided by the uplink on a monotonic clock, so a clock jump cannot stall or
flood re-sends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Final

import structlog

from gateway.outbox.budget import (
    DEFAULT_BUDGET_BYTES,
    THIN_ORDER,
    Candidate,
    over_budget,
    plan_thinning,
    row_bytes,
)

log = structlog.get_logger(__name__)

SCHEMA_VERSION: Final = 2
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    priority   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    payload    TEXT    NOT NULL,
    batch_id   TEXT,
    sent_at    REAL,
    mgroup     TEXT,
    nbytes     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (batch_id, priority, seq);
CREATE INDEX IF NOT EXISTS outbox_batch ON outbox (batch_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
WAL_SIZE_LIMIT_BYTES: Final = 8 * 1024 * 1024
"""After a checkpoint SQLite truncates the WAL back to this size, so it cannot creep."""
THIN_CHUNK: Final = 2000
"""Rows examined per step when planning thinning."""


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

Row = tuple[Kind, str, str | None]
"""(kind, JSON payload, measurement group or None) — one row to store."""


class OutboxError(Exception):
    """The outbox database cannot be used (disk full, corrupt file, wrong permissions)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows of one kind sent together under one id; re-sent with the same id until acked."""

    batch_id: str
    kind: Kind
    payloads: tuple[str, ...]


COUNTER_NAMES: Final = (
    "accepted",
    "published",
    "acknowledged",
    "resent",
    "thinned",
    "dead_lettered",
)
"""The outbox's cumulative counters, in the order of a row's life; kept in its ``meta`` table
(updated in the transaction that does the counted thing), so they survive a restart."""


@dataclass(frozen=True, slots=True)
class Counters:
    """Rows (readings, rollups and events) counted since the outbox file was created."""

    accepted: int = 0
    """Committed to the outbox."""
    published: int = 0
    """Acknowledged by the broker (PUBACK) the first time they were published."""
    acknowledged: int = 0
    """Deleted on the cloud's end-to-end acknowledgement (dead letters included)."""
    resent: int = 0
    """Published again because the cloud's acknowledgement did not come within the ack
    timeout; a row sent three times counts twice. (Rows a previous run left unacknowledged
    are published again at start without being counted here.)"""
    thinned: int = 0
    """Dropped unsent to stay within the disk budget."""
    dead_lettered: int = 0
    """Acknowledged by the cloud as kept in its dead-letter table, not in its store."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    """Rows waiting for the cloud's acknowledgement (sent or not)."""
    unsent: int
    """Rows not yet assigned to a batch."""
    unpublished: int
    """Rows the broker has not acknowledged (PUBACK) yet."""
    in_flight_batches: int
    oldest_age_s: float | None
    """Seconds since the oldest waiting row was stored (wall clock; 0 if the clock went back)."""
    bytes_used: int
    budget_bytes: int
    thinned: int
    """Rows dropped to stay within the budget since the outbox was created."""
    counters: Counters


class Outbox:
    """Thread-safe: the pipeline writes from asyncio threads, the MQTT thread acknowledges."""

    def __init__(self, path: Path | str, *, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
            self._migrate()
            self._used: int = self._db.execute(
                "SELECT COALESCE(SUM(nbytes), 0) FROM outbox"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            raise OutboxError(
                f"cannot open outbox {path}: {exc}; check the disk and its permissions"
            ) from exc
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
        if cols and "mgroup" not in cols:  # an outbox written by schema 1
            self._db.execute("ALTER TABLE outbox ADD COLUMN mgroup TEXT")
            self._db.execute("ALTER TABLE outbox ADD COLUMN nbytes INTEGER NOT NULL DEFAULT 0")
            self._db.execute("UPDATE outbox SET nbytes = LENGTH(payload) + ?", (row_bytes(""),))
        self._db.executescript(SCHEMA)
        if version != SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ writing
    def add(self, items: Iterable[Row], *, now: float | None = None) -> int:
        """Commit rows in one durable transaction, thinning if over budget; return how many."""
        created = time.time() if now is None else now
        rows = [
            (kind.name.lower(), int(kind), created, payload, group, row_bytes(payload))
            for kind, payload, group in items
        ]
        if not rows:
            return 0
        with self._lock:
            try:
                with self._tx():
                    self._db.executemany(
                        "INSERT INTO outbox (kind, priority, created_at, payload, mgroup, nbytes) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    self._count("accepted", len(rows))
                    self._used += sum(r[5] for r in rows)
                    if over_budget(self._used, self.budget_bytes):
                        self._thin()
            except OutboxError:
                self._recount()
                raise
        return len(rows)

    def _recount(self) -> None:
        """Re-read the bytes in use after a rolled-back write (our counter ran ahead)."""
        with contextlib.suppress(sqlite3.Error):
            self._used = self._db.execute("SELECT COALESCE(SUM(nbytes), 0) FROM outbox").fetchone()[
                0
            ]

    def _thin(self) -> None:
        """Delete unsent rows in THIN_ORDER until within budget (inside the caller's tx)."""
        dropped = 0
        for kind_name in THIN_ORDER:
            kind = Kind[kind_name.upper()]
            while (needed := over_budget(self._used, self.budget_bytes)) > 0:
                cands = [
                    Candidate(seq, group, nbytes)
                    for seq, group, nbytes in self._db.execute(
                        "SELECT seq, mgroup, nbytes FROM outbox "
                        "WHERE batch_id IS NULL AND priority = ? ORDER BY seq LIMIT ?",
                        (int(kind), THIN_CHUNK),
                    )
                ]
                seqs = plan_thinning(cands, needed)
                if not seqs:
                    break
                size = {c.seq: c.nbytes for c in cands}
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(q,) for q in seqs])
                self._used -= sum(size[q] for q in seqs)
                dropped += len(seqs)
        if dropped:
            self._count("thinned", dropped)
            log.warning(
                "outbox.thinned", rows=dropped, bytes_used=self._used, budget=self.budget_bytes
            )
        if over_budget(self._used, self.budget_bytes):
            log.error(
                "outbox.over_budget",
                bytes_used=self._used,
                budget=self.budget_bytes,
                advice="only events and in-flight batches are left; they are never dropped. "
                "Restore the network, or raise outbox_budget_mb if the disk allows it.",
            )

    # ------------------------------------------------------------------ batches
    def take_batch(self, *, limit: int) -> Batch | None:
        """Assign a new batch id to the highest-priority unsent rows of one kind."""
        with self._lock, self._tx(durable=False):
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

    def pending_batches(self) -> list[str]:
        """Ids of every batch awaiting the cloud's acknowledgement, by priority then age."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id FROM outbox WHERE batch_id IS NOT NULL "
                "GROUP BY batch_id ORDER BY MIN(priority), MIN(seq)"
            ).fetchall()
        return [b for (b,) in rows]

    def load_batch(self, batch_id: str) -> Batch | None:
        """The rows of one batch (fewer if some were acknowledged), or None if none are left."""
        with self._lock:
            rows = self._db.execute(
                "SELECT priority, payload FROM outbox WHERE batch_id = ? ORDER BY seq", (batch_id,)
            ).fetchall()
        if not rows:
            return None
        return Batch(batch_id, Kind(rows[0][0]), tuple(p for _, p in rows))

    def mark_sent(self, batch_id: str, *, now: float | None = None) -> None:
        """The broker acknowledged the batch (PUBACK); keep it until the cloud acks it."""
        sent = time.time() if now is None else now
        with self._lock, self._tx(durable=False):
            first = self._db.execute(
                "UPDATE outbox SET sent_at = ? WHERE batch_id = ? AND sent_at IS NULL",
                (sent, batch_id),
            ).rowcount
            self._count("published", first)
            self._db.execute("UPDATE outbox SET sent_at = ? WHERE batch_id = ?", (sent, batch_id))

    def note_resent(self, rows: int) -> None:
        """Count ``rows`` published again (the uplink re-sent a batch)."""
        with self._lock, self._tx(durable=False):
            self._count("resent", rows)

    def acknowledge(self, batch_ids: Sequence[str], *, dead_lettered: Sequence[str] = ()) -> int:
        """The cloud committed these batches: delete their rows; return how many.

        ``dead_lettered``: those of ``batch_ids`` the cloud kept as dead letters."""
        if not batch_ids:
            return 0
        count = freed = dead = 0
        dead_ids = set(dead_lettered)
        with self._lock, self._tx(durable=False):
            for batch_id in dict.fromkeys(batch_ids):
                n, size = self._db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(nbytes), 0) FROM outbox WHERE batch_id = ?",
                    (batch_id,),
                ).fetchone()
                if n:
                    self._db.execute("DELETE FROM outbox WHERE batch_id = ?", (batch_id,))
                count, freed = count + n, freed + size
                dead += n if batch_id in dead_ids else 0
            self._used -= freed
            self._count("acknowledged", count)
            self._count("dead_lettered", dead)
        return count

    def _count(self, name: str, n: int) -> None:
        """Add ``n`` to a counter, inside the caller's transaction."""
        if n:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                (name, n),
            )

    # ------------------------------------------------------------------ reporting
    def stats(self, *, now: float | None = None) -> OutboxStats:
        with self._lock:
            depth, unsent, unpublished, batches, oldest = self._db.execute(
                "SELECT COUNT(*), SUM(batch_id IS NULL), SUM(sent_at IS NULL), "
                "COUNT(DISTINCT batch_id), MIN(created_at) FROM outbox"
            ).fetchone()
            counters = self._counters()
            used = self._used
        age = None if oldest is None else max(0.0, (time.time() if now is None else now) - oldest)
        return OutboxStats(
            depth=depth,
            unsent=unsent or 0,
            unpublished=unpublished or 0,
            in_flight_batches=batches,
            oldest_age_s=age,
            bytes_used=used,
            budget_bytes=self.budget_bytes,
            thinned=counters.thinned,
            counters=counters,
        )

    def counters(self) -> Counters:
        """The cumulative counters (``COUNTER_NAMES``)."""
        with self._lock:
            return self._counters()

    def _counters(self) -> Counters:
        placeholders = ",".join("?" * len(COUNTER_NAMES))
        found = dict(
            self._db.execute(
                f"SELECT key, value FROM meta WHERE key IN ({placeholders})",  # noqa: S608
                COUNTER_NAMES,
            ).fetchall()
        )
        return Counters(**{name: int(found.get(name, 0)) for name in COUNTER_NAMES})

    def _tx(self, *, durable: bool = True) -> _Transaction:
        return _Transaction(self._db, durable=durable)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, turning sqlite errors into OutboxError with advice.

    ``durable=False`` commits without an fsync (``synchronous=NORMAL``) for bookkeeping that
    a power cut may undo harmlessly; see the module docstring.
    """

    def __init__(self, db: sqlite3.Connection, *, durable: bool) -> None:
        self._db = db
        self._durable = durable

    def __enter__(self) -> None:
        try:
            # synchronous cannot change inside a transaction, so set it before BEGIN.
            self._db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise OutboxError(f"outbox is not writable: {err}; check the disk") from err

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
