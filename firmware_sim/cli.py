"""``vitalgate-sim``: simulated devices and patients, and the one-command demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="VitalGate simulator: simulated BLE health devices and patients.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its databases and logs.")
    ] = Path("data/demo"),
    port: Annotated[int, typer.Option(help="HTTP port of the cloud.")] = 8000,
    broker_port: Annotated[
        int | None, typer.Option(help="MQTT port (default 1883, or any free port).")
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.1, max=100, help="Simulated seconds per real second.")
    ] = 1.0,
) -> None:
    """Start the whole stack (broker, cloud, gateways with simulated patients) until Ctrl-C."""
    from firmware_sim.demo import run_demo  # noqa: PLC0415 - keeps `--help` fast

    raise typer.Exit(run_demo(data_dir, port=port, broker_port=broker_port, speed=speed))


@app.callback()
def _root() -> None:
    """Keeps ``demo`` a subcommand while more commands arrive."""


def main() -> None:
    app()
