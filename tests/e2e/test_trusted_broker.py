"""The broker as provisioned: a real Mosquitto started from ``vitalgate-cloud broker config``,
with certificates from ``pki init`` / ``gateway provision`` (all through the CLI).

A gateway's certificate confines it to its own topics: subscriptions elsewhere (another
gateway's, ``#``, the ingest's ``$share`` group) are refused in the SUBACK, publications
elsewhere in the PUBACK, and nothing of them reaches the cloud or another gateway. Clients
without a certificate, with one from another CA, or with a revoked one cannot connect.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cloud.cli import app
from cloud.downlink import DownlinkSigner
from cloud.ingest.worker import IngestWorker
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import DeadLetter, GatewayRecord, Reading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from gateway import signing
from gateway.settings import load_settings
from gateway.uplink.client import make_client
from gateway.uplink.settings import MqttSettings
from tests.fixtures.bindings import bind
from tests.fixtures.gateway import GatewayThread, drive, paired
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port, port_open
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

ORG = "org-trust"
GROUP = "vitalgate-ingest"
NOT_AUTHORIZED = 0x87


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    broker: Mosquitto
    port: int
    """The gateways' listener; the cloud's is ``port + 1``."""
    pki: Path
    sessions: sessionmaker[Session]
    cli_output: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(app, list(args), env=self.env)
        if ok:
            assert result.exit_code == 0, result.output
        return result.output

    def gateway_mqtt(self, gateway_id: str) -> MqttSettings:
        folder = self.root / "gateways" / gateway_id
        return MqttSettings(
            host="127.0.0.1", port=self.port, tls=True, ca_file=folder / "ca.pem",
            cert_file=folder / "gateway.pem", key_file=folder / "gateway.key",
        )  # fmt: skip

    def cloud_mqtt(self) -> MqttSettings:
        return MqttSettings(
            host="127.0.0.1", port=self.port + 1, tls=True, ca_file=self.pki / "ca.pem",
            cert_file=self.pki / "cloud.pem", key_file=self.pki / "cloud.key",
        )  # fmt: skip

    def provision(self, gateway_id: str, *, auth: str = "certificate") -> str:
        port = self.port + 2 if auth == "password" else self.port
        return self.cli(
            "gateway", "provision", gateway_id, "--organisation", ORG,
            "--out", str(self.root / "gateways" / gateway_id),
            "--broker-host", "127.0.0.1", "--broker-port", str(port),
            "--data-dir", str(self.root / "gw-data" / gateway_id), "--auth", auth,
        )  # fmt: skip

    def toml_mqtt(self, gateway_id: str) -> MqttSettings:
        """The MQTT settings of the gateway.toml that provisioning wrote."""
        return load_settings(self.root / "gateways" / gateway_id / "gateway.toml").mqtt


def _start_broker(root: Path, port: int) -> Mosquitto:
    """Mosquitto on the generated config, plus only what the fixture needs (log, root user)."""
    mosq = Mosquitto(root / "mosq-run")
    mosq.port = port
    generated = (root / "broker" / "mosquitto.conf").read_text()
    extra = [f"log_dest file {root / 'mosq-run' / 'mosquitto.log'}", "log_type all"]
    if os.geteuid() == 0:
        extra.append("user root")
    mosq.conf.write_text(generated + "\n".join(extra) + "\n")
    mosq.start()
    return mosq


def _two_free_ports() -> int:
    """A port P with P + 1 and P + 2 free as well (gateways', cloud's, password listeners)."""
    while True:
        port = free_port()
        if port < 65534 and not port_open(port + 1) and not port_open(port + 2):
            return port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("trusted")
    port = _two_free_ports()
    env = {
        "VG_DATA_DIR": str(root / "cloud"),
        "VG_DATABASE_URL": f"sqlite:///{root / 'cloud.sqlite3'}",
        "VG_PKI_DIR": str(root / "pki"),
        "VG_MQTT__HOST": "127.0.0.1",
        "VG_MQTT__PORT": str(port + 1),
    }
    runner = CliRunner()
    for args in (
        ["user", "create", "--email", "admin@trust.example", "--password", "synthetic-password-1",
         "--role", "admin", "--org", ORG],
        ["pki", "init", "--dir", str(root / "pki")],
    ):  # fmt: skip
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    migrate(env["VG_DATABASE_URL"])
    engine = make_engine(env["VG_DATABASE_URL"])
    s = Stack(root, env, None, port, root / "pki", session_factory(engine))  # type: ignore[arg-type]
    for gateway_id in ("gw-a", "gw-b", "gw-r"):
        s.cli_output[gateway_id] = s.provision(gateway_id)
    s.cli_output["gw-p"] = s.provision("gw-p", auth="password")
    # The patient and strap the tests' readings name, paired so ingest may store them (any of
    # the organisation's gateways may relay the strap).
    bind(s.sessions, organisation=ORG, gateway_id="gw-a", pairs=[("p-trust", "hrm-trust")],
         device_on_gateway=False)  # fmt: skip
    bind(s.sessions, organisation=ORG, gateway_id="gw-b", pairs=[("p-tls", "hrm-tls")])
    s.cli_output["broker"] = s.cli(
        "broker", "config", "--out", str(root / "broker"), "--port", str(port),
        "--bind", "127.0.0.1", "--password-port", str(port + 2),
    )  # fmt: skip
    s.broker = _start_broker(root, port)
    yield s
    s.broker.kill()
    engine.dispose()


class Client:
    """One MQTT client made by the project's factory; records SUBACK, PUBACK and messages."""

    def __init__(self, settings: MqttSettings, client_id: str | None = None) -> None:
        self.client = make_client(settings, role="test", client_id=client_id)
        self.connect_rc: ReasonCode | None = None
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.subacks: dict[int, list[int]] = {}
        self.pubacks: dict[int, int] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda *_: self.ended.set()
        self.client.on_disconnect = lambda *_: self.ended.set()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.connect_async(settings.host, settings.port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.connect_rc = rc
        if rc.is_failure:
            self.ended.set()
        else:
            self.connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        with self._lock:
            self.subacks[mid] = [c.value for c in codes]

    def _on_publish(
        self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Properties | None
    ) -> None:
        with self._lock:
            self.pubacks[mid] = rc.value

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def outcome(self, timeout: float = 10.0) -> bool:
        """True once connected; False when the broker refused or closed the connection."""
        wait_until(lambda: self.connected.is_set() or self.ended.is_set(), timeout=timeout,
                   what="a connection or a refusal")  # fmt: skip
        return self.connected.is_set() and not self.ended.is_set()

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; the SUBACK's reason code (1 = granted QoS 1, 0x87 refused)."""
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        wait_until(lambda: mid in self.subacks, timeout=10, what=f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1; the PUBACK's reason code (0 = accepted, 0x87 refused)."""
        mid = self.client.publish(topic, payload, qos=1).mid
        wait_until(lambda: mid in self.pubacks, timeout=10, what=f"PUBACK on {topic}")
        return self.pubacks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _batch(gateway_id: str, batch_id: str, reading_id: str, value: float) -> bytes:
    now = datetime.now(UTC).isoformat()
    reading = {
        "id": reading_id, "patient_id": "p-trust", "device_id": "hrm-trust",
        "metric": "heart_rate", "value": value, "unit": "/min", "ts": now,
    }  # fmt: skip
    return json.dumps(
        {"schema": "vg.readings/1", "gateway_id": gateway_id, "batch_id": batch_id,
         "sent_at": now, "readings": [reading]}
    ).encode()  # fmt: skip


@pytest.fixture
def ingest(stack: Stack) -> Iterator[IngestWorker]:
    # No session after it stops: an offline member of the $share group would still be
    # handed its share of the next test's messages (see cloud.ingest.worker).
    # Acks signed with the PKI's downlink key: the provisioned gateways refuse unsigned ones.
    signer = DownlinkSigner(signing.load_private_key(stack.pki / "downlink-signing.key"))
    worker = IngestWorker(
        stack.cloud_mqtt(), stack.sessions, group=GROUP, session_expiry_s=0, signer=signer
    )
    worker.start()
    wait_until(worker.connected.is_set, what="ingest to connect over TLS")
    yield worker
    worker.stop()


def test_generated_config_requires_certificates_and_uses_dynamic_security(stack: Stack) -> None:
    conf = (stack.root / "broker" / "mosquitto.conf").read_text().splitlines()
    for line in (
        "allow_anonymous false", "require_certificate true", "use_identity_as_username true",
        f"crlfile {stack.pki / 'crl.pem'}", "max_queued_messages 100000",
    ):  # fmt: skip
        assert line in conf
    assert conf.count("use_username_as_clientid true") == 2  # gateways: certificate, password
    assert f"listener {stack.port + 1} 127.0.0.1" in conf
    assert any(line.startswith("plugin ") and "dynamic_security" in line for line in conf)
    assert not any(line.startswith("acl_file") for line in conf)
    dynsec = json.loads((stack.root / "broker" / "dynamic-security.json").read_text())
    assert dynsec["defaultACLAccess"] == {
        "publishClientSend": False, "publishClientReceive": False,
        "subscribe": False, "unsubscribe": True,
    }  # fmt: skip
    clients = {c["username"]: c for c in dynsec["clients"]}
    assert set(clients) == {"vitalgate-cloud", "gw-a", "gw-b", "gw-r", "gw-p"}
    assert "password" not in clients["gw-a"]
    assert {"password", "salt", "iterations"} <= set(clients["gw-p"])
    assert f"listener {stack.port + 2} 127.0.0.1" in conf
    assert oct((stack.pki / "ca.key").stat().st_mode & 0o777) == "0o600"
    assert oct((stack.root / "gateways" / "gw-a" / "gateway.key").stat().st_mode & 0o777) == "0o600"


def test_gateway_cannot_subscribe_outside_its_topics_nor_join_the_ingest_share(
    stack: Stack,
) -> None:
    gw = Client(stack.gateway_mqtt("gw-a"), client_id="gw-a")
    try:
        assert gw.outcome()
        refused = {
            topic: gw.subscribe(topic)
            for topic in (
                f"$share/{GROUP}/vg/v1/+/readings",
                "$share/other-group/vg/v1/+/readings",
                "vg/v1/+/readings",
                "vg/v1/gw-b/config",
                "vg/v1/gw-b/acks",
                "vg/v1/gw-a/readings",
                "#",
                "$CONTROL/dynamic-security/v1/response",
            )
        }
        granted = {t: gw.subscribe(t) for t in ("vg/v1/gw-a/config", "vg/v1/gw-a/acks")}
    finally:
        gw.close()
    assert refused == dict.fromkeys(refused, NOT_AUTHORIZED), refused
    assert granted == dict.fromkeys(granted, 1)


def test_gateway_publications_outside_its_topics_are_refused_and_reach_no_one(
    stack: Stack, ingest: IngestWorker
) -> None:
    victim = Client(stack.gateway_mqtt("gw-b"), client_id="gw-b")
    attacker = Client(stack.gateway_mqtt("gw-a"), client_id="gw-a")
    try:
        assert victim.outcome()
        assert attacker.outcome()
        for leaf in ("config", "acks", "commands"):
            assert victim.subscribe(f"vg/v1/gw-b/{leaf}") == 1
        assert attacker.subscribe("vg/v1/gw-a/acks") == 1
        forged = {
            "vg/v1/gw-b/readings": _batch("gw-b", "forged-1", "forged-r1", 240.0),
            "vg/v1/gw-b/status": b'{"schema":"vg.status/1"}',
            "vg/v1/gw-b/config": b'{"schema":"vg.config/1"}',
            "vg/v1/gw-b/acks": json.dumps({"schema": "vg.acks/1", "batch_ids": ["b"]}).encode(),
            "vg/v1/gw-a/config": b'{"schema":"vg.config/1"}',
            "vg/v1/gw-a/acks": json.dumps({"schema": "vg.acks/1", "batch_ids": ["x"]}).encode(),
            "$CONTROL/dynamic-security/v1": b'{"commands":[{"command":"listClients"}]}',
        }
        pubacks = {topic: attacker.publish(topic, body) for topic, body in forged.items()}
        # Its own topic works, and is the barrier: the broker handles one connection's
        # packets in order, so once this is stored and acknowledged the forged ones are done.
        assert attacker.publish("vg/v1/gw-a/readings", _batch("gw-a", "own-1", "own-r1", 71.0)) == 0
        wait_until(lambda: attacker.messages, what="gw-a's end-to-end ack")
    finally:
        attacker.close()
        victim.close()
    assert pubacks == dict.fromkeys(pubacks, NOT_AUTHORIZED), pubacks
    with stack.sessions() as s:
        stored = s.scalars(select(Reading.id)).all()
        dead = s.scalars(select(DeadLetter.id)).all()
    assert list(stored) == ["own-r1"]
    assert not dead
    assert victim.messages == []
    assert [t for t, _ in attacker.messages] == ["vg/v1/gw-a/acks"]


def test_only_the_cloud_publishes_downlink_and_its_gateway_receives_it(stack: Stack) -> None:
    gw = Client(stack.gateway_mqtt("gw-b"), client_id="gw-b")
    cloud = Client(stack.cloud_mqtt())
    try:
        assert gw.outcome()
        assert cloud.outcome()
        for leaf in ("config", "acks", "commands"):
            assert gw.subscribe(f"vg/v1/gw-b/{leaf}") == 1
            assert cloud.publish(f"vg/v1/gw-b/{leaf}", b'{"schema":"test/1"}') == 0
        wait_until(lambda: len(gw.messages) == 3, what="the three downlink messages")
        # The cloud's role has no uplink rights: it cannot pose as a gateway either.
        assert cloud.publish("vg/v1/gw-b/readings", b"{}") == NOT_AUTHORIZED
        assert cloud.subscribe("vg/v1/+/readings") == NOT_AUTHORIZED
    finally:
        gw.close()
        cloud.close()
    assert sorted(t for t, _ in gw.messages) == [
        "vg/v1/gw-b/acks", "vg/v1/gw-b/commands", "vg/v1/gw-b/config"
    ]  # fmt: skip


def test_clients_without_a_certificate_or_from_another_ca_cannot_connect(stack: Stack) -> None:
    no_cert = Client(stack.cloud_mqtt().model_copy(update={"cert_file": None, "key_file": None}))
    other = stack.root / "other-pki"
    stack.cli("pki", "init", "--dir", str(other))
    # The cloud's own CN, signed by another CA: the name alone proves nothing.
    foreign = Client(
        stack.cloud_mqtt().model_copy(
            update={"cert_file": other / "cloud.pem", "key_file": other / "cloud.key"}
        )
    )
    plain = Client(MqttSettings(host="127.0.0.1", port=stack.port))
    try:
        assert not no_cert.outcome()
        assert not foreign.outcome()
        assert not plain.outcome()
    finally:
        for c in (no_cert, foreign, plain):
            c.close()
    assert no_cert.connect_rc is None
    assert foreign.connect_rc is None


def test_gateway_cannot_take_over_the_ingest_session(stack: Stack) -> None:
    worker = IngestWorker(
        stack.cloud_mqtt(),
        stack.sessions,
        group=GROUP,
        client_id="vitalgate-ingest-named",
        session_expiry_s=0,
    )
    worker.start()
    try:
        wait_until(worker.connected.is_set, what="ingest to connect")
        # On the gateways' listener the client id is the CN, whatever the gateway asks for.
        thief = Client(stack.gateway_mqtt("gw-a"), client_id="vitalgate-ingest-named")
        try:
            assert thief.outcome()
            assert thief.subscribe("vg/v1/gw-a/config") == 1  # it is gw-a, with gw-a's rights
            assert thief.subscribe(f"$share/{GROUP}/vg/v1/+/readings") == NOT_AUTHORIZED
        finally:
            thief.close()
        assert worker.connected.is_set()
        # The cloud's listener knows only the cloud CA: a gateway certificate fails there.
        on_cloud_port = Client(
            stack.gateway_mqtt("gw-a").model_copy(update={"port": stack.port + 1}),
            client_id="vitalgate-ingest-named",
        )
        try:
            assert not on_cloud_port.outcome()
            assert on_cloud_port.connect_rc is None
        finally:
            on_cloud_port.close()
        assert worker.connected.is_set()
    finally:
        worker.stop()
    log = (stack.root / "mosq-run" / "mosquitto.log").read_text()
    assert "as gw-a (" in log
    assert "vitalgate-ingest-named already connected" not in log


def test_password_gateway_logs_in_with_the_same_roles(stack: Stack) -> None:
    mqtt = stack.toml_mqtt("gw-p")
    assert mqtt.username == "gw-p"
    assert mqtt.cert_file is None
    assert mqtt.port == stack.port + 2
    gw = Client(mqtt, client_id="gw-p")
    try:
        assert gw.outcome()
        assert gw.subscribe("vg/v1/gw-p/config") == 1
        assert gw.subscribe(f"$share/{GROUP}/vg/v1/+/readings") == NOT_AUTHORIZED
        assert gw.subscribe("vg/v1/gw-a/config") == NOT_AUTHORIZED
        assert gw.publish("vg/v1/gw-a/readings", b"{}") == NOT_AUTHORIZED
    finally:
        gw.close()
    wrong = Client(mqtt.model_copy(update={"password": SecretStr("not-the-password")}))
    # A certificate gateway has no password at all: its name alone does not log in.
    cert_name = Client(mqtt.model_copy(update={"username": "gw-a"}))
    try:
        assert not wrong.outcome()
        assert not cert_name.outcome()
    finally:
        wrong.close()
        cert_name.close()
    assert wrong.connect_rc is not None
    assert wrong.connect_rc.value == NOT_AUTHORIZED  # Mosquitto 2.0.11's CONNACK for a bad login
    assert cert_name.connect_rc is not None
    assert cert_name.connect_rc.value == NOT_AUTHORIZED


def test_gateways_provisioned_while_the_broker_runs_connect_at_once(stack: Stack) -> None:
    for gateway_id, auth in (("gw-live", "certificate"), ("gw-live-p", "password")):
        assert "applied the change" in stack.provision(gateway_id, auth=auth)
        gw = Client(stack.toml_mqtt(gateway_id), client_id=gateway_id)
        try:
            assert gw.outcome(), auth
            assert gw.subscribe(f"vg/v1/{gateway_id}/config") == 1
            assert gw.subscribe("vg/v1/+/config") == NOT_AUTHORIZED
        finally:
            gw.close()


def test_gateway_reading_reaches_the_store_over_tls(stack: Stack, ingest: IngestWorker) -> None:
    folder = stack.root / "gateways" / "gw-b"
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:0B", seed=3))
    settings = load_settings(
        folder / "gateway.toml",
        link="sim",
        flush_interval_s=0.05,
        devices=[paired(strap, patient_id="p-tls", device_id="hrm-tls")],
    )
    assert settings.mqtt.tls
    assert settings.mqtt.port == stack.port
    assert settings.downlink_key == folder / "downlink-signing.pub"
    gw = GatewayThread(settings, radio, background=[drive(strap, count=3, period_s=0.01)])
    gw.start()
    try:
        with stack.sessions() as s:
            wait_until(
                lambda: (
                    len(
                        s.scalars(
                            select(Reading.id).where(
                                Reading.patient_id == "p-tls", Reading.metric == "heart_rate"
                            )
                        ).all()
                    )
                    == 3
                ),
                timeout=30,
                what="3 readings of gw-b stored",
            )
        gw.wait_drained()
    finally:
        gw.stop()


def test_revoked_gateway_loses_its_rights_at_once_and_its_certificate_at_restart(
    stack: Stack,
) -> None:
    gw = Client(stack.gateway_mqtt("gw-r"), client_id="gw-r")
    assert gw.outcome()
    assert gw.subscribe("vg/v1/gw-r/config") == 1
    out = stack.cli("gateway", "revoke", "gw-r")
    assert "applied the change" in out
    wait_until(gw.ended.is_set, what="the broker to close the revoked gateway's connection")
    gw.close()
    with stack.sessions() as s:
        record = s.get(GatewayRecord, "gw-r")
        assert record is not None
        assert record.revoked_at is not None
    # Before a restart its certificate still passes TLS, but it may do nothing.
    again = Client(stack.gateway_mqtt("gw-r"), client_id="gw-r")
    try:
        assert again.outcome()
        assert again.subscribe("vg/v1/gw-r/config") == NOT_AUTHORIZED
        assert again.publish("vg/v1/gw-r/readings", b"{}") == NOT_AUTHORIZED
    finally:
        again.close()
    # A reload (SIGHUP) makes the listener read the new CRL.
    assert stack.broker.proc is not None
    stack.broker.proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: "reloading" in (stack.root / "mosq-run" / "mosquitto.log").read_text().lower(),
        what="the reload",
    )
    after = Client(stack.gateway_mqtt("gw-r"), client_id="gw-r")
    still = Client(stack.gateway_mqtt("gw-a"), client_id="gw-a")
    try:
        assert not after.outcome()
        assert after.connect_rc is None  # refused at the TLS handshake: no CONNACK
        assert still.outcome()
    finally:
        after.close()
        still.close()
    # A revoked id cannot be provisioned again (a new gateway gets a new id).
    assert "revoked" in stack.cli(
        "gateway", "provision", "gw-r", "--organisation", ORG,
        "--out", str(stack.root / "again"), ok=False,
    )  # fmt: skip
