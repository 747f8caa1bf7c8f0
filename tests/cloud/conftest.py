"""Fixtures of the cloud tests: a database URL on SQLite and on PostgreSQL, and an API world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import World, running_world
from tests.fixtures.ingest import Publisher, ingest_stack
from tests.fixtures.mosquitto import Mosquitto


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A database at the latest schema, a copy of the session's migrated template."""
    url: str = request.getfixturevalue(f"migrated_{request.param}_url")
    return url


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(db_url, tmp_path / "cloud") as w:
        yield w


@pytest.fixture
def stack(broker: Mosquitto, db_url: str) -> Iterator[tuple[sessionmaker[Session], Publisher]]:
    """An ingest worker on ``db_url`` behind a private Mosquitto, and a gateway stand-in."""
    with ingest_stack(broker, db_url) as pair:
        yield pair
