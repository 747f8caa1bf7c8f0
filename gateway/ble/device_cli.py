"""``vitalgate-gateway pair`` and ``vitalgate-gateway devices``: a typer sub-app.

The running gateway owns the Bluetooth adapter, so ``pair`` does not scan itself: it writes
a pairing request into the gateway's data dir and follows the window the gateway reports
(``gateway.ble.pairing``). ``devices`` reads the device state the gateway keeps there.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

from gateway.ble.pairing import REQUEST_FILE, STATUS_FILE, PairingRequest
from gateway.ble.profiles import DeviceKind
from gateway.ble.state import StateStore
from gateway.wire import PatientAssignment

PICKUP_TIMEOUT_S: Final = 10.0
"""The gateway checks for requests every second; longer means it is not running."""
POLL_S: Final = 0.2

app = typer.Typer(help="Pair Bluetooth health devices and list them.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Gateway settings (TOML); VG_GW_* env vars override it."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The gateway's data dir (default: from the settings)."),
]


def data_dir_of(config: Path | None, data_dir: Path | None) -> Path:
    """The data dir given, else the one in the gateway settings; never a guess: without
    either, or with a config that does not load, the command stops and says so."""
    if data_dir is not None:
        return data_dir
    if config is None:
        raise typer.BadParameter(
            "give the gateway's --config (or its --data-dir)", param_hint="--config"
        )
    from gateway.settings import load_settings  # noqa: PLC0415 - keeps --help fast

    return load_settings(config).data_dir


def parse_patient(text: str) -> PatientAssignment:
    """``PATIENT`` or ``PATIENT:USER_INDEX`` (the user number on a shared cuff or scale)."""
    patient, _, index = text.partition(":")
    try:
        return PatientAssignment(patient_id=patient, user_index=int(index) if index else None)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: expected PATIENT or PATIENT:USER_NUMBER") from exc


@app.command()
def pair(
    kind: Annotated[DeviceKind, typer.Argument(help="What to pair: bp_cuff, scale, …")],
    *,
    patient: Annotated[
        list[str],
        typer.Option(
            "--patient",
            "-p",
            help="Who uses it: PATIENT, or PATIENT:USER_NUMBER on a shared cuff or scale "
            "(repeat for each person).",
        ),
    ],
    minutes: Annotated[float, typer.Option(min=0.5, max=30, help="How long to look.")] = 5.0,
    device_id: Annotated[str | None, typer.Option(help="Name the device (else derived).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the first reading arrives.")] = True,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Open a pairing window on the running gateway, then switch the device on near it.

    Exit code 0 when the device's first reading arrived (or, with --no-wait, when the
    request was handed over), 1 when no device was found in time, 2 when the gateway is
    not running.
    """
    where = data_dir_of(config, data_dir)
    request = PairingRequest(
        kind=kind,
        patients=[parse_patient(p) for p in patient],
        minutes=minutes,
        device_id=device_id,
        source="cli",
        request_id=uuid.uuid4().hex,
    )
    where.mkdir(parents=True, exist_ok=True)
    tmp = where / (REQUEST_FILE + ".tmp")
    tmp.write_text(request.model_dump_json())
    tmp.replace(where / REQUEST_FILE)
    if not wait:
        typer.echo(f"Pairing request handed to the gateway in {where}.")
        return
    raise typer.Exit(_follow(where, request, deadline_s=minutes * 60 + PICKUP_TIMEOUT_S))


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


def _interval(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 3600:
        return f"every {seconds / 3600:.1f} h"
    return f"every {seconds / 60:.1f} min" if seconds >= 60 else f"every {seconds:.1f} s"


@app.command()
def devices(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Paired devices: kind, patients, battery, signal, last reading and learned interval."""
    where = data_dir_of(config, data_dir)
    rows = StateStore(where).snapshot()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        err.print(
            f"No paired devices in {where}. Pair one with: vitalgate-gateway pair KIND -p PATIENT"
        )
        raise typer.Exit(1)
    now = datetime.now(UTC)
    table = Table(title="Paired devices")
    for column in (
        "device",
        "kind",
        "patients",
        "battery",
        "RSSI",
        "last reading",
        "interval",
        "problems",
    ):
        table.add_column(column)
    for row in rows:
        patients = ", ".join(
            p["patient_id"] + (f" (user {p['user_index']})" if p["user_index"] is not None else "")
            for p in row["patients"]
        )
        counters = ", ".join(f"{k} {v}" for k, v in sorted(row["counters"].items())) or "—"
        table.add_row(
            row["device_id"],
            row["kind"],
            patients or "—",
            "—" if row["battery"] is None else f"{row['battery']} %",
            "—" if row["rssi"] is None else f"{row['rssi']} dBm",
            _ago(row["last_reading_at"], now),
            _interval(row["learned_interval_s"]),
            counters,
        )
    Console().print(table)
