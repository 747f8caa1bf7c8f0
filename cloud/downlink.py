"""The cloud's downlink: gateway configs, retained on each gateway's ``…/config``, and the
signature every downlink message carries.

Configs are stored first (``gateway_configs``, in the transaction that changed them) and
published after: a thread publishes every config whose version the broker has not yet
acknowledged (QoS 1, retained), when woken after a change and every ``interval_s`` in case
the broker was away. So a change made while the broker is down reaches the gateway when it
is back, and a gateway that connects later finds the retained config waiting.

Every downlink message (configs here, acks from the ingest worker, commands) is signed
with the cloud's Ed25519 key by ``DownlinkSigner`` (bytes signed: ``gateway.signing``);
a gateway with the verification key refuses anything else.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import paho.mqtt.client as paho
import structlog
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.background import BackgroundService
from cloud.settings import CloudSettings
from cloud.store.models import GatewayConfigRecord
from gateway import signing, wire
from gateway.uplink.client import make_client
from gateway.uplink.settings import MqttSettings

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S: Final = 30.0
PUBACK_TIMEOUT_S: Final = 10.0

Downlink = TypeVar("Downlink", wire.GatewayConfig, wire.Command, wire.Ack)


class DownlinkSigner:
    """Signs downlink messages for the gateway they go to; without a key, leaves them unsigned."""

    def __init__(self, key: signing.SigningKey | None) -> None:
        self.key = key

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> DownlinkSigner:
        """The signer of ``downlink_signing_key``; warns (once, at start) when there is none.

        Raises ``signing.SigningError`` (with advice) when the key file cannot be loaded.
        """
        path = settings.downlink_signing_key
        if path is None:
            log.warning(
                "downlink.unsigned",
                advice="configs, commands and acks go out unsigned and gateways with a "
                "downlink_key refuse them; set VG_PKI_DIR (`vitalgate-cloud pki init`)",
            )
            return cls(None)
        key = signing.load_private_key(path)
        log.info("downlink.signing", key_id=signing.key_id(key.public_key()))
        return cls(key)

    def sign(self, message: Downlink, *, gateway_id: str) -> Downlink:
        """``message`` signed for ``gateway_id`` (the gateway of its topic), or as it is."""
        if self.key is None:
            return message
        return signing.sign(message, gateway_id=gateway_id, key=self.key)

    def encode(self, message: Downlink, *, gateway_id: str) -> bytes:
        """The payload to publish to ``gateway_id``: signed when the cloud has a key."""
        return wire.encode(self.sign(message, gateway_id=gateway_id))


class ConfigPublisher(BackgroundService):
    thread_name = "config-publisher"
    failed_event = "downlink.failed"
    stop_timeout_s = 8.0
    lease = "config-publisher"

    def __init__(
        self,
        mqtt: MqttSettings,
        sessions: sessionmaker[Session],
        *,
        client_id: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        signer: DownlinkSigner | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.sessions = sessions
        self.signer = signer or DownlinkSigner(None)
        self.connected = threading.Event()
        super().__init__(interval_s=interval_s)
        self._client = make_client(mqtt, role="vitalgate-downlink", client_id=client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        self._client.connect_async(self.mqtt.host, self.mqtt.port, keepalive=self.mqtt.keepalive_s)
        self._client.loop_start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error(
                "downlink.connect_refused",
                peer=f"{self.mqtt.host}:{self.mqtt.port}",
                reason=str(rc),
            )
            return
        self.connected.set()
        self.wake()

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        self.connected.clear()
        log.warning(
            "downlink.disconnected", peer=f"{self.mqtt.host}:{self.mqtt.port}", reason=str(rc)
        )

    def tick(self) -> None:
        """Publish pending configs (after a change was committed, or in case one was missed)."""
        if self.connected.is_set():
            self.publish_pending()

    def publish_pending(self) -> int:
        """Publish every config the broker has not acknowledged yet; returns how many."""
        with self.sessions() as session:
            pending = session.execute(
                select(
                    GatewayConfigRecord.gateway_id,
                    GatewayConfigRecord.version,
                    GatewayConfigRecord.body,
                )
                .where(GatewayConfigRecord.published_version < GatewayConfigRecord.version)
                .order_by(GatewayConfigRecord.gateway_id)
            ).all()
        done = 0
        for gateway_id, version, body in pending:
            message = wire.GatewayConfig.model_validate(body)
            topic = wire.Topics(gateway_id, self.mqtt.topic_root).config
            payload = self.signer.encode(message, gateway_id=gateway_id)
            info = self._client.publish(topic, payload, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # not queued: link just dropped
                info.wait_for_publish(PUBACK_TIMEOUT_S)
            if not info.is_published():
                log.warning("downlink.not_acknowledged", gateway_id=gateway_id, version=version)
                continue
            with self.sessions.begin() as session:
                record = session.get(GatewayConfigRecord, gateway_id)
                if record is not None and record.published_version < version:
                    record.published_version = version
                    record.published_at = datetime.now(UTC)
            log.info("downlink.config_published", gateway_id=gateway_id, version=version)
            done += 1
        return done
