"""The gateway's figures as Prometheus text, served at ``/metrics`` on the local page.

Read from the outbox at each scrape (its counters are persisted, so they survive a restart
and count from the outbox's creation, as a Prometheus counter may after a reset), in a
registry of its own: nothing global, nothing the process must remember.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.outbox import Outbox

__all__ = ["CONTENT_TYPE", "OutboxCollector", "exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class OutboxCollector(Collector):
    """``vitalgate_gateway_outbox_rows_total{outcome}`` and the outbox's gauges."""

    def __init__(self, outbox: Outbox, *, connected: Callable[[], bool]) -> None:
        self.outbox = outbox
        self.connected = connected

    def collect(self) -> Iterator[Metric]:
        stats = self.outbox.stats()
        rows = CounterMetricFamily(
            "vitalgate_gateway_outbox_rows",
            "Outbox rows (readings, rollups, events) by what happened to them, since the "
            "outbox was created",
            labels=["outcome"],
        )
        for outcome, value in asdict(stats.counters).items():
            rows.add_metric([outcome], value)
        yield rows
        yield GaugeMetricFamily(
            "vitalgate_gateway_outbox_depth",
            "Rows waiting for the cloud's acknowledgement",
            value=stats.depth,
        )
        yield GaugeMetricFamily(
            "vitalgate_gateway_outbox_bytes",
            "Bytes the outbox counts against its budget",
            value=stats.bytes_used,
        )
        yield GaugeMetricFamily(
            "vitalgate_gateway_outbox_budget_bytes",
            "The outbox's disk budget",
            value=stats.budget_bytes,
        )
        yield GaugeMetricFamily(
            "vitalgate_gateway_outbox_oldest_age_seconds",
            "Age of the oldest row waiting (0 when none waits)",
            value=stats.oldest_age_s or 0.0,
        )
        yield GaugeMetricFamily(
            "vitalgate_gateway_broker_connected",
            "1 while the uplink is connected to the broker",
            value=1.0 if self.connected() else 0.0,
        )


def exposition(outbox: Outbox, *, connected: Callable[[], bool]) -> Callable[[], bytes]:
    """A function returning the Prometheus text for ``outbox`` (one registry, made once)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector(outbox, connected=connected))
    return lambda: generate_latest(registry)
