"""The outbox keeps rows until the cloud's acknowledgement, in priority order, across crashes,
and thins in the documented order when its disk budget is reached."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.outbox import Counters, Kind, Outbox
from gateway.outbox.budget import Candidate, over_budget, plan_thinning, row_bytes


def test_batches_by_priority_and_delete_only_on_ack(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.add(
        [
            (Kind.ROLLUP, '{"r":1}', None),
            (Kind.READING, '{"s":1}', None),
            (Kind.READING, '{"s":2}', None),
        ],
        now=100,
    )
    box.add([(Kind.EVENT, '{"e":1}', None)], now=101)

    first = box.take_batch(limit=10)
    assert first is not None
    assert (first.kind, first.payloads) == (Kind.EVENT, ('{"e":1}',))
    second = box.take_batch(limit=1)
    assert second is not None
    assert (second.kind, second.payloads) == (Kind.READING, ('{"s":1}',))

    box.mark_sent(first.batch_id, now=110)
    stats = box.stats(now=120)
    assert (stats.depth, stats.unsent, stats.unpublished, stats.in_flight_batches) == (4, 2, 3, 2)
    assert stats.oldest_age_s == 20.0

    # PUBACK is not enough: rows stay until the cloud acknowledges the batch.
    assert box.pending_batches() == [first.batch_id, second.batch_id]
    assert box.acknowledge([first.batch_id, "unknown"]) == 1
    assert box.stats(now=120).depth == 3
    assert box.pending_batches() == [second.batch_id]
    again = box.load_batch(second.batch_id)
    assert again == second  # re-sent under the same id with the same rows
    assert box.load_batch(first.batch_id) is None
    box.close()


def test_age_is_never_negative_when_the_clock_went_back(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.add([(Kind.READING, "{}", None)], now=1_000_000)
    assert box.stats(now=1_000_000 - 3600).oldest_age_s == 0.0
    box.close()


def test_committed_rows_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    code = (
        "import os, signal, sys\n"
        "from gateway.outbox import Kind, Outbox\n"
        f"box = Outbox({str(path)!r})\n"
        "box.add([(Kind.READING, str(i), None) for i in range(100)])\n"
        "print('committed', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.strip() == "committed"
    assert os.path.exists(path)
    box = Outbox(path)
    batch = box.take_batch(limit=1000)
    assert batch is not None
    assert batch.payloads == tuple(str(i) for i in range(100))
    box.close()


def test_wal_and_full_sync_are_in_force(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.close()
    db = sqlite3.connect(tmp_path / "o.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


# --------------------------------------------------------------------------- budget policy
def test_plan_thinning_frees_enough_and_keeps_measurements_whole() -> None:
    cands = [
        Candidate(1, "a", 100),
        Candidate(2, "b", 100),
        Candidate(3, "b", 100),  # a cuff's second value goes with its first
        Candidate(4, "c", 100),
    ]
    assert plan_thinning(cands, 150) == [1, 2, 3]
    assert plan_thinning(cands, 100) == [1]
    assert plan_thinning(cands, 0) == []
    assert plan_thinning(cands, 10_000) == [1, 2, 3, 4]
    assert plan_thinning([Candidate(1, None, 10), Candidate(2, None, 10)], 5) == [1]


def test_over_budget_and_row_bytes() -> None:
    assert over_budget(100, 150) == 0
    assert over_budget(200, 150) == 50
    assert row_bytes("abc") > 3


def _row(
    kind: Kind, i: int, size: int = 200, group: str | None = None
) -> tuple[Kind, str, str | None]:
    return kind, f'{{"i":{i:03d},"pad":"{"x" * size}"}}', group


def test_budget_thins_rollups_then_oldest_readings_never_events(tmp_path: Path) -> None:
    per_row = row_bytes(_row(Kind.READING, 0)[1])
    box = Outbox(tmp_path / "o.sqlite3", budget_bytes=per_row * 20)
    box.add([_row(Kind.EVENT, i) for i in range(5)], now=1)
    box.add([_row(Kind.ROLLUP, i) for i in range(5)], now=1)
    box.add([_row(Kind.READING, i, group=f"m{i // 2}") for i in range(10)], now=1)
    assert box.stats().thinned == 0
    # Five more readings: the rollups go first…
    box.add([_row(Kind.READING, i, group=f"m{i // 2}") for i in range(10, 15)], now=2)
    stats = box.stats()
    assert stats.thinned == 5
    assert stats.bytes_used <= stats.budget_bytes
    assert "rollup" not in {k for k, _ in _contents(box)}
    # …then the oldest readings, whole measurements at a time; events stay.
    box.add([_row(Kind.READING, i, group=f"m{i // 2}") for i in range(15, 19)], now=3)
    rows = _contents(box)
    assert [i for k, i in rows if k == "event"] == list(range(5))
    assert [i for k, i in rows if k == "reading"] == list(range(4, 19))  # m0, m1 thinned
    assert box.stats().thinned == 9
    box.close()


def _contents(box: Outbox) -> list[tuple[str, int]]:
    db = sqlite3.connect(box.path)
    try:
        rows = db.execute("SELECT kind, payload FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(k, int(p.split(",")[0].split(":")[1])) for k, p in rows]


def test_rows_in_flight_are_not_thinned_and_events_may_exceed_budget(tmp_path: Path) -> None:
    per_row = row_bytes(_row(Kind.READING, 0)[1])
    box = Outbox(tmp_path / "o.sqlite3", budget_bytes=per_row * 4)
    box.add([_row(Kind.READING, i) for i in range(4)])
    in_flight = box.take_batch(limit=4)
    assert in_flight is not None
    box.add([_row(Kind.EVENT, i) for i in range(3)])
    stats = box.stats()
    assert stats.depth == 7  # over budget: nothing it may drop
    assert stats.bytes_used > stats.budget_bytes
    assert box.load_batch(in_flight.batch_id) == in_flight
    box.acknowledge([in_flight.batch_id])
    assert box.stats().bytes_used == 3 * per_row
    box.close()


def test_bytes_in_use_survive_a_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.add([_row(Kind.READING, i) for i in range(10)])
    used = box.stats().bytes_used
    box.close()
    again = Outbox(tmp_path / "o.sqlite3")
    assert again.stats().bytes_used == used
    again.close()


@pytest.mark.parametrize("thinned_before", [0, 3])
def test_thinned_count_is_persisted(tmp_path: Path, thinned_before: int) -> None:
    per_row = row_bytes(_row(Kind.READING, 0)[1])
    box = Outbox(tmp_path / "o.sqlite3", budget_bytes=per_row * 2)
    box.add([_row(Kind.READING, i) for i in range(2 + thinned_before)])
    box.close()
    again = Outbox(tmp_path / "o.sqlite3", budget_bytes=per_row * 2)
    assert again.stats().thinned == thinned_before
    again.close()


def test_counters_follow_each_row_and_survive_a_reopen(tmp_path: Path) -> None:
    per_row = row_bytes(_row(Kind.READING, 0)[1])
    box = Outbox(tmp_path / "o.sqlite3", budget_bytes=per_row * 6)
    assert box.counters() == Counters()
    box.add([_row(Kind.READING, i) for i in range(4)])
    first = box.take_batch(limit=2)
    second = box.take_batch(limit=2)
    assert first is not None
    assert second is not None
    box.mark_sent(first.batch_id)
    box.mark_sent(first.batch_id)  # the PUBACK of a re-send: published once
    box.note_resent(len(first.payloads))
    box.mark_sent(second.batch_id)
    box.add([_row(Kind.READING, i) for i in range(4, 10)])  # 10 rows, room for 6: 4 thinned
    assert box.acknowledge([first.batch_id, second.batch_id], dead_lettered=[second.batch_id]) == 4
    box.close()
    again = Outbox(tmp_path / "o.sqlite3", budget_bytes=per_row * 6)
    expected = Counters(
        accepted=10, published=4, acknowledged=4, resent=2, thinned=4, dead_lettered=2
    )
    assert again.counters() == expected
    assert again.stats().counters == expected
    assert again.stats().thinned == 4
    again.close()
