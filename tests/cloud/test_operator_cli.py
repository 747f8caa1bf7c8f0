"""``vitalgate-cloud`` at the terminal: accounts (list, unlock, reset-password) and what a
person gets wrong as one line with an exit code of its kind, the traceback only with --debug."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cloud.auth import service
from cloud.cli import app
from cloud.errors import NotAuthenticatedError
from cloud.settings import CloudSettings
from cloud.store.db import make_engine, session_factory
from cloud.store.tenancy import RefreshToken, User
from tests.fixtures.net import free_port

PASSWORD = "synthetic-password-1"
NEW_PASSWORD = "synthetic-password-2"


def invoke(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    with capture_logs():  # the CLI's own output only
        result = CliRunner().invoke(
            app, list(args), env={"VG_DATA_DIR": str(tmp_path), "COLUMNS": "200", **env}
        )
    return result.exit_code, result.output


def test_list_unlock_and_reset_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VG_DATA_DIR", str(tmp_path))
    code, out = invoke(
        tmp_path, "user", "create", "--email", "Ann@Example.org", "--password", PASSWORD,
        "--role", "admin", "--org", "clinic",
    )  # fmt: skip
    assert code == 0, out
    settings = CloudSettings()
    engine = make_engine(settings.db_url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    try:
        with sessions.begin() as session:
            user = service.authenticate(
                session, email="ann@example.org", password=PASSWORD, now=now
            )
            service.issue_tokens(session, user=user, settings=settings, now=now)
            # Wrong passwords are throttled, not locked out; an account is locked by an
            # operator (or was, before throttling): the state `unlock` lifts.
            user.locked_until = now + timedelta(minutes=15)
            user.failed_logins = 5
        code, out = invoke(tmp_path, "user", "list")
        assert code == 0
        assert "ann@example.org  admin  clinic  active, locked until" in out
        code, out = invoke(tmp_path, "user", "list", "--json", "--org", "clinic")
        assert '"locked_until": "' in out

        code, out = invoke(tmp_path, "user", "unlock", "--email", "ANN@example.org")
        assert (code, out.strip()) == (0, "unlocked user 1 <ann@example.org>")
        code, out = invoke(tmp_path, "user", "list")
        assert out.strip().endswith("clinic  active")

        code, out = invoke(
            tmp_path, "user", "reset-password", "--email", "ann@example.org",
            "--password", NEW_PASSWORD,
        )  # fmt: skip
        assert (code, out.strip()) == (0, "new password set for user 1 <ann@example.org>")
        with sessions.begin() as session:
            assert service.authenticate(
                session, email="ann@example.org", password=NEW_PASSWORD,
                now=now + timedelta(seconds=1),
            ).id == 1  # fmt: skip
            with pytest.raises(NotAuthenticatedError):
                service.authenticate(
                    session, email="ann@example.org", password=PASSWORD,
                    now=now + timedelta(seconds=1),
                )  # fmt: skip
            open_tokens = session.scalars(
                select(RefreshToken).where(RefreshToken.used_at.is_(None))
            ).all()
            assert open_tokens == []  # sessions of the old password cannot renew
            assert session.scalar(select(User.failed_logins)) == 1
    finally:
        engine.dispose()

    code, out = invoke(tmp_path, "user", "unlock", "--email", "nobody@example.org")
    assert (code, out.strip()) == (1, "no user <nobody@example.org>")
    code, out = invoke(
        tmp_path, "user", "reset-password", "--email", "ann@example.org", "--password", "short"
    )
    assert code == 1
    assert "at least 12 characters" in out


@pytest.mark.parametrize(
    ("env", "code", "says"),
    [
        ({"VG_DATABASE_URL": "not a url"}, 5, "VG_DATABASE_URL cannot be parsed"),
        ({"VG_DATABASE_URL": "nosuchdb://h/x"}, 5, "driver that is not installed"),
        ({"VG_SECRET_KEY": "short"}, 2, "invalid cloud settings (VG_* variables): "),
        ({"VG_ALERT_CHANNELS": "["}, 2, 'invalid settings: error parsing value for field "alert_channels"'),
        ({"VG_DOWNLINK_SIGNING_KEY": "/nowhere/downlink-signing.key"}, 7,
         "VG_DOWNLINK_SIGNING_KEY = /nowhere/downlink-signing.key: No such file or directory"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_and_an_exit_code(
    tmp_path: Path, env: dict[str, str], code: int, says: str
) -> None:
    # serve checks before it binds; migrate (and every command) the same way.
    command = "serve" if "VG_DOWNLINK_SIGNING_KEY" in env else "migrate"
    exit_code, out = invoke(tmp_path, command, **env)
    assert exit_code == code, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert "postgresql://u@" not in out  # never the URL itself: it may hold a password


def test_a_database_that_is_down_names_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://vg:secret-pw@127.0.0.1:{port}/vitalgate"
    exit_code, out = invoke(tmp_path, "user", "list", VG_DATABASE_URL=url)
    assert exit_code == 6, out
    assert len(out.strip().splitlines()) == 1
    assert out.startswith("error: the database does not answer: ")
    assert f'"127.0.0.1", port {port} failed' in out
    assert "secret-pw" not in out
    debug = CliRunner().invoke(
        app, ["--debug", "user", "list"], env={"VG_DATA_DIR": str(tmp_path), "VG_DATABASE_URL": url}
    )
    assert debug.exit_code != 0
    assert type(debug.exception).__name__ == "OperationalError"


def test_the_cloud_never_reads_the_gateways_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VG_GW_DATA_DIR", "/tmp/meant-for-a-gateway")
    monkeypatch.setenv("VG_GW_MQTT__HOST", "gateway-broker")
    settings = CloudSettings()
    assert settings.data_dir == Path("data/cloud")
    assert settings.mqtt.host == "127.0.0.1"
