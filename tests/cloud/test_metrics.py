"""Every Prometheus metric of cloud/metrics.py moves when its event happens (real code paths,
read back from prometheus_client's registry), and the Grafana dashboard charts only them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.alerts.service import open_alert
from cloud.engagement.channels import channels_from_urls
from cloud.engagement.notifier import MAX_ATTEMPTS, Notifier
from cloud.store.db import make_engine, migrate, session_factory
from tests.fixtures.bindings import bind
from tests.fixtures.ingest import ingest_stack
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until
from tests.fixtures.webhook import WebhookReceiver
from tests.test_wire import batch, reading

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/vitalgate.json"

# Where each metric is proven to move: this file, or the test named (a database outage and the
# time-series sink need their own servers, started by those tests).
PROVEN_ELSEWHERE = {
    "vitalgate_ingest_db_errors": ("tests/cloud/test_ingest_outage.py", "INGEST_DB_ERRORS"),
    "vitalgate_sink_points": ("tests/cloud/test_sink.py", "SINK_POINTS"),
    "vitalgate_sink_errors": ("tests/cloud/test_sink.py", "SINK_ERRORS"),
    "vitalgate_ingest_conflicts": (
        "tests/cloud/test_ingest_authorisation.py",
        "INGEST_CONFLICTS",
    ),
    "vitalgate_ingest_refused": ("tests/cloud/test_ingest_authorisation.py", "INGEST_REFUSED"),
}
PROVEN_HERE = {
    "vitalgate_ingest_readings",
    "vitalgate_ingest_duplicate_readings",
    "vitalgate_ingest_quarantined_readings",
    "vitalgate_ingest_messages",
    "vitalgate_ingest_dead_letters",
    "vitalgate_ingest_batch_messages",
    "vitalgate_ingest_lag_seconds",
    "vitalgate_ingest_pending_messages",
    "vitalgate_ingest_broker_connected",
    "vitalgate_alerts_opened",
    "vitalgate_alert_deliveries",
    "vitalgate_deliveries_pending",
    "vitalgate_gateways_online",
}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def defined_metrics() -> set[str]:
    """The names of cloud/metrics.py (a counter without its ``_total``, as Prometheus docs)."""
    names = {
        collector._name
        for collector in vars(metrics).values()
        if isinstance(collector, MetricWrapperBase)
    }
    return names | {"vitalgate_deliveries_pending", "vitalgate_gateways_online"}


def exposed_series() -> set[str]:
    """Every series name a Prometheus scrape can show for the metrics above."""
    out = set()
    for name in defined_metrics():
        out |= {name, f"{name}_total", f"{name}_created"}
        out |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return out


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    metrics.STORE.bind(factory)
    yield factory
    metrics.STORE.bind(None)
    engine.dispose()


def test_every_defined_metric_is_proven_somewhere() -> None:
    assert defined_metrics() == PROVEN_HERE | PROVEN_ELSEWHERE.keys()
    for path, name in PROVEN_ELSEWHERE.values():
        assert f"metrics.{name}" in (DASHBOARD.parents[3] / path).read_text()


def _open(sessions: sessionmaker[Session], priority: str, channels: list[str]) -> None:
    with sessions.begin() as s:
        open_alert(
            s, patient_id="p-7", rule_id=f"r-{priority}", rule_version=1, category="clinical",
            priority=priority, metric="systolic_bp", value=182.0, evidence={}, now=NOW,
            channels=channels, channel="ingest",
        )  # fmt: skip


def test_alerts_opened_are_counted_by_priority_once_committed(
    sessions: sessionmaker[Session],
) -> None:
    high, low = (
        value("vitalgate_alerts_opened_total", priority="high"),
        value("vitalgate_alerts_opened_total", priority="low"),
    )
    _open(sessions, "high", [])
    _open(sessions, "high", [])
    _open(sessions, "low", [])
    assert value("vitalgate_alerts_opened_total", priority="high") == high + 2
    assert value("vitalgate_alerts_opened_total", priority="low") == low + 1

    with sessions() as s:  # a batch that fails after opening: rolled back, not opened
        open_alert(
            s, patient_id="p-8", rule_id="r-x", rule_version=1, category="clinical",
            priority="high", metric="systolic_bp", value=182.0, evidence={}, now=NOW,
            channels=[], channel="ingest",
        )  # fmt: skip
        s.rollback()
    with sessions.begin():
        pass  # a later commit of the same kind of session counts nothing left over
    assert value("vitalgate_alerts_opened_total", priority="high") == high + 2


def test_deliveries_pending_sent_and_failed(
    sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    pending0 = value("vitalgate_deliveries_pending")
    assert pending0 == 0
    up = channels_from_urls([webhook.apprise_url])
    _open(sessions, "high", [webhook.apprise_url])
    assert value("vitalgate_deliveries_pending") == 1
    sent = value("vitalgate_alert_deliveries_total", status="sent")
    assert Notifier(sessions, up, public_url="https://rpm.test").deliver_due(now=NOW) == 1
    assert value("vitalgate_alert_deliveries_total", status="sent") == sent + 1
    assert value("vitalgate_deliveries_pending") == 0

    down_url = f"json://127.0.0.1:{free_port()}/nobody-listens"
    down = channels_from_urls([down_url])
    _open(sessions, "medium", [down_url])
    failed = value("vitalgate_alert_deliveries_total", status="failed")
    notifier = Notifier(sessions, down, public_url="https://rpm.test")
    now = NOW
    for _ in range(MAX_ATTEMPTS):
        notifier.deliver_due(now=now)
        now += timedelta(days=1)
    assert value("vitalgate_alert_deliveries_total", status="failed") == failed + 1
    assert value("vitalgate_deliveries_pending") == 0


@pytest.mark.broker
def test_ingest_metrics_follow_the_stream(broker: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "ingest.sqlite3"
    before = {
        name: value(name)
        for name in (
            "vitalgate_ingest_readings_total",
            "vitalgate_ingest_duplicate_readings_total",
            "vitalgate_ingest_quarantined_readings_total",
            "vitalgate_ingest_dead_letters_total",
            "vitalgate_ingest_batch_messages_count",
            "vitalgate_ingest_lag_seconds_count",
        )
    }
    readings_msgs = value("vitalgate_ingest_messages_total", topic="readings")
    with ingest_stack(broker, f"sqlite:///{db}") as (sessions, pub):
        bind(sessions)  # gw-1 registered, d-1 paired to p-1: ingest stores their readings
        metrics.STORE.bind(sessions)
        assert value("vitalgate_ingest_broker_connected") == 1
        assert value("vitalgate_gateways_online") == 0
        future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        pub.publish(batch(reading(id="m-1"), reading(id="m-2", ts=future), batch_id="b-1"))
        wait_until(lambda: pub.acks == ["b-1"], what="the first batch acknowledged")
        pub.publish(batch(reading(id="m-1"), batch_id="b-2"))  # a repeat
        pub.publish(b"not json")
        wait_until(lambda: pub.acks == ["b-1", "b-2"], what="the repeat acknowledged")

        def moved(name: str) -> float:
            return value(name) - before[name]

        wait_until(
            lambda: moved("vitalgate_ingest_dead_letters_total") == 1, what="the dead letter"
        )
        assert moved("vitalgate_ingest_readings_total") == 1
        assert moved("vitalgate_ingest_quarantined_readings_total") == 1
        assert moved("vitalgate_ingest_duplicate_readings_total") == 1
        assert value("vitalgate_ingest_messages_total", topic="readings") == readings_msgs + 3
        assert moved("vitalgate_ingest_batch_messages_count") >= 1
        assert moved("vitalgate_ingest_lag_seconds_count") >= 1
        assert value("vitalgate_ingest_pending_messages") == 0

        # The database is locked: the message is held, unacknowledged, until it is free.
        lock = sqlite3.connect(db, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            pub.publish(batch(reading(id="m-3"), batch_id="b-3"))
            wait_until(
                lambda: value("vitalgate_ingest_pending_messages") == 1, what="a held message"
            )
        finally:
            lock.rollback()
            lock.close()
        wait_until(lambda: "b-3" in pub.acks, what="the held batch acknowledged")
        wait_until(lambda: value("vitalgate_ingest_pending_messages") == 0, what="none held")

        status = {"schema": "vg.status/1", "gateway_id": "gw-1", "state": "online",
                  "ts": "2026-11-23T09:00:00Z"}  # fmt: skip
        pub.publish(json.dumps(status).encode(), leaf="status")
        wait_until(lambda: value("vitalgate_gateways_online") == 1, what="one gateway online")
        pub.publish(json.dumps({**status, "state": "offline"}).encode(), leaf="status")
        wait_until(lambda: value("vitalgate_gateways_online") == 0, what="none online")
        metrics.STORE.bind(None)
    assert value("vitalgate_ingest_broker_connected") == 0


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, item in node.items():
            if key == "expr" and isinstance(item, str):
                yield item
            else:
                yield from _exprs(item)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def test_the_dashboard_charts_only_defined_metrics_and_each_required_panel() -> None:
    import re

    board = json.loads(DASHBOARD.read_text())
    exprs = list(_exprs(board))
    assert exprs
    used = {name for expr in exprs for name in re.findall(r"\bvitalgate_[a-z_]+", expr)}
    assert used <= exposed_series(), used - exposed_series()
    titles = " | ".join(p["title"].lower() for p in board["panels"])
    for needed in (
        "ingest rate", "ingest lag", "pending", "dead letters", "alerts opened",
        "delivery failures", "gateways online",
    ):  # fmt: skip
        assert needed in titles


def test_serve_exposes_the_store_gauges_at_metrics(tmp_path: Path) -> None:
    from tests.fixtures.api import running_world

    with running_world(f"sqlite:///{tmp_path / 'w.sqlite3'}", tmp_path / "cloud") as world:
        text = world.client.get("/metrics/").text
    assert "\nvitalgate_deliveries_pending " in text
    assert "\nvitalgate_gateways_online 0.0" in text


def test_a_role_without_http_serves_its_metrics_on_the_metrics_port() -> None:
    import httpx

    port = free_port()
    server = metrics.serve_metrics(port)
    assert server is not None
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
    assert "vitalgate_ingest_readings_total" in text
    assert metrics.serve_metrics(None) is None  # no port: nothing started
