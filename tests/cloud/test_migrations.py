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


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_reading_ids_are_scoped_to_the_gateway_and_0009_goes_both_ways(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from cloud.store.db import MIGRATIONS

    url = (
        f"sqlite:///{tmp_path / 'm.sqlite3'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url

    def keys() -> tuple[list[str], list[str], bool]:
        engine = make_engine(url)
        found = inspect(engine)
        out = (
            found.get_pk_constraint("readings")["constrained_columns"],
            found.get_pk_constraint("quarantined_readings")["constrained_columns"],
            "revoked_at" in {c["name"] for c in found.get_columns("gateways")},
        )
        engine.dispose()
        return out

    migrate(url)
    assert keys() == (["gateway_id", "id"], ["gateway_id", "id"], True)
    command.downgrade(cfg, "0008")
    assert keys() == (["id"], ["id"], False)
    migrate(url)
    assert keys() == (["gateway_id", "id"], ["gateway_id", "id"], True)
