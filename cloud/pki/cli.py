"""``vitalgate-cloud pki | gateway | broker``: the PKI, gateway identities, the broker's config."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.cli_session import in_transaction as _in_transaction
from cloud.cli_session import load_settings
from cloud.errors import CloudError, ConflictError, NotFoundError
from cloud.pki import dynsec, passwords, revocation
from cloud.pki.authority import (
    SIGNING_PUB,
    Authority,
    PkiError,
    PkiPaths,
    init_pki,
    write_private,
    write_public,
)
from cloud.pki.broker import DEFAULT_PORT, write_broker_config
from cloud.settings import CloudSettings
from cloud.store.models import GatewayRecord
from cloud.store.tenancy import Organisation
from gateway import wire

pki_app = typer.Typer(help="The cloud's certificate authority.", no_args_is_help=True)
gateway_app = typer.Typer(help="Gateway identities: provision and revoke.", no_args_is_help=True)
broker_app = typer.Typer(help="The MQTT broker's configuration.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width
T = TypeVar("T")


class Auth(StrEnum):
    CERTIFICATE = "certificate"
    PASSWORD = "password"  # noqa: S105 - the name of a choice, not a secret


SHIPPED_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "vitalgate.conf"
RESERVED_PREFIX = "vitalgate-"
"""The cloud's names and client ids (``vitalgate-ingest-<host>-<pid>``…): a gateway's client id
is its CN, and client ids are one namespace across the broker's listeners."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _settings_with_pki() -> tuple[CloudSettings, PkiPaths]:
    settings = load_settings()
    if settings.pki_dir is None:
        raise _fail("VG_PKI_DIR is not set: point it at the folder `pki init` made.", 2)
    try:
        return settings, PkiPaths(settings.pki_dir).require()
    except PkiError as exc:
        raise _fail(str(exc), 2) from exc


@pki_app.command("init")
def pki_init(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the PKI (VG_PKI_DIR).")],
    host: Annotated[
        list[str] | None,
        typer.Option(help="Another name or address of the broker (repeatable)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace an existing PKI: every certificate it issued dies.")
    ] = False,
) -> None:
    """Create the CA, the broker's certificate, the cloud's MQTT identity and the downlink key."""
    try:
        paths = init_pki(directory, hosts=host or [], now=datetime.now(UTC), force=force)
    except PkiError as exc:
        raise _fail(str(exc), 2) from exc
    typer.echo(f"created the PKI in {paths.root}; set VG_PKI_DIR={paths.root.resolve()}")


@pki_app.command("crl")
def pki_crl() -> None:
    """Re-sign the CRL (it is valid for a year: renew it, or the broker refuses every gateway)."""
    _, paths = _settings_with_pki()
    authority = Authority.load(paths.root)
    authority.write_crl(now=datetime.now(UTC))
    typer.echo(
        f"{paths.crl} re-signed ({len(authority.revoked_serials())} revoked); reload the broker"
    )


def _gateway_toml(
    gateway_id: str,
    *,
    install_dir: Path,
    data_dir: str,
    broker_host: str,
    broker_port: int,
    topic_root: str,
    password: str | None,
) -> str:
    def q(value: object) -> str:
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(
        [
            "# Written by `vitalgate-cloud gateway provision`; the format of",
            "# deploy/gateway/gateway.toml.example (VG_ environment variables override it).",
            f"gateway_id = {q(gateway_id)}",
            f"data_dir = {q(data_dir)}",
            'link = "bleak"',
            "# Downlink messages (configs, commands) must carry the cloud's signature by this key.",
            f"downlink_key = {q(install_dir / SIGNING_PUB)}",
            "",
            "[mqtt]",
            f"host = {q(broker_host)}",
            f"port = {broker_port}",
            f"topic_root = {q(topic_root)}",
            "tls = true",
            f"ca_file = {q(install_dir / 'ca.pem')}",
            *(
                [f"username = {q(gateway_id)}", f"password = {q(password)}   # keep this file 0600"]
                if password
                else [
                    f"cert_file = {q(install_dir / 'gateway.pem')}   # CN = the gateway id",
                    f"key_file = {q(install_dir / 'gateway.key')}",
                ]
            ),
            "",
        ]
    )


@gateway_app.command("provision")
def gateway_provision(
    *,
    gateway_id: Annotated[str, typer.Argument(help="The gateway's id (its certificate's CN).")],
    organisation: Annotated[str, typer.Option(help="The organisation (id) that owns it.")],
    out: Annotated[Path, typer.Option(help="Folder for the gateway's files.")],
    broker_host: Annotated[
        str | None,
        typer.Option(help="The broker as the gateway reaches it (default: VG_MQTT__HOST)."),
    ] = None,
    broker_port: Annotated[int, typer.Option(help="The broker's TLS port.")] = DEFAULT_PORT,
    install_dir: Annotated[
        Path | None,
        typer.Option(help="Where the files will live on the gateway (default: --out as is)."),
    ] = None,
    data_dir: Annotated[
        str, typer.Option(help="The gateway's data folder.")
    ] = "/var/lib/vitalgate",
    auth: Annotated[
        Auth,
        typer.Option(
            help="How it proves itself: a client certificate, or a password (for "
            "brokers where certificates do not suit; `broker config --password-port`)."
        ),
    ] = Auth.CERTIFICATE,
) -> None:
    """Register a gateway and write its gateway.toml, certificate, key, CA and downlink key."""
    if not re.match(wire.ID_PATTERN, gateway_id) or gateway_id.startswith(RESERVED_PREFIX):
        raise _fail(
            f"{gateway_id!r} cannot be a gateway id (letters, digits, . _ : -; "
            f"not starting with {RESERVED_PREFIX!r})",
            2,
        )
    settings, paths = _settings_with_pki()
    now = datetime.now(UTC)
    authority = Authority.load(paths.root)
    out.mkdir(parents=True, exist_ok=True)

    def work(session: Session) -> tuple[bytes, bytes] | None:
        from cloud.tenancy.service import provision_gateway  # noqa: PLC0415

        if session.get(Organisation, organisation) is None:
            raise NotFoundError(f"no organisation {organisation!r}")
        previous = session.get(GatewayRecord, gateway_id)
        if previous is not None and previous.revoked_at is not None:
            raise ConflictError(f"gateway {gateway_id!r} was revoked; give the new one a new id")
        provision_gateway(session, organisation_id=organisation, gateway_id=gateway_id)
        if auth is Auth.PASSWORD:
            return None
        return authority.issue_gateway(gateway_id, now=now)  # last: a refusal rolls back

    issued = _in_transaction(work)
    password = None
    if issued is None:
        password = passwords.new_password()
        passwords.store(paths.root, gateway_id, password)
    else:
        write_public(out / "gateway.pem", issued[0])
        write_private(out / "gateway.key", issued[1])
    shutil.copyfile(paths.ca_cert, out / "ca.pem")
    shutil.copyfile(paths.signing_pub, out / SIGNING_PUB)
    toml = _gateway_toml(
        gateway_id,
        install_dir=install_dir or out.resolve(),
        data_dir=data_dir,
        broker_host=broker_host or settings.mqtt.host,
        broker_port=broker_port,
        topic_root=settings.mqtt.topic_root,
        password=password,
    )
    write_private(out / "gateway.toml", toml.encode())  # it may hold the password
    typer.echo(f"provisioned {gateway_id} in {organisation}; its files are in {out}")
    _tell_broker(settings, lambda: dynsec.add_gateway(settings.mqtt, gateway_id, password=password))


@gateway_app.command("revoke")
def gateway_revoke(
    gateway_id: Annotated[str, typer.Argument(help="The gateway to end.")],
) -> None:
    """End a gateway's identity: the cloud refuses its messages and the broker its certificate."""
    settings, paths = _settings_with_pki()
    now = datetime.now(UTC)

    def work(session: Session) -> bool:
        return revocation.mark_revoked(
            session, gateway_id=gateway_id, organisation_id=None, now=now
        )

    fresh = _in_transaction(work)
    try:
        what = revocation.withdraw_credential(paths.root, gateway_id, now=now)
    except CloudError as exc:
        raise _fail(f"{exc} (the gateway is marked revoked in the database)") from exc
    typer.echo(f"revoked {gateway_id}" + ("" if fresh else " (already revoked)") + f"; {what}")
    _tell_broker(settings, lambda: dynsec.remove_gateway(settings.mqtt, gateway_id))
    typer.echo(
        "reload the broker (SIGHUP, e.g. `systemctl reload mosquitto`) so its listener reads "
        "the new CRL and refuses the certificate at the handshake; until then the gateway "
        "can connect but may neither publish nor subscribe."
    )


def _tell_broker(settings: CloudSettings, change: Callable[[], None]) -> None:
    """Apply a change to the running broker; when that fails, say how to apply it later."""
    try:
        change()
    except dynsec.DynsecError as exc:
        err.print(
            f"[yellow]The broker was not updated ({exc}).[/yellow] The database has the change: "
            "regenerate with `vitalgate-cloud broker config` and restart the broker."
        )
        return
    typer.echo(f"the broker at {settings.mqtt.host}:{settings.mqtt.port} applied the change")


@broker_app.command("config")
def broker_config(
    *,
    out: Annotated[Path, typer.Option(help="Folder for mosquitto.conf and its files.")],
    port: Annotated[int, typer.Option(help="The gateways' TLS listener's port.")] = DEFAULT_PORT,
    bind: Annotated[
        str | None, typer.Option(help="Address to listen on (default: every interface).")
    ] = None,
    cloud_port: Annotated[
        int | None, typer.Option(help="The cloud's TLS listener's port (default: --port + 1).")
    ] = None,
    cloud_bind: Annotated[
        str, typer.Option(help="Address of the cloud's listener (keep it off the internet).")
    ] = "127.0.0.1",
    password_port: Annotated[
        int | None,
        typer.Option(help="Also a listener for gateways provisioned with --auth password."),
    ] = None,
    base: Annotated[
        Path, typer.Option(help="Queueing and persistence settings to start from.")
    ] = SHIPPED_CONF,
    plugin: Annotated[
        str | None, typer.Option(help="Path of mosquitto_dynamic_security.so (default: found).")
    ] = None,
) -> None:
    """Write a Mosquitto config: mutual TLS, no anonymous access, one role per gateway."""
    settings, paths = _settings_with_pki()
    if not base.is_file():
        raise _fail(f"no base config at {base}: pass --base deploy/mosquitto/vitalgate.conf", 2)

    def work(session: Session) -> list[str]:
        return list(
            session.scalars(
                select(GatewayRecord.id)
                .where(
                    GatewayRecord.organisation_id.is_not(None), GatewayRecord.revoked_at.is_(None)
                )
                .order_by(GatewayRecord.id)
            )
        )

    gateways = _in_transaction(work)
    logins = {g: login for g in gateways if (login := passwords.load(paths.root, g)) is not None}
    try:
        files = write_broker_config(
            out, paths, base_conf=base.read_text(), gateway_ids=gateways,
            group=settings.ingest_group, topic_root=settings.mqtt.topic_root,
            port=port, bind=bind, cloud_port=cloud_port or port + 1, cloud_bind=cloud_bind,
            password_port=password_port, logins=logins, plugin=plugin,
        )  # fmt: skip
    except PkiError as exc:
        raise _fail(str(exc), 2) from exc
    typer.echo(
        f"wrote {files.conf} ({len(gateways)} gateways; gateways on port {port}, the cloud on "
        f"{cloud_bind}:{cloud_port or port + 1}, VG_MQTT__PORT); run: mosquitto -c {files.conf}"
    )
