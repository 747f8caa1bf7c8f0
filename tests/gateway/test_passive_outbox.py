"""A passive sensor in the whole gateway: paired from the terminal with its bind key, its
readings stored in the outbox once however often the sensor repeats them, like a
connected device's; the bind key only in the 0600 key file, never in a log or the outbox."""

from __future__ import annotations

import json
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from firmware_sim.advertiser import BTHomeAdvertiser, PassivePeripheral
from firmware_sim.radio import SimRadio
from gateway.ble.bind_keys import BIND_KEYS_FILE
from gateway.cli import app
from gateway.settings import load_settings
from tests.fixtures.gateway import GatewayThread
from tests.fixtures.waiting import wait_until

KEY = "231d39c1d7cc1ab1aee224cd096db932"
ADDRESS = "A4:C1:38:8D:18:B2"


@pytest.mark.broker
def test_an_encrypted_scale_reaches_the_outbox_once(broker: Any, tmp_path: Path) -> None:
    radio = SimRadio()
    sensor = radio.add(PassivePeripheral(ADDRESS))
    scale = BTHomeAdvertiser(ADDRESS, bind_key=bytes.fromhex(KEY))
    data = tmp_path / "data"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'gateway_id = "gw-passive"\ndata_dir = "{data}"\nlink = "sim"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        '[[patients]]\npatient_id = "pat-1"\nfirst_name = "Maria"\n'
    )
    gw = GatewayThread(load_settings(config), radio)
    gateway = gw.start()
    args = ["pair", "scale", "--bind-key", KEY, "--config", str(config), "--minutes", "1"]
    try:
        with capture_logs() as logs:
            pairing = ThreadPoolExecutor(1).submit(CliRunner().invoke, app, args)
            wait_until(lambda: gw.call(lambda: gateway.devices._listener is not None))
            gw.call(lambda: sensor.broadcast(scale.measure({0x06: 80.3, 0x01: 88})))
            done = pairing.result(timeout=30)
            assert done.exit_code == 0, done.output
            said = " ".join(done.output.split())
            assert "Scale for Maria" in said
            assert "It worked: your first reading has arrived (weight 80.3 kg)" in said
            for _ in range(4):
                gw.call(lambda: sensor.broadcast(scale.repeat()))
            [device_id] = gw.call(lambda: list(gateway.devices.store.devices))
            wait_until(
                lambda: (
                    gw.call(
                        lambda: gateway.devices.store.devices[device_id].counters.get("duplicate")
                    )
                    == 4
                ),
                what="the repeats to be counted",
            )
    finally:
        gw.stop()
    assert KEY not in json.dumps(logs, default=str)
    keys = data / BIND_KEYS_FILE
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert json.loads(keys.read_text()) == {device_id: KEY}
    with sqlite3.connect(data / "outbox.sqlite3") as db:
        payloads = [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox")]
    readings = sorted(
        (r["metric"], r["value"], r["patient_id"], r["device_id"])
        for p in payloads
        if "metric" in p
        for r in [p]
    )
    assert readings == [
        ("battery_level", 88.0, "pat-1", device_id),
        ("body_weight", 80.3, "pat-1", device_id),
    ]
    assert KEY not in json.dumps(payloads)
