"""MQTT connection settings, shared by the gateway's uplink and the cloud's ingest."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from gateway.wire import DEFAULT_TOPIC_ROOT


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    """The MQTT broker's host name or address."""
    port: int = Field(1883, ge=1, le=65535)
    """The broker's port: 1883 plain, 8883 with TLS by convention."""
    username: str | None = None
    """User name for the broker, if it asks for one."""
    password: SecretStr | None = None
    """Password for the broker (keep it in an env file of mode 0600)."""
    tls: bool = False
    """Connect with TLS (the broker's certificate checked against ``ca_file``)."""
    ca_file: Path | None = None
    """CA certificate (PEM) that signed the broker's certificate; default: the system's."""
    cert_file: Path | None = None
    """Client certificate (PEM) for mutual TLS; with ``key_file``."""
    key_file: Path | None = None
    """Private key (PEM) of ``cert_file``."""
    topic_root: str = DEFAULT_TOPIC_ROOT
    """First level of every topic (``<root>/<gateway_id>/…``)."""
    keepalive_s: int = Field(30, ge=5, le=3600)
    """MQTT keep-alive: the broker declares the client gone after 1.5 times this."""
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    """How long the broker keeps this client's session (subscriptions, queued QoS 1) offline."""
    reconnect_min_s: int = Field(1, ge=1)
    """First wait before reconnecting after the broker is lost (seconds; it doubles)…"""
    reconnect_max_s: int = Field(60, ge=1)
    """…up to this."""
