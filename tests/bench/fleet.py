"""A fleet of gateways against the deployed cloud: N wire-level gateways (each its own mutual-TLS
MQTT connection, client certificate and outbox, ``tests.fixtures.fleet``) publish one heart
rate every 10 s, a seeded tenth of them an episode that opens an alert; two ``ingest``
processes, two ``serve`` processes and a ``worker`` run on PostgreSQL, the worker mails
alerts to a local SMTP server.

Printed per fleet size: connections held, publish → end-to-end ack latency p50/p99 (at the
gateway), ingest lag (the reading's time → the database's ``received_at``), the most
batches waiting for an ack at once, and the API's ``/readyz`` latency meanwhile; the largest
size's p99 is compared with the smallest's (the baseline) measured in the same run. Last,
alerts opened against the e-mails received (exactly once: each alert one e-mail).

``FLEET_GATEWAYS`` (default ``50,200``) and ``FLEET_SECONDS`` (default 60) set the sizes and
how long each runs; ``FLEET_GATEWAYS=500,2000 FLEET_SECONDS=180`` is the full measurement.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.bench._common import Figure
from tests.bench._ingest import workdir
from tests.fixtures.deployment import (
    FleetBroker,
    FleetPki,
    Role,
    register_fleet,
    role_env,
    roles,
    stop_all,
)
from tests.fixtures.fleet import EPISODE_READINGS, Fleet, raise_fd_limit
from tests.fixtures.postgres import Postgres
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.waiting import wait_until

INTERVAL_S = 10.0


def _sizes() -> list[int]:
    return sorted(int(n) for n in os.environ.get("FLEET_GATEWAYS", "50,200").split(","))


def _seconds() -> float:
    return float(os.environ.get("FLEET_SECONDS", "60"))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class ApiProbe:
    """GET ``/readyz`` on every API process once a second; latencies in seconds."""

    def __init__(self, apis: list[Role]) -> None:
        self.urls = [f"http://127.0.0.1:{r.port}/readyz" for r in apis]
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.wait(1.0):
                for url in self.urls:
                    t0 = time.perf_counter()
                    try:
                        ok = http.get(url).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    if ok:
                        self.latencies.append(time.perf_counter() - t0)
                    else:
                        self.failures += 1

    def take(self) -> list[float]:
        out, self.latencies = self.latencies, []
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


def _lag_seconds(sessions: sessionmaker[Session], tag: str) -> list[float]:
    from cloud.store.models import Reading

    with sessions() as s:
        rows = s.execute(
            select(Reading.received_at, Reading.ts).where(Reading.id.like(f"{tag}-%"))
        ).all()
    return [(received - ts).total_seconds() for received, ts in rows]


def _phase(
    n: int,
    *,
    pki: FleetPki,
    broker: FleetBroker,
    sessions: sessionmaker[Session],
    probe: ApiProbe,
    seconds: float,
) -> dict[str, Any]:
    ids = [f"gw-fleet-{i:04d}" for i in range(n)]
    last_tick = max(1, int(seconds / INTERVAL_S) - EPISODE_READINGS - 1)
    fleet = Fleet(
        ids,
        lambda gw: pki.gateway_settings(broker, gw),
        tag=f"n{n}",
        seed=n,
        interval_s=INTERVAL_S,
        resend_after_s=60.0,
        episode_tick=(1, last_tick),
    )
    t0 = time.perf_counter()
    fleet.start(connect_timeout=max(120.0, n / 5))
    connect_s = time.perf_counter() - t0
    probe.take()
    end = time.monotonic() + seconds
    backlog, held = 0, n
    while time.monotonic() < end:
        fleet.check()
        backlog = max(backlog, fleet.pending())
        held = min(held, fleet.connected())
        time.sleep(0.5)
    try:  # the broker's own count; under load its $SYS round may come late
        broker_clients: int | None = broker.sys_counter("clients/connected", timeout=15)
    except AssertionError:
        broker_clients = None
    fleet.stop_publishing()
    t_drain = time.perf_counter()
    wait_until(fleet.all_acked, timeout=180, interval=0.2, what="every batch acknowledged")
    drain_s = time.perf_counter() - t_drain
    fleet.close()
    stats = fleet.stats
    sent = sum(len(b) for b in stats.sent.values())
    lag = _lag_seconds(sessions, f"n{n}")
    api = probe.take()
    return {
        "gateways": n,
        "connections_held": held,
        "broker_clients": broker_clients,
        "connect_s": round(connect_s, 1),
        "batches": sent,
        "stored": len(lag),
        "p50_ms": round(pct(stats.latencies, 0.5) * 1000, 1),
        "p99_ms": round(pct(stats.latencies, 0.99) * 1000, 1),
        "lag_p50_ms": round(pct(lag, 0.5) * 1000, 1),
        "lag_p99_ms": round(pct(lag, 0.99) * 1000, 1),
        "max_unacked": backlog,
        "drain_s": round(drain_s, 2),
        "resends": stats.resends,
        "episodes": stats.episodes,
        "api_readyz_p50_ms": round(pct(api, 0.5) * 1000, 1),
        "api_readyz_p99_ms": round(pct(api, 0.99) * 1000, 1),
        "api_failures": probe.failures,
    }


def _notifications(sessions: sessionmaker[Session], smtp: SmtpServer) -> dict[str, int]:
    """Wait until every alert's e-mail is in (or the deadline), then count both sides."""
    from cloud.store.models import Alert

    def alerts() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Alert)) or 0)

    def settled() -> bool:
        return len(smtp.received()) >= alerts()

    with contextlib.suppress(AssertionError):  # counted below as it is
        wait_until(settled, timeout=120, interval=0.5, what="an e-mail for every alert")
    mails: list[EmailMessage] = smtp.received()
    keys = {str(m["X-Idempotency-Key"]) for m in mails}
    with sessions() as s:
        # An episode that fires while its patient's alert is still open joins that alert.
        merged = int(s.scalar(select(func.coalesce(func.sum(Alert.count - 1), 0))) or 0)
    return {
        "alerts_opened": alerts(),
        "fires_merged_into_open_alerts": merged,
        "emails": len(mails),
        "distinct_keys": len(keys),
    }


def _latency_figure(phases: list[dict[str, Any]], *, seconds: float, certs_s: float) -> Figure:
    """The last phase's p99, against the first (smallest) fleet's as the baseline."""
    first, ph = phases[0], phases[-1]
    is_base = len(phases) == 1
    return Figure(
        "fleet",
        ph["p99_ms"],
        f"ms p99 publish → end-to-end ack ({ph['gateways']} gateways)",
        baseline=None if is_base else first["p99_ms"],
        ratio=None if is_base else round(first["p99_ms"] / ph["p99_ms"], 2),
        extra={**ph, "seconds": seconds, "certificates_s": round(certs_s, 1),
               "tls": "mutual, client certificates", "cpus": os.cpu_count(),
               "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
    )  # fmt: skip


def run() -> Iterator[Figure]:
    from cloud.store.db import make_engine, migrate, session_factory

    sizes, seconds = _sizes(), _seconds()
    # Before the broker starts, so it inherits the limit: one descriptor per connection.
    raise_fd_limit(max(sizes) * 2 + 1024)
    tmp, pg_dir = workdir("fleet"), workdir("fleet-db")
    pg = Postgres(pg_dir)
    smtp = SmtpServer()
    procs: list[Role] = []
    broker: FleetBroker | None = None
    probe: ApiProbe | None = None
    pg.start()
    smtp.start()
    try:
        url = pg.create_database("fleet_bench")
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        t0 = time.perf_counter()
        pki = FleetPki(tmp / "pki")
        all_ids = [f"gw-fleet-{i:04d}" for i in range(max(sizes))]
        pki.issue(all_ids)
        certs_s = time.perf_counter() - t0
        register_fleet(sessions, all_ids, organisation="fleet")
        broker = FleetBroker(tmp / "mosquitto", pki.root)
        broker.start()
        env = role_env(
            tmp, db_url=url, pki=pki.root, broker=broker,
            alert_channels=[smtp.apprise_url(to="alerts@fleet.test")],
        )  # fmt: skip
        procs = roles(tmp, env, ingest=2, serve=2, worker=1)
        for p in procs:
            p.launch()
        for p in procs:
            p.wait_ready(timeout=120)
        probe = ApiProbe([p for p in procs if p.port is not None])
        phases: list[dict[str, Any]] = []
        for n in sizes:
            phases.append(
                _phase(n, pki=pki, broker=broker, sessions=sessions, probe=probe, seconds=seconds)
            )
            yield _latency_figure(phases, seconds=seconds, certs_s=certs_s)
        counts = _notifications(sessions, smtp)
        engine.dispose()
    finally:
        if probe is not None:
            probe.close()
        stop_all(procs)
        if broker is not None:
            broker.kill()
        smtp.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    yield Figure(
        "fleet",
        counts["emails"],
        "alert e-mails received (exactly once: one per alert opened)",
        baseline=counts["alerts_opened"],
        ratio=round(counts["emails"] / counts["alerts_opened"], 2)
        if counts["alerts_opened"]
        else None,
        extra={**counts, "episodes": sum(p["episodes"] for p in phases),
               "growth_p99": [[p["gateways"], p["p99_ms"]] for p in phases],
               "run": str(timedelta(seconds=round(seconds * len(sizes))))},
    )  # fmt: skip
