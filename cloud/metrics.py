"""Prometheus metrics of the cloud (names start with ``vitalgate_``).

Counters and histograms count what this process did. The fleet's state (deliveries waiting,
gateways online) lives in the database, so ``StoreGauges`` reads it when Prometheus scrapes:
every process that exposes metrics reports the same figure (chart it with ``max``).
The Grafana dashboard in ``deploy/grafana/`` charts these names and no others.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

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
SINK_POINTS = Counter(
    "vitalgate_sink_points", "Readings written to the time-series store (after the mark)"
)
SINK_ERRORS = Counter(
    "vitalgate_sink_errors", "Sink cycles that failed and will be retried from the same mark"
)


_OPENED_KEY = "vitalgate.alerts_opened"


def count_alert_opened(session: Session, priority: str) -> None:
    """Count an alert opened in ``session`` once its transaction commits (a rollback, e.g. an
    ingest batch retried, counts nothing)."""
    session.info.setdefault(_OPENED_KEY, []).append(priority)


@event.listens_for(Session, "after_commit")
def _opened_committed(session: Session) -> None:
    for priority in session.info.pop(_OPENED_KEY, ()):
        ALERTS_OPENED.labels(priority=priority).inc()


@event.listens_for(Session, "after_rollback")
def _opened_rolled_back(session: Session) -> None:
    session.info.pop(_OPENED_KEY, None)


class StoreGauges(Collector):
    """Gauges read from the database at scrape time: deliveries waiting and gateways online."""

    def __init__(self) -> None:
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    def bind(self, sessions: sessionmaker[Session] | None) -> None:
        """Read from ``sessions`` (None: report nothing, e.g. after shutdown)."""
        with self._lock:
            self._sessions = sessions

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # values come from the database: never read it at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from cloud.store.models import Delivery, DeliveryStatus, GatewayRecord  # noqa: PLC0415
        from gateway.wire import GatewayState  # noqa: PLC0415

        with self._lock:
            sessions = self._sessions
        if sessions is None:
            return
        try:
            with sessions() as session:
                pending = session.scalar(
                    select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.PENDING)
                )
                online = session.scalar(
                    select(func.count(GatewayRecord.id)).where(
                        GatewayRecord.state == GatewayState.ONLINE
                    )
                )
        except SQLAlchemyError:
            return  # the database is down: /readyz says so; a scrape must not fail for it
        yield GaugeMetricFamily(
            "vitalgate_deliveries_pending",
            "Alert and patient-message deliveries waiting to be sent (retries included)",
            value=pending or 0,
        )
        yield GaugeMetricFamily(
            "vitalgate_gateways_online",
            "Gateways whose last status message said online",
            value=online or 0,
        )


STORE = StoreGauges()
REGISTRY.register(STORE)


def serve_metrics(port: int | None) -> WSGIServer | None:
    """Expose this process's metrics on ``port`` (roles without HTTP: ingest, worker, sink);
    the server runs in a daemon thread until the process ends (or its ``shutdown()``)."""
    if port is None:
        return None
    server, _thread = start_http_server(port)
    return server
