"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cloud.store.db import make_engine, migrate
from cloud.store.models import Base


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migrations_match_models(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'm.sqlite3'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    migrate(url)
    migrate(url)  # idempotent
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_programs_are_seeded_with_their_default_thresholds(tmp_path: Path) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cloud.store.tenancy import Program
    from cloud.tenancy.programs import PROGRAMS

    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as s:
        seeded = {p.id: (p.name, p.thresholds) for p in s.scalars(select(Program))}
    engine.dispose()
    assert seeded == PROGRAMS
