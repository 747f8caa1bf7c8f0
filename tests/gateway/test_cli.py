"""Settings from the shipped example and the environment; ``vitalgate-gateway status``,
``pair`` and ``devices``, and the local pairing page of ``vitalgate-gateway run``."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from firmware_sim.devices import BloodPressureCuff, Scale
from firmware_sim.radio import SimLink, SimRadio
from gateway.app import Gateway
from gateway.cli import app
from gateway.operator import ExitCode, OperatorError
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
    monkeypatch.setenv("VG_GW_MQTT__HOST", "broker.internal")
    monkeypatch.setenv("VG_GW_OUTBOX_BUDGET_MB", "64")
    monkeypatch.setenv("VG_DATA_DIR", "/tmp/meant-for-the-cloud")
    settings = load_settings(EXAMPLE)
    assert settings.gateway_id == "gw-0042"
    assert settings.mqtt.host == "broker.internal"
    assert settings.mqtt.tls
    assert settings.outbox_budget_bytes == 64 * 1024 * 1024
    assert settings.config_path == Path("/var/lib/vitalgate/config.json")  # VG_DATA_DIR ignored
    assert settings.downlink_key == Path("/etc/vitalgate/downlink-signing.pub")
    assert not settings.allow_unsigned_downlink


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
    assert state["counters"] == {
        "accepted": 3,
        "published": 0,
        "acknowledged": 0,
        "resent": 0,
        "thinned": 0,
        "dead_lettered": 0,
    }
    table = runner.invoke(app, ["status", "--config", str(config)], env={"COLUMNS": "120"})
    assert table.exit_code == 0
    accepted = next(line for line in table.output.splitlines() if "rows accepted" in line)
    assert accepted.replace("│", " ").split()[-1] == "3"
    assert "NOT connected" in table.output
    assert "outbox depth" in table.output
    assert "none yet" in table.output
    assert "NOT checked" in table.output


def test_run_refuses_to_start_without_the_clouds_key_unless_told_so(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'gateway_id = "gw-cli"\ndata_dir = "{tmp_path / "data"}"\nlink = "sim"\n')
    refused = subprocess.run(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "allow_unsigned_downlink = true" in " ".join(refused.stderr.split())
    assert not (tmp_path / "data").exists()  # nothing started


def test_run_refuses_unreadable_tls_files_with_advice(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'gateway_id = "gw-cli"\ndata_dir = "{tmp_path / "data"}"\nlink = "sim"\n'
        "allow_unsigned_downlink = true\n"
        f'[mqtt]\ntls = true\ncert_file = "{tmp_path / "missing.crt"}"\n'
    )
    # The installed console script for real: systemd reads this exit status.
    proc = console_script("vitalgate-gateway", "run", "--config", str(config))
    assert proc.returncode == 7  # ExitCode.CERTIFICATE
    assert "check the paths" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


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
        '[[patients]]\npatient_id = "pat-1"\nfirst_name = "Maria"\n'
        '[[patients]]\npatient_id = "pat-2"\nfirst_name = "José"\n'
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
        browser = httpx.Client(base_url=page, timeout=5)
        assert "Maria" in browser.get("/").text
        form = {"kind": "scale", "person": "pat-2", "user": "1", "csrf": browser.cookies["vg_csrf"]}
        posted = browser.post("/pair", data=form, follow_redirects=False)
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
        assert browser.post("/pair", data={**form, "kind": "toaster"}).status_code == 400
        assert httpx.post(f"{page}/pair", data=form, timeout=5).status_code == 403  # no cookie
        # Unpaired from the terminal: the gateway lets it go and forgets it.
        gone = runner.invoke(app, ["unpair", "scale-0c0000000a02", "--config", str(config)])
        assert gone.exit_code == 0, gone.output
        wait_until(lambda: not scale.connected, what="the unpaired scale to be let go")
    finally:
        gw.stop()
    listing = runner.invoke(app, ["devices", "--config", str(config), "--json"])
    assert listing.exit_code == 0
    rows = {row["kind"]: row for row in json.loads(listing.output)}
    assert set(rows) == {"bp_cuff"}  # the scale was unpaired
    assert rows["bp_cuff"]["patients"] == [{"patient_id": "pat-1", "user_index": None}]
    assert rows["bp_cuff"]["battery"] == 90
    assert rows["bp_cuff"]["origin"] == "pairing"
    table = runner.invoke(app, ["devices", "--config", str(config)], env={"COLUMNS": "160"})
    assert table.exit_code == 0
    assert "Paired devices" in table.output


def test_a_missing_config_option_or_file_is_an_error_never_a_default_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    no_option = runner.invoke(app, ["status"])
    assert no_option.exit_code == 2
    assert "--config" in no_option.output
    no_file = runner.invoke(app, ["status", "--config", str(tmp_path / "nowhere.toml")])
    assert no_file.exit_code == 4  # ExitCode.CONFIG_FILE
    assert f"error: no gateway config at {tmp_path / 'nowhere.toml'}" in no_file.output
    devices = runner.invoke(app, ["devices"])
    assert devices.exit_code == 2
    assert not (tmp_path / "data").exists()  # never fell back to ./data/gateway


def test_bad_toml_and_an_unknown_device_kind_are_one_line_each(tmp_path: Path) -> None:
    runner = CliRunner()
    broken = tmp_path / "broken.toml"
    broken.write_text('gateway_id = "gw-1"\nlink = "sim\n')
    result = runner.invoke(app, ["status", "--config", str(broken)])
    assert result.exit_code == 4
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {broken} is not valid TOML:")
    assert "line 2" in lines[0]
    assert "Traceback" not in result.output

    kind = tmp_path / "kind.toml"
    kind.write_text(
        'gateway_id = "gw-1"\n[[devices]]\ndevice_id = "d-1"\naddress = "AA:BB"\n'
        'kind = "toaster"\npatient_id = "p-1"\n'
    )
    refused = runner.invoke(app, ["status", "--config", str(kind)])
    assert refused.exit_code == 2
    assert "devices.0.kind" in refused.output
    assert "unknown device kind 'toaster'" in refused.output
    assert len(refused.output.strip().splitlines()) == 1


def test_debug_lets_the_traceback_through(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("gateway_id = \n")
    result = CliRunner().invoke(app, ["--debug", "status", "--config", str(broken)])
    assert result.exit_code != 0
    assert isinstance(result.exception, OperatorError)
    assert result.exception.code is ExitCode.CONFIG_FILE


def test_the_gateway_never_reads_the_clouds_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'gateway_id = "gw-1"\ndata_dir = "{tmp_path / "gw"}"\n')
    monkeypatch.setenv("VG_DATA_DIR", str(tmp_path / "cloud"))
    monkeypatch.setenv("VG_MQTT__HOST", "cloud-broker")
    with capture_logs() as logs:
        settings = load_settings(config)
    assert settings.data_dir == tmp_path / "gw"
    assert settings.mqtt.host == "127.0.0.1"
    assert sorted(e["env"] for e in logs if e["event"] == "settings.foreign_env_ignored") == [
        "VG_DATA_DIR",
        "VG_MQTT__HOST",
    ]
    monkeypatch.setenv("VG_GW_DATA_DIR", str(tmp_path / "moved"))
    assert load_settings(config).data_dir == tmp_path / "moved"
