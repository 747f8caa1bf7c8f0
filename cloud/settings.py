"""Cloud settings from ``VG_`` env vars (nested with ``__``), refusing default secrets in production."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.uplink.settings import MqttSettings

DEV_SECRET = "dev-only-change-me-this-signs-tokens-on-a-laptop"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32
"""HS256 keys shorter than the hash (RFC 7518 §3.2) are refused."""


class InfluxSettings(BaseModel):
    """The time-series sink (``vitalgate-cloud sink``): off until ``url`` is set."""

    url: str | None = None
    """InfluxDB v2 write API base, e.g. ``http://influx:8086`` (or a VictoriaMetrics ``:8428``)."""
    token: SecretStr = SecretStr("")
    org: str = "vitalgate"
    bucket: str = "vitalgate"
    flavour: Literal["influxdb", "victoriametrics"] = "influxdb"
    """Which delete API the server has: InfluxDB's ``/api/v2/delete`` (time range and
    predicate) or VictoriaMetrics' ``/api/v1/admin/tsdb/delete_series`` (whole series)."""
    batch_size: int = Field(1_000, ge=1, le=50_000)
    """Points per write; also the sink's chunk, so at most this many are in flight (the bound)."""
    retry_interval_ms: int = Field(5_000, ge=10)
    max_retries: int = Field(5, ge=0)
    max_retry_time_ms: int = Field(180_000, ge=0)
    """influxdb-client's retry window; an outage longer than this is backfilled from the mark."""
    poll_s: float = Field(1.0, gt=0)
    """How often the sink looks for readings committed after its high-water mark."""
    timeout_ms: int = Field(10_000, ge=100)

    @property
    def enabled(self) -> bool:
        return bool(self.url)


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VG_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("data/cloud")
    database_url: str | None = None
    """SQLAlchemy URL; default: a SQLite file in ``data_dir``."""
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest_enabled: bool = True
    """Run an ingest worker inside the API process (the embedded default)."""
    ingest_group: str = Field("vitalgate-ingest", pattern=r"^[A-Za-z0-9_-]+$")
    """MQTT 5 shared-subscription group: workers in one group split the stream."""
    ingest_client_id: str = "vitalgate-ingest-1"
    ingest_batch_max: int = Field(500, ge=1, le=10_000)
    ingest_flush_s: float = Field(0.05, gt=0)
    ingest_queue_max: int = Field(1_000, ge=10, le=65_535)
    """Unacknowledged messages a worker holds at most (its MQTT 5 Receive Maximum)."""
    ingest_session_expiry_s: int = Field(60, ge=0)
    """How long the broker keeps a stopped worker's session (and its share of the stream)."""
    pki_dir: Path | None = None
    """The cloud's PKI (``vitalgate-cloud pki init --dir``): CA, certificates, and the key
    that signs downlink messages."""
    downlink_signing_key: Path | None = None
    """Ed25519 private key (PKCS #8 PEM) signing every config, command and ack the cloud
    sends; default ``<pki_dir>/downlink-signing.key``. Unset: downlink goes unsigned (tests,
    the plain demo), which gateways with a ``downlink_key`` refuse."""
    downlink_enabled: bool | None = None
    """Publish gateway configs (retained ``…/config``) from this process; default: when ingest
    runs here."""
    alert_channels: list[str] = Field(default_factory=list)
    """Apprise URLs every alert is sent to, e.g. ``json://127.0.0.1:9000/alerts``."""
    public_url: str = "http://127.0.0.1:8000"
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
    provider sends it in ``X-VitalGate-Secret`` or signs the body with it (HMAC-SHA256 in
    ``X-VitalGate-Signature: sha256=<hex>``). Unset: the webhook refuses every request."""
    alert_program: str = "general"
    """Program whose default rules judge a patient who has none (or is not registered)."""
    alert_rules_file: Path | None = None
    """A JSON list of gateway.signal rules used instead of the program's (as ``replay --rules``)."""
    access_token_minutes: int = Field(15, ge=1, le=60)
    """Access tokens are short-lived; clients renew them with the refresh token."""
    refresh_token_days: int = Field(7, ge=1, le=90)
    lockout_failures: int = Field(5, ge=1, le=100)
    """Consecutive failed logins that lock an account…"""
    lockout_minutes: int = Field(15, ge=1)
    """…for this long."""
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    """``VG_INFLUX__URL``, ``VG_INFLUX__TOKEN``… (see ``InfluxSettings``)."""
    max_body_bytes: int = Field(1_000_000, ge=1_024)
    """HTTP request bodies larger than this are refused with 413 before they are read."""

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
        return self

    @property
    def publishes_configs(self) -> bool:
        return self.ingest_enabled if self.downlink_enabled is None else self.downlink_enabled

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vitalgate.sqlite3').resolve()}"
