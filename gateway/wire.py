"""The wire contract between gateways and the cloud (MQTT, JSON, version 1).

One module, imported by both sides and by third-party gateway authors (through the JSON
Schemas exported from it under ``docs/wire/``). It depends on pydantic only. docs/architecture.md
describes the topics and why acknowledgements are end to end.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

WIRE_VERSION: Final = 1
DEFAULT_TOPIC_ROOT: Final = "vg/v1"
MAX_BATCH_READINGS: Final = 1000
"""Upper bound on readings per message; keeps one MQTT message well under 1 MB."""
RULES_VERSION: Final = 1
"""The version of the rule-set form in ``GatewayConfig.rules`` that this module reads: a list
of ``gateway.signal.ruleset`` rule objects (``{"kind": …, "rule_id": …, …}``). New rule
kinds travel in it unchanged; a change to the form itself is a new version."""
MAX_CONFIG_RULES: Final = 4000
"""Upper bound on rules in one gateway config (a few dozen per patient)."""


class WireError(ValueError):
    """A message that does not follow the wire contract (bad JSON, unknown schema, bad field)."""


EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)
"""Time stamps outside ``[EARLIEST, LATEST)`` are refused: no device clock reads them, and the
bounds keep every later date arithmetic (windows, rollup periods) clear of the calendar's ends."""


def _utc(value: datetime) -> datetime:
    # ``0001-01-01T00:30:00+01:00`` lies before year 1 in UTC: astimezone raises OverflowError,
    # which pydantic does not turn into a validation error by itself.
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("time stamp is outside the calendar once converted to UTC") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"time stamp must lie between {EARLIEST.year} and {LATEST.year} (UTC): check the clock"
        )
    return utc


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _plain_text(value: str) -> str:
    # A NUL or a lone surrogate cannot be stored as text in PostgreSQL (nor as JSON there).
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (a lone surrogate?)") from exc
    return value


def _rule_object(value: dict[str, Any]) -> dict[str, Any]:
    """A rule in its JSON form: a ``kind`` and a ``rule_id``; the rest is the kind's business."""
    if not isinstance(value.get("kind"), str) or not isinstance(value.get("rule_id"), str):
        raise ValueError("a rule needs a 'kind' and a 'rule_id' (strings)")
    if not re.fullmatch(ID_PATTERN, value["rule_id"]):
        raise ValueError("a rule_id is letters, digits and ._:- (at most 128 characters)")
    return _json_object(value)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    """A free-form object the cloud stores as JSON: finite numbers, plain text, bounded depth."""

    def check(node: Any, depth: int) -> None:
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key, item in node.items():
                _plain_text(key)
                check(item, depth + 1)
        elif isinstance(node, list):
            for item in node:
                check(item, depth + 1)
        elif isinstance(node, str):
            _plain_text(node)
        elif isinstance(node, float):
            _finite(node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_JSON_INT:
            raise ValueError(f"integers must lie within ±{MAX_JSON_INT}")

    check(value, 0)
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A timezone-aware timestamp, normalised to UTC; serialised as ISO 8601 with ``Z``."""

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""Every id on the wire and in the API: letters, digits and ``._:-``, at most 128 characters."""
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
"""Ids travel in topics and URLs: letters, digits and ``._:-``, at most 128 characters."""

FiniteFloat = Annotated[float, AfterValidator(_finite)]
PlainText = Annotated[str, AfterValidator(_plain_text)]
"""Free text that the cloud stores in a text column."""
MAX_INT: Final = 2**31 - 1
"""The largest count or version on the wire: what a SQL ``INTEGER`` column holds."""
MAX_JSON_DEPTH: Final = 32
MAX_JSON_INT: Final = 2**53
"""Integers in free-form objects stay exact in every JSON reader (IEEE-754 doubles)."""
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
RuleObject = Annotated[dict[str, Any], AfterValidator(_rule_object)]
"""One rule of a gateway config in the ``gateway.signal.ruleset`` form (read by the gateway,
not by this module, so that new rule kinds need no change here)."""


class Metric(StrEnum):
    """The metric vocabulary of docs/architecture.md; values are converted to the canonical unit at the edge."""

    HEART_RATE = "heart_rate"
    PULSE_RATE = "pulse_rate"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    MEAN_ARTERIAL_PRESSURE = "mean_arterial_pressure"
    SPO2 = "spo2"
    BODY_TEMPERATURE = "body_temperature"
    BODY_WEIGHT = "body_weight"
    BMI = "bmi"
    BODY_HEIGHT = "body_height"
    BODY_FAT = "body_fat"
    BLOOD_GLUCOSE = "blood_glucose"
    RESPIRATORY_RATE = "respiratory_rate"
    BATTERY_LEVEL = "battery_level"


CANONICAL_UNITS: Final[dict[Metric, str]] = {
    Metric.HEART_RATE: "/min",
    Metric.PULSE_RATE: "/min",
    Metric.SYSTOLIC_BP: "mm[Hg]",
    Metric.DIASTOLIC_BP: "mm[Hg]",
    Metric.MEAN_ARTERIAL_PRESSURE: "mm[Hg]",
    Metric.SPO2: "%",
    Metric.BODY_TEMPERATURE: "Cel",
    Metric.BODY_WEIGHT: "kg",
    Metric.BMI: "kg/m2",
    Metric.BODY_HEIGHT: "cm",
    Metric.BODY_FAT: "%",
    Metric.BLOOD_GLUCOSE: "mg/dL",
    Metric.RESPIRATORY_RATE: "/min",
    Metric.BATTERY_LEVEL: "%",
}
"""UCUM unit of each metric on the wire (docs/architecture.md, metric table)."""


class Priority(StrEnum):
    """Alarm priority in IEC 60601-1-8 vocabulary."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Category(StrEnum):
    """Patient problems and device problems are kept apart (docs/architecture.md, alarm practice)."""

    CLINICAL = "clinical"
    MISSING_DATA = "missing_data"
    DEVICE = "device"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False
    )


class Quality(_Model):
    """How far a value can be trusted, and where it came from (kept for audit)."""

    usable: bool = True
    """False when a device flag (contact lost, body movement, cuff fit…) makes it unfit for alerts."""
    flags: tuple[PlainText, ...] = ()
    source: PlainText | None = None
    """The GATT characteristic it was decoded from, e.g. ``"2a37"``."""
    source_unit: PlainText | None = None
    """The unit the device reported before conversion to the canonical unit, e.g. ``"kPa"``."""


class Reading(_Model):
    """One value of one metric; ``id`` is stable so the cloud stores it exactly once."""

    id: Identifier
    patient_id: Identifier
    device_id: Identifier
    metric: Metric
    value: FiniteFloat
    unit: str
    ts: UtcDatetime
    measurement_id: Identifier | None = None
    """Shared by the readings of one multi-value measurement (a cuff's systolic/diastolic/MAP)."""
    quality: Quality = Quality()

    @model_validator(mode="after")
    def _canonical_unit(self) -> Reading:
        expected = CANONICAL_UNITS[self.metric]
        if self.unit != expected:
            raise ValueError(f"{self.metric.value} must be sent in {expected!r}, not {self.unit!r}")
        return self


class ReadingBatch(_Model):
    schema_: Literal["vg.readings/1"] = Field("vg.readings/1", alias="schema")
    gateway_id: Identifier
    batch_id: Identifier
    sent_at: UtcDatetime
    readings: tuple[Reading, ...] = Field(min_length=1, max_length=MAX_BATCH_READINGS)

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Hrv(_Model):
    """Time-domain heart-rate variability over a rollup window (see ``gateway.signal.hrv``)."""

    rmssd_ms: FiniteFloat
    sdnn_ms: FiniteFloat
    pnn50: FiniteFloat
    mean_hr: FiniteFloat
    n_intervals: int = Field(ge=2, le=MAX_INT)


class Rollup(_Model):
    """Aggregate of a continuous stream over ``[start, end)``."""

    id: Identifier
    patient_id: Identifier
    device_id: Identifier
    metric: Metric
    unit: str
    start: UtcDatetime
    end: UtcDatetime
    count: int = Field(ge=1, le=MAX_INT)
    min: FiniteFloat
    max: FiniteFloat
    mean: FiniteFloat
    median: FiniteFloat | None = None
    last: FiniteFloat
    rejected: int = Field(0, ge=0, le=MAX_INT)
    """Samples in the window refused by cleaning (kept on the gateway as evidence)."""
    hrv: Hrv | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Rollup:
        if self.unit != CANONICAL_UNITS[self.metric]:
            raise ValueError(
                f"{self.metric.value} must be sent in {CANONICAL_UNITS[self.metric]!r}"
            )
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if not self.min <= self.mean <= self.max:
            raise ValueError("mean must lie between min and max")
        return self


class RollupBatch(_Model):
    schema_: Literal["vg.rollups/1"] = Field("vg.rollups/1", alias="schema")
    gateway_id: Identifier
    batch_id: Identifier
    sent_at: UtcDatetime
    rollups: tuple[Rollup, ...] = Field(min_length=1, max_length=MAX_BATCH_READINGS)

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class EventKind(StrEnum):
    ALERT = "alert"
    ALL_CLEAR = "all_clear"
    DEVICE = "device"
    PAIRING = "pairing"


class Event(_Model):
    """An edge-detected alert or device event, with the evidence behind it."""

    id: Identifier
    kind: EventKind
    category: Category
    ts: UtcDatetime
    patient_id: Identifier | None = None
    device_id: Identifier | None = None
    rule: PlainText | None = Field(None, max_length=128)
    rule_version: int | None = Field(None, ge=1, le=MAX_INT)
    priority: Priority | None = None
    metric: Metric | None = None
    value: FiniteFloat | None = None
    code: PlainText | None = Field(None, max_length=64)
    """A machine-readable event code, e.g. ``low_battery``, ``clock_drift``."""
    evidence: JsonObject = Field(default_factory=dict)


class EventBatch(_Model):
    schema_: Literal["vg.events/1"] = Field("vg.events/1", alias="schema")
    gateway_id: Identifier
    batch_id: Identifier
    sent_at: UtcDatetime
    events: tuple[Event, ...] = Field(min_length=1, max_length=MAX_BATCH_READINGS)

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class DeviceStatus(_Model):
    device_id: Identifier
    kind: PlainText = Field(max_length=32)
    connected: bool = False
    battery: int | None = Field(None, ge=0, le=100)
    rssi: int | None = Field(None, ge=-127, le=20)
    last_seen: UtcDatetime | None = None


SIGNATURE_ALG: Final = "Ed25519"
KEY_ID_PATTERN: Final = r"^[0-9a-f]{16}$"
SIGNATURE_PATTERN: Final = r"^[A-Za-z0-9+/]{86}==$"
"""Standard base64 (RFC 4648 §4, padded) of a 64-byte Ed25519 signature."""


class Signature(_Model):
    """The cloud's Ed25519 signature on a downlink message (config, command, ack).

    Signed bytes (specified in ``gateway/signing.py``): ``vg.downlink/1``, a line feed, the
    id of the gateway the message is addressed to (its topic), a line feed, then the
    message without its ``signature`` member in the JSON Canonicalization Scheme (RFC 8785).
    ``key_id``: the first 8 bytes (hex) of the SHA-256 of the raw 32-byte public key;
    ``value``: the 64-byte signature in padded standard base64.
    """

    alg: Literal["Ed25519"]
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    """First 8 bytes (hex) of the SHA-256 of the raw 32-byte public key: says which key signed."""
    value: str = Field(pattern=SIGNATURE_PATTERN)


class DownlinkRefusals(_Model):
    """Downlink messages the gateway refused since it started, and why the last one was."""

    count: int = Field(ge=1)
    last_reason: str = Field(max_length=256)
    last_leaf: Literal["config", "commands", "acks"]
    last_at: UtcDatetime


class RuleSetStatus(_Model):
    """Which rule set the gateway's monitor runs, and why the last one offered was refused."""

    config_version: int | None = Field(None, ge=0, le=MAX_INT)
    """The config whose rules run (None: the rules of no config, e.g. after a first refusal)."""
    rules_version: int | None = Field(None, ge=1, le=MAX_INT)
    """The rule-set form they came in (None: a thresholds-only config)."""
    rules: int = Field(0, ge=0, le=MAX_INT)
    """How many rules run at the edge."""
    cloud_only: int = Field(0, ge=0, le=MAX_INT)
    """Rules of the set left to the cloud (docs/architecture.md, "Rules at the edge")."""
    refused_version: int | None = Field(None, ge=0, le=MAX_INT)
    """The config whose rules were refused last (the last good set kept running)."""
    refused_reason: PlainText | None = Field(None, max_length=256)


MAX_COUNT: Final = 2**53 - 1
"""The largest count a JSON number carries exactly."""


class OutboxCounters(_Model):
    """Cumulative outbox counters, rows since the outbox was created (``gateway.outbox``):
    what the gateway did with what it was handed, for fleet health."""

    accepted: int = Field(0, ge=0, le=MAX_COUNT)
    published: int = Field(0, ge=0, le=MAX_COUNT)
    acknowledged: int = Field(0, ge=0, le=MAX_COUNT)
    resent: int = Field(0, ge=0, le=MAX_COUNT)
    thinned: int = Field(0, ge=0, le=MAX_COUNT)
    dead_lettered: int = Field(0, ge=0, le=MAX_COUNT)


class GatewayState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Status(_Model):
    """Retained on ``…/status``; the last will publishes the same shape with ``offline``."""

    schema_: Literal["vg.status/1"] = Field("vg.status/1", alias="schema")
    gateway_id: Identifier
    state: GatewayState
    ts: UtcDatetime
    version: PlainText | None = Field(None, max_length=32)
    outbox_depth: int | None = Field(None, ge=0, le=MAX_INT)
    outbox_oldest_age_s: float | None = Field(None, ge=0)
    config_version: int | None = Field(None, ge=0, le=MAX_INT)
    devices: tuple[DeviceStatus, ...] = ()
    downlink_verified: bool | None = None
    """True when the gateway checks the cloud's signature on every config, command and ack."""
    downlink_refused: DownlinkRefusals | None = None
    rule_set: RuleSetStatus | None = None
    counters: OutboxCounters | None = None
    """Absent from gateways older than the counters, and from the last will."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class PatientAssignment(_Model):
    patient_id: Identifier
    user_index: int | None = Field(None, ge=0, le=255)
    """The user id a shared cuff or scale reports for this patient (household devices)."""


class Pairing(_Model):
    device_id: Identifier
    kind: str = Field(max_length=32)
    address: str | None = Field(None, max_length=64)
    patients: tuple[PatientAssignment, ...] = Field(min_length=1)


class ThresholdRule(_Model):
    """A threshold rule as data; ``gateway.signal`` evaluates it identically at edge and cloud."""

    rule_id: Identifier
    version: int = Field(1, ge=1)
    patient_id: Identifier
    metric: Metric
    priority: Priority = Priority.MEDIUM
    fire_low: FiniteFloat | None = None
    fire_high: FiniteFloat | None = None
    clear_low: FiniteFloat | None = None
    """Hysteresis: the condition ends only once values are back above this level."""
    clear_high: FiniteFloat | None = None
    persistence_count: int = Field(1, ge=1)
    """Consecutive usable samples beyond the fire level before the rule fires."""
    persistence_seconds: FiniteFloat = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _levels(self) -> ThresholdRule:
        if self.fire_low is None and self.fire_high is None:
            raise ValueError("a threshold rule needs fire_low or fire_high")
        if (
            self.fire_high is not None
            and self.clear_high is not None
            and self.clear_high > self.fire_high
        ):
            raise ValueError("clear_high must not exceed fire_high")
        if (
            self.fire_low is not None
            and self.clear_low is not None
            and self.clear_low < self.fire_low
        ):
            raise ValueError("clear_low must not be below fire_low")
        return self


class GatewayConfig(_Model):
    """Retained on ``…/config``; applied atomically by the gateway and acknowledged in status."""

    schema_: Literal["vg.config/1"] = Field("vg.config/1", alias="schema")
    gateway_id: Identifier
    version: int = Field(ge=0)
    issued_at: UtcDatetime
    patients: tuple[Identifier, ...] = ()
    first_names: dict[Identifier, PlainText] = Field(default_factory=dict)
    """Patient id → the first name the household knows them by ("Maria"), shown on the
    gateway's pairing page and CLI. Optional: an older cloud sends none."""
    pairings: tuple[Pairing, ...] = ()
    thresholds: tuple[ThresholdRule, ...] = ()
    """Plain thresholds: what a cloud without ``rules`` sends; ignored when ``rules_version``
    is set."""
    rules_version: int | None = Field(None, ge=1, le=MAX_INT)
    """The form of ``rules`` (``RULES_VERSION``); None: a thresholds-only config."""
    rules: tuple[RuleObject, ...] = Field((), max_length=MAX_CONFIG_RULES)
    """The active rule set of every patient on the gateway, each rule in the
    ``gateway.signal.ruleset`` JSON form, for the edge monitor (docs/architecture.md)."""
    schedules: dict[str, Any] = Field(default_factory=dict)
    signature: Signature | None = None

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _rules_versioned(self) -> GatewayConfig:
        if self.rules and self.rules_version is None:
            raise ValueError("rules need a rules_version")
        return self


class CommandName(StrEnum):
    START_PAIRING = "start_pairing"
    SYNC_CLOCKS = "sync_clocks"
    DOWNLOAD_RECORDS = "download_records"
    PING = "ping"


class Command(_Model):
    schema_: Literal["vg.commands/1"] = Field("vg.commands/1", alias="schema")
    command_id: Identifier
    name: CommandName
    issued_at: UtcDatetime
    expires_at: UtcDatetime | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    signature: Signature | None = None
    """Commands name no gateway: the signature binds one to the gateway of its topic."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    def expired(self, *, now: datetime) -> bool:
        """Whether the command is too late to run at ``now``: from ``expires_at`` on (the
        instant itself included, as for a token's ``exp``); never without one."""
        return self.expires_at is not None and now >= self.expires_at


class CommandResult(_Model):
    schema_: Literal["vg.command_results/1"] = Field("vg.command_results/1", alias="schema")
    gateway_id: Identifier
    command_id: Identifier
    ok: bool
    ts: UtcDatetime
    detail: PlainText | None = Field(None, max_length=512)
    result: JsonObject = Field(default_factory=dict)

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Ack(_Model):
    """End-to-end acknowledgement: these batches are committed to the cloud's store."""

    schema_: Literal["vg.acks/1"] = Field("vg.acks/1", alias="schema")
    batch_ids: tuple[Identifier, ...] = Field(min_length=1)
    dead_letters: tuple[Identifier, ...] | None = None
    """Those of ``batch_ids`` the cloud kept in its dead-letter table, not in its store. An
    ack naming them is followed by a plain one for the same ids: a gateway older than this
    field refuses the first and deletes on the second."""
    signature: Signature | None = None

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


WireMessage = (
    ReadingBatch | RollupBatch | EventBatch | Status | GatewayConfig | Command | CommandResult | Ack
)

SCHEMAS: Final[dict[str, type[BaseModel]]] = {
    "vg.readings/1": ReadingBatch,
    "vg.rollups/1": RollupBatch,
    "vg.events/1": EventBatch,
    "vg.status/1": Status,
    "vg.config/1": GatewayConfig,
    "vg.commands/1": Command,
    "vg.command_results/1": CommandResult,
    "vg.acks/1": Ack,
}
"""Schema name (with version) → model. Every message carries its schema name."""

TOPIC_SCHEMAS: Final[dict[str, str]] = {
    "readings": "vg.readings/1",
    "rollups": "vg.rollups/1",
    "events": "vg.events/1",
    "status": "vg.status/1",
    "config": "vg.config/1",
    "commands": "vg.commands/1",
    "command_results": "vg.command_results/1",
    "acks": "vg.acks/1",
}
"""The one schema each topic leaf carries."""

UPLINK_LEAVES: Final = ("readings", "rollups", "events", "status", "command_results")
DOWNLINK_LEAVES: Final = ("config", "acks", "commands")
RETAINED_LEAVES: Final = frozenset({"status", "config"})


class Topics:
    """Topic names for one gateway under a configurable root (``vg/v1/{gateway_id}/…``)."""

    def __init__(self, gateway_id: str, root: str = DEFAULT_TOPIC_ROOT) -> None:
        self.gateway_id = gateway_id
        self.root = root.rstrip("/")
        self.base = f"{self.root}/{gateway_id}"
        self.readings = self.leaf("readings")
        self.rollups = self.leaf("rollups")
        self.events = self.leaf("events")
        self.status = self.leaf("status")
        self.config = self.leaf("config")
        self.acks = self.leaf("acks")
        self.commands = self.leaf("commands")
        self.command_results = self.leaf("command_results")

    def leaf(self, leaf: str) -> str:
        if leaf not in TOPIC_SCHEMAS:
            raise WireError(f"unknown topic leaf {leaf!r}")
        return f"{self.base}/{leaf}"


def uplink_filter(leaf: str, root: str = DEFAULT_TOPIC_ROOT) -> str:
    """The subscription filter that matches one uplink leaf of every gateway."""
    return f"{root.rstrip('/')}/+/{leaf}"


def split_topic(topic: str, root: str = DEFAULT_TOPIC_ROOT) -> tuple[str, str]:
    """``vg/v1/gw-1/readings`` → ``("gw-1", "readings")``; raise WireError for anything else."""
    prefix = root.rstrip("/") + "/"
    if not topic.startswith(prefix):
        raise WireError(f"topic {topic!r} is not under {root!r}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 2 or parts[1] not in TOPIC_SCHEMAS or not parts[0]:
        raise WireError(f"topic {topic!r} is not a VitalGate topic")
    return parts[0], parts[1]


def encode(message: BaseModel) -> bytes:
    """Serialise a wire message to compact UTF-8 JSON (schema name included)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def decode(payload: bytes | bytearray | str, *, expect: str | None = None) -> WireMessage:
    """Parse and validate one message; ``expect`` pins the schema name a topic carries.

    Raises WireError with a reason fit for a dead-letter record.
    """
    try:
        raw = json.loads(payload)
    except ValueError as exc:  # bad UTF-8, bad JSON, an integer of more than 4,300 digits
        raise WireError(f"not JSON: {str(exc)[:200]}") from exc
    except RecursionError as exc:
        raise WireError("not JSON this service accepts: nested too deeply") from exc
    if not isinstance(raw, dict):
        raise WireError("not a JSON object")
    schema = raw.get("schema")
    if not isinstance(schema, str):
        raise WireError("missing 'schema'")
    model = SCHEMAS.get(schema)
    if model is None:
        raise WireError(f"unknown schema {schema[:64]!r}")
    if expect is not None and schema != expect:
        raise WireError(f"schema {schema!r} on a topic that carries {expect!r}")
    try:
        message: WireMessage = model.model_validate(raw)  # type: ignore[assignment]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WireError(
            f"invalid {schema}: {where}: {first['msg']} ({exc.error_count()} errors)"
        ) from exc
    return message


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) of every message, keyed by schema name."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{name.replace('/', '.v')}.schema.json"
        out[name] = schema
    return out
