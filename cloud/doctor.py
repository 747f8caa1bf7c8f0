"""``vitalgate-cloud doctor``: what this host's settings point at, checked one by one.

Each check returns a ``Check`` with a plain verdict: ``ok``, ``FAIL`` (with what to do) or
``skip`` (not configured). Nothing is sent: notification targets are parsed and their
servers reached, never written to; the broker is reached over TCP (and TLS when set).
"""

from __future__ import annotations

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


def _reach(host: str, port: int, *, tls_ca: str | None = None, tls: bool = False) -> str | None:
    """None when ``host:port`` accepts a connection (and a TLS handshake), else why not."""
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            if tls:
                context = ssl.create_default_context(cafile=tls_ca)
                with context.wrap_socket(sock, server_hostname=host):
                    pass
    except ssl.SSLError as exc:
        return f"TLS handshake with {host}:{port} failed: {exc.reason or exc}"
    except OSError as exc:
        return f"{host}:{port} unreachable: {exc.strerror or exc}"
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
    ca = str(mqtt.ca_file) if mqtt.ca_file else None
    problem = _reach(mqtt.host, mqtt.port, tls=mqtt.tls, tls_ca=ca)
    if problem:
        return Check("broker", "FAIL", f"{problem} (VG_MQTT__HOST, VG_MQTT__PORT)")
    how = "TLS" if mqtt.tls else "TCP, no TLS"
    return Check("broker", "ok", f"{mqtt.host}:{mqtt.port} reachable ({how})")


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
    problem = _reach(host, port)
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
