"""``vitalgate-cloud sink``, ``org retention``, ``purge`` and ``patient erase`` from the shell."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.store.db import make_engine, session_factory
from cloud.store.readings import upsert_readings
from tests.fixtures.api import reading_row
from tests.fixtures.cli import cloud_cli, console_script
from tests.fixtures.victoria import VictoriaMetrics

SERIES = '{__name__="vitalgate_reading_value"}'


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cloud_cli(*args, env={"VG_DATA_DIR": str(data_dir), "COLUMNS": "200", **env})


def test_the_sink_refuses_to_start_without_a_store(tmp_path: Path) -> None:
    # The installed console script for real: its exit status is what cron and systemd see.
    done = console_script(
        "vitalgate-cloud", "sink", "--once", env={"VG_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    )
    assert done.returncode == 2
    assert "set VG_INFLUX__URL" in done.stderr


@pytest.mark.timeseries
def test_sink_retention_purge_and_erasure_from_the_command_line(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    env = {"VG_INFLUX__URL": victoria.url, "VG_INFLUX__FLAVOUR": "victoriametrics"}
    setup = (
        (
            "user",
            "create",
            "--email",
            "a@clinic.test",
            "--password",
            "p" * 12,
            "--role",
            "admin",
            "--org",
            "clinic",
        ),
        ("patient", "create", "--id", "p-1", "--org", "clinic", "--name", "One"),
        ("patient", "create", "--id", "p-2", "--org", "clinic", "--name", "Two"),
    )
    for args in setup:
        assert cli(tmp_path, *args).returncode == 0
    now = datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(f"sqlite:///{(tmp_path / 'vitalgate.sqlite3').resolve()}")
    with session_factory(engine).begin() as s:
        upsert_readings(
            s,
            [
                reading_row(
                    f"r-{pid}-{age}", pid, f"d-{pid}", float(age), now - timedelta(days=age)
                )
                for pid in ("p-1", "p-2")
                for age in (90, 60, 5, 1)
            ],
        )
    engine.dispose()

    done = cli(tmp_path, "sink", "--once", **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote 8 points to {victoria.url}"
    assert len(victoria.samples(SERIES)) == 8

    done = cli(tmp_path, "org", "retention", "--org", "clinic", "--days", "30")
    assert (done.returncode, done.stdout.strip()) == (0, "clinic keeps 30 days")
    done = cli(tmp_path, "purge", **env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["organisation"] == "clinic"
    assert lines[0]["removed"]["readings"] == 4
    assert lines[1] == {"organisation": "clinic", "timeseries_series": 2}
    assert sorted(value for _, _, value in victoria.samples(SERIES)) == [1.0, 1.0, 5.0, 5.0]

    refused = cli(tmp_path, "patient", "erase", "--id", "p-1", "--org", "clinic", **env)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    done = cli(tmp_path, "patient", "erase", "--id", "p-1", "--org", "clinic", "--yes", **env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"]["readings"] == 2
    assert {labels["patient"] for labels, _, _ in victoria.samples(SERIES)} == {"p-2"}
    wrong_org = cli(tmp_path, "patient", "erase", "--id", "p-2", "--org", "other", "--yes")
    assert wrong_org.returncode == 1
    assert "no patient 'p-2'" in wrong_org.stderr
