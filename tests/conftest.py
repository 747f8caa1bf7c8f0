"""Fixtures that start the real parts: Mosquitto, PostgreSQL, VictoriaMetrics, a webhook receiver, the cloud."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port
from tests.fixtures.postgres import Postgres
from tests.fixtures.rules import TEST_RULES
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.victoria import VictoriaMetrics
from tests.fixtures.waiting import wait_until
from tests.fixtures.webhook import WebhookReceiver


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto for one test; the test may stop, kill and restart it."""
    mosq = Mosquitto(tmp_path / "mosquitto")
    mosq.start()
    yield mosq
    mosq.kill()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Postgres]:
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="vitalgate-pg-"))
    pg = Postgres(workdir)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _database_name(request: pytest.FixtureRequest) -> str:
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return f"{name}_{free_port()}"


@pytest.fixture
def postgres_url(postgres_cluster: Postgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database in the session's PostgreSQL cluster (dropped afterwards)."""
    name = _database_name(request)
    yield postgres_cluster.create_database(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: Postgres) -> str:
    """A database migrated to the latest schema once a session, for tests to copy."""
    from cloud.store.db import migrate

    name = "vg_template"
    migrate(postgres_cluster.create_database(name))  # leaves no connection open
    return name


@pytest.fixture
def migrated_postgres_url(
    postgres_cluster: Postgres, postgres_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A database at the latest schema, copied from the session's template (dropped afterwards)."""
    name = _database_name(request)
    yield postgres_cluster.create_database(name, template=postgres_template)
    postgres_cluster.drop_database(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the latest schema once a session, for tests to copy."""
    import sqlite3

    from cloud.store.db import migrate

    folder = tmp_path_factory.mktemp("sqlite-template")
    build, template = folder / "build.sqlite3", folder / "template.sqlite3"
    migrate(f"sqlite:///{build}")
    # One self-contained file (no -wal beside it), so a plain copy is a whole database.
    with contextlib.closing(sqlite3.connect(build)) as conn:
        conn.execute("VACUUM INTO ?", (str(template),))
    return template


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A SQLite file at the latest schema, copied from the session's template."""
    path = tmp_path / "cloud.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


class CloudProcess:
    """``vitalgate-cloud serve`` as a real subprocess on a free port."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = env.get("VG_DATABASE_URL") or f"sqlite:///{data_dir / 'vitalgate.sqlite3'}"
        self._settings_env = env
        self._env = {**os.environ, "VG_DATA_DIR": str(data_dir), **env}
        self.log = data_dir / "cloud.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import httpx

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cloud", "serve", "--port", str(self.port)],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200,
            timeout=60,  # a deadline, not a wait: a loaded machine starts Python slowly
            what="the cloud to be ready",
        )

    def cli(self, *args: str) -> str:
        """Run ``vitalgate-cloud ARGS`` (in this process) against this cloud's database;
        return its output."""
        from tests.fixtures.cli import cloud_cli

        done = cloud_cli(*args, env={"VG_DATA_DIR": str(self.data_dir), **self._settings_env})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def bind(self, **bindings: Any) -> None:
        """Register a gateway and pair devices in this cloud's record
        (``tests.fixtures.bindings.bind``): ingest stores nothing else. Before or after start."""
        from cloud.store.db import make_engine, migrate, session_factory
        from tests.fixtures.bindings import bind

        migrate(self.db_url)
        engine = make_engine(self.db_url)
        try:
            bind(session_factory(engine), **bindings)
        finally:
            engine.dispose()

    def login(self, email: str, password: str) -> dict[str, str]:
        """Log in through the API; the bearer header for later requests."""
        import httpx

        r = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": email, "password": password},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def cloud_factory(tmp_path: Path) -> Iterator[object]:
    started: list[CloudProcess] = []

    def make(
        broker: Mosquitto, *, binding: dict[str, Any] | None = None, **env: str
    ) -> CloudProcess:
        """A started cloud; ``binding`` (``tests.fixtures.bindings.bind``'s arguments) is in
        its record before it starts, so no reading can arrive before the gateway is known."""
        rules = tmp_path / "test-rules.json"
        rules.write_text(json.dumps(TEST_RULES))
        full = {
            "VG_MQTT__HOST": broker.host,
            "VG_MQTT__PORT": str(broker.port),
            "VG_ALERT_RULES_FILE": str(rules),
            **env,
        }
        proc = CloudProcess(full, tmp_path / f"cloud{len(started)}")
        started.append(proc)
        if binding is not None:
            proc.bind(**binding)
        proc.start()
        return proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A private VictoriaMetrics for one test (speaks the InfluxDB v2 write API)."""
    vm = VictoriaMetrics(tmp_path / "victoria")
    vm.start()
    yield vm
    vm.stop()
