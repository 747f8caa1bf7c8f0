"""Fixtures of the cloud tests: a database URL on SQLite and on PostgreSQL, and an API world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.api import World, running_world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(db_url, tmp_path / "cloud") as w:
        yield w
