"""The kit's configuration files, read by the real servers they configure: the compose
Mosquitto config (passwords, VitalGate's queue settings), the VictoriaMetrics scrape config,
and every PromQL query of the Grafana dashboard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.victoria import VictoriaMetrics, victoria_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _dashboard_exprs() -> list[str]:
    board = json.loads((DEPLOY / "grafana/dashboards/vitalgate.json").read_text())
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def _connect(broker: Mosquitto, user: str, password: str) -> tuple[ReasonCode, object]:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"kit-{user}", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.username_pw_set(user, password)
    result: list[tuple[ReasonCode, object]] = []
    client.on_connect = lambda _c, _u, _f, rc, props: result.append((rc, props))
    client.connect(broker.host, broker.port)
    while not result:
        client.loop(timeout=1.0)
    client.disconnect()
    return result[0]


@pytest.mark.broker
def test_the_compose_broker_config_takes_passwords_and_the_queue_settings(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mosquitto")
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    shutil.copy(DEPLOY / "mosquitto/vitalgate.conf", conf_d / "vitalgate.conf")
    passwd = tmp_path / "mosquitto.passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwd), "vitalgate-cloud", "s3cret-for-a-test"],
        check=True, capture_output=True,
    )  # fmt: skip
    text = (DEPLOY / "compose/mosquitto.conf").read_text()
    text = (
        text.replace("/mosquitto/data/", f"{tmp_path}/")
        .replace("/mosquitto/config/mosquitto.passwd", str(passwd))
        .replace("/mosquitto/config/conf.d", str(conf_d))
        .replace("listener 1883", f"listener {broker.port} 127.0.0.1")  # port: test_kit
        .replace("log_dest stdout", f"log_dest file {tmp_path}/mosquitto.log")
    )
    if os.geteuid() == 0:
        text += "user root\n"
    broker.conf.write_text(text)
    broker.start()
    try:
        code, props = _connect(broker, "vitalgate-cloud", "s3cret-for-a-test")
        assert code.value == 0
        # The shipped settings were read through include_dir: max_inflight_messages 100 is
        # the Receive Maximum the broker announces (Mosquitto's default is 20).
        assert getattr(props, "ReceiveMaximum", None) == 100
        assert _connect(broker, "vitalgate-cloud", "wrong")[0].is_failure
        assert _connect(broker, "nobody", "")[0].is_failure
    finally:
        broker.kill()


@pytest.mark.timeseries
def test_the_scrape_config_is_valid_for_victoriametrics() -> None:
    binary = victoria_binary()
    if binary is None:
        pytest.skip("victoria-metrics is not installed")
    done = subprocess.run(
        [binary, f"-promscrape.config={DEPLOY / 'compose/scrape.yaml'}",
         "-promscrape.config.dryRun", "-loggerLevel=ERROR"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.timeseries
def test_every_dashboard_query_parses(victoria: VictoriaMetrics) -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) >= 10
    for expr in exprs:
        r = httpx.get(f"{victoria.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, (expr, r.text)
        assert r.json()["status"] == "success"
    bad = httpx.get(f"{victoria.url}/api/v1/query", params={"query": "sum(rate(x[5m]"})
    assert bad.status_code == 422  # the check would see a broken query
