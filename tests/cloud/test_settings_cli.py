"""Settings refuse unsafe secrets; ``vitalgate-cloud user create`` / ``patient create`` work and refuse clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from cloud.settings import DEV_SECRET, CloudSettings, exposed_dev_secret
from cloud.store.db import make_engine, session_factory
from cloud.store.tenancy import Organisation, Patient, User
from tests.fixtures.cli import cloud_cli
from tests.fixtures.net import free_port


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="VG_SECRET_KEY must be set to a real secret"):
        CloudSettings(environment="production")
    assert CloudSettings(environment="development").secret_key.get_secret_value() == DEV_SECRET
    CloudSettings(environment="production", secret_key=SecretStr("x" * 40))


def test_a_short_secret_is_refused_everywhere() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        CloudSettings(secret_key=SecretStr("short"))


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cloud_cli(*args, env={"VG_DATA_DIR": str(data_dir), "COLUMNS": "200"})


def test_user_and_patient_create(tmp_path: Path) -> None:
    password = "synthetic-password-1"
    done = cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "Ann@Example.org",
        "--password",
        password,
        "--role",
        "admin",
        "--org",
        "clinic",
        "--org-name",
        "The Clinic",
    )
    assert done.returncode == 0, done.stderr
    assert "created organisation clinic" in done.stdout
    assert "created user 1 <ann@example.org> as admin in clinic" in done.stdout

    again = cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "ann@example.org",
        "--password",
        password,
        "--role",
        "admin",
        "--org",
        "clinic",
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    ok = cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "ann@example.org",
        "--password",
        password,
        "--role",
        "admin",
        "--org",
        "clinic",
        "--exist-ok",
    )
    assert ok.returncode == 0
    assert "left unchanged" in ok.stdout

    short = cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "b@example.org",
        "--password",
        "short",
        "--role",
        "clinician",
        "--org",
        "clinic",
    )
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr
    bad_role = cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "c@example.org",
        "--password",
        password,
        "--role",
        "superuser",
        "--org",
        "clinic",
    )
    assert bad_role.returncode == 2

    made = cli(
        tmp_path,
        "patient",
        "create",
        "--id",
        "p-9",
        "--org",
        "clinic",
        "--name",
        "P Nine",
        "--program",
        "copd",
    )
    assert made.returncode == 0, made.stderr
    unknown = cli(
        tmp_path,
        "patient",
        "create",
        "--id",
        "p-10",
        "--org",
        "clinic",
        "--name",
        "X",
        "--program",
        "astrology",
    )
    assert unknown.returncode == 1
    assert "known programs: copd, diabetes, general, heart_failure, hypertension" in unknown.stderr

    engine = make_engine(f"sqlite:///{tmp_path / 'vitalgate.sqlite3'}")
    try:
        with session_factory(engine)() as s:
            assert s.get(Organisation, "clinic") is not None
            assert [(u.email, u.role) for u in s.scalars(select(User))] == [
                ("ann@example.org", "admin")
            ]
            patient = s.get(Patient, "p-9")
            assert patient is not None
            assert (patient.organisation_id, patient.program_id) == ("clinic", "copd")
            assert s.get(Patient, "p-10") is None
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("host", "secret", "warned"),
    [
        ("0.0.0.0", DEV_SECRET, True),
        ("::", DEV_SECRET, True),
        ("10.1.2.3", DEV_SECRET, True),
        ("rpm.example.org", DEV_SECRET, True),
        ("127.0.0.1", DEV_SECRET, False),
        ("::1", DEV_SECRET, False),
        ("localhost", DEV_SECRET, False),
        ("0.0.0.0", "a-real-secret-" + "x" * 40, False),
    ],
)
def test_the_public_development_key_off_loopback_is_named(
    host: str, secret: str, warned: bool
) -> None:
    settings = CloudSettings(secret_key=SecretStr(secret))
    warning = exposed_dev_secret(settings, host)
    assert (warning is not None) == warned
    if warning is not None:
        assert "VG_SECRET_KEY" in warning
        assert host in warning


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_serve_warns_when_it_listens_off_loopback_with_the_development_key(
    tmp_path: Path, host: str, warned: bool
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VG_")},
        "VG_DATA_DIR": str(tmp_path),
        "VG_INGEST_ENABLED": "false",
    }
    command = [sys.executable, "-m", "cloud", "serve", "--host", host, "--port", str(free_port())]
    lines: list[str] = []
    with subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 60
            for line in proc.stderr:  # ends when the server is up (or gone)
                lines.append(line)
                if "Uvicorn running" in line or time.monotonic() > deadline:
                    break
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert any("Uvicorn running" in line for line in lines), lines
    assert any("public_dev_secret" in line for line in lines) == warned, lines
