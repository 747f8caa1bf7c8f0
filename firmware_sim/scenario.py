"""Scenarios as data: TOML files in ``firmware_sim/scenarios/`` describe a patient's course
and the device faults along the way, so a new scenario needs no code.

Format (all times in hours from the start of the scenario; values in canonical units)::

    name = "copd_exacerbation"          # defaults to the file name
    description = "…"
    days = 14                           # suggested length of a run

    [baseline]                          # overrides of DEFAULT_BASELINE, by metric name
    spo2 = 94.0

    [[drift]]                           # a change in physiology
    metric = "spo2"
    delta = -4.5
    start_h = 96
    end_h = 240                         # optional: persists when left out
    ramp_h = 36                         # optional: time to build up (and ease off)

    [[fault]]                           # a device problem
    kind = "clock_offset"               # see FaultKind
    device = "bp_cuff"                  # optional: every device when left out (DeviceKind)
    start_h = 0                         # optional
    end_h = 48                          # optional
    value = -5.0                        # battery %, clock offset in hours
    detail = "cuff_too_loose"           # cuff_error: the status the cuff reports
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, TypeVar

from firmware_sim.errors import ScenarioError
from firmware_sim.physiology import DEFAULT_BASELINE, Drift, PatientModel
from gateway.ble.profiles import DeviceKind
from gateway.wire import Metric

E = TypeVar("E", bound=StrEnum)


class FaultKind(StrEnum):
    SENSOR_CONTACT_LOST = "sensor_contact_lost"
    """Strap off the skin, oximeter probe off the finger."""
    LOW_BATTERY = "low_battery"
    """Battery level drops to ``value`` percent."""
    CUFF_ERROR = "cuff_error"
    """The cuff reports ``detail`` (cuff_too_loose, body_movement…) in its status."""
    CLOCK_OFFSET = "clock_offset"
    """The device clock runs ``value`` hours off (until the gateway sets it)."""
    DUPLICATE_NOTIFICATIONS = "duplicate_notifications"
    """Every notification or indication is sent twice."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    device: DeviceKind | None = None
    start_h: float = 0.0
    end_h: float = math.inf
    value: float = 0.0
    detail: str = ""

    def active(self, kind: DeviceKind, hours: float) -> bool:
        return self.device in (None, kind) and self.start_h <= hours < self.end_h


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    days: float = 7.0
    baseline: dict[Metric, float] = field(default_factory=dict)
    drifts: tuple[Drift, ...] = ()
    faults: tuple[Fault, ...] = ()

    def patient(self, seed: int, start: datetime) -> PatientModel:
        """The seeded patient this scenario describes, starting at ``start``."""
        return PatientModel(seed, start, {**DEFAULT_BASELINE, **self.baseline}, self.drifts)

    def faults_at(self, kind: DeviceKind, hours: float) -> tuple[Fault, ...]:
        """Faults affecting a device of ``kind`` at ``hours`` into the scenario."""
        return tuple(f for f in self.faults if f.active(kind, hours))


STABLE: Final = Scenario("stable", "A well patient: baseline, circadian swing and noise.")


def _table(where: str, raw: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    missing = required - set(raw)
    if missing:
        raise ScenarioError(f"{where}: missing key(s) {sorted(missing)}")


def _enum(where: str, enum: type[E], value: object) -> E:
    try:
        return enum(str(value))
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise ScenarioError(f"{where}: {value!r} is not one of {choices}") from None


def _number(where: str, raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: {key} must be a number, not {value!r}")
    return float(value)


def _drift(where: str, raw: dict[str, Any]) -> Drift:
    _table(where, raw, {"metric", "delta", "start_h", "end_h", "ramp_h"}, {"metric", "delta"})
    return Drift(
        _enum(where, Metric, raw["metric"]),
        _number(where, raw, "delta", 0.0),
        _number(where, raw, "start_h", 0.0),
        _number(where, raw, "end_h", math.inf),
        _number(where, raw, "ramp_h", 0.0),
    )


def _fault(where: str, raw: dict[str, Any]) -> Fault:
    keys = {"kind", "device", "start_h", "end_h", "value", "detail"}
    _table(where, raw, keys, {"kind"})
    device = raw.get("device")
    return Fault(
        _enum(where, FaultKind, raw["kind"]),
        None if device is None else _enum(where, DeviceKind, device),
        _number(where, raw, "start_h", 0.0),
        _number(where, raw, "end_h", math.inf),
        _number(where, raw, "value", 0.0),
        str(raw.get("detail", "")),
    )


def parse(text: str, *, source: str = "<scenario>") -> Scenario:
    """A scenario from TOML text; ScenarioError names the source and the offending key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not TOML: {exc}") from exc
    keys = {"name", "description", "days", "baseline", "drift", "fault"}
    _table(source, raw, keys, set())
    baseline = {
        _enum(f"{source} [baseline]", Metric, k): _number(
            f"{source} [baseline]", raw["baseline"], k, 0
        )
        for k in raw.get("baseline", {})
    }
    return Scenario(
        name=str(raw.get("name", Path(source).stem)),
        description=str(raw.get("description", "")),
        days=_number(source, raw, "days", 7.0),
        baseline=baseline,
        drifts=tuple(
            _drift(f"{source} drift {i + 1}", d) for i, d in enumerate(raw.get("drift", []))
        ),
        faults=tuple(
            _fault(f"{source} fault {i + 1}", f) for i, f in enumerate(raw.get("fault", []))
        ),
    )


def load_file(path: str | Path) -> Scenario:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), source=str(path))


def _directory() -> Traversable:
    return resources.files("firmware_sim").joinpath("scenarios")


def available() -> list[str]:
    """Names of the scenarios shipped with firmware_sim."""
    files = _directory().iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def load(name: str) -> Scenario:
    """A shipped scenario by name (see ``available()``)."""
    if name not in available():
        raise ScenarioError(f"no scenario {name!r}; available: {', '.join(available())}")
    text = _directory().joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse(text, source=f"{name}.toml")
