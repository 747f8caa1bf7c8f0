"""What a person at the terminal gets wrong, as one line and an exit code, for both CLIs.

``vitalgate-gateway`` and ``vitalgate-cloud`` are typer apps whose root group is
``OperatorGroup``: an exception a command lets out is turned into one line on stderr saying
what and where (the journal keeps it when a service manager runs the command), and the
exit code of its kind (``ExitCode``, documented in the README). ``--debug`` on the
root command lets the traceback through instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, ClassVar

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der", ".key", ".pub", ".p12"})


class ExitCode(IntEnum):
    """Exit codes scripts can trust (the same in both CLIs)."""

    OK = 0
    FAILED = 1
    """The command ran and the answer is no (a refusal, a failed check)."""
    USAGE = 2
    """A wrong option, or a setting the settings models refuse."""
    CANNOT_RUN = 3
    """The gateway's outbox or uplink cannot work as configured."""
    CONFIG_FILE = 4
    """The config file is missing, unreadable or not valid TOML."""
    DATABASE_URL = 5
    """The database URL cannot be parsed, or names a driver that is not installed."""
    DATABASE_DOWN = 6
    """The database does not answer (down, wrong host or port, refused login)."""
    CERTIFICATE = 7
    """A certificate or key file is missing or unreadable."""
    INTERNAL = 70
    """Anything else: a bug; ``--debug`` shows the traceback (EX_SOFTWARE)."""


@dataclass(frozen=True)
class Failure:
    code: ExitCode
    kind: str
    """Short machine name, logged as ``kind``."""
    message: str
    """One line: what went wrong and where."""


class OperatorError(Exception):
    """An error whose message is already written for the operator, with its exit code."""

    def __init__(self, message: str, *, code: ExitCode, kind: str) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind


Classifier = Callable[[BaseException], Failure | None]


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def validation_summary(exc: ValidationError) -> str:
    """``field.sub: message; …`` in one line (pydantic's own text spans many)."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        parts.append(f"{where}: {error['msg']}")
    return one_line("; ".join(parts))


def classify_common(exc: BaseException) -> Failure | None:
    """The failures both CLIs share: our own, invalid settings, a bad TOML, a missing file."""
    if isinstance(exc, OperatorError):
        return Failure(exc.code, exc.kind, one_line(str(exc)))
    if isinstance(exc, ValidationError):
        return Failure(
            ExitCode.USAGE, "invalid_settings", f"invalid settings: {validation_summary(exc)}"
        )
    if isinstance(exc, OSError) and exc.filename:
        path = Path(str(exc.filename))
        reason = exc.strerror or type(exc).__name__
        if path.suffix.lower() in CERTIFICATE_SUFFIXES:
            return Failure(
                ExitCode.CERTIFICATE, "certificate", f"certificate or key file {path}: {reason}"
            )
        return Failure(ExitCode.CONFIG_FILE, "file", f"{path}: {reason}")
    return None


def check_key_files(named: dict[str, Path | None], *, where: str) -> None:
    """Each certificate or key named (setting → path) is a readable file; else one
    ``OperatorError`` (exit ``CERTIFICATE``) naming the setting, the path and the reason."""
    for key, path in named.items():
        if path is None:
            continue
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise OperatorError(
                f"{key} = {path}: {exc.strerror or type(exc).__name__}; check the paths in "
                f"{where} (and that this user may read them)",
                code=ExitCode.CERTIFICATE,
                kind="certificate",
            ) from exc


class OperatorGroup(TyperGroup):
    """A root group that turns what a command lets out into one line and an exit code."""

    classifiers: ClassVar[Sequence[Classifier]] = (classify_common,)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors: typer's own
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            failure = self.classify(exc)
            typer.echo(f"error: {failure.message}", err=True)
            if failure.code is ExitCode.INTERNAL:
                typer.echo("run again with --debug for the traceback", err=True)
            raise typer.Exit(int(failure.code)) from exc

    def classify(self, exc: BaseException) -> Failure:
        for classifier in self.classifiers:
            failure = classifier(exc)
            if failure is not None:
                return failure
        return Failure(
            ExitCode.INTERNAL, "internal", one_line(f"{type(exc).__name__}: {exc}")[:300]
        )


def debug_option(
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an error instead of one line."
    ),
) -> None:
    """Options of the whole CLI (put before the command); ``OperatorGroup`` reads them."""
