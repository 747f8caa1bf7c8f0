"""``vitalgate-cloud``: serve the API, run ingest workers, migrate, export the wire schema."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.errors import CloudError, NotFoundError
from cloud.settings import CloudSettings
from cloud.store.tenancy import Organisation, Patient, Role, User
from gateway import wire
from gateway.logs import configure_logging

app = typer.Typer(
    help="VitalGate cloud: ingest, store, alert and serve remote-monitoring data.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Accounts that log in to the API.", no_args_is_help=True)
patient_app = typer.Typer(help="Patients of an organisation.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(patient_app, name="patient")
err = Console(stderr=True)
T = TypeVar("T")


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
    services.engine.dispose()


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


def _in_transaction(work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction on a current schema; refusals exit with status 1."""
    from cloud.store.db import make_engine, session_factory  # noqa: PLC0415
    from cloud.store.db import migrate as run_migrations  # noqa: PLC0415

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with session_factory(engine).begin() as session:
            return work(session)
    except CloudError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@user_app.command("create")
def user_create(
    *,
    email: Annotated[str, typer.Option(help="The login name.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="At least 12 characters.")
    ],
    role: Annotated[Role, typer.Option(help="What the user may see and do.")],
    org: Annotated[
        str, typer.Option(help="Organisation id; created if it does not exist yet.")
    ] = "default",
    org_name: Annotated[str | None, typer.Option(help="Name of a new organisation.")] = None,
    patient_id: Annotated[
        str | None, typer.Option(help="For --role patient: whose data they see.")
    ] = None,
    exist_ok: Annotated[
        bool, typer.Option(help="Succeed without change if the e-mail already has an account.")
    ] = False,
) -> None:
    """Create an account (and its organisation, if new)."""
    from cloud.auth import service  # noqa: PLC0415

    def work(session: Session) -> str:
        now = datetime.now(UTC)
        email_key = service.normalise_email(email)
        if exist_ok and session.scalar(select(User.id).where(User.email == email_key)):
            return f"user <{email_key}> already exists; left unchanged"
        if session.get(Organisation, org) is None:
            service.create_organisation(session, organisation_id=org, name=org_name or org, now=now)
            typer.echo(f"created organisation {org}")
        user = service.create_user(
            session,
            organisation_id=org,
            email=email,
            password=password,
            role=role,
            patient_id=patient_id,
            now=now,
        )
        return f"created user {user.id} <{user.email}> as {user.role} in {org}"

    typer.echo(_in_transaction(work))


@patient_app.command("create")
def patient_create(
    *,
    patient_id: Annotated[str, typer.Option("--id", help="The id the gateway sends.")],
    org: Annotated[str, typer.Option(help="Organisation id (must exist).")],
    name: Annotated[str, typer.Option(help="Display name (synthetic data only!).")],
    program: Annotated[
        str | None, typer.Option(help="heart_failure, copd, hypertension, diabetes, general")
    ] = None,
    exist_ok: Annotated[
        bool, typer.Option(help="Succeed without change if the patient id already exists.")
    ] = False,
) -> None:
    """Register a patient so their readings are visible to their organisation."""
    from cloud.tenancy import service  # noqa: PLC0415

    def work(session: Session) -> str:
        existing = session.get(Patient, patient_id)
        if exist_ok and existing is not None and existing.organisation_id == org:
            return f"patient {patient_id} already exists; left unchanged"
        if session.get(Organisation, org) is None:
            raise NotFoundError(f"no organisation {org!r}; create it with `user create --org`")
        service.create_patient(
            session,
            organisation_id=org,
            patient_id=patient_id,
            display_name=name,
            program_id=program,
            now=datetime.now(UTC),
        )
        return f"created patient {patient_id} in {org}"

    typer.echo(_in_transaction(work))


def main() -> None:
    app()
