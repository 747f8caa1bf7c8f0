"""MQTT connection settings, shared by the gateway's uplink and the cloud's ingest."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from gateway.wire import DEFAULT_TOPIC_ROOT


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    """Client certificate (PEM) for mutual TLS; with ``key_file``."""
    key_file: Path | None = None
    topic_root: str = DEFAULT_TOPIC_ROOT
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    """How long the broker keeps this client's session (subscriptions, queued QoS 1) offline."""
    reconnect_min_s: int = Field(1, ge=1)
    reconnect_max_s: int = Field(60, ge=1)
