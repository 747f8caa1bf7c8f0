"""Settings from the shipped example and the environment; ``vitalgate-gateway status``,
``pair`` and ``devices``, and the local pairing page of ``vitalgate-gateway run``."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from firmware_sim.devices import BloodPressureCuff, Scale
from firmware_sim.radio import SimLink, SimRadio
from gateway.app import Gateway
from gateway.cli import app
from gateway.outbox import Kind
from gateway.settings import load_settings
from tests.fixtures.cli import console_script
from tests.fixtures.gateway import GatewayThread
from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until

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
    # The installed console script for real: systemd reads this exit status.
    proc = console_script("vitalgate-gateway", "run", "--config", str(config))
    assert proc.returncode == 3
    assert "check the paths" in " ".join(proc.stderr.split())


@pytest.mark.broker
def test_pair_and_devices_against_a_running_gateway_and_its_pairing_page(
    broker: Any, tmp_path: Path
) -> None:
    radio = SimRadio()
    cuff = radio.add(BloodPressureCuff("0C:00:00:00:0A:01", seed=21))
    scale = radio.add(Scale("0C:00:00:00:0A:02", seed=22, user_id=1))
    web_port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'gateway_id = "gw-cli-pair"\ndata_dir = "{tmp_path / "data"}"\nlink = "sim"\n'
        f'web_port = {web_port}\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
    )
    runner = CliRunner()
    gw = GatewayThread(load_settings(config), radio)
    gw.start()
    try:
        pairing = ThreadPoolExecutor(1).submit(
            runner.invoke, app, ["pair", "bp_cuff", "-p", "pat-1", "--config", str(config)]
        )
        wait_until(lambda: cuff.subscribed(0x2A35), what="the cuff paired and subscribed")
        gw.call(cuff.measure)
        done = pairing.result(timeout=30)
        assert done.exit_code == 0, done.output
        assert "It worked" in done.output

        # The local page opens a window too; the patient takes a measurement on the scale.
        page = f"http://127.0.0.1:{web_port}"
        form = {"kind": "scale", "patient": "pat-2", "user": "1"}
        posted = httpx.post(f"{page}/pair", data=form, follow_redirects=False, timeout=5)
        assert posted.status_code == 303
        wait_until(lambda: scale.subscribed(0x2A9D), what="the scale paired from the page")
        gw.call(scale.measure)
        wait_until(
            lambda: (
                httpx.get(f"{page}/status.json", timeout=5).json()["pairing"]["state"]
                == "confirmed"
            ),
            what="the page to confirm the scale",
        )
        assert "It worked" in httpx.get(page, timeout=5).text
        assert httpx.post(f"{page}/pair", data={"kind": "toaster"}, timeout=5).status_code == 400
    finally:
        gw.stop()
    listing = runner.invoke(app, ["devices", "--config", str(config), "--json"])
    assert listing.exit_code == 0
    rows = {row["kind"]: row for row in json.loads(listing.output)}
    assert set(rows) == {"bp_cuff", "scale"}
    assert rows["bp_cuff"]["patients"] == [{"patient_id": "pat-1", "user_index": None}]
    assert rows["scale"]["patients"] == [{"patient_id": "pat-2", "user_index": 1}]
    assert rows["bp_cuff"]["battery"] == 90
    assert rows["bp_cuff"]["origin"] == "pairing"
    table = runner.invoke(app, ["devices", "--config", str(config)], env={"COLUMNS": "160"})
    assert table.exit_code == 0
    assert "Paired devices" in table.output
