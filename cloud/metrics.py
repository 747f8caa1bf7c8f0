"""Prometheus metrics of the cloud (names start with ``vitalgate_``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGEST_READINGS = Counter(
    "vitalgate_ingest_readings", "Readings stored for the first time (repeats not counted)"
)
INGEST_DUPLICATES = Counter(
    "vitalgate_ingest_duplicate_readings", "Readings received again and absorbed by the upsert"
)
INGEST_QUARANTINED = Counter(
    "vitalgate_ingest_quarantined_readings",
    "Readings kept aside, not attributed: unregistered or revoked gateway, unpaired device, "
    "implausible time stamp, or an id conflict",
)
INGEST_CONFLICTS = Counter(
    "vitalgate_ingest_conflicts",
    "Readings that repeat a stored reading id of the same gateway with other content "
    "(quarantined with reason 'conflict')",
)
INGEST_REFUSED = Counter(
    "vitalgate_ingest_refused",
    "Readings, events, rollups or statuses refused by the binding checks",
    ["kind"],
)
INGEST_MESSAGES = Counter("vitalgate_ingest_messages", "MQTT messages processed", ["topic"])
DEAD_LETTERS = Counter(
    "vitalgate_ingest_dead_letters", "Messages refused into the dead-letter table"
)
INGEST_BATCH_SIZE = Histogram(
    "vitalgate_ingest_batch_messages",
    "MQTT messages per committed ingest batch",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
INGEST_LAG = Histogram(
    "vitalgate_ingest_lag_seconds",
    "Delay between a batch being sent by the gateway and its commit to the store",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
INGEST_DB_ERRORS = Counter("vitalgate_ingest_db_errors", "Failed ingest commits (retried)")
ALERTS_OPENED = Counter("vitalgate_alerts_opened", "Alerts opened", ["priority"])
DELIVERIES = Counter("vitalgate_alert_deliveries", "Alert delivery outcomes", ["status"])
INGEST_PENDING = Gauge(
    "vitalgate_ingest_pending_messages",
    "MQTT messages received and not yet acknowledged (bounded by the Receive Maximum)",
)
BROKER_CONNECTED = Gauge("vitalgate_ingest_broker_connected", "1 while ingest is connected")
