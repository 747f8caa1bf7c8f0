"""One ingest worker in its own process, for the scale-out benchmark.

``python -m tests.bench._worker_process DB_URL HOST PORT CLIENT_ID GROUP [STEADY_WINDOW_S]``
(the last one: ``IngestWorker``'s ``steady_window_s``, default its own): imports, prints
``ready``, waits for a line on stdin, connects and ingests; on SIGTERM it stops and prints
``{"client_id", "readings", "duplicates"}`` (what this worker stored) as one JSON line.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from cloud import metrics
from cloud.ingest.worker import STEADY_WINDOW_S, IngestWorker
from cloud.store.db import make_engine, session_factory
from gateway.logs import configure_logging
from gateway.uplink.settings import MqttSettings


def main(argv: list[str]) -> int:
    db_url, host, port, client_id, group, *window = argv
    steady_window_s = float(window[0]) if window else STEADY_WINDOW_S
    configure_logging(level="WARNING")  # to stderr: stdout carries this protocol only
    engine = make_engine(db_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = IngestWorker(
        MqttSettings(host=host, port=int(port)),
        session_factory(engine),
        group=group,
        client_id=client_id,
        batch_max=500,
        steady_window_s=steady_window_s,
    )
    print("ready", flush=True)
    sys.stdin.readline()
    worker.start()
    worker.connected.wait(30)
    print("connected", flush=True)
    stop.wait()
    worker.stop()
    engine.dispose()
    counts = {
        "client_id": client_id,
        "readings": int(metrics.INGEST_READINGS._value.get()),
        "duplicates": int(metrics.INGEST_DUPLICATES._value.get()),
    }
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
