"""``vitalgate-cloud doctor`` checks what the settings point at and says so plainly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cloud.cli import app
from cloud.store.db import migrate
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port

pytestmark = pytest.mark.broker


def doctor(**env: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    with capture_logs():
        result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200", **env})
    rows: dict[str, tuple[str, str]] = {}
    for line in result.stdout.splitlines():
        verdict, rest = line.split(None, 1)
        name, detail = (p.strip() for p in rest.split("  ", 1))
        rows[name] = (verdict, detail)
    return result.exit_code, rows, result.output


def write_key(path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_everything_configured_and_reachable_is_ok(
    tmp_path: Path, broker: Any, webhook: Any, smtp: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    code, rows, out = doctor(
        VG_DATABASE_URL=url,
        VG_MQTT__HOST=broker.host,
        VG_MQTT__PORT=str(broker.port),
        VG_ALERT_CHANNELS=json.dumps([webhook.apprise_url]),
        VG_CONTACT_URLS=json.dumps({"email": smtp.apprise_url(to="{address}")}),
        VG_DOWNLINK_SIGNING_KEY=str(write_key(tmp_path / "downlink-signing.key")),
    )
    assert code == 0, out
    assert {name: verdict for name, (verdict, _) in rows.items()} == {
        "database": "ok",
        "broker": "ok",
        "time-series store": "skip",
        "alert channel #0": "ok",
        "contact transport email": "ok",
        "downlink signing key": "ok",
    }
    assert rows["database"][1].startswith(f"{url}: schema current (")
    assert rows["broker"][1] == (
        f"{broker.host}:{broker.port} accepts this cloud's MQTT 5 login (no TLS)"
    )
    assert webhook.bodies() == []  # nothing was sent
    assert smtp.received() == []


def test_every_problem_is_named_and_the_exit_code_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    closed = free_port()
    code, rows, out = doctor(
        VG_DATABASE_URL=url,
        VG_MQTT__PORT=str(closed),
        VG_ALERT_CHANNELS=json.dumps(["nosuch://x", f"json://127.0.0.1:{closed}/hook"]),
        VG_DOWNLINK_SIGNING_KEY=str(tmp_path / "missing.key"),
    )
    assert code == 1, out
    assert rows["database"][0] == "FAIL"
    assert "schema at nothing" in rows["database"][1]
    assert "run `vitalgate-cloud migrate`" in rows["database"][1]
    assert rows["broker"] == (
        "FAIL",
        f"127.0.0.1:{closed} unreachable: Connection refused (VG_MQTT__*)",
    )
    assert rows["alert channel #0"] == ("FAIL", "not a valid apprise URL (scheme nosuch)")
    assert rows["alert channel #1"] == (
        "FAIL",
        f"127.0.0.1:{closed} unreachable: Connection refused",
    )
    assert rows["downlink signing key"][0] == "FAIL"
    assert "5 problem(s): database, broker, alert channel #0, alert channel #1" in out


def test_a_broker_that_refuses_the_login_says_why(tmp_path: Path) -> None:
    locked = Mosquitto(tmp_path / "mosquitto", extra_conf="allow_anonymous false\n")
    locked.start()
    try:
        code, rows, out = doctor(
            VG_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            VG_MQTT__HOST=locked.host,
            VG_MQTT__PORT=str(locked.port),
        )
    finally:
        locked.kill()
    assert code == 1, out
    assert rows["broker"] == (
        "FAIL",
        f"{locked.host}:{locked.port} refused the connection: not authorized (VG_MQTT__*)",
    )
