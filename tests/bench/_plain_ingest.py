"""The ``ingest_paced`` baseline: a plain paho + psycopg consumer, one transaction per message.

``python -m tests.bench._plain_ingest DSN HOST PORT GROUP``: prints ``ready``, waits for a
line on stdin, subscribes to every gateway's readings and, for each message, inserts its
readings (``ON CONFLICT DO NOTHING``) in one transaction, commits, PUBACKs and publishes the
end-to-end ack. No validation model, no authorisation, no rollups, no alerts: the floor a
consumer of this stream cannot go below. Ends on SIGTERM.
"""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
from datetime import UTC, datetime

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

INSERT = (
    "INSERT INTO readings (id, gateway_id, patient_id, device_id, metric, value, unit, ts, "
    "measurement_id, usable, quality, received_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, true, '{}', %s) ON CONFLICT DO NOTHING"
)


def main(argv: list[str]) -> int:
    dsn, host, port, group = argv
    conn = psycopg.connect(dsn, autocommit=True)  # each message: its own BEGIN … COMMIT
    inbox: queue.Queue[paho.MQTTMessage] = queue.Queue()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"plain-{group}", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.manual_ack_set(True)
    client.on_connect = lambda c, *_: c.subscribe(f"$share/{group}/vg/v1/+/readings", qos=1)
    client.on_subscribe = lambda *_: print("subscribed", flush=True)
    client.on_message = lambda _c, _u, msg: inbox.put(msg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    sys.stdin.readline()
    client.connect(host, int(port))
    client.loop_start()
    while not stop.is_set():
        try:
            msg = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        body = json.loads(msg.payload)
        now = datetime.now(UTC)
        gw = body["gateway_id"]
        rows = [
            (r["id"], gw, r["patient_id"], r["device_id"], r["metric"], r["value"], r["unit"],
             datetime.fromisoformat(r["ts"]), now)
            for r in body["readings"]
        ]  # fmt: skip
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(INSERT, rows)
        client.ack(msg.mid, msg.qos)
        ack = json.dumps({"schema": "vg.acks/1", "batch_ids": [body["batch_id"]]})
        client.publish(f"vg/v1/{gw}/acks", ack, qos=1)
    client.disconnect()
    client.loop_stop()
    conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
