"""The outbox keeps rows until the cloud's acknowledgement, in priority order, across crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gateway.outbox import Kind, Outbox


def test_batches_by_priority_and_delete_only_on_ack(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.add(
        [(Kind.ROLLUP, '{"r":1}'), (Kind.READING, '{"s":1}'), (Kind.READING, '{"s":2}')], now=100
    )
    box.add([(Kind.EVENT, '{"e":1}')], now=101)

    first = box.take_batch(limit=10)
    assert first is not None
    assert (first.kind, first.payloads) == (Kind.EVENT, ('{"e":1}',))
    second = box.take_batch(limit=1)
    assert second is not None
    assert (second.kind, second.payloads) == (Kind.READING, ('{"s":1}',))

    box.mark_sent(first.batch_id, now=110)
    stats = box.stats(now=120)
    assert (stats.depth, stats.unsent, stats.in_flight_batches, stats.oldest_age_s) == (
        4,
        2,
        2,
        20.0,
    )

    # PUBACK is not enough: rows stay until the cloud acknowledges the batch.
    due = box.due_for_resend(older_than_s=5, now=120)
    assert [b.batch_id for b in due] == [first.batch_id, second.batch_id]
    assert box.acknowledge([first.batch_id, "unknown"]) == 1
    assert box.stats(now=120).depth == 3
    assert [b.batch_id for b in box.due_for_resend(older_than_s=5, now=120)] == [second.batch_id]


def test_committed_rows_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    code = (
        "import os, signal, sys\n"
        "from gateway.outbox import Kind, Outbox\n"
        f"box = Outbox({str(path)!r})\n"
        "box.add([(Kind.READING, str(i)) for i in range(100)])\n"
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
