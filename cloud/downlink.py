"""The cloud's downlink: gateway configs, retained on each gateway's ``…/config``.

Configs are stored first (``gateway_configs``, in the transaction that changed them) and
published after: a thread publishes every config whose version the broker has not yet
acknowledged (QoS 1, retained), when woken after a change and every ``interval_s`` in case
the broker was away. So a change made while the broker is down reaches the gateway when it
is back, and a gateway that connects later finds the retained config waiting.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as paho
import structlog
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.background import Loop
from cloud.store.models import GatewayConfigRecord
from gateway import wire
from gateway.uplink.client import make_client
from gateway.uplink.settings import MqttSettings

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S: Final = 30.0
PUBACK_TIMEOUT_S: Final = 10.0


class ConfigPublisher:
    def __init__(
        self,
        mqtt: MqttSettings,
        sessions: sessionmaker[Session],
        *,
        client_id: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.mqtt = mqtt
        self.sessions = sessions
        self.interval_s = interval_s
        self.connected = threading.Event()
        self._loop = Loop(
            "config-publisher", self._tick, interval_s=interval_s, failed="downlink.failed"
        )
        self._client = make_client(mqtt, role="vitalgate-downlink", client_id=client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        self._client.connect_async(self.mqtt.host, self.mqtt.port, keepalive=self.mqtt.keepalive_s)
        self._client.loop_start()
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop(timeout=15)
        self._client.disconnect()
        self._client.loop_stop()

    def wake(self) -> None:
        """Publish pending configs now (after a change was committed)."""
        self._loop.wake()

    def _on_connect(
        self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error("downlink.connect_refused", reason=str(rc))
            return
        self.connected.set()
        self._loop.wake()

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        self.connected.clear()
        log.warning("downlink.disconnected", reason=str(rc))

    def _tick(self) -> None:
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
            info = self._client.publish(topic, wire.encode(message), qos=1, retain=True)
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
