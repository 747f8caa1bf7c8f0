"""``vitalgate-cloud``: serve the API, run ingest workers, migrate, export the wire schema."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from cloud.settings import CloudSettings
from gateway import wire
from gateway.logs import configure_logging

app = typer.Typer(
    help="VitalGate cloud: ingest, store, alert and serve remote-monitoring data.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


def _settings() -> CloudSettings:
    try:
        return CloudSettings()
    except ValidationError as exc:
        err.print(f"[red]Cannot load the cloud settings:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    log_level: str = "INFO",
) -> None:
    """Serve the HTTP API (with an ingest worker inside unless VG_INGEST_ENABLED=false)."""
    import uvicorn  # noqa: PLC0415 - keeps `--help` fast

    from cloud.api.app import create_app  # noqa: PLC0415

    configure_logging(level=log_level)
    settings = _settings()
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level.lower())


@app.command()
def ingest(log_level: str = "INFO") -> None:
    """Run one ingest worker alone (add more to split the load; set VG_INGEST_CLIENT_ID each)."""
    from cloud.api.app import build_services  # noqa: PLC0415

    configure_logging(level=log_level)
    services = build_services(_settings())
    assert services.ingest is not None, "VG_INGEST_ENABLED is false"
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    services.notifier.start()
    services.ingest.start()
    stop.wait()
    services.ingest.stop()
    services.notifier.stop()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic); safe to run repeatedly."""
    from cloud.store.db import migrate as run_migrations  # noqa: PLC0415

    settings = _settings()
    run_migrations(settings.db_url)
    typer.echo("database is at the latest schema")


@app.command()
def schema(
    out: Annotated[Path, typer.Option(help="Folder for the JSON Schema files.")] = Path(
        "docs/wire"
    ),
) -> None:
    """Export the wire contract as JSON Schema files, one per message."""
    out.mkdir(parents=True, exist_ok=True)
    for name, body in wire.json_schemas().items():
        path = out / f"{name.replace('/', '.v')}.schema.json"
        path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        typer.echo(str(path))


@app.command()
def replay(
    program: Annotated[
        str, typer.Option(help="heart_failure, copd, hypertension, diabetes or general.")
    ],
    readings: Annotated[
        Path, typer.Option(help="JSON lines, one wire reading each, any number of patients.")
    ],
    rules: Annotated[
        Path | None, typer.Option(help="JSON list of rules to try instead of the program's.")
    ] = None,
) -> None:
    """Alert burden: print one JSON line per alert the rules would have fired over READINGS."""
    from cloud.alerts.replay import burden, read_readings  # noqa: PLC0415
    from cloud.alerts.rulebook import RuleBookError, read_rules  # noqa: PLC0415
    from gateway.signal.series import SignalError  # noqa: PLC0415

    try:
        rule_dicts = read_rules(rules) if rules is not None else None
        with readings.open() as lines:
            findings = burden(read_readings(lines), program=program, rule_dicts=rule_dicts)
    except (OSError, RuleBookError, SignalError) as exc:
        err.print(f"[red]Cannot replay:[/red] {exc}")
        raise typer.Exit(2) from exc
    for finding in findings:
        typer.echo(json.dumps(finding.to_row()))


def main() -> None:
    app()
