"""Chaos over the deployment on one host: twenty wire-level gateways (mutual TLS, each with an
outbox that resends what the cloud has not acknowledged) stream heart rates, a seeded half
of them an episode that opens an alert; ``ingest`` ×2, ``worker`` and ``serve`` run as
processes on PostgreSQL and Mosquitto. During the run a seeded role is killed with SIGKILL
and started again, PostgreSQL restarts, and the broker restarts.

Then every reading sent is stored exactly once (the stored ids are the ids sent, and the
hourly rollups, which count first inserts only, add up to the same number), every patient
with an episode has an alert and no one else does, and the SMTP server received exactly
one e-mail per alert (one per idempotency key, none repeated).
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.store.db import make_engine, session_factory
from cloud.store.models import Alert, Delivery, DeliveryStatus, Reading, Rollup
from tests.fixtures.deployment import (
    FleetBroker,
    FleetPki,
    Role,
    register_fleet,
    role_env,
    roles,
    stop_all,
)
from tests.fixtures.fleet import EPISODE_READINGS, Fleet, patient_of
from tests.fixtures.postgres import Postgres
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

SEED = 20261205
GATEWAYS = [f"gw-chaos-{i:02d}" for i in range(20)]


@dataclass
class Deployment:
    pg: Postgres
    broker: FleetBroker
    pki: FleetPki
    sessions: sessionmaker[Session]
    roles: dict[str, Role]


@pytest.fixture
def deployment(
    smtp: SmtpServer, postgres_cluster: Postgres, migrated_postgres_url: str
) -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix="vitalgate-chaos-"))
    broker: FleetBroker | None = None
    procs: list[Role] = []
    engine = make_engine(migrated_postgres_url)
    try:
        sessions = session_factory(engine)
        pki = FleetPki(root / "pki")
        pki.issue(GATEWAYS)
        register_fleet(sessions, GATEWAYS, organisation="chaos")
        broker = FleetBroker(root / "mosquitto", pki.root)
        broker.start()
        env = role_env(
            root, db_url=migrated_postgres_url, pki=pki.root, broker=broker,
            alert_channels=[smtp.apprise_url(to="alerts@chaos.test")],
            # A killed worker's claimed deliveries go to its successor within seconds.
            VG_DELIVERY_LEASE_S="3",
        )  # fmt: skip
        procs = roles(root, env, ingest=2, serve=1, worker=1)
        for p in procs:
            p.launch()
        for p in procs:
            p.wait_ready(timeout=90)
        yield Deployment(postgres_cluster, broker, pki, sessions, {p.name: p for p in procs})
    finally:
        stop_all(procs)
        engine.dispose()
        if broker is not None:
            broker.kill()
        if not (postgres_cluster.datadir / "postmaster.pid").exists():
            postgres_cluster.start()  # the session's cluster, for the tests after this one
        shutil.rmtree(root, ignore_errors=True)


def stored(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as s:
        return [(gw, rid) for gw, rid in s.execute(select(Reading.gateway_id, Reading.id))]


def rollup_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        total = s.scalar(
            select(func.coalesce(func.sum(Rollup.count), 0)).where(Rollup.period == "hour")
        )
        return int(total or 0)


def alerts(sessions: sessionmaker[Session]) -> list[Alert]:
    with sessions() as s:
        return list(s.scalars(select(Alert)))


def pending_deliveries(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        due = select(func.count()).where(Delivery.status == DeliveryStatus.PENDING)
        return int(s.scalar(due) or 0)


def acked(fleet: Fleet) -> int:
    return sum(len(b) for b in fleet.stats.acked.values())


def progress(fleet: Fleet, *, batches: int, what: str, timeout: float = 30) -> None:
    """Wait until the fleet has ``batches`` more acknowledged than now."""
    start = acked(fleet)
    wait_until(lambda: acked(fleet) >= start + batches, timeout=timeout, what=what)


def test_kill_a_role_restart_postgres_and_the_broker_nothing_lost_nothing_twice(
    deployment: Deployment, smtp: SmtpServer
) -> None:
    d = deployment
    rng = random.Random(SEED)
    victim = d.roles[rng.choice(sorted(d.roles))]
    fleet = Fleet(
        GATEWAYS,
        lambda gw: d.pki.gateway_settings(d.broker, gw),
        tag="c",
        seed=SEED,
        interval_s=1.0,
        resend_after_s=5.0,
        episode_share=0.5,
        episode_tick=(3, 20),
    )
    fleet.start(connect_timeout=30)
    try:
        progress(fleet, batches=60, what="the fleet's first readings stored")

        victim.kill()
        progress(fleet, batches=40, what=f"the stream to go on without {victim.name}")
        victim.start(timeout=60)

        d.pg.stop()  # what arrives meanwhile waits in the broker and the outboxes
        d.pg.start()
        progress(fleet, batches=40, what="readings stored after PostgreSQL's restart")

        d.broker.restart()
        wait_until(lambda: fleet.connected() == len(GATEWAYS), timeout=30, what="reconnects")
        progress(fleet, batches=40, what="readings stored after the broker's restart")

        wait_until(
            lambda: all(g.next_k > (g.episode_at or 0) + EPISODE_READINGS for g in fleet.gateways),
            timeout=60,
            what="every episode sent, and a reading after it",
        )
        fleet.stop_publishing()
        wait_until(fleet.all_acked, timeout=60, what="every batch acknowledged")
        fleet.check()
    finally:
        fleet.close()

    sent = fleet.readings_sent()
    ids = stored(d.sessions)
    assert len(ids) == len(set(ids))
    assert set(ids) == sent
    assert rollup_count(d.sessions) == len(sent)

    episodes = {patient_of(g.gateway_id) for g in fleet.gateways if g.episode_at is not None}
    wait_until(
        lambda: {a.patient_id for a in alerts(d.sessions)} >= episodes,
        timeout=30,
        what="an alert for every episode",
    )
    opened = alerts(d.sessions)
    assert {a.patient_id for a in opened} == episodes
    per_patient = Counter(a.patient_id for a in opened)
    assert set(per_patient.values()) == {1}, [
        (a.id, a.patient_id, a.status, a.opened_at.isoformat(), a.resolved_at, a.count,
         [(x["ts"], x["value"]) for x in a.evidence.get("evidence", {}).get("samples", [])])
        for a in opened
        if per_patient[a.patient_id] > 1
    ]  # fmt: skip
    assert all(a.rule_id == "test.hr_high" for a in opened)

    wait_until(lambda: len(smtp.received()) >= len(opened), timeout=30, what="every e-mail")
    wait_until(lambda: not pending_deliveries(d.sessions), timeout=30, what="no delivery due")
    keys = Counter(str(m["X-Idempotency-Key"]) for m in smtp.received())
    assert len(keys) == len(opened)  # one idempotency key (one delivery) per alert
    assert set(keys.values()) == {1}  # and each sent once
    for a in opened:
        mails = [m for m in smtp.received() if a.patient_id in str(m["Subject"])]
        assert len(mails) == 1, (a.patient_id, [m["Subject"] for m in mails])
