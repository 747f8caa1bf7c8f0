"""Gateway settings: a TOML file (``--config gateway.toml``) overridden by ``VG_GW_`` env vars.

Nested fields use ``__`` in env names, e.g. ``VG_GW_MQTT__HOST=broker.example``. The prefix
is the gateway's own: the cloud reads ``VG_``, and a ``VG_DATA_DIR`` meant for a cloud
process on the same host must never move a gateway's outbox. A key
renamed since (``RENAMED``) is still read under its former name, with a deprecation line
in the log.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway.ble.profiles.registry import DeviceKind
from gateway.operator import ExitCode, OperatorError, validation_summary
from gateway.uplink.settings import MqttSettings
from gateway.wire import Identifier

log = structlog.get_logger(__name__)

RENAMED: Final = {"reconnect_max_s": "ble_reconnect_max_s"}
"""Former top-level key → its name now (the BLE one stood beside ``mqtt.reconnect_max_s``)."""
ENV_PREFIX: Final = "VG_GW_"
"""The gateway's own env prefix (the cloud's is ``VG_``, which the gateway never reads)."""


class DeviceConfig(BaseModel):
    """A device paired to a patient on this gateway (until the cloud's config says otherwise)."""

    device_id: Identifier
    address: str = Field(max_length=64)
    kind: str = Field("hr_strap", max_length=32)
    patient_id: Identifier

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        """Refused when the config loads, not when the device's session would start."""
        known = [k.value for k in DeviceKind]
        if kind not in known:
            raise ValueError(f"unknown device kind {kind!r}; one of {', '.join(known)}")
        return kind


class SimEpisode(BaseModel):
    metric: str = "heart_rate"
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    delta: float
    ramp_s: float = Field(0.0, ge=0)


class SimDevice(BaseModel):
    """A firmware_sim device to place in the simulated radio (``link = "sim"``)."""

    address: str = Field(max_length=64)
    kind: Literal["hr_strap"] = "hr_strap"
    seed: int = 0
    baseline_bpm: float = Field(68.0, gt=20, lt=250)
    interval_s: float = Field(1.0, gt=0)
    """Simulated seconds between two samples."""
    real_interval_s: float | None = Field(None, gt=0)
    """Wall-clock seconds between two notifications (default: ``interval_s``)."""
    episodes: list[SimEpisode] = Field(default_factory=list)


class SimSettings(BaseModel):
    devices: list[SimDevice] = Field(default_factory=list)


class PatientConfig(BaseModel):
    """A person of the household this gateway serves, as the pairing page names them."""

    model_config = ConfigDict(extra="forbid")

    patient_id: Identifier
    first_name: str = Field(min_length=1, max_length=40)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )
    _toml_file: ClassVar[Path | None] = None

    gateway_id: Identifier
    data_dir: Path = Path("data/gateway")
    link: Literal["bleak", "sim"] = "bleak"
    ble_adapter: str | None = None
    """The Bluetooth adapter to use (``hci0``) when the gateway has several; default: BlueZ's."""
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    devices: list[DeviceConfig] = Field(default_factory=list)
    patients: list[PatientConfig] = Field(default_factory=list)
    """The household (``[[patients]]`` with ``patient_id`` and ``first_name``), until the
    cloud's config names them; the pairing page asks "Who will use this device?" from it."""
    sim: SimSettings = Field(default_factory=SimSettings)
    batch_size: int = Field(200, ge=1, le=1000)
    """Readings per MQTT message (at most the wire's MAX_BATCH_READINGS)."""
    window: int = Field(8, ge=1, le=100)
    """Batches published and waiting for the cloud's acknowledgement at any one time."""
    flush_interval_s: float = Field(0.2, gt=0)
    """Seconds between two looks at the outbox when nothing wakes the uplink earlier."""
    ack_timeout_s: float = Field(30.0, gt=0)
    """Seconds to wait for the cloud's acknowledgement of a batch before publishing it again."""
    status_interval_s: float = Field(30.0, gt=0)
    ble_reconnect_max_s: float = Field(30.0, gt=0)
    """Longest wait (s) between two attempts to reconnect a device (the broker's is
    ``mqtt.reconnect_max_s``). Formerly ``reconnect_max_s``, still read with a warning."""
    outbox_budget_mb: float = Field(256.0, gt=0)
    """Disk budget of the outbox; when reached it thins rollups, then readings, never events."""
    publish_rollups: bool = False
    """Send per-minute rollups of streams on ``…/rollups`` (the cloud stores and acknowledges
    them). Off by default: the cloud keeps its own rollups of the raw readings, so these only
    matter for a gateway that uplinks rollups instead of every sample."""
    downlink_key: Path | None = None
    """The cloud's downlink verification key (``downlink-signing.pub``, PEM, as ``vitalgate-cloud
    gateway provision`` writes it next to the gateway's certificate): every config, command
    and ack must carry the cloud's signature, and configs must be newer than the one running;
    anything else is refused and counted in the status."""
    allow_unsigned_downlink: bool = False
    """Run without ``downlink_key``, applying downlink messages unchecked (tests, a demo on
    one machine). ``vitalgate-gateway run`` refuses to start without one or the other."""
    web_port: int | None = Field(None, ge=0, le=65535)
    """Serve the local pairing page (``gateway.ble.web``) on this port; off when unset."""
    web_host: str = "127.0.0.1"
    """Where the pairing page listens: loopback by default; the home network's address (or
    ``0.0.0.0``) lets a phone on the same Wi-Fi open it. It has no login: never expose it
    beyond the home network."""

    @model_validator(mode="before")
    @classmethod
    def _former_names(cls, data: Any) -> Any:
        """A renamed key given under its former name (file, argument or ``VG_GW_`` variable)
        counts for the new one unless that is set too; the log says what to rename."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in RENAMED.items():
            env_old = f"{ENV_PREFIX}{old}".upper()
            value = data.pop(old, None)
            if value is None and new not in data:
                value = os.environ.get(env_old)
            if value is None:
                continue
            log.warning(
                "settings.deprecated_key",
                key=old,
                env=env_old,
                advice=f"rename it to {new} ({ENV_PREFIX}{new.upper()})",
            )
            data.setdefault(new, value)
        return data

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "status.json"

    @property
    def config_path(self) -> Path:
        """The last config accepted from the cloud (used on a restart without network)."""
        return self.data_dir / "config.json"

    @property
    def outbox_budget_bytes(self) -> int:
        return int(self.outbox_budget_mb * 1024 * 1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)


def load_settings(config: Path | None = None, **overrides: Any) -> GatewaySettings:
    """Settings from ``config`` (TOML) with ``VG_GW_`` env vars on top, then ``overrides``."""
    if config is not None and not config.is_file():
        raise OperatorError(
            f"no gateway config at {config}", code=ExitCode.CONFIG_FILE, kind="config_file"
        )
    _warn_foreign_env()

    class _FromFile(GatewaySettings):
        _toml_file = config

    try:
        return GatewaySettings.model_validate(_FromFile(**overrides).model_dump())
    except tomllib.TOMLDecodeError as exc:
        raise OperatorError(
            f"{config} is not valid TOML: {exc}", code=ExitCode.CONFIG_FILE, kind="config_file"
        ) from exc
    except ValidationError as exc:
        where = f"{config}" if config is not None else f"{ENV_PREFIX}* variables"
        raise OperatorError(
            f"invalid gateway settings in {where}: {validation_summary(exc)}",
            code=ExitCode.USAGE,
            kind="invalid_settings",
        ) from exc


def _warn_foreign_env() -> None:
    """Name the ``VG_`` variables (the cloud's prefix) that look meant for this gateway: they
    are ignored, and an operator upgrading from the shared prefix should know why."""
    fields = {name.upper() for name in GatewaySettings.model_fields} | {
        old.upper() for old in RENAMED
    }
    for env in sorted(os.environ):
        if not env.startswith("VG_") or env.startswith(ENV_PREFIX):
            continue
        if env.removeprefix("VG_").split("__", 1)[0] in fields:
            log.warning(
                "settings.foreign_env_ignored",
                env=env,
                advice=f"the gateway reads {ENV_PREFIX}…: rename it to {ENV_PREFIX}{env[3:]}",
            )
