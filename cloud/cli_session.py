"""What every ``vitalgate-cloud`` command starts from: the settings (a mistake in them is one
line and an exit code) and one transaction on a current schema. Its own module, so the
sub-command groups (``cloud.pki.cli``) use it without importing ``cloud.cli``, which imports
them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.orm import Session

from cloud.errors import CloudError
from cloud.settings import CloudSettings
from gateway.operator import ExitCode, OperatorError, validation_summary

err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width
T = TypeVar("T")


def load_settings() -> CloudSettings:
    try:
        return CloudSettings()
    except ValidationError as exc:
        raise OperatorError(
            f"invalid cloud settings (VG_* variables): {validation_summary(exc)}",
            code=ExitCode.USAGE,
            kind="invalid_settings",
        ) from exc


def in_transaction(work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction on a current schema; refusals exit with status 1."""
    from cloud.store.db import make_engine, session_factory  # noqa: PLC0415
    from cloud.store.db import migrate as run_migrations  # noqa: PLC0415

    settings = load_settings()
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
