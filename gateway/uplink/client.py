"""The one factory for every MQTT client of the project (gateway uplink, cloud ingest and
downlink, test and bench helpers): MQTT 5, credentials, TLS and a client id of its own.

The client id is what the broker keys a session on: a second client connecting with the
same id takes the first one's session over (and disconnects it). So a process that is not
given a name gets ``<role>-<host>-<pid>``, unique on the fleet while it runs; a configured
name (a gateway's id, ``VG_INGEST_CLIENT_ID``) is used as given, for the clients whose
session must survive a restart.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.uplink.errors import UplinkError
from gateway.uplink.settings import MqttSettings

__all__ = ["make_client", "tls_context", "unique_client_id"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_made = itertools.count(1)


def unique_client_id(role: str) -> str:
    """``<role>-<host>-<pid>``: no two live processes share it; a second client of the same
    process gets ``-2``, ``-3``… (at most 64 characters, the host name shortened first)."""
    host = _UNSAFE.sub("-", socket.gethostname())[:32] or "host"
    n = next(_made)
    suffix = f"-{os.getpid()}" + (f"-{n}" if n > 1 else "")
    return f"{role[:24]}-{host}"[: 64 - len(suffix)] + suffix


def tls_context(s: MqttSettings) -> ssl.SSLContext:
    """Server verification against ``ca_file`` (or the system store), plus the client
    certificate when one is configured (mutual TLS)."""
    try:
        ctx = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.cert_file:
            ctx.load_cert_chain(str(s.cert_file), str(s.key_file) if s.key_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise UplinkError(
            f"cannot load the MQTT TLS files (ca_file={s.ca_file}, cert_file={s.cert_file}, "
            f"key_file={s.key_file}): {exc}; check the paths, that the key matches the "
            "certificate, and that this user may read them"
        ) from exc
    return ctx


def make_client(settings: MqttSettings, *, role: str, client_id: str | None = None) -> paho.Client:
    """A paho client (MQTT 5, callback API 2) with ``settings``' credentials and TLS applied.

    ``client_id``: the session's name when it must outlive the process; otherwise a unique
    one is made from ``role``. Not connected yet: the caller sets callbacks and connects.
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or unique_client_id(role),
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set_context(tls_context(settings))
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    return client
