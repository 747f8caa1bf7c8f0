"""``vitalgate-gateway pair``, ``devices`` and ``unpair``: a typer sub-app.

The running gateway owns the Bluetooth adapter, so ``pair`` does not scan itself: it writes
a pairing request into the gateway's data dir and follows the window the gateway reports
(``gateway.ble.pairing``). ``devices`` reads the device state the gateway keeps there;
``unpair`` hands the gateway a request and waits until it has forgotten the device. They
say what the local pairing page says: the household by first name, what to press, the
first reading with its value. The gateway config is required: without it (or with one
that cannot be read) they stop with one line and exit code 4, never guessing a data dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

from gateway.ble.bind_keys import BindKeyError, parse_bind_key
from gateway.ble.guide import BROADCAST_GUIDE, GUIDES
from gateway.ble.household import Person, find, first_names, names, people
from gateway.ble.pairing import REQUEST_FILE, STATUS_FILE, UNPAIR_FILE, PairingRequest
from gateway.ble.profiles import DeviceKind
from gateway.ble.state import StateStore
from gateway.operator import ExitCode, OperatorError
from gateway.wire import PatientAssignment

PICKUP_TIMEOUT_S: Final = 10.0
"""The gateway checks for requests every second; longer means it is not running."""
POLL_S: Final = 0.2

app = typer.Typer(help="Pair Bluetooth health devices and list them.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Gateway settings (TOML, required); VG_GW_* env vars override it."
    ),
]


@dataclass(frozen=True)
class Household:
    data_dir: Path
    people: tuple[Person, ...]


def household_of(config: Path) -> Household:
    """The data dir and the household's people from the gateway settings and the cloud's
    config in the data dir. A missing or unreadable file is an ``OperatorError`` (one line,
    exit code ``CONFIG_FILE``), never a guess."""
    from gateway import wire  # noqa: PLC0415 - keeps --help fast
    from gateway.settings import load_settings  # noqa: PLC0415

    settings = load_settings(config)
    cloud = None
    path = settings.config_path
    if path.exists():
        try:
            message = wire.decode(path.read_bytes(), expect="vg.config/1")
        except (OSError, wire.WireError) as exc:
            raise OperatorError(
                f"{path}: the config the cloud sent cannot be read ({str(exc)[:120]}); "
                "delete it and the gateway fetches it again",
                code=ExitCode.CONFIG_FILE,
                kind="config_file",
            ) from exc
        assert isinstance(message, wire.GatewayConfig)
        cloud = message
    return Household(settings.data_dir, people(settings.patients, cloud))


def parse_patient(text: str, household: Sequence[Person]) -> PatientAssignment:
    """``NAME`` or ``NAME:USER_NUMBER`` (the user number on a shared cuff or scale); a first
    name or a patient id of the household."""
    name, _, index = text.partition(":")
    person = find(household, name)
    if person is None:
        raise typer.BadParameter(
            f"{name!r} is not in this household. Who will use this device? {names(household)}",
            param_hint="--patient",
        )
    if index and not index.isdigit():
        raise typer.BadParameter(f"{text!r}: expected NAME or NAME:USER_NUMBER")
    return PatientAssignment(patient_id=person.patient_id, user_index=int(index) if index else None)


def _patients(given: list[str], household: Sequence[Person]) -> list[PatientAssignment]:
    if given:
        return [parse_patient(p, household) for p in given]
    if len(household) == 1:
        return [PatientAssignment(patient_id=household[0].patient_id)]
    raise typer.BadParameter(
        f"Who will use this device? {names(household)} (give -p NAME)", param_hint="--patient"
    )


@app.command()
def pair(
    kind: Annotated[DeviceKind, typer.Argument(help="What to pair: bp_cuff, scale, …")],
    config: ConfigOption,
    *,
    patient: Annotated[
        list[str] | None,
        typer.Option(
            "--patient",
            "-p",
            help="Who uses it: a first name (or patient id), or NAME:USER_NUMBER on a shared "
            "cuff or scale (repeat for each person). Not needed when one person lives here.",
        ),
    ] = None,
    passive: Annotated[
        bool, typer.Option(help="The device only broadcasts (a BTHome sensor, no button).")
    ] = False,
    bind_key: Annotated[
        str | None,
        typer.Option(help="Its bind key, 32 characters from the box or QR (implies --passive)."),
    ] = None,
    inserted_minutes_ago: Annotated[
        int | None,
        typer.Option(min=0, max=24 * 60, help="A CGM: how long ago the sensor was put on."),
    ] = None,
    minutes: Annotated[float, typer.Option(min=0.5, max=30, help="How long to look.")] = 5.0,
    device_id: Annotated[str | None, typer.Option(help="Name the device (else derived).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the first reading arrives.")] = True,
) -> None:
    """Open a pairing window on the running gateway, then use the device near it.

    Exit code 0 when the device's first reading arrived (or, with --no-wait, when the
    request was handed over), 1 when no device was found in time, 2 when the gateway is
    not running or the request is refused (unknown person, bad bind key), 4 when the
    config is missing or unreadable.
    """
    home = household_of(config)
    if bind_key is not None:
        try:
            parse_bind_key(bind_key)
        except BindKeyError as exc:
            raise typer.BadParameter(str(exc), param_hint="--bind-key") from None
    patients = _patients(patient or [], home.people)
    inserted = None
    if inserted_minutes_ago is not None and kind is DeviceKind.CGM:
        inserted = datetime.now(UTC) - timedelta(minutes=inserted_minutes_ago)
    request = PairingRequest(
        kind=kind,
        patients=patients,
        minutes=minutes,
        device_id=device_id,
        source="cli",
        request_id=uuid.uuid4().hex,
        passive=passive,
        bind_key=bind_key,
        sensor_inserted_at=inserted,
    )
    where = home.data_dir
    where.mkdir(parents=True, exist_ok=True)
    _write_private(where / REQUEST_FILE, request.model_dump_json())
    g = GUIDES[kind]
    who = first_names(home.people, [p.patient_id for p in patients])
    Console().print(f"[bold]{g.label} for {who}[/bold]\n{g.press}")
    if request.passive:
        Console().print(BROADCAST_GUIDE)
    if not wait:
        typer.echo(f"Pairing request handed to the gateway in {where}.")
        return
    raise typer.Exit(_follow(where, request, deadline_s=minutes * 60 + PICKUP_TIMEOUT_S))


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` atomically, readable by this user only (it may hold a bind key)."""
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def _status(where: Path, request_id: str | None) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = json.loads((where / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return status if status.get("request_id") == request_id else None


def _follow(where: Path, request: PairingRequest, *, deadline_s: float) -> int:
    console = Console()
    start = time.monotonic()
    shown = ""
    with console.status(f"Waiting for the gateway to start looking for the {request.kind.value}"):
        while time.monotonic() - start < deadline_s:
            status = _status(where, request.request_id)
            if status is None and time.monotonic() - start > PICKUP_TIMEOUT_S:
                err.print(
                    "[red]The gateway did not pick up the request.[/red] Is it running with "
                    f"data dir {where}? Start it with: vitalgate-gateway run --config GATEWAY.toml"
                )
                return 2
            if status is not None and status["message"] != shown:
                shown = status["message"]
                console.print(shown)
            state = status["state"] if status else None
            if state == "confirmed":
                return 0
            if state == "expired":
                return 1
            time.sleep(POLL_S)
    err.print(
        "No reading arrived in time. Take a measurement near the gateway and check "
        "`vitalgate-gateway devices`."
    )
    return 1


def _ago(value: str | None, now: datetime) -> str:
    if not value:
        return "—"
    seconds = (now - datetime.fromisoformat(value)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{max(seconds, 0):.0f} s ago"


@app.command()
def devices(
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Paired devices: who uses each, battery, last reading with its value, problems."""
    home = household_of(config)
    rows = StateStore(home.data_dir).snapshot()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        err.print(
            f"No paired devices yet. Who will use one? {names(home.people)}. "
            "Pair one with: vitalgate-gateway pair KIND -p NAME --config GATEWAY.toml"
        )
        raise typer.Exit(1)
    now = datetime.now(UTC)
    table = Table(title="Paired devices")
    for column in ("device", "kind", "used by", "battery", "last reading", "when", "problems"):
        table.add_column(column)
    for row in rows:
        who = ", ".join(
            first_names(home.people, [p["patient_id"]])
            + (f" (user {p['user_index']})" if p["user_index"] is not None else "")
            for p in row["patients"]
        )
        counters = ", ".join(f"{k} {v}" for k, v in sorted(row["counters"].items())) or "—"
        kind = DeviceKind(row["kind"]) if row["kind"] in set(DeviceKind) else None
        table.add_row(
            row["device_id"],
            GUIDES[kind].label if kind else row["kind"],
            who or "—",
            "—" if row["battery"] is None else f"{row['battery']} %",
            row.get("last_reading") or "none yet",
            _ago(row["last_reading_at"], now),
            counters,
        )
    Console().print(table)


@app.command()
def unpair(
    device: Annotated[str, typer.Argument(help="The device id `devices` shows.")],
    config: ConfigOption,
) -> None:
    """Unpair a device: the gateway stops reading it and forgets it (and its bind key).

    Exit code 0 when the gateway has forgotten it, 1 when no such device is paired, 2 when
    the gateway is not running.
    """
    home = household_of(config)
    store = StateStore(home.data_dir)
    if device not in store.devices:
        err.print(f"No device {device} is paired. See: vitalgate-gateway devices --config …")
        raise typer.Exit(1)
    _write_private(home.data_dir / UNPAIR_FILE, json.dumps({"device_ids": [device]}))
    start = time.monotonic()
    while time.monotonic() - start < PICKUP_TIMEOUT_S:
        if device not in StateStore(home.data_dir).devices:
            typer.echo(f"Unpaired {device}: the gateway no longer reads it.")
            return
        time.sleep(POLL_S)
    err.print(
        "[red]The gateway did not pick up the request.[/red] Is it running? "
        "Start it with: vitalgate-gateway run --config GATEWAY.toml"
    )
    raise typer.Exit(2)
