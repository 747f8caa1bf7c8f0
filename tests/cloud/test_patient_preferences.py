"""Patient messaging preferences over the real API: defaults, a patient changing their own,
staff of another organisation refused, bad zones and languages refused, audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.store.models import AuditEvent
from tests.fixtures.api import World, running_world

URL = "/api/v1/patients/p-n1/preferences"
ADMIN, COORD, PAT, SOUTH = (
    "admin@north.test",
    "coord@north.test",
    "pat@north.test",
    "clin@south.test",
)


@pytest.fixture
def pw(db_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(
        db_url,
        tmp_path / "cloud",
        contact_urls={"sms": "json://127.0.0.1:9/{address}", "email": "mailto://x/{address}"},
    ) as world:
        for body in (
            {"patient_id": "p-n1", "kind": "email", "address": "pat@example.org", "rank": 1},
            {"patient_id": "p-n1", "kind": "sms", "address": "+15550100777", "rank": 0},
        ):
            r = world.client.post("/api/v1/contacts", json=body, headers=world.token(ADMIN))
            assert r.status_code == 201, r.text
        yield world


def test_defaults_then_the_patient_changes_their_own(pw: World) -> None:
    r = pw.get(URL, COORD)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "language": "en", "timezone": "UTC", "quiet_start": "21:00:00", "quiet_end": "08:00:00",
        "daily_cap": 3, "channels": ["sms", "email"], "opted_out": False,
    }  # fmt: skip
    change = {"language": "es", "timezone": "America/Chicago", "quiet_start": "22:30",
              "quiet_end": "07:00", "daily_cap": 2}  # fmt: skip
    r = pw.client.put(URL, json=change, headers=pw.token(PAT))
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "es"
    assert r.json()["quiet_start"] == "22:30:00"
    again = pw.get(URL, COORD).json()
    assert (again["timezone"], again["daily_cap"], again["quiet_end"]) == (
        "America/Chicago", 2, "07:00:00",
    )  # fmt: skip
    with pw.session() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.resource == f"PUT {URL}")
        ).all()
    assert actions == ["write"]


@pytest.mark.parametrize(
    ("change", "status"),
    [({"timezone": "Mars/Olympus"}, 422), ({"language": "xx"}, 422), ({"daily_cap": -1}, 422)],
)
def test_refused_changes(pw: World, change: dict[str, object], status: int) -> None:
    r = pw.client.put(URL, json=change, headers=pw.token(COORD))
    assert r.status_code == status, r.text


def test_other_organisations_and_patients_cannot_see_them(pw: World) -> None:
    assert pw.get(URL, SOUTH).status_code == 404
    assert pw.get("/api/v1/patients/p-n2/preferences", PAT).status_code == 404
