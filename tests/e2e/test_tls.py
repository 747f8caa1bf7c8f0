"""The uplink's broker identities, as provisioned in production: mutual TLS (a gateway with
its client certificate connects and publishes; one without is refused) and username and
password."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from firmware_sim.radio import SimRadio
from gateway import wire
from gateway.uplink.settings import MqttSettings
from tests.fixtures.gateway import GatewayThread, gateway_settings
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.mqtt import Probe
from tests.fixtures.net import free_port, port_open
from tests.fixtures.tls import make_pki, tls_listener
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, MqttSettings, Path]]:
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    mosq = Mosquitto(tmp_path / "mosq", extra_conf=tls_listener(pki, port))
    mosq.start()
    wait_until(lambda: port_open(port), what="the TLS listener")
    cert, key = pki.client("gw-tls-1")
    settings = MqttSettings(
        host="127.0.0.1", port=port, tls=True, ca_file=pki.ca, cert_file=cert, key_file=key
    )
    yield mosq, settings, pki.ca
    mosq.kill()


def test_gateway_with_a_client_certificate_connects_over_tls(
    tls_broker: tuple[Mosquitto, MqttSettings, Path], tmp_path: Path
) -> None:
    mosq, mqtt, _ = tls_broker
    probe = Probe(mosq, wire.Topics("gw-tls-1").status)
    settings = gateway_settings(mosq, tmp_path / "gw", gateway_id="gw-tls-1")
    settings.mqtt = mqtt
    gw = GatewayThread(settings, SimRadio())
    gateway = gw.start()
    try:
        wait_until(gateway.uplink.connected.is_set, what="a TLS connection")
        status = probe.wait_for(wire.Status, lambda s: s.state is wire.GatewayState.ONLINE)
        assert status.gateway_id == "gw-tls-1"
    finally:
        gw.stop()
        probe.close()
    # A clean stop replaces the retained status with "offline".
    after = Probe(mosq, wire.Topics("gw-tls-1").status)
    try:
        after.wait_for(wire.Status, lambda s: s.state is wire.GatewayState.OFFLINE)
    finally:
        after.close()


def test_gateway_without_a_certificate_is_refused(
    tls_broker: tuple[Mosquitto, MqttSettings, Path], tmp_path: Path
) -> None:
    mosq, mqtt, ca = tls_broker
    settings = gateway_settings(mosq, tmp_path / "gw", gateway_id="gw-tls-2")
    settings.mqtt = MqttSettings(host=mqtt.host, port=mqtt.port, tls=True, ca_file=ca)
    gw = GatewayThread(settings, SimRadio())
    gateway = gw.start()
    try:
        wait_until(lambda: gateway.uplink.reconnect_attempt >= 1, what="a refused attempt")
        assert not gateway.uplink.connected.is_set()
    finally:
        gw.stop()


def test_gateway_logs_in_with_username_and_password(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "gw-pw-1", "s3cret-for-tests"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    mosq = Mosquitto(tmp_path / "mosq")
    # Per-listener settings: the fixture's loopback listener stays anonymous (for the
    # probe), the gateway's listener wants a password.
    mosq.conf.write_text(
        "per_listener_settings true\n"
        + mosq.conf.read_text()
        + f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
    )
    mosq.start()
    try:
        wait_until(lambda: port_open(port), what="the password listener")
        wrong = _connects(mosq, tmp_path / "wrong", port, password="not-it")
        assert not wrong
        assert _connects(mosq, tmp_path / "right", port, password="s3cret-for-tests")
    finally:
        mosq.kill()


def _connects(mosq: Mosquitto, data_dir: Path, port: int, *, password: str) -> bool:
    settings = gateway_settings(mosq, data_dir, gateway_id="gw-pw-1")
    settings.mqtt = MqttSettings(
        host="127.0.0.1", port=port, username="gw-pw-1", password=SecretStr(password)
    )
    gw = GatewayThread(settings, SimRadio())
    gateway = gw.start()
    try:
        wait_until(
            lambda: gateway.uplink.connected.is_set() or gateway.uplink.reconnect_attempt >= 1,
            what="a connection or a refusal",
        )
        return gateway.uplink.connected.is_set()
    finally:
        gw.stop()
