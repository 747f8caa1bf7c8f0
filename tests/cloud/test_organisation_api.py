"""Patients, care teams, devices, pairings and gateways over the API: pagination, filters,
refusals with one error shape, and nothing half-written. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from cloud.store.models import GatewayRecord, QuarantinedReading
from cloud.store.tenancy import Pairing
from tests.fixtures.api import World

ADMIN = "admin@north.test"


def post(world: World, path: str, body: Mapping[str, object], who: str = ADMIN) -> httpx.Response:
    response: httpx.Response = world.client.post(path, json=body, headers=world.token(who))
    return response


def test_patients_paginate_and_filter(world: World) -> None:
    for i in range(5):
        r = post(
            world,
            "/api/v1/patients",
            {"id": f"p-x{i}", "display_name": f"X{i}", "program_id": "copd"},
        )
        assert r.status_code == 201, r.text
    page = world.get("/api/v1/patients", "clin@north.test", limit=3, offset=2)
    assert [p["id"] for p in page.json()] == ["p-x0", "p-x1", "p-x2"]
    assert page.headers["X-Total-Count"] == "7"
    copd = world.get("/api/v1/patients", "clin@north.test", program_id="copd")
    assert copd.headers["X-Total-Count"] == "5"
    assert world.get("/api/v1/patients", "clin@north.test", limit=0).status_code == 422
    dup = post(world, "/api/v1/patients", {"id": "p-x0", "display_name": "again"})
    assert dup.status_code == 409
    assert dup.json() == {
        "detail": "patient 'p-x0' already exists in your organisation",
        "code": "conflict",
    }
    # Another organisation's id is taken too, but says nothing about whose it is.
    foreign = post(world, "/api/v1/patients", {"id": "p-s1", "display_name": "x"})
    assert foreign.json() == {
        "detail": "this patient id is not available; choose another",
        "code": "conflict",
    }


def test_conflicts_name_no_other_organisations_ids(world: World) -> None:
    south = world.token("admin@south.test")
    for path, body in (
        ("/api/v1/gateways", {"id": "gw-s1"}),
        ("/api/v1/devices", {"id": "dev-s1", "kind": "bp_cuff", "gateway_id": "gw-s1"}),
    ):
        assert world.client.post(path, json=body, headers=south).status_code == 201
    pairing = {"device_id": "dev-s1", "patient_id": "p-s1", "valid_from": "2026-11-01T00:00:00Z"}
    assert world.client.post("/api/v1/pairings", json=pairing, headers=south).status_code == 201
    for path, body, kind in (
        ("/api/v1/gateways", {"id": "gw-s1"}, "gateway"),
        ("/api/v1/devices", {"id": "dev-s1", "kind": "bp_cuff"}, "device"),
        ("/api/v1/patients", {"id": "p-s1", "display_name": "x"}, "patient"),
    ):
        r = post(world, path, body)
        assert r.json() == {
            "detail": f"this {kind} id is not available; choose another",
            "code": "conflict",
        }
        assert "s1" not in r.text
        assert "south" not in r.text
    # The owner is told plainly, pairing number included.
    r = world.client.post("/api/v1/pairings", json=pairing, headers=south)
    assert r.status_code == 409
    assert "(pairing 1)" in r.json()["detail"]
    r = world.client.post("/api/v1/gateways", json={"id": "gw-s1"}, headers=south)
    assert r.json()["detail"] == "gateway 'gw-s1' already exists in your organisation"


def test_care_team(world: World) -> None:
    member = {"user_id": world.users["clin@north.test"], "team_role": "lead clinician"}
    assert post(world, "/api/v1/patients/p-n2/care-team", member).status_code == 201
    assert post(world, "/api/v1/patients/p-n2/care-team", member).status_code == 409
    patient_member = {"user_id": world.users["pat@north.test"]}
    r = post(world, "/api/v1/patients/p-n2/care-team", patient_member)
    assert r.status_code == 422
    team = world.get("/api/v1/patients/p-n2/care-team", "clin@north.test").json()
    assert [(m["user_id"], m["team_role"]) for m in team] == [
        (world.users["clin@north.test"], "lead clinician")
    ]


def test_devices_and_pairings_with_validity_periods(world: World) -> None:
    assert post(world, "/api/v1/gateways", {"id": "gw-n1"}).status_code == 201
    dev = {"id": "cuff-1", "kind": "bp_cuff", "address": "C0:FF:EE:00:00:01", "gateway_id": "gw-n1"}
    assert post(world, "/api/v1/devices", dev).status_code == 201
    first = {
        "device_id": "cuff-1",
        "patient_id": "p-n1",
        "valid_from": "2026-11-01T00:00:00Z",
        "valid_to": "2026-11-10T00:00:00Z",
    }
    r = post(world, "/api/v1/pairings", first)
    assert r.status_code == 201, r.text
    # Overlapping the first: refused; right after it: fine.
    overlap = {
        **first,
        "patient_id": "p-n2",
        "valid_from": "2026-11-09T00:00:00Z",
        "valid_to": None,
    }
    r = post(world, "/api/v1/pairings", overlap)
    assert r.status_code == 409
    assert "already paired in that period" in r.json()["detail"]
    second = {**overlap, "valid_from": "2026-11-10T00:00:00Z"}
    second_id = post(world, "/api/v1/pairings", second).json()["id"]
    backwards = {**first, "valid_from": "2026-12-01T00:00:00Z", "valid_to": "2026-11-01T00:00:00Z"}
    assert post(world, "/api/v1/pairings", backwards).status_code == 422
    active = world.get(
        "/api/v1/pairings", "clin@north.test", active_at="2026-11-05T12:00:00Z"
    ).json()
    assert [(p["device_id"], p["patient_id"]) for p in active] == [("cuff-1", "p-n1")]
    # Ending a pairing; it cannot be stretched afterwards.
    end = world.client.post(
        f"/api/v1/pairings/{second_id}/end",
        json={"valid_to": "2026-11-20T00:00:00Z"},
        headers=world.token(ADMIN),
    )
    assert end.json()["valid_to"] == "2026-11-20T00:00:00Z"
    again = world.client.post(
        f"/api/v1/pairings/{second_id}/end",
        json={"valid_to": "2026-11-25T00:00:00Z"},
        headers=world.token(ADMIN),
    )
    assert again.status_code == 422
    # The south admin cannot end a north pairing.
    r = world.client.post(
        f"/api/v1/pairings/{second_id}/end",
        json={"valid_to": "2026-11-15T00:00:00Z"},
        headers=world.token("admin@south.test"),
    )
    assert r.status_code == 404
    assert [
        d["id"] for d in world.get("/api/v1/devices", "clin@north.test", kind="bp_cuff").json()
    ] == ["cuff-1"]
    assert world.get("/api/v1/devices", "clin@south.test").json() == []
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Pairing)) == 2


def test_gateways_are_provisioned_once_and_show_their_state(world: World) -> None:
    assert post(world, "/api/v1/gateways", {"id": "gw-n1"}).status_code == 201
    r = post(world, "/api/v1/gateways", {"id": "gw-n1"}, who="admin@south.test")
    assert r.status_code == 409
    with world.session() as s, s.begin():
        gw = s.get(GatewayRecord, "gw-n1")
        assert gw is not None
        gw.state, gw.last_seen = "offline", datetime(2026, 11, 23, 9, tzinfo=UTC)
    listed = world.get("/api/v1/gateways", "clin@north.test", state="offline").json()
    assert [(g["id"], g["state"]) for g in listed] == [("gw-n1", "offline")]
    assert world.get("/api/v1/gateways", "clin@south.test").json() == []
    assert world.get("/api/v1/gateways", "pat@north.test").status_code == 403


def test_quarantine_is_visible_to_the_organisations_admin_only(world: World) -> None:
    when = datetime(2026, 11, 23, 9, tzinfo=UTC)
    with world.session() as s, s.begin():
        for i, org in enumerate(("north", "south", None)):
            s.add(
                QuarantinedReading(
                    id=f"q-{i}",
                    organisation_id=org,
                    gateway_id="gw",
                    patient_id="p",
                    device_id="d",
                    metric="heart_rate",
                    value=70.0,
                    unit="/min",
                    ts=when,
                    measurement_id=None,
                    usable=True,
                    quality={},
                    received_at=when,
                    reason="device d is not paired",
                )
            )
    rows = world.get("/api/v1/quarantine", ADMIN).json()
    assert [(q["id"], q["reason"]) for q in rows] == [("q-0", "device d is not paired")]
    assert world.get("/api/v1/quarantine", "clin@north.test").status_code == 403
