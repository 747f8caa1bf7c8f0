"""Access control over the real API on SQLite and PostgreSQL: tokens, tenants, roles, audit.

Every refusal has the error body ``{"detail", "code"}``, and a refused request leaves
nothing written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from cloud.auth import security
from cloud.store.models import DeadLetter
from cloud.store.tenancy import AuditEvent, Patient, User
from tests.fixtures.api import PASSWORD, SECRET, T0, World

CLIN_N, CLIN_S = "clin@north.test", "clin@south.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_token(
    world: World,
    email: str,
    *,
    key: str = SECRET,
    now: datetime | None = None,
    kind: security.TokenType = "access",
) -> str:
    token, _ = security.issue_token(
        user_id=world.users[email],
        organisation_id=email.split("@")[1].split(".", maxsplit=1)[0],
        role="clinician",
        token_type=kind,
        lifetime=timedelta(minutes=15),
        key=key,
        now=now or datetime.now(UTC),
    )
    return token


def assert_refused(response: httpx.Response, status: int, code: str, words: str = "") -> None:
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == code
    assert words in body["detail"]


# ------------------------------------------------------------------ tokens


def test_no_token_is_refused_with_advice(world: World) -> None:
    r = world.client.get("/api/v1/readings")
    assert_refused(r, 401, "not_authenticated", "log in first")
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda w: access_token(w, CLIN_N, key="another-key-that-is-long-enough-0123456789"),
            "signature",
        ),
        (lambda w: access_token(w, CLIN_N, now=datetime.now(UTC) - timedelta(hours=1)), "expired"),
        (lambda w: access_token(w, CLIN_N, kind="refresh"), "refresh token cannot be used"),
        (lambda w: jwt.encode({"sub": "1", "typ": "access"}, "", algorithm="none"), "not valid"),
        (lambda w: "not.a.token", "not valid"),
        (lambda w: "' OR 1=1 --", "not valid"),
    ],
    ids=["forged", "expired", "refresh-as-access", "alg-none", "garbage", "sql-ish"],
)
def test_bad_tokens_are_refused(world: World, make: object, words: str) -> None:
    token = make(world)  # type: ignore[operator]
    assert_refused(
        world.client.get("/api/v1/readings", headers=bearer(token)), 401, "not_authenticated", words
    )


def test_a_deactivated_account_cannot_use_its_token(world: World) -> None:
    headers = world.token(CLIN_N)
    with world.session() as s, s.begin():
        user = s.get(User, world.users[CLIN_N])
        assert user is not None
        user.is_active = False
    assert_refused(
        world.client.get("/api/v1/readings", headers=headers),
        401,
        "not_authenticated",
        "no longer active",
    )


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(world: World) -> None:
    """Throttling of repeated attempts is in test_login_throttle.py (no lock-outs)."""
    login = "/api/v1/auth/token"
    r = world.client.post(login, data={"username": CLIN_N, "password": "wrong password!"})
    assert_refused(r, 401, "not_authenticated", "wrong e-mail or password")
    r = world.client.post(login, data={"username": "nobody@north.test", "password": PASSWORD})
    assert_refused(r, 401, "not_authenticated", "wrong e-mail or password")
    assert (
        world.client.post(login, data={"username": CLIN_N, "password": PASSWORD}).status_code == 200
    )


def test_an_account_locked_by_an_operator_stays_locked_until_then(world: World) -> None:
    with world.session() as s, s.begin():
        user = s.get(User, world.users[CLIN_N])
        assert user is not None
        user.locked_until = datetime.now(UTC) + timedelta(minutes=5)
    r = world.client.post("/api/v1/auth/token", data={"username": CLIN_N, "password": PASSWORD})
    assert_refused(r, 401, "account_locked", "locked until")


def test_lock_expires(world: World) -> None:
    with world.session() as s, s.begin():
        user = s.get(User, world.users[CLIN_N])
        assert user is not None
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    assert (
        world.client.post(
            "/api/v1/auth/token", data={"username": CLIN_N, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_refresh_rotates_and_a_reused_refresh_token_ends_every_session(world: World) -> None:
    first = world.client.post(
        "/api/v1/auth/token", data={"username": CLIN_N, "password": PASSWORD}
    ).json()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 15 * 60
    second = world.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    new = second.json()
    assert (
        world.client.get("/api/v1/auth/me", headers=bearer(new["access_token"])).json()["email"]
        == CLIN_N
    )
    # The old refresh token again: refused, and the new one is revoked with it.
    reuse = world.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert_refused(reuse, 401, "not_authenticated", "already used")
    r = world.client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert_refused(r, 401, "not_authenticated", "already used")
    # The access tokens of the family are revoked too, not only left to expire.
    for token in (first["access_token"], new["access_token"]):
        r = world.client.get("/api/v1/auth/me", headers=bearer(token))
        assert_refused(r, 401, "not_authenticated", "revoked")
    # Logging in again works.
    again = world.client.post("/api/v1/auth/token", data={"username": CLIN_N, "password": PASSWORD})
    me = world.client.get("/api/v1/auth/me", headers=bearer(again.json()["access_token"]))
    assert me.json()["email"] == CLIN_N


def test_logout_revokes_the_callers_access_and_refresh_tokens(world: World) -> None:
    login = {"username": CLIN_N, "password": PASSWORD}
    tokens = world.client.post("/api/v1/auth/token", data=login).json()
    other = world.token("clin@south.test")
    assert_refused(world.client.post("/api/v1/auth/logout"), 401, "not_authenticated")
    r = world.client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert r.content == b""
    r = world.client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert_refused(r, 401, "not_authenticated", "revoked")
    r = world.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_refused(r, 401, "not_authenticated")
    # Another user is not affected.
    assert world.client.get("/api/v1/auth/me", headers=other).status_code == 200


def test_an_access_token_is_not_a_refresh_token(world: World) -> None:
    token = access_token(world, CLIN_N)
    r = world.client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert_refused(r, 401, "not_authenticated", "access token cannot be used")


# ------------------------------------------------------------------ tenants and roles


def patient_ids(rows: list[dict[str, str]]) -> set[str]:
    return {r["patient_id"] for r in rows}


def test_a_clinician_sees_only_their_organisation(world: World) -> None:
    readings = world.get("/api/v1/readings", CLIN_N).json()
    assert patient_ids(readings) == {"p-n1", "p-n2"}
    assert len(readings) == 6
    patients = world.get("/api/v1/patients", CLIN_N)
    assert [p["id"] for p in patients.json()] == ["p-n1", "p-n2"]
    assert patients.headers["X-Total-Count"] == "2"
    alerts = world.get("/api/v1/alerts", CLIN_N).json()
    assert [a["id"] for a in alerts] == [world.alerts["p-n1"]]
    assert patient_ids(world.get("/api/v1/readings", CLIN_S).json()) == {"p-s1"}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/readings", {"patient_id": "p-s1"}),
        ("/api/v1/alerts", {"patient_id": "p-s1"}),
        ("/api/v1/patients/p-s1", {}),
        ("/api/v1/patients/p-s1/care-team", {}),
        ("/api/v1/alerts/{south_alert}", {}),
    ],
)
def test_another_organisations_ids_are_not_found(
    world: World, path: str, params: dict[str, str]
) -> None:
    path = path.format(south_alert=world.alerts["p-s1"])
    assert_refused(world.get(path, CLIN_N, **params), 404, "not_found")
    # …exactly like an id that does not exist at all.
    assert_refused(world.get("/api/v1/patients/p-nobody", CLIN_N), 404, "not_found")


def test_a_patient_sees_only_their_own_data(world: World) -> None:
    who = "pat@north.test"
    assert patient_ids(world.get("/api/v1/readings", who).json()) == {"p-n1"}
    assert [p["id"] for p in world.get("/api/v1/patients", who).json()] == ["p-n1"]
    assert_refused(world.get("/api/v1/readings", who, patient_id="p-n2"), 404, "not_found")
    assert_refused(world.get("/api/v1/patients/p-n2", who), 404, "not_found")
    assert_refused(world.get("/api/v1/devices", who), 403, "forbidden", "roles")


def test_a_care_coordinator_sees_their_care_teams_patients(world: World) -> None:
    who = "coord@north.test"
    assert patient_ids(world.get("/api/v1/readings", who).json()) == {"p-n1"}
    assert_refused(world.get("/api/v1/patients/p-n2", who), 404, "not_found")


def test_only_admins_change_the_organisation_and_only_their_own(world: World) -> None:
    body = {"id": "p-new", "display_name": "New"}
    r = world.client.post("/api/v1/patients", json=body, headers=world.token(CLIN_N))
    assert_refused(r, 403, "forbidden")
    admin = world.token("admin@north.test")
    # A south device, a south patient: invisible to the north admin, and nothing is written.
    south = world.token("admin@south.test")
    assert (
        world.client.post(
            "/api/v1/devices", json={"id": "dev-s", "kind": "hr_strap"}, headers=south
        ).status_code
        == 201
    )
    pairing = {"device_id": "dev-s", "patient_id": "p-n1", "valid_from": "2026-11-01T00:00:00Z"}
    assert_refused(
        world.client.post("/api/v1/pairings", json=pairing, headers=admin),
        404,
        "not_found",
        "dev-s",
    )
    assert (
        world.client.post(
            "/api/v1/devices", json={"id": "dev-n", "kind": "hr_strap"}, headers=admin
        ).status_code
        == 201
    )
    pairing = {**pairing, "device_id": "dev-n", "patient_id": "p-s1"}
    assert_refused(
        world.client.post("/api/v1/pairings", json=pairing, headers=admin), 404, "not_found", "p-s1"
    )
    member = {"user_id": world.users[CLIN_S]}
    r = world.client.post("/api/v1/patients/p-n1/care-team", json=member, headers=admin)
    assert_refused(r, 404, "not_found")
    assert world.get("/api/v1/pairings", "admin@north.test").json() == []


def test_sql_ish_text_is_stored_verbatim_or_refused(world: World) -> None:
    admin = world.token("admin@north.test")
    name = "Robert'); DROP TABLE patients;--"
    r = world.client.post(
        "/api/v1/patients", json={"id": "p-bobby", "display_name": name}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert world.get("/api/v1/patients/p-bobby", CLIN_N).json()["display_name"] == name
    r = world.client.post(
        "/api/v1/patients", json={"id": "p'; --", "display_name": "x"}, headers=admin
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_request"
    assert "'; --" not in r.text  # the refused input is not echoed back
    r = world.client.get("/api/v1/readings", params={"patient_id": "1' OR '1'='1"}, headers=admin)
    assert r.status_code == 422
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 4


# ------------------------------------------------------------------ audit


def test_every_read_of_patient_data_is_audited(world: World) -> None:
    world.get("/api/v1/readings", CLIN_N, patient_id="p-n1", metric="heart_rate")
    world.get("/api/v1/alerts", CLIN_N)
    world.get("/api/v1/readings", CLIN_N, patient_id="p-s1")  # refused: audited as such
    with world.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.user_id, e.action, e.resource, e.patient_id, e.outcome) for e in events] == [
        (world.users[CLIN_N], "read", "GET /api/v1/readings", "p-n1", 3),
        (world.users[CLIN_N], "read", "GET /api/v1/alerts", None, 1),
        (world.users[CLIN_N], "refused", "GET /api/v1/readings", "p-s1", 0),
    ]
    assert events[2].query == "patient_id=p-s1&refused=no%20patient%20%27p-s1%27"
    first = events[0]
    assert first.organisation_id == "north"
    assert first.role == "clinician"
    assert first.query == "patient_id=p-n1&metric=heart_rate"
    assert first.client == "testclient"
    assert abs((datetime.now(UTC) - first.at).total_seconds()) < 60


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET user_id = 0", "DELETE FROM audit_events"]
)
def test_the_audit_log_is_append_only(world: World, statement: str) -> None:
    world.get("/api/v1/alerts", CLIN_N)
    with world.session() as s, pytest.raises(DBAPIError, match="append-only"):
        s.execute(text(statement))
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_a_time_with_no_utc_equivalent_is_bad_input_not_a_server_error(world: World) -> None:
    """Found by the API fuzz: year 1 at +01:00 overflowed in the database layer (500)."""
    r = world.client.get(
        "/api/v1/readings",
        params={"since": "0001-01-01T00:01:00+01:00"},
        headers=world.token(CLIN_N),
    )
    assert r.status_code == 422, r.text
    assert "out of range once converted to UTC" in r.text


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/api/v1/patients/p-n1/trends", {"metric": "heart_rate", "until": "{t}"}, None),
        ("GET", "/api/v1/patients/p-n1/trends", {"metric": "heart_rate", "since": "{t}"}, None),
        ("GET", "/api/v1/pairings", {"active_at": "{t}"}, None),
        ("POST", "/api/v1/patients/p-n1/time", {}, {"minutes": 5, "at": "{t}"}),
    ],
    ids=["trend-until", "trend-since", "pairings-active-at", "time-log-at"],
)
@pytest.mark.parametrize(
    "t", ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00"]
)
def test_times_at_the_ends_of_the_calendar_are_bad_input(
    world: World,
    *,
    method: str,
    path: str,
    params: dict[str, str],
    body: dict[str, Any] | None,
    t: str,
) -> None:
    """Found by the audit: year 1 overflowed in the routes' date arithmetic (500)."""
    r = world.client.request(
        method,
        path,
        params={k: v.format(t=t) for k, v in params.items()},
        json=None
        if body is None
        else {k: (v.format(t=t) if isinstance(v, str) else v) for k, v in body.items()},
        headers=world.token(CLIN_N),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_request"


def audit_trail(world: World) -> list[tuple[int | None, str, str, str | None]]:
    with world.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    return [(e.user_id, e.action, e.resource, e.patient_id) for e in events]


def test_reads_of_devices_pairings_and_gateways_are_audited(world: World) -> None:
    for path in ("/api/v1/devices", "/api/v1/pairings", "/api/v1/gateways"):
        assert world.get(path, CLIN_N).status_code == 200
    assert world.get("/api/v1/pairings", CLIN_N, patient_id="p-n2").status_code == 200
    me = world.users[CLIN_N]
    assert audit_trail(world) == [
        (me, "read", "GET /api/v1/devices", None),
        (me, "read", "GET /api/v1/pairings", None),
        (me, "read", "GET /api/v1/gateways", None),
        (me, "read", "GET /api/v1/pairings", "p-n2"),
    ]


def test_refused_cross_organisation_requests_are_audited(world: World) -> None:
    south = world.token("admin@south.test")
    assert (
        world.client.post(
            "/api/v1/devices", json={"id": "dev-s", "kind": "hr_strap"}, headers=south
        ).status_code
        == 201
    )
    admin = world.token("admin@north.test")
    pairing = {"device_id": "dev-s", "patient_id": "p-n1", "valid_from": "2026-11-01T00:00:00Z"}
    assert world.client.post("/api/v1/pairings", json=pairing, headers=admin).status_code == 404
    assert world.get("/api/v1/patients/p-s1", CLIN_N).status_code == 404
    assert world.get(f"/api/v1/alerts/{world.alerts['p-s1']}", CLIN_N).status_code == 404
    north = world.users["admin@north.test"]
    assert audit_trail(world) == [
        (north, "refused", "POST /api/v1/pairings", None),
        (world.users[CLIN_N], "refused", "GET /api/v1/patients/p-s1", "p-s1"),
        (world.users[CLIN_N], "refused", f"GET /api/v1/alerts/{world.alerts['p-s1']}", None),
    ]
    with world.session() as s:
        first = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert first is not None
    assert first.organisation_id == "north"
    assert first.query == "refused=no%20device%20%27dev-s%27"
    assert first.outcome == 0


def test_dead_letters_are_scoped_to_the_organisations_gateways(world: World) -> None:
    for who, gateway in (("admin@north.test", "gw-n1"), ("admin@south.test", "gw-s1")):
        r = world.client.post("/api/v1/gateways", json={"id": gateway}, headers=world.token(who))
        assert r.status_code == 201, r.text
    topics = [
        "vg/v1/gw-n1/readings",
        "vg/v1/gw-s1/readings",
        "vg/v1/gw-n1x/readings",  # a prefix of another id is not that gateway
        "vg/v1/gw-unknown/events",
        "elsewhere/gw-n1/readings",
        "vg/v1/gw-n1/status",
    ]
    with world.session() as s, s.begin():
        for topic in topics:
            s.add(DeadLetter(received_at=T0, topic=topic, reason=f"bad {topic}", payload=b"{}"))
    north = world.get("/api/v1/dead-letters", "admin@north.test")
    assert north.status_code == 200
    assert [d["topic"] for d in north.json()] == ["vg/v1/gw-n1/status", "vg/v1/gw-n1/readings"]
    south = world.get("/api/v1/dead-letters", "admin@south.test")
    assert [d["topic"] for d in south.json()] == ["vg/v1/gw-s1/readings"]
    # Unknown gateways' dead letters belong to no organisation: no admin sees them.
    assert_refused(world.get("/api/v1/dead-letters", CLIN_N), 403, "forbidden")
    trail = audit_trail(world)
    assert (world.users["admin@north.test"], "read", "GET /api/v1/dead-letters", None) in trail
