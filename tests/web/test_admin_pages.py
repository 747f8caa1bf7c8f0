"""The administration pages through the real app: admins only, their organisation only,
CSRF on every form, and the same service functions as the API and the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloud.alerts import escalation
from cloud.auth import security
from cloud.store.models import GatewayRecord
from cloud.store.tenancy import AuditEvent, Patient, User
from cloud.tenancy import service as tenancy
from tests.fixtures.api import World
from tests.web.conftest import NOW
from tests.web.test_pages import _csrf, sign_in

NEW_PASSWORD = "a-new-long-passphrase"


def _lock(world: World, email: str) -> int:
    with world.session() as s, s.begin():
        user = s.scalars(select(User).where(User.email == email)).one()
        user.locked_until, user.failed_logins = NOW + timedelta(hours=1), 7
        return user.id


def _user(world: World, user_id: int) -> User:
    with world.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        s.expunge(user)
        return user


@pytest.mark.parametrize("who", ["clin@north.test", "coord@north.test"])
@pytest.mark.parametrize("path", ["/admin/users", "/admin/care-teams", "/admin/chains", "/admin/gateways"])  # fmt: skip
def test_only_admins_get_the_administration_pages(web_world: World, who: str, path: str) -> None:
    sign_in(web_world, who)
    assert web_world.client.get(path).status_code == 403
    assert "Administration" not in web_world.client.get("/").text


def test_a_clinician_cannot_unlock_even_with_a_valid_form(web_world: World) -> None:
    locked = _lock(web_world, "coord@north.test")
    sign_in(web_world, "clin@north.test")
    csrf = _csrf(web_world.client.get("/").text)
    r = web_world.client.post(f"/admin/users/{locked}/unlock", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert _user(web_world, locked).locked_until is not None


def test_users_list_their_role_and_lock_and_only_the_organisation(web_world: World) -> None:
    locked = _lock(web_world, "coord@north.test")
    sign_in(web_world, "admin@north.test")
    html = web_world.client.get("/admin/users").text
    assert '<a href="/admin/users" aria-current="page">Administration</a>' in html
    listed = re.findall(r'<tr data-user="([^"]+)">', html)
    api = web_world.get("/api/v1/users", "admin@north.test").json()
    assert sorted(listed) == sorted(u["email"] for u in api)
    assert "admin@south.test" not in html
    row = html.split('<tr data-user="coord@north.test">')[1].split("</tr>")[0]
    assert '<td class="role">care coordinator</td>' in row
    assert "locked until 2026-11-20 13:00 UTC" in row
    assert "7 failed sign-ins" in row
    assert f'action="/admin/users/{locked}/unlock"' in row
    clin = html.split('<tr data-user="clin@north.test">')[1].split("</tr>")[0]
    assert "unlock" not in clin


def test_unlock_needs_csrf_then_lifts_the_lock_and_is_audited(web_world: World) -> None:
    locked = _lock(web_world, "coord@north.test")
    sign_in(web_world, "admin@north.test")
    page = web_world.client.get("/admin/users").text
    refused = web_world.client.post(f"/admin/users/{locked}/unlock", data={})
    assert refused.status_code == 403
    assert _user(web_world, locked).locked_until is not None
    r = web_world.client.post(
        f"/admin/users/{locked}/unlock", data={"csrf_token": _csrf(page)}, follow_redirects=False
    )
    assert (r.status_code, r.headers["location"]) == (303, "/admin/users?notice=Unlocked%20coord%40north.test")  # fmt: skip
    after = _user(web_world, locked)
    assert (after.locked_until, after.failed_logins) == (None, 0)
    with web_world.session() as s:
        audited = s.scalars(select(AuditEvent.resource).where(AuditEvent.action == "write")).all()
    assert f"POST /admin/users/{locked}/unlock" in audited


def test_another_organisations_account_is_not_found(web_world: World) -> None:
    south = _lock(web_world, "admin@south.test")
    sign_in(web_world, "admin@north.test")
    csrf = _csrf(web_world.client.get("/admin/users").text)
    for action, data in (("unlock", {}), ("password", {"password": NEW_PASSWORD})):
        r = web_world.client.post(
            f"/admin/users/{south}/{action}", data={"csrf_token": csrf, **data}
        )
        assert r.status_code == 404
    after = _user(web_world, south)
    assert after.locked_until is not None
    assert not security.verify_password(NEW_PASSWORD, after.password_hash)


def test_reset_password_refuses_a_short_one_then_sets_it(web_world: World) -> None:
    user_id = web_world.users["clin@north.test"]
    sign_in(web_world, "admin@north.test")
    csrf = _csrf(web_world.client.get("/admin/users").text)
    before = _user(web_world, user_id).password_hash
    short = web_world.client.post(f"/admin/users/{user_id}/password", data={"password": "short", "csrf_token": csrf})  # fmt: skip
    assert "Password not changed: the password must have at least 12 characters" in short.text
    assert _user(web_world, user_id).password_hash == before
    done = web_world.client.post(f"/admin/users/{user_id}/password", data={"password": NEW_PASSWORD, "csrf_token": csrf})  # fmt: skip
    assert "New password set for clin@north.test" in done.text
    assert security.verify_password(NEW_PASSWORD, _user(web_world, user_id).password_hash)


def test_create_an_account_in_the_admins_organisation(web_world: World) -> None:
    sign_in(web_world, "admin@north.test")
    csrf = _csrf(web_world.client.get("/admin/users").text)
    form = {"email": "Nurse@North.test", "password": NEW_PASSWORD, "role": "clinician", "csrf_token": csrf}  # fmt: skip
    r = web_world.client.post("/admin/users", data=form)
    assert "Created nurse@north.test as clinician" in r.text
    assert '<tr data-user="nurse@north.test">' in r.text
    again = web_world.client.post("/admin/users", data=form)
    assert "Not created: a user with this e-mail already exists" in again.text
    api = web_world.get("/api/v1/users", "admin@north.test").json()
    made = next(u for u in api if u["email"] == "nurse@north.test")
    assert (made["role"], made["organisation_id"]) == ("clinician", "north")


def test_care_teams_show_members_and_are_audited(web_world: World) -> None:
    sign_in(web_world, "admin@north.test")
    html = web_world.client.get("/admin/care-teams").text
    row = html.split('<a href="/patients/p-n1">')[1].split("</tr>")[0]
    assert 'coord@north.test <span class="sub">care coordinator · coordinator</span>' in row
    assert "p-s1" not in html
    with web_world.session() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.resource == "GET /admin/care-teams")).first()  # fmt: skip


def test_edit_an_escalation_chain_as_the_api_stores_it(web_world: World) -> None:
    sign_in(web_world, "admin@north.test")
    page = web_world.client.get("/admin/chains").text
    assert 'High priority <span class="sub">the default chain</span>' in page
    csrf = _csrf(page)
    assert (
        web_world.client.post("/admin/chains/high", data={"role_0": "clinician"}).status_code == 403
    )
    coord = web_world.users["coord@north.test"]
    form = {"csrf_token": csrf, "role_0": "care_coordinator", "delay_0": "0",
            "role_1": "on_call", "delay_1": "15", "users_1": f"{coord}", "role_2": ""}  # fmt: skip
    r = web_world.client.post("/admin/chains/high", data=form)
    assert "The high chain is saved" in r.text
    assert 'High priority <span class="sub">set by the organisation</span>' in r.text
    api = web_world.get("/api/v1/escalation-chains", "admin@north.test").json()
    assert api[0] == {"priority": "high", "custom": True, "steps": [
        {"role": "care_coordinator", "delay_minutes": 0.0, "user_ids": []},
        {"role": "on_call", "delay_minutes": 15.0, "user_ids": [coord]},
    ]}  # fmt: skip
    south = web_world.users["clin@south.test"]
    bad = web_world.client.post("/admin/chains/high", data={**form, "users_1": str(south)})
    assert f"no care-team users [{south}] in this organisation" in bad.text
    unordered = web_world.client.post("/admin/chains/high", data={**form, "delay_0": "30"})
    assert "The high chain was not saved" in unordered.text
    with web_world.session() as s:
        steps = escalation.chain_for(s, "north", "high")
    assert [(st.role, st.delay, st.user_ids) for st in steps] == [
        ("care_coordinator", timedelta(0), ()), ("on_call", timedelta(minutes=15), (coord,)),
    ]  # fmt: skip
    assert web_world.client.post("/admin/chains/urgent", data=form).status_code == 404


def test_gateways_show_status_and_revoke_only_the_organisations(web_world: World) -> None:
    with web_world.session() as s, s.begin():
        for gid, org in (("gw-north", "north"), ("gw-south", "south")):
            tenancy.provision_gateway(s, organisation_id=org, gateway_id=gid)
        north = s.get(GatewayRecord, "gw-north")
        assert north is not None
        north.state, north.last_seen = "online", NOW - timedelta(minutes=5)
        north.status = {"counters": {"accepted": 1200, "published": 1190, "acknowledged": 1185,
                                     "resent": 7, "thinned": 10, "dead_lettered": 2}}  # fmt: skip
        tenancy.create_device(s, organisation_id="north", device_id="cuff-1", kind="blood_pressure",
                              address=None, gateway_id="gw-north", now=NOW)  # fmt: skip
        patient = s.get(Patient, "p-n1")
        assert patient is not None
        tenancy.create_pairing(s, organisation_id="north", device_id="cuff-1", patient=patient,
                               valid_from=NOW - timedelta(days=2), valid_to=None, now=NOW)  # fmt: skip
    sign_in(web_world, "admin@north.test")
    html = web_world.client.get("/admin/gateways").text
    row = html.split('<tr data-gateway="gw-north">')[1].split("</tr>")[0]
    assert '<td class="state">online</td>' in row
    assert "5 minutes ago" in row
    assert "1185 of 1200" in row  # fleet health from the gateway's own counters
    assert "7 re-sent · 10 thinned · 2 dead-lettered" in row
    assert "gw-south" not in html
    assert 'blood pressure <span class="sub">cuff-1</span>' in html
    csrf = _csrf(html)
    assert web_world.client.post("/admin/gateways/gw-north/revoke", data={}).status_code == 403
    assert web_world.client.post("/admin/gateways/gw-south/revoke", data={"csrf_token": csrf}).status_code == 404  # fmt: skip
    r = web_world.client.post("/admin/gateways/gw-north/revoke", data={"csrf_token": csrf})
    assert "Revoked gw-north; no PKI folder is set" in r.text
    with web_world.session() as s:
        assert s.get(GatewayRecord, "gw-north").revoked_at is not None  # type: ignore[union-attr]
        assert s.get(GatewayRecord, "gw-south").revoked_at is None  # type: ignore[union-attr]


def test_add_a_colleague_to_a_care_team_as_the_api_does(web_world: World) -> None:
    sign_in(web_world, "admin@north.test")
    csrf = _csrf(web_world.client.get("/admin/care-teams").text)
    clin = web_world.users["clin@north.test"]
    form = {"csrf_token": csrf, "user_id": str(clin), "team_role": "cardiology"}
    assert (
        web_world.client.post("/admin/care-teams/p-n2", data={"user_id": str(clin)}).status_code
        == 403
    )
    assert web_world.client.post("/admin/care-teams/p-s1", data=form).status_code == 404
    r = web_world.client.post("/admin/care-teams/p-n2", data=form)
    assert "Added to the care team of p-n2" in r.text
    row = r.text.split('<a href="/patients/p-n2">')[1].split("</tr>")[0]
    assert 'clin@north.test <span class="sub">clinician · cardiology</span>' in row
    api = web_world.client.get("/api/v1/patients/p-n2/care-team", headers=web_world.token("admin@north.test")).json()  # fmt: skip
    assert [(m["user_id"], m["team_role"]) for m in api] == [(clin, "cardiology")]
    south = web_world.client.post("/admin/care-teams/p-n2", data={**form, "user_id": str(web_world.users["clin@south.test"])})  # fmt: skip
    assert f"Not added: no user {web_world.users['clin@south.test']}" in south.text
