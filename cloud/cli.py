"""``vitalgate-cloud``: serve the API, run ingest workers, migrate, export the wire schema."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import structlog
import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.cli_errors import CloudGroup
from cloud.cli_session import in_transaction as _in_transaction
from cloud.cli_session import load_settings as _settings
from cloud.errors import NotFoundError
from cloud.pki.cli import broker_app, gateway_app, pki_app
from cloud.settings import CloudSettings, exposed_dev_secret
from cloud.store.tenancy import Organisation, Patient, Role, User
from gateway import wire
from gateway.logs import configure_logging
from gateway.operator import (
    ExitCode,
    check_key_files,
    debug_option,
)

if TYPE_CHECKING:
    from cloud.store.influx import TimeSeriesStore

app = typer.Typer(
    cls=CloudGroup,
    help="VitalGate cloud: ingest, store, alert and serve remote-monitoring data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(debug_option)
user_app = typer.Typer(help="Accounts that log in to the API.", no_args_is_help=True)
patient_app = typer.Typer(help="Patients of an organisation.", no_args_is_help=True)
app.add_typer(user_app, name="user")
org_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
app.add_typer(patient_app, name="patient")
app.add_typer(org_app, name="org")
app.add_typer(pki_app, name="pki")
app.add_typer(gateway_app, name="gateway")
app.add_typer(broker_app, name="broker")
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width
T = TypeVar("T")


def _preflight(settings: CloudSettings) -> None:
    """What a role needs before it starts, checked in the foreground so a mistake is one
    line and an exit code: the key files it names are readable, the database answers and
    its schema is current (migrated here, before anything connects or binds)."""
    from cloud.store.db import migrate as run_migrations  # noqa: PLC0415

    check_key_files(
        {
            "VG_MQTT__CA_FILE": settings.mqtt.ca_file,
            "VG_MQTT__CERT_FILE": settings.mqtt.cert_file,
            "VG_MQTT__KEY_FILE": settings.mqtt.key_file,
            "VG_DOWNLINK_SIGNING_KEY": settings.downlink_signing_key,
        },
        where="the cloud settings",
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations(settings.db_url)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    log_level: str = "INFO",
    http_only: Annotated[
        bool,
        typer.Option(
            "--http-only",
            help="Serve HTTP only, beside `worker` and `ingest` processes (default: the "
            "schedulers and, unless VG_INGEST_ENABLED=false, an ingest worker run here too).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API; any number may run at once (the database shares the work)."""
    from cloud.roles import serve_http  # noqa: PLC0415 - keeps `--help` fast

    settings = _settings()
    _preflight(settings)  # before logging is set up: a mistake here is one line, nothing else
    configure_logging(level=log_level)
    warning = exposed_dev_secret(settings, host)
    if warning is not None:
        structlog.get_logger("cloud.cli").warning("settings.public_dev_secret", advice=warning)
    serve_http(settings, host=host, port=port, log_level=log_level, background=not http_only)


@app.command()
def ingest(log_level: str = "INFO") -> None:
    """Run one ingest worker (add more to split the load: the MQTT 5 shared subscription).

    Each takes a session slot of its own, or set VG_INGEST_CLIENT_ID. Alerts it opens are sent by a `worker`; VG_INGEST_ENABLED
    concerns the ingest inside `serve` only."""
    from cloud.roles import run_parts  # noqa: PLC0415

    settings = _settings()
    _preflight(settings)  # before logging is set up: a mistake here is one line, nothing else
    configure_logging(level=log_level)
    # The role says what runs: VG_INGEST_ENABLED is about the worker inside `serve` only.
    role = {"ingest_enabled": True, "downlink_enabled": False}
    run_parts(settings.model_copy(update=role), ("ingest",))


@app.command()
def worker(log_level: str = "INFO") -> None:
    """Run every scheduler: notifications and retries, escalation, patient messages, the
    missing-data watch, config publishing and the retention purge.

    Any number may run at once: each delivery is claimed in the database and each round
    that must run alone holds a lease, so every message goes out once."""
    from cloud.api.app import SCHEDULERS  # noqa: PLC0415
    from cloud.roles import run_parts  # noqa: PLC0415

    settings = _settings()
    _preflight(settings)  # before logging is set up: a mistake here is one line, nothing else
    configure_logging(level=log_level)
    run_parts(
        settings.model_copy(update={"ingest_enabled": False, "downlink_enabled": True}), SCHEDULERS
    )


@app.command("run")
def run_all(
    host: Annotated[str, typer.Option(help="Interface the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port of the API.")] = 8000,
    ingest_workers: Annotated[int, typer.Option(min=1, max=32, help="Ingest processes.")] = 1,
    log_level: str = "INFO",
) -> None:
    """Every role in one process tree (one host, the demo): serve --http-only, ingest,
    worker and, with VG_INFLUX__URL, sink. SIGTERM stops them all; if one exits, all do."""
    from cloud.roles import run_tree  # noqa: PLC0415

    settings = _settings()
    _preflight(settings)  # before logging is set up: a mistake here is one line, nothing else
    configure_logging(level=log_level)
    code = run_tree(
        settings, host=host, port=port, ingest_workers=ingest_workers, log_level=log_level
    )
    raise typer.Exit(code)


@app.command()
def sink(
    log_level: str = "INFO",
    once: Annotated[
        bool,
        typer.Option(help="Write everything after the mark, then exit (for cron or a backfill)."),
    ] = False,
) -> None:
    """Copy readings from the record to the time-series store (VG_INFLUX__URL).

    It is not started by `serve` or `ingest`: the record is written by any number of ingest
    workers, and one sink follows it with its high-water mark. More may run: one holds the
    `sink` lease and writes, the others stand by and take over when it stops or dies.
    """
    from cloud.metrics import serve_metrics  # noqa: PLC0415
    from cloud.store.db import make_engine, migrate, session_factory  # noqa: PLC0415
    from cloud.store.influx import TimeSeriesError, TimeSeriesStore  # noqa: PLC0415
    from cloud.store.sink import Sink  # noqa: PLC0415

    configure_logging(level=log_level)
    settings = _settings()
    if not settings.influx.enabled:
        err.print(
            "[red]No time-series store configured:[/red] set VG_INFLUX__URL (and TOKEN, ORG, BUCKET)."
        )
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    store = TimeSeriesStore(settings.influx)
    worker = Sink(session_factory(engine), store)
    if not once:
        serve_metrics(settings.metrics_port)
    try:
        if once:
            try:
                typer.echo(f"wrote {worker.drain()} points to {store.url}")
            except TimeSeriesError as exc:
                err.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from exc
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        worker.start()
        stop.wait()
        worker.stop()
    finally:
        store.close()
        engine.dispose()


@app.command()
def doctor() -> None:
    """Check what the settings point at: database (schema current), broker, time-series
    store, notification targets (nothing is sent) and the signing key. Exit 1 if any fails."""
    from cloud.doctor import run_checks  # noqa: PLC0415

    checks = run_checks(_settings())
    width = max(len(c.name) for c in checks)
    for check in checks:
        typer.echo(f"{check.verdict:<4}  {check.name:<{width}}  {check.detail}")
    failed = [c.name for c in checks if c.verdict == "FAIL"]
    if failed:
        typer.echo(f"{len(failed)} problem(s): {', '.join(failed)}", err=True)
        raise typer.Exit(int(ExitCode.FAILED))


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
    """Alert burden: print one JSON line per alert the rules would have fired over READINGS.

    Fires still waiting for a re-measurement, or cancelled by a normal one, are printed with
    "status": "pending" or "cancelled".
    """
    from cloud.alerts.replay import decisions, read_readings  # noqa: PLC0415
    from cloud.alerts.rulebook import RuleBookError, read_rules  # noqa: PLC0415
    from gateway.signal.series import SignalError  # noqa: PLC0415

    try:
        rule_dicts = read_rules(rules) if rules is not None else None
        with readings.open() as lines:
            found = decisions(read_readings(lines), program=program, rule_dicts=rule_dicts)
    except (OSError, RuleBookError, SignalError) as exc:
        err.print(f"[red]Cannot replay:[/red] {exc}")
        raise typer.Exit(2) from exc
    for decision in found:
        typer.echo(json.dumps(decision.to_row()))


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


@user_app.command("list")
def user_list(
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Accounts: id, e-mail, role, organisation, and whether they are locked or inactive."""
    now = datetime.now(UTC)

    def work(session: Session) -> list[dict[str, object]]:
        query = select(User).order_by(User.organisation_id, User.email)
        if org is not None:
            query = query.where(User.organisation_id == org)
        return [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "organisation": u.organisation_id,
                "active": u.is_active,
                "locked_until": _locked_until(u.locked_until, now),
            }
            for u in session.scalars(query)
        ]

    rows = _in_transaction(work)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, sort_keys=True))
        return
    for row in rows:
        state = "active" if row["active"] else "inactive"
        if row["locked_until"]:
            state += f", locked until {row['locked_until']}"
        typer.echo(f"{row['id']:>5}  {row['email']}  {row['role']}  {row['organisation']}  {state}")


def _locked_until(value: datetime | None, now: datetime) -> str | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.isoformat() if value > now else None


@user_app.command("unlock")
def user_unlock(email: Annotated[str, typer.Option(help="The login name.")]) -> None:
    """Lift the lock that failed logins put on an account."""
    from cloud.auth import service  # noqa: PLC0415

    def work(session: Session) -> str:
        user = service.unlock_user(session, email=email)
        return f"unlocked user {user.id} <{user.email}>"

    typer.echo(_in_transaction(work))


@user_app.command("reset-password")
def user_reset_password(
    *,
    email: Annotated[str, typer.Option(help="The login name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 12 characters."
        ),
    ],
) -> None:
    """Set a new password; the lock is lifted and the user's sessions can no longer renew."""
    from cloud.auth import service  # noqa: PLC0415

    def work(session: Session) -> str:
        user = service.reset_password(
            session, email=email, password=password, now=datetime.now(UTC)
        )
        return f"new password set for user {user.id} <{user.email}>"

    typer.echo(_in_transaction(work))


@patient_app.command("erase")
def patient_erase(
    *,
    patient_id: Annotated[str, typer.Option("--id", help="The patient to erase.")],
    org: Annotated[str, typer.Option(help="Their organisation (a check against typos).")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase a patient and all their data from every store (the erasure itself is audited)."""
    from cloud.store import retention  # noqa: PLC0415

    if not yes:
        err.print("[red]Refusing without --yes:[/red] erasing a patient cannot be undone.")
        raise typer.Exit(2)

    def work(session: Session) -> dict[str, int]:
        return retention.erase_patient(
            session,
            organisation_id=org,
            patient_id=patient_id,
            actor_user_id=None,
            actor_role="operator",
            client="cli",
            now=datetime.now(UTC),
        )

    removed = _in_transaction(work)
    typer.echo(json.dumps({"patient_id": patient_id, "removed": removed}, sort_keys=True))
    _finish_timeseries(_finish_deletions)


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


@org_app.command("retention")
def org_retention(
    *,
    org: Annotated[str, typer.Option(help="Organisation id.")],
    days: Annotated[
        int | None, typer.Option(min=1, help="Days of data to keep; omit to keep everything.")
    ] = None,
) -> None:
    """Set how long an organisation's data is kept (applied by `vitalgate-cloud purge`)."""

    def work(session: Session) -> str:
        found = session.get(Organisation, org)
        if found is None:
            raise NotFoundError(f"no organisation {org!r}")
        found.retention_days = days
        return f"{org} keeps " + (f"{days} days" if days else "everything")

    typer.echo(_in_transaction(work))


@app.command()
def purge(
    org: Annotated[
        str | None,
        typer.Option(help="Only this organisation (default: every one with a retention)."),
    ] = None,
) -> None:
    """Delete data older than each organisation's retention, in the record and the time series.

    Prints one JSON line per organisation with the rows removed by table. Run it daily.
    The audit log is never purged: it is the legal record of access.
    """
    from cloud.store import retention  # noqa: PLC0415

    now = datetime.now(UTC)
    done: list[tuple[str, datetime]] = []

    def work(session: Session) -> list[dict[str, object]]:
        lines: list[dict[str, object]] = []
        for org_id, days in retention.organisations_with_retention(session):
            if org is not None and org_id != org:
                continue
            cutoff = retention.cutoff_for(days, now=now)
            removed = retention.purge_organisation(session, organisation_id=org_id, cutoff=cutoff)
            lines.append({"organisation": org_id, "before": cutoff.isoformat(), "removed": removed})
            done.append((org_id, cutoff))
        return lines

    for line in _in_transaction(work):
        typer.echo(json.dumps(line, sort_keys=True))

    def timeseries(sessions: sessionmaker[Session], store: TimeSeriesStore) -> None:
        _finish_deletions(sessions, store)
        for org_id, cutoff in done:
            series = retention.purge_timeseries(
                sessions, store, organisation_id=org_id, cutoff=cutoff
            )
            typer.echo(json.dumps({"organisation": org_id, "timeseries_series": series}))

    _finish_timeseries(timeseries)


def _finish_deletions(sessions: sessionmaker[Session], store: TimeSeriesStore) -> None:
    from cloud.store.sink import finish_series_deletions  # noqa: PLC0415

    finish_series_deletions(sessions, store)


def _finish_timeseries(work: Callable[[sessionmaker[Session], TimeSeriesStore], None]) -> None:
    """Run ``work`` against the time-series store if one is configured; exit 1 if it fails."""
    from cloud.store.db import make_engine, session_factory  # noqa: PLC0415
    from cloud.store.influx import TimeSeriesError  # noqa: PLC0415
    from cloud.store.influx import TimeSeriesStore as Store  # noqa: PLC0415

    settings = _settings()
    if not settings.influx.enabled:
        return
    engine = make_engine(settings.db_url)
    store = Store(settings.influx)
    try:
        work(session_factory(engine), store)
    except TimeSeriesError as exc:
        err.print(f"[red]{exc}[/red] The record is done; run the command again later.")
        raise typer.Exit(1) from exc
    finally:
        store.close()
        engine.dispose()


def main() -> None:
    app()
