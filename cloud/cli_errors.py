"""The cloud's share of ``gateway.operator``: database failures as one line and an exit code.

A database URL that cannot be parsed or names a driver not installed, and a database that
does not answer, are what an operator gets wrong most; each gets its own exit code
(``ExitCode.DATABASE_URL``, ``ExitCode.DATABASE_DOWN``). The URL itself is never printed: it
may hold a password.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsError
from sqlalchemy import exc as sa_exc

from gateway.operator import (
    Classifier,
    ExitCode,
    Failure,
    OperatorGroup,
    classify_common,
    one_line,
)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return one_line(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)


def classify_database(exc: BaseException) -> Failure | None:
    """Database URL and reachability failures (SQLAlchemy's and the drivers')."""
    if isinstance(exc, sa_exc.NoSuchModuleError):
        return Failure(
            ExitCode.DATABASE_URL,
            "database_url",
            f"VG_DATABASE_URL names a database driver that is not installed ({_first_line(exc)}); "
            "use sqlite:///path or postgresql+psycopg://user@host/db",
        )
    if isinstance(exc, sa_exc.ArgumentError):
        return Failure(
            ExitCode.DATABASE_URL,
            "database_url",
            f"VG_DATABASE_URL cannot be parsed ({_first_line(exc)}); expected e.g. "
            "postgresql+psycopg://user@host:5432/vitalgate",
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name in {"psycopg2", "pymysql", "MySQLdb"}:
        return Failure(
            ExitCode.DATABASE_URL,
            "database_url",
            f"VG_DATABASE_URL needs the driver {exc.name}, which is not installed; "
            "for PostgreSQL write postgresql+psycopg://…",
        )
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return Failure(
            ExitCode.DATABASE_DOWN,
            "database_down",
            f"the database does not answer: {_first_line(exc)} (check VG_DATABASE_URL and "
            "that the server is running)",
        )
    return None


def classify_settings(exc: BaseException) -> Failure | None:
    """An env variable pydantic-settings cannot even parse (``VG_ALERT_CHANNELS='['``)."""
    if isinstance(exc, SettingsError):
        return Failure(
            ExitCode.USAGE, "invalid_settings", f"invalid settings: {one_line(str(exc))}"
        )
    return None


class CloudGroup(OperatorGroup):
    classifiers: ClassVar[tuple[Classifier, ...]] = (
        classify_common,
        classify_settings,
        classify_database,
    )
