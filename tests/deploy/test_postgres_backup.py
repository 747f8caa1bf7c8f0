"""deploy/postgres: the role and database setup, and a backup restored into a fresh cluster
holds every table's rows, equal to the original's."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cloud.alerts.service import open_alert
from cloud.auth import service as auth
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.readings import upsert_readings
from cloud.store.tenancy import Role
from cloud.tenancy import service as tenancy
from tests.fixtures.api import reading_row
from tests.fixtures.postgres import Postgres

pytestmark = pytest.mark.postgres

POSTGRES = Path(__file__).resolve().parents[2] / "deploy/postgres"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "a-test-password-not-secret"


@pytest.fixture
def fresh_cluster() -> Iterator[Postgres]:
    workdir = Path(tempfile.mkdtemp(prefix="vitalgate-pg-restore-"))
    pg = Postgres(workdir)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _env(pg: Postgres, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{pg.bindir}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg.port),
        "PGUSER": pg.user,
        **extra,
    }


def _run(pg: Postgres, *args: str, **extra: str) -> str:
    done = subprocess.run(
        [*args], env=_env(pg, **extra), capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _setup(pg: Postgres, database: str) -> str:
    """Run setup.sh; return the SQLAlchemy URL it prints."""
    url = _run(
        pg, str(POSTGRES / "setup.sh"), DB_ROLE="vg_app", DB_NAME=database,
        DB_PASSWORD=PASSWORD, DB_PORT=str(pg.port),
    )  # fmt: skip
    assert url == f"postgresql+psycopg://vg_app:{PASSWORD}@127.0.0.1:{pg.port}/{database}"
    return url


def _populate(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        auth.create_organisation(s, organisation_id="clinic", name="Clinic", now=NOW)
        auth.create_user(
            s, organisation_id="clinic", email="nurse@clinic.test", password="x" * 16,
            role=Role.CLINICIAN, now=NOW,
        )  # fmt: skip
        tenancy.create_patient(
            s, organisation_id="clinic", patient_id="p-1", display_name="Test Patient",
            program_id=None, now=NOW,
        )  # fmt: skip
        upsert_readings(
            s,
            [
                reading_row(f"r-{i}", "p-1", "dev-1", 60.0 + i % 30, NOW - timedelta(minutes=i))
                for i in range(200)
            ],
        )
        open_alert(
            s, patient_id="p-1", rule_id="hr.high", rule_version=1, category="clinical",
            priority="high", metric="heart_rate", value=131.0, evidence={"samples": [1, 2]},
            now=NOW, channels=["json://127.0.0.1:9/alerts"], channel="ingest",
        )  # fmt: skip
    engine.dispose()


def _tables(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the public schema with all its rows, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(dsn) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        for name in names:
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            out[name] = sorted(rows, key=repr)
    return out


def test_setup_is_idempotent_and_the_role_is_not_privileged(postgres_cluster: Postgres) -> None:
    _setup(postgres_cluster, "vg_setup")
    _setup(postgres_cluster, "vg_setup")  # again: no error, nothing changes
    with psycopg.connect(postgres_cluster.dsn("vg_setup")) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'vg_app'"
        ).fetchone()
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'vg_setup'"
        ).fetchone()
    assert row == (False, False, False)
    assert owner == ("vg_app",)


def test_a_backup_restored_into_a_fresh_cluster_has_every_row(
    postgres_cluster: Postgres, fresh_cluster: Postgres, tmp_path: Path
) -> None:
    _populate(_setup(postgres_cluster, "vg_source"))
    dump = tmp_path / "vitalgate.dump"
    src = f"host=127.0.0.1 port={postgres_cluster.port} user=vg_app dbname=vg_source"
    assert _run(postgres_cluster, str(POSTGRES / "backup.sh"), src, str(dump)) == str(dump)
    assert dump.stat().st_size > 0
    assert not dump.with_name(dump.name + ".partial").exists()

    _setup(fresh_cluster, "vg_restored")
    dst = f"host=127.0.0.1 port={fresh_cluster.port} user=vg_app dbname=vg_restored"
    _run(fresh_cluster, str(POSTGRES / "restore.sh"), str(dump), dst)

    before = _tables(postgres_cluster.dsn("vg_source"))
    after = _tables(fresh_cluster.dsn("vg_restored"))
    assert len(before["readings"]) == 200
    assert len(before["alerts"]) == 1
    assert {name for name, rows in before.items() if rows} >= {
        "organisations", "users", "patients", "readings", "alerts", "deliveries",
        "alembic_version",
    }  # fmt: skip
    assert after.keys() == before.keys()
    for name, rows in before.items():
        assert after[name] == rows, name
    # Migrations see the restored schema as current.
    migrate(dst_url := _setup(fresh_cluster, "vg_restored"))
    assert dst_url.endswith("/vg_restored")
