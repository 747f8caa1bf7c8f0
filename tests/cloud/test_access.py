"""Access control over the real API on SQLite and PostgreSQL: tokens, tenants, roles, audit.

Every refusal has the error body ``{"detail", "code"}``, and a refused request leaves
nothing written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from cloud.auth import security
from cloud.store.tenancy import AuditEvent, Patient, User
from tests.fixtures.api import PASSWORD, SECRET, World

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


def test_wrong_password_then_lockout_even_with_the_right_password(world: World) -> None:
    login = "/api/v1/auth/token"
    for _ in range(world.settings.lockout_failures):
        r = world.client.post(login, data={"username": CLIN_N, "password": "wrong password!"})
        assert_refused(r, 401, "not_authenticated", "wrong e-mail or password")
    r = world.client.post(login, data={"username": CLIN_N, "password": PASSWORD})
    assert_refused(r, 401, "account_locked", "locked until")
    # Another account is not affected, and an unknown e-mail gets the same answer as a wrong password.
    assert (
        world.client.post(login, data={"username": CLIN_S, "password": PASSWORD}).status_code == 200
    )
    r = world.client.post(login, data={"username": "nobody@north.test", "password": PASSWORD})
    assert_refused(r, 401, "not_authenticated", "wrong e-mail or password")


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
    world.get("/api/v1/readings", CLIN_N, patient_id="p-s1")  # refused: not a read
    with world.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.user_id, e.resource, e.patient_id, e.outcome) for e in events] == [
        (world.users[CLIN_N], "GET /api/v1/readings", "p-n1", 3),
        (world.users[CLIN_N], "GET /api/v1/alerts", None, 1),
    ]
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
