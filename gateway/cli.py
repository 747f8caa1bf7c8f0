"""``vitalgate-gateway``: run the gateway, ask it how it is doing, pair devices, list them.

``pair`` and ``devices`` are defined with the BLE stage (``gateway.ble.device_cli``) and
registered here, so the one ``vitalgate-gateway`` command carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

from gateway.ble import device_cli
from gateway.logs import configure_logging
from gateway.operator import OperatorGroup, check_key_files, debug_option
from gateway.outbox import OutboxError
from gateway.settings import GatewaySettings, load_settings
from gateway.uplink.errors import UplinkError

app = typer.Typer(
    cls=OperatorGroup,
    help="VitalGate gateway: reads Bluetooth health devices and forwards their readings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(debug_option)
ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Gateway settings (TOML, required); VG_GW_* env vars override it."
    ),
]
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width
STALE_STATUS_S = 10.0
"""The running gateway rewrites status.json every second; older than this, it is not running."""


def _settings(config: Path) -> GatewaySettings:
    """Errors (no file, bad TOML, a refused value) reach ``OperatorGroup`` as one line."""
    return load_settings(config)


def _build_link(settings: GatewaySettings) -> tuple[Any, list[Any]]:
    if settings.link == "sim":
        from firmware_sim import world  # noqa: PLC0415 - only simulated gateways need it

        link, runs, _ = world.build(settings.sim)
        return link, runs
    from gateway.ble.bleak_link import BleakLink  # noqa: PLC0415 - only real radios need bleak

    return BleakLink(adapter=settings.ble_adapter), []


def _check_key_files(settings: GatewaySettings) -> None:
    """Every certificate and key the settings name is a readable file, before anything starts."""
    named = {
        "mqtt.ca_file": settings.mqtt.ca_file,
        "mqtt.cert_file": settings.mqtt.cert_file,
        "mqtt.key_file": settings.mqtt.key_file,
        "downlink_key": settings.downlink_key,
    }
    check_key_files(named, where="the gateway config")


@app.command()
def run(config: ConfigOption, log_level: str = "INFO") -> None:
    """Run the gateway until stopped (Ctrl-C or SIGTERM)."""
    configure_logging(level=log_level)
    settings = _settings(config)
    if settings.downlink_key is None and not settings.allow_unsigned_downlink:
        err.print(
            "[red]The gateway cannot run:[/red] no downlink_key is set, so it could not tell "
            "the cloud's configs and commands from forged ones. Set downlink_key to the "
            "downlink-signing.pub that `vitalgate-cloud gateway provision` wrote, or set "
            "allow_unsigned_downlink = true on a test bench."
        )
        raise typer.Exit(2)
    _check_key_files(settings)
    link, background = _build_link(settings)
    from gateway.app import Gateway  # noqa: PLC0415 - keeps `--help` fast

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await Gateway(settings, link).run(background=background)

    try:
        asyncio.run(main())
    except (OutboxError, UplinkError) as exc:
        err.print(f"[red]The gateway cannot run:[/red] {exc}")
        raise typer.Exit(3) from exc


@app.command()
def status(config: ConfigOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Outbox depth and age, broker connection and config version of the running gateway."""
    settings = _settings(config)
    path = settings.state_path
    if not path.is_file():
        err.print(f"No status yet at {path}: is the gateway running with this config?")
        raise typer.Exit(1)
    state = json.loads(path.read_text())
    if as_json:
        typer.echo(json.dumps(state, indent=2))
        return
    Console().print(_status_table(state))
    if time.time() - path.stat().st_mtime > STALE_STATUS_S:
        err.print(
            f"[yellow]This status is {time.time() - path.stat().st_mtime:.0f} s old:[/yellow] "
            "the gateway is not running, or cannot write to its data directory."
        )


COUNTER_LABELS: Final = {
    "accepted": "rows accepted (total)",
    "published": "rows published",
    "acknowledged": "rows acknowledged by the cloud",
    "resent": "rows re-sent (no ack in time)",
    "dead_lettered": "rows dead-lettered by the cloud",
}
"""The outbox's cumulative counters, as ``status`` names them (thinned is shown above)."""


def _status_table(state: dict[str, Any]) -> Table:
    table = Table(title=f"Gateway {state['gateway_id']}", show_header=False)
    table.add_row("broker", "connected" if state.get("broker_connected") else "NOT connected")
    table.add_row("outbox depth", str(state.get("outbox_depth", 0)))
    age = state.get("outbox_oldest_age_s")
    table.add_row("oldest waiting", "—" if age is None else f"{age:.0f} s")
    table.add_row("not yet PUBACKed", str(state.get("outbox_unpublished", "—")))
    used, budget = state.get("outbox_bytes"), state.get("outbox_budget_bytes")
    if used is not None and budget:
        table.add_row("outbox disk", f"{used / 1e6:.1f} of {budget / 1e6:.0f} MB")
    table.add_row("thinned (budget)", str(state.get("outbox_thinned", 0)))
    counters = state.get("counters") or {}
    for name, label in COUNTER_LABELS.items():
        table.add_row(label, str(counters.get(name, "—")))
    version = state.get("config_version")
    table.add_row("config version", "none yet" if version is None else str(version))
    verified = state.get("downlink_verified")
    table.add_row("cloud signature", "checked" if verified else "NOT checked")
    refused = state.get("downlink_refused")
    if refused:
        table.add_row("refused downlink", f"{refused['count']} (last: {refused['last_reason']})")
    table.add_row("as of", state["ts"])
    for dev in state.get("devices", []):
        table.add_row(
            f"device {dev['device_id']}", "connected" if dev["connected"] else "not connected"
        )
    return table


app.command()(device_cli.pair)
app.command()(device_cli.devices)
app.command()(device_cli.unpair)


def main() -> None:
    app()
