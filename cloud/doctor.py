"""``vitalgate-cloud doctor``: what this host's settings point at, checked one by one.

Each check returns a ``Check`` with a plain verdict: ``ok``, ``FAIL`` (with what to do) or
``skip`` (not configured). Nothing is sent: notification targets are parsed and their
servers reached, never written to; the broker gets an MQTT 5 CONNECT with the cloud's
settings (TLS and credentials) and a DISCONNECT, nothing else.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

import apprise
import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from cloud.settings import CloudSettings

Verdict = Literal["ok", "FAIL", "skip"]
TIMEOUT_S: Final = 3.0
DEFAULT_PORTS: Final = {
    "mailto": 25, "mailtos": 465, "json": 80, "jsons": 443, "form": 80, "forms": 443,
    "xml": 80, "xmls": 443,
}  # fmt: skip
"""Where apprise connects for the schemes whose server doctor can reach without sending."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    verdict: Verdict
    detail: str


def _reach(host: str, port: int, *, smtp: bool = False) -> str | None:
    """None when ``host:port`` accepts a TCP connection, else why not. An SMTP server is
    left politely (its greeting, then QUIT), so it closes the session itself instead of
    finding a dropped connection; a server that greets otherwise (implicit TLS) is just
    left."""
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            if smtp:
                with contextlib.suppress(OSError):
                    if sock.recv(512).startswith(b"220"):
                        sock.sendall(b"QUIT\r\n")
                        sock.recv(512)
    except OSError as exc:
        return f"{host}:{port} unreachable: {exc.strerror or exc}"
    return None


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """An MQTT 5 CONNECT (OASIS MQTT 5.0 §3.1): clean start, 10 s keep-alive, no properties."""
    flags = 0x02 | (0x80 if username else 0) | (0x40 if username and password else 0)
    body = _utf8("MQTT") + bytes([5, flags]) + (10).to_bytes(2, "big") + b"\x00"
    body += _utf8(client_id)
    if username:
        body += _utf8(username)
        if password:
            body += _utf8(password)
    return bytes([0x10]) + _remaining_length(len(body)) + body


CONNACK_REASONS: Final = {
    0x80: "unspecified error", 0x84: "unsupported protocol version",
    0x85: "client id not valid", 0x86: "bad user name or password", 0x87: "not authorized",
    0x88: "server unavailable", 0x8A: "banned", 0x8C: "bad authentication method",
}  # fmt: skip
"""CONNACK reason codes (MQTT 5.0 §3.2.2.2) an operator can act on."""


def _mqtt_connect(settings: CloudSettings) -> str | None:
    """None when the broker accepts an MQTT 5 connection with these settings (TLS and
    credentials included), else why not. A connection of its own, closed at once."""
    mqtt = settings.mqtt
    password = mqtt.password.get_secret_value() if mqtt.password else None
    try:
        with socket.create_connection((mqtt.host, mqtt.port), timeout=TIMEOUT_S) as raw:
            sock: socket.socket = raw
            if mqtt.tls:
                context = ssl.create_default_context(
                    cafile=str(mqtt.ca_file) if mqtt.ca_file else None
                )
                if mqtt.cert_file and mqtt.key_file:
                    context.load_cert_chain(str(mqtt.cert_file), str(mqtt.key_file))
                sock = context.wrap_socket(raw, server_hostname=mqtt.host)
            client_id = f"vitalgate-doctor-{os.getpid()}"
            sock.sendall(mqtt_connect_packet(client_id, mqtt.username, password))
            answer = sock.recv(64)
            if len(answer) < 4 or answer[0] != 0x20:
                return f"{mqtt.host}:{mqtt.port} did not answer as an MQTT 5 broker"
            reason = answer[3]
            sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
    except ssl.SSLError as exc:
        return f"TLS handshake with {mqtt.host}:{mqtt.port} failed: {exc.reason or exc}"
    except OSError as exc:
        return f"{mqtt.host}:{mqtt.port} unreachable: {exc.strerror or exc}"
    if reason != 0:
        why = CONNACK_REASONS.get(reason, f"reason code 0x{reason:02x}")
        return f"{mqtt.host}:{mqtt.port} refused the connection: {why}"
    return None


def check_database(settings: CloudSettings) -> Check:
    from alembic.config import Config  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    from cloud.store.db import MIGRATIONS  # noqa: PLC0415

    try:
        where = make_url(settings.db_url).render_as_string(hide_password=True)
    except SQLAlchemyError as exc:
        return Check("database", "FAIL", f"VG_DATABASE_URL cannot be parsed: {exc}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        engine = create_engine(settings.db_url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = MigrationContext.configure(conn).get_current_revision()
        finally:
            engine.dispose()
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return Check("database", "FAIL", f"{where}: {first}")
    if current != head:
        return Check(
            "database", "FAIL",
            f"{where}: schema at {current or 'nothing'}, code expects {head}; "
            "run `vitalgate-cloud migrate`",
        )  # fmt: skip
    return Check("database", "ok", f"{where}: schema current ({head})")


def check_broker(settings: CloudSettings) -> Check:
    mqtt = settings.mqtt
    problem = _mqtt_connect(settings)
    if problem:
        return Check("broker", "FAIL", f"{problem} (VG_MQTT__*)")
    how = "TLS" if mqtt.tls else "no TLS"
    return Check(
        "broker", "ok", f"{mqtt.host}:{mqtt.port} accepts this cloud's MQTT 5 login ({how})"
    )


def check_timeseries(settings: CloudSettings) -> Check:
    influx = settings.influx
    if not influx.enabled or influx.url is None:
        return Check("time-series store", "skip", "VG_INFLUX__URL not set")
    url = influx.url.rstrip("/") + "/health"
    try:
        answer = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return Check("time-series store", "FAIL", f"{influx.url}: {exc}")
    if answer.status_code != 200:
        return Check("time-series store", "FAIL", f"{url} answered {answer.status_code}")
    return Check("time-series store", "ok", f"{influx.url} healthy ({influx.flavour})")


def _target(label: str, url: str) -> Check:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not apprise.Apprise().add(url):
        return Check(label, "FAIL", f"not a valid apprise URL (scheme {scheme or '?'})")
    port = DEFAULT_PORTS.get(scheme)
    if port is None:
        return Check(label, "ok", f"{scheme}:// parses (its server is not checked)")
    parts = urlsplit(url.replace("{address}", "someone"))
    host = parts.hostname or ""
    try:
        port = parts.port or port
    except ValueError:
        return Check(label, "FAIL", f"{scheme}:// has a port that is not a number")
    problem = _reach(host, port, smtp=scheme.startswith("mailto"))
    if problem:
        return Check(label, "FAIL", problem)
    return Check(label, "ok", f"{scheme}://{host}:{port} reachable (nothing sent)")


def check_targets(settings: CloudSettings) -> Iterator[Check]:
    if not settings.alert_channels and not settings.contact_urls:
        yield Check("notification targets", "skip", "VG_ALERT_CHANNELS, VG_CONTACT_URLS not set")
        return
    for i, url in enumerate(settings.alert_channels):
        yield _target(f"alert channel #{i}", url)
    for kind, template in sorted(settings.contact_urls.items()):
        yield _target(f"contact transport {kind}", template)


def check_signing_key(settings: CloudSettings) -> Check:
    from gateway import signing  # noqa: PLC0415

    path = settings.downlink_signing_key
    if path is None:
        return Check(
            "downlink signing key", "skip",
            "not set: configs and commands go out unsigned (VG_PKI_DIR or "
            "VG_DOWNLINK_SIGNING_KEY)",
        )  # fmt: skip
    try:
        key = signing.load_private_key(path)
    except signing.SigningError as exc:
        return Check("downlink signing key", "FAIL", str(exc))
    return Check(
        "downlink signing key", "ok", f"{path} (key id {signing.key_id(key.public_key())})"
    )


CHECKS: Final[tuple[Callable[[CloudSettings], Check | Iterator[Check]], ...]] = (
    check_database,
    check_broker,
    check_timeseries,
    check_targets,
    check_signing_key,
)


def run_checks(settings: CloudSettings) -> list[Check]:
    found: list[Check] = []
    for check in CHECKS:
        result = check(settings)
        found.extend([result] if isinstance(result, Check) else result)
    return found
