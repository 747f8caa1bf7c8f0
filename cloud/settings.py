"""Cloud settings from ``VG_`` env vars (nested with ``__``), refusing default secrets in production."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from limits import parse
from pydantic import AfterValidator, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.uplink.settings import MqttSettings

DEV_SECRET = "dev-only-change-me-this-signs-tokens-on-a-laptop"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32
"""HS256 keys shorter than the hash (RFC 7518 §3.2) are refused."""


def _rate_limit(value: str) -> str:
    """A ``limits`` rate such as ``20/minute`` or ``5/15 minutes``, checked at start-up."""
    parse(value)  # raises ValueError with the reason
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class InfluxSettings(BaseModel):
    """The time-series sink (``vitalgate-cloud sink``): off until ``url`` is set."""

    url: str | None = None
    """InfluxDB v2 write API base, e.g. ``http://influx:8086`` (or a VictoriaMetrics ``:8428``)."""
    token: SecretStr = SecretStr("")
    """API token of the time-series store (InfluxDB); empty for VictoriaMetrics."""
    org: str = "vitalgate"
    """InfluxDB organisation."""
    bucket: str = "vitalgate"
    """InfluxDB bucket the readings are written to."""
    flavour: Literal["influxdb", "victoriametrics"] = "influxdb"
    """Which delete API the server has: InfluxDB's ``/api/v2/delete`` (time range and
    predicate) or VictoriaMetrics' ``/api/v1/admin/tsdb/delete_series`` (whole series)."""
    batch_size: int = Field(1_000, ge=1, le=50_000)
    """Points per write; also the sink's chunk, so at most this many are in flight (the bound)."""
    retry_interval_ms: int = Field(5_000, ge=10)
    """First wait before a failed write is retried (milliseconds; it grows)."""
    max_retries: int = Field(5, ge=0)
    """Retries of one failed write before the sink tries again from its mark."""
    max_retry_time_ms: int = Field(180_000, ge=0)
    """influxdb-client's retry window; an outage longer than this is backfilled from the mark."""
    poll_s: float = Field(1.0, gt=0)
    """How often the sink looks for readings committed after its high-water mark."""
    timeout_ms: int = Field(10_000, ge=100)
    """Timeout of one HTTP request to the store (milliseconds)."""

    @property
    def enabled(self) -> bool:
        return bool(self.url)


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VG_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "production"] = "development"
    """``production`` refuses to start with the development secret key."""
    data_dir: Path = Path("data/cloud")
    """Where the cloud keeps its files (the default SQLite database among them)."""
    database_url: str | None = None
    """SQLAlchemy URL; default: a SQLite file in ``data_dir``."""
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    """Signs access tokens and acknowledge links: at least 32 bytes, e.g.
    ``python -c 'import secrets; print(secrets.token_urlsafe(48))'``. Required in production."""
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    pki_dir: Path | None = None
    """``VG_PKI_DIR``: the folder ``vitalgate-cloud pki init`` made. When set, the cloud's MQTT
    clients connect over TLS with its CA and the cloud's own certificate (unless
    ``VG_MQTT__CERT_FILE`` names another), provisioning issues certificates from it, and its
    ``downlink-signing.key`` signs every downlink message."""
    ingest_enabled: bool = True
    """Run an ingest worker inside the API process (the embedded default)."""
    ingest_group: str = Field("vitalgate-ingest", pattern=r"^[A-Za-z0-9_-]+$")
    """MQTT 5 shared-subscription group: workers in one group split the stream."""
    ingest_client_id: str | None = None
    """Name of this worker's MQTT session, to resume it after a restart (unique per worker);
    unset: the lowest free session slot ``<group>-<n>`` (a lease in the database), so two
    live processes never share a session and a restarted worker resumes its own."""
    ingest_batch_max: int = Field(500, ge=1, le=10_000)
    """Messages committed together at most in one ingest transaction."""
    ingest_flush_s: float = Field(0.05, gt=0)
    """How long ingest waits for more messages before it commits a batch (seconds)."""
    ingest_queue_max: int = Field(1_000, ge=10, le=65_535)
    """Unacknowledged messages a worker holds at most (its MQTT 5 Receive Maximum)."""
    ingest_session_expiry_s: int = Field(60, ge=0)
    """How long the broker keeps a stopped worker's session (and its share of the stream):
    what gateways publish while every worker restarts is queued for it meanwhile."""
    downlink_signing_key: Path | None = None
    """Ed25519 private key (PKCS #8 PEM) signing every config, command and ack the cloud
    sends; default ``<pki_dir>/downlink-signing.key``. Unset: downlink goes unsigned (tests,
    the plain demo), which gateways with a ``downlink_key`` refuse."""
    ingest_stall_s: float = Field(30.0, gt=0)
    """``/readyz`` says not ready once the ingest worker has messages waiting and has finished
    nothing for this long (``cloud.ingest.worker.STALL_AFTER_S``)."""
    downlink_enabled: bool | None = None
    """Publish gateway configs (retained ``…/config``) from this process; default: when ingest
    runs here."""
    alert_channels: list[str] = Field(default_factory=list)
    """Apprise URLs every alert is sent to, e.g. ``json://127.0.0.1:9000/alerts``."""
    public_url: str = "http://127.0.0.1:8000"
    """The address people reach the API and pages at; links in e-mails start with it."""
    contact_urls: dict[str, str] = Field(default_factory=dict)
    """How to reach a person on each kind of contact: an apprise URL template per kind, with
    ``{address}`` for the person's address, e.g. ``{"email":
    "mailtos://user:pass@smtp.example.org?from=alerts@clinic.example&to={address}"}``.
    Escalation steps reach people through these."""
    delivery_lease_s: float = Field(60.0, gt=0, le=3600)
    """How long a notifier owns a delivery it has claimed: a process killed while sending
    leaves it to another one after this (longer than any one send takes)."""
    purge_interval_s: float = Field(24 * 3600.0, ge=60)
    """How often ``vitalgate-cloud worker`` applies the organisations' retention."""
    escalation_interval_s: float = Field(5.0, gt=0, le=300)
    """How often the escalation scheduler looks for due steps."""
    patient_message_interval_s: float = Field(60.0, gt=0, le=3600)
    """How often the patient-message schedule looks for due messages (a new alert wakes it)."""
    ack_link_hours: int = Field(24, ge=1, le=24 * 14)
    """How long an e-mailed acknowledge link works."""
    inbound_secret: SecretStr | None = None
    """Shared secret of the inbound-reply webhook (``POST /api/v1/messages/inbound``): the
    provider signs ``<timestamp>.<body>`` with it (``X-VitalGate-Timestamp`` and
    ``X-VitalGate-Signature: sha256=<hex>``), or, weaker, sends it in ``X-VitalGate-Secret``
    (see ``cloud.engagement.webhook``). Unset: the webhook refuses every request."""
    alert_program: str = "general"
    """Program whose default rules judge a patient who has none (or is not registered)."""
    alert_rules_file: Path | None = None
    """A JSON list of gateway.signal rules used instead of the program's (as ``replay --rules``)."""
    access_token_minutes: int = Field(15, ge=1, le=60)
    """Access tokens are short-lived; clients renew them with the refresh token."""
    refresh_token_days: int = Field(7, ge=1, le=90)
    """How long a refresh token works; after it, the person logs in again."""
    login_per_client: RateLimit = "20/minute"
    """Failed logins one client address may make, on any accounts (``limits`` notation)."""
    login_per_client_account: RateLimit = "5/15 minutes"
    """Login attempts one address may make on one account; a success clears them."""
    login_per_account: RateLimit = "20/15 minutes"
    """Failed logins on one account from all addresses, after which addresses that have
    failed on it wait; an address without failures (the real user) is still let in."""
    login_throttle_storage: str = "memory://"
    """Where the login windows are kept (a ``limits`` storage URI). ``memory://`` is per
    process: with several API processes use a shared one, e.g. ``redis://host:6379``."""
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    """``VG_INFLUX__URL``, ``VG_INFLUX__TOKEN``… (see ``InfluxSettings``)."""
    max_body_bytes: int = Field(1_000_000, ge=1_024)
    """HTTP request bodies larger than this are refused with 413 before they are read."""
    metrics_port: int | None = Field(None, ge=1, le=65535)
    """Serve Prometheus metrics on this port from roles without HTTP (``ingest``,
    ``worker``, ``sink``); ``serve`` has them at ``/metrics`` on its own port."""

    @model_validator(mode="after")
    def _safe(self) -> CloudSettings:
        secret = self.secret_key.get_secret_value()
        if self.environment == "production" and secret == DEV_SECRET:
            raise ValueError(
                "VG_SECRET_KEY must be set to a real secret in production, e.g. the output "
                "of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"VG_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes long")
        if self.downlink_signing_key is None and self.pki_dir is not None:
            self.downlink_signing_key = self.pki_dir / "downlink-signing.key"
        if self.pki_dir is not None and self.mqtt.cert_file is None and not self.mqtt.username:
            self.mqtt = self.mqtt.model_copy(
                update={
                    "tls": True,
                    "ca_file": self.mqtt.ca_file or self.pki_dir / "ca.pem",
                    "cert_file": self.pki_dir / "cloud.pem",
                    "key_file": self.pki_dir / "cloud.key",
                }
            )
        return self

    @property
    def uses_dev_secret(self) -> bool:
        """The key that signs tokens and links is the published development one."""
        return self.secret_key.get_secret_value() == DEV_SECRET

    @property
    def publishes_configs(self) -> bool:
        return self.ingest_enabled if self.downlink_enabled is None else self.downlink_enabled

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vitalgate.sqlite3').resolve()}"


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only (names other than
    ``localhost`` count as reachable: they may resolve to anything)."""
    if host.strip("[]").lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposed_dev_secret(settings: CloudSettings, host: str) -> str | None:
    """A warning when a server on a non-loopback address signs with the development key
    (anyone can read it in the source and forge tokens); ``None`` when all is well."""
    if not settings.uses_dev_secret or is_loopback(host):
        return None
    return (
        f"listening on {host} with the development VG_SECRET_KEY, which is public: anyone "
        "who can reach this server can forge tokens and acknowledge links. Set VG_SECRET_KEY "
        "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) or listen on "
        "127.0.0.1"
    )
