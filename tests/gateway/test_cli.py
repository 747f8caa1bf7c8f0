"""Settings from the shipped example and the environment; ``vitalgate-gateway status``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware_sim.radio import SimLink, SimRadio
from gateway.app import Gateway
from gateway.cli import app
from gateway.outbox import Kind
from gateway.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "gateway" / "gateway.toml.example"


def test_the_shipped_example_loads_and_env_vars_override_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_MQTT__HOST", "broker.internal")
    monkeypatch.setenv("VG_OUTBOX_BUDGET_MB", "64")
    settings = load_settings(EXAMPLE)
    assert settings.gateway_id == "gw-0042"
    assert settings.mqtt.host == "broker.internal"
    assert settings.mqtt.tls
    assert settings.outbox_budget_bytes == 64 * 1024 * 1024
    assert settings.config_path == Path("/var/lib/vitalgate/config.json")


def test_status_reports_outbox_broker_and_config(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'gateway_id = "gw-cli"\ndata_dir = "{tmp_path / "data"}"\nlink = "sim"\n')
    runner = CliRunner()
    missing = runner.invoke(app, ["status", "--config", str(config)])
    assert missing.exit_code == 1
    assert "is the gateway running" in " ".join(missing.output.split())

    gateway = Gateway(load_settings(config), SimLink(SimRadio()))
    try:
        gateway.outbox.add([(Kind.READING, "{}", None)] * 3)
        gateway.settings.state_path.write_text(json.dumps(gateway.local_state()))
    finally:
        gateway.outbox.close()
    as_json = runner.invoke(app, ["status", "--config", str(config), "--json"])
    assert as_json.exit_code == 0
    state = json.loads(as_json.output)
    assert (state["outbox_depth"], state["broker_connected"], state["outbox_thinned"]) == (
        3,
        False,
        0,
    )
    table = runner.invoke(app, ["status", "--config", str(config)], env={"COLUMNS": "120"})
    assert table.exit_code == 0
    assert "NOT connected" in table.output
    assert "outbox depth" in table.output
    assert "none yet" in table.output


def test_run_refuses_unreadable_tls_files_with_advice(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'gateway_id = "gw-cli"\ndata_dir = "{tmp_path / "data"}"\nlink = "sim"\n'
        f'[mqtt]\ntls = true\ncert_file = "{tmp_path / "missing.crt"}"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert "check the paths" in " ".join(proc.stderr.split())
