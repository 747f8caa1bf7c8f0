"""The alert lifecycle over the real API on SQLite and PostgreSQL: acknowledge, snooze,
escalate, assign, resolve, the history of each, the escalation chain on a fake clock, and
the e-mailed acknowledge link. Bad input and other tenants' alerts are refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud.alerts import links
from cloud.store.models import Alert, Delivery
from tests.fixtures.api import SECRET, T0, World, running_world
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.waiting import wait_until

ADMIN, CLIN, COORD, PAT = (
    "admin@north.test",
    "clin@north.test",
    "coord@north.test",
    "pat@north.test",
)
SOUTH = "clin@south.test"


@pytest.fixture
def lw(db_url: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[World]:
    """A world whose care team is reached by e-mail at the test's SMTP server; the background
    escalation thread is slowed down so that the tests drive the scheduler's clock."""
    template = smtp.apprise_url(to="{address}")
    with running_world(
        db_url,
        tmp_path / "cloud",
        contact_urls={"email": template},
        escalation_interval_s=300,
        public_url="https://rpm.north.test",
    ) as world:
        yield world


def post(world: World, path: str, who: str | None, **kw: Any) -> httpx.Response:
    headers = world.token(who) if who else {}
    response: httpx.Response = world.client.post(path, headers=headers, **kw)
    return response


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == status, body
    assert body["code"] == code
    assert set(body) == {"detail", "code"}
    return body


def events(world: World, alert_id: int) -> list[tuple[str, int | None, str]]:
    r = world.get(f"/api/v1/alerts/{alert_id}/events", CLIN)
    assert r.status_code == 200, r.text
    return [(e["action"], e["actor_user_id"], e["channel"]) for e in r.json()]


class Scheduler:
    """The world's escalation scheduler, reporting the steps it notified for one alert
    (whose chain starts when it opened, as ingest starts it)."""

    def __init__(self, world: World, alert: int) -> None:
        self.inner = world.client.app.state.services.escalation  # type: ignore[attr-defined]
        self.alert = alert
        with world.session() as s, s.begin():
            row = s.get(Alert, alert)
            assert row is not None
            row.escalation_started_at = row.opened_at

    def run_once(self, *, now: Any) -> list[tuple[int, int]]:
        return [(a, step) for a, step in self.inner.run_once(now=now) if a == self.alert]


def scheduler(world: World, alert: int) -> Scheduler:
    return Scheduler(world, alert)


def deliveries(world: World, alert_id: int) -> list[tuple[int | None, int | None, str]]:
    with world.session() as s:
        rows = s.scalars(
            select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id)
        )
        return [(d.user_id, d.step, d.status) for d in rows]


def test_acknowledge_then_resolve_with_history(lw: World) -> None:
    alert = lw.alerts["p-n1"]
    r = post(lw, f"/api/v1/alerts/{alert}/ack", COORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", lw.users[COORD])
    # A second acknowledgement (another person, another tab) changes nothing.
    again = post(lw, f"/api/v1/alerts/{alert}/ack", CLIN).json()
    assert (again["acknowledged_by"], again["acknowledged_at"]) == (
        lw.users[COORD],
        body["acknowledged_at"],
    )
    r = post(lw, f"/api/v1/alerts/{alert}/resolve", CLIN, json={"note": "called, BP fine"})
    assert r.json()["status"] == "resolved"
    assert r.json()["resolved_at"] is not None
    refused(post(lw, f"/api/v1/alerts/{alert}/resolve", CLIN), 409, "conflict")
    refused(post(lw, f"/api/v1/alerts/{alert}/ack", CLIN), 409, "conflict")
    refused(post(lw, f"/api/v1/alerts/{alert}/escalate", CLIN), 409, "conflict")
    assert events(lw, alert) == [
        ("acknowledged", lw.users[COORD], "api"),
        ("resolved", lw.users[CLIN], "api"),
    ]
    r = lw.get(f"/api/v1/alerts/{alert}/events", CLIN)
    assert r.json()[1]["detail"] == {"note": "called, BP fine"}


@pytest.mark.parametrize("action", ["ack", "snooze", "escalate", "assign", "resolve", "events"])
def test_other_tenants_patients_and_strangers_are_refused(lw: World, action: str) -> None:
    north = lw.alerts["p-n1"]
    path = f"/api/v1/alerts/{north}/{action}"
    kw: dict[str, Any] = {}
    if action == "snooze":
        kw = {"json": {"minutes": 10}}
    if action == "assign":
        kw = {"json": {"user_id": lw.users[CLIN]}}

    def call(who: str | None) -> httpx.Response:
        if action == "events":
            got: httpx.Response = lw.client.get(path, headers=lw.token(who) if who else {})
            return got
        return post(lw, path, who, **kw)

    refused(call(SOUTH), 404, "not_found")
    refused(call(PAT), 403, "forbidden")
    refused(call(None), 401, "not_authenticated")
    refused(post(lw, "/api/v1/alerts/999999/ack", CLIN), 404, "not_found")
    refused(post(lw, "/api/v1/alerts/0/ack", CLIN), 422, "invalid_request")
    with lw.session() as s:
        unchanged = s.get(Alert, north)
        assert unchanged is not None
        assert (unchanged.status, unchanged.snoozed_until, unchanged.assigned_to) == (
            "open",
            None,
            None,
        )


def test_a_coordinator_acts_only_on_their_care_teams_alerts(lw: World) -> None:
    with lw.session() as s, s.begin():
        other = Alert(
            patient_id="p-n2", rule_id="r", rule_version=1, category="clinical",
            priority="low", metric="heart_rate", status="open", opened_at=T0, updated_at=T0,
            resolved_at=None, first_value=1.0, last_value=1.0, worst_value=1.0, count=1,
            evidence={},
        )  # fmt: skip
        s.add(other)
        s.flush()
        other_id = other.id
    refused(post(lw, f"/api/v1/alerts/{other_id}/ack", COORD), 404, "not_found")
    assert post(lw, f"/api/v1/alerts/{other_id}/ack", CLIN).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"minutes": 10, "until": "2030-01-01T00:00:00Z"},
        {"minutes": 0},
        {"minutes": 10_081},
        {"until": "2030-01-01T00:00:00"},
        {"until": "not a time"},
        {"minutes": 10, "why": "extra"},
        {"until": "2000-01-01T00:00:00Z"},
        {"until": "2999-01-01T00:00:00Z"},
        {"until": "0001-01-01T00:00:00Z"},
    ],
    ids=[
        "empty",
        "both",
        "zero",
        "over-a-week",
        "naive",
        "garbage",
        "extra",
        "past",
        "until-past-a-week",
        "year-1",
    ],
)
def test_bad_snoozes_are_refused(lw: World, body: dict[str, Any]) -> None:
    refused(
        post(lw, f"/api/v1/alerts/{lw.alerts['p-n1']}/snooze", COORD, json=body),
        422,
        "invalid_request",
    )


def test_assign_to_a_care_team_member_of_the_organisation_only(lw: World) -> None:
    alert = lw.alerts["p-n1"]
    path = f"/api/v1/alerts/{alert}/assign"
    r = post(lw, path, COORD, json={"user_id": lw.users[CLIN]})
    assert r.json()["assigned_to"] == lw.users[CLIN]
    refused(post(lw, path, COORD, json={"user_id": lw.users[SOUTH]}), 404, "not_found")
    refused(post(lw, path, COORD, json={"user_id": lw.users[PAT]}), 422, "invalid_request")
    refused(post(lw, path, COORD, json={"user_id": "me"}), 422, "invalid_request")
    assert events(lw, alert) == [("assigned", lw.users[COORD], "api")]


def test_the_chain_escalates_on_the_clock_until_someone_acknowledges(
    lw: World, smtp: SmtpServer
) -> None:
    alert = lw.alerts["p-n1"]  # medium: coordinator at once, then clinicians after an hour
    sched = scheduler(lw, alert)
    assert sched.run_once(now=T0) == [(alert, 0)]
    assert sched.run_once(now=T0 + timedelta(minutes=59)) == []
    assert sched.run_once(now=T0 + timedelta(hours=1)) == [(alert, 1)]
    assert deliveries(lw, alert)[0][:2] == (lw.users[COORD], 0)
    assert deliveries(lw, alert)[1][:2] == (lw.users[CLIN], 1)
    # The coordinator's e-mail carries the values and a link that acknowledges.
    mail = next(m for m in _wait_for_mail(smtp, 2) if m["To"] == "coord@north.test")
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert "heart rate 130 /min" in text
    assert "https://rpm.north.test/api/v1/ack?token=" in text
    post(lw, f"/api/v1/alerts/{alert}/ack", CLIN)
    assert sched.run_once(now=T0 + timedelta(days=1)) == []
    assert [a for a, _, _ in events(lw, alert)] == ["notified", "escalated", "acknowledged"]


def _wait_for_mail(smtp: SmtpServer, n: int) -> list[EmailMessage]:
    wait_until(lambda: len(smtp.received()) >= n, what=f"{n} e-mails")
    return smtp.received()


def test_snooze_holds_the_chain_then_starts_it_again(lw: World) -> None:
    alert = lw.alerts["p-n1"]
    sched = scheduler(lw, alert)
    now = lw.client.app.state.services.clock()  # type: ignore[attr-defined]
    r = post(lw, f"/api/v1/alerts/{alert}/snooze", COORD, json={"minutes": 30})
    assert r.status_code == 200, r.text
    until = r.json()["snoozed_until"]
    assert until is not None
    assert sched.run_once(now=now + timedelta(minutes=29)) == []
    assert sched.run_once(now=now + timedelta(minutes=31)) == [(alert, 0)]
    with lw.session() as s:
        row = s.get(Alert, alert)
        assert row is not None
        assert row.snoozed_until is None
    actions = [a for a, _, _ in events(lw, alert)]
    assert actions == ["snoozed", "snooze_ended", "notified"]
    post(lw, f"/api/v1/alerts/{alert}/ack", COORD)
    refused(post(lw, f"/api/v1/alerts/{alert}/snooze", COORD, json={"minutes": 5}), 409, "conflict")


def test_manual_escalation_notifies_the_next_step_now(lw: World) -> None:
    alert = lw.alerts["p-n1"]
    path = f"/api/v1/alerts/{alert}/escalate"
    assert post(lw, path, COORD).json()["escalation_step"] == 1
    assert post(lw, path, COORD).json()["escalation_step"] == 2
    body = refused(post(lw, path, COORD), 409, "conflict")
    assert "end of its escalation chain" in body["detail"]
    assert [(u, step) for u, step, _ in deliveries(lw, alert)] == [
        (lw.users[COORD], 0),
        (lw.users[CLIN], 1),
    ]
    assert events(lw, alert) == [
        ("escalated", lw.users[COORD], "api"),
        ("escalated", lw.users[COORD], "api"),
    ]


def test_an_organisation_sets_its_chains(lw: World) -> None:
    r = lw.get("/api/v1/escalation-chains", CLIN)
    high = next(c for c in r.json() if c["priority"] == "high")
    assert [(s["role"], s["delay_minutes"]) for s in high["steps"]] == [
        ("care_coordinator", 0),
        ("clinician", 10),
        ("on_call", 20),
    ]
    assert high["custom"] is False
    chain = {
        "steps": [
            {"role": "care_coordinator", "delay_minutes": 0},
            {"role": "on_call", "delay_minutes": 5, "user_ids": [lw.users[ADMIN]]},
        ]
    }
    refused(lw.client.put("/api/v1/escalation-chains/medium", json=chain, headers=lw.token(CLIN)), 403, "forbidden")  # fmt: skip
    r = lw.client.put("/api/v1/escalation-chains/medium", json=chain, headers=lw.token(ADMIN))
    assert r.status_code == 200, r.text
    assert r.json()["custom"] is True
    # South's chains are its own.
    south = lw.get("/api/v1/escalation-chains", SOUTH).json()
    assert all(not c["custom"] for c in south)
    alert = lw.alerts["p-n1"]
    sched = scheduler(lw, alert)
    assert sched.run_once(now=T0 + timedelta(minutes=5)) == [(alert, 0), (alert, 1)]
    assert [(u, step) for u, step, _ in deliveries(lw, alert)] == [
        (lw.users[COORD], 0),
        (lw.users[ADMIN], 1),
    ]


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [{"role": "on_call", "delay_minutes": 0}],
        [{"role": "clinician", "delay_minutes": 10}, {"role": "admin", "delay_minutes": 5}],
        [{"role": "janitor", "delay_minutes": 0}],
        [{"role": "clinician", "delay_minutes": -1}],
        [{"role": "on_call", "delay_minutes": 0, "user_ids": ["x"]}],
    ],
    ids=["empty", "on-call-nobody", "decreasing", "unknown-role", "negative", "bad-user"],
)
def test_bad_chains_are_refused(lw: World, steps: list[dict[str, Any]]) -> None:
    r = lw.client.put(
        "/api/v1/escalation-chains/high", json={"steps": steps}, headers=lw.token(ADMIN)
    )
    refused(r, 422, "invalid_request")


def test_a_chain_naming_another_organisations_user_is_refused(lw: World) -> None:
    steps = [{"role": "on_call", "delay_minutes": 0, "user_ids": [lw.users[SOUTH]]}]
    r = lw.client.put(
        "/api/v1/escalation-chains/high", json={"steps": steps}, headers=lw.token(ADMIN)
    )
    refused(r, 422, "invalid_request")
    refused(
        lw.client.put("/api/v1/escalation-chains/urgent", json={"steps": steps}, headers=lw.token(ADMIN)),
        422,
        "invalid_request",
    )  # fmt: skip


def link_token(lw: World, alert: int, user: str, *, hours: float = 24) -> str:
    now = lw.client.app.state.services.clock()  # type: ignore[attr-defined]
    return links.issue_ack_token(
        alert_id=alert,
        user_id=lw.users[user],
        key=SECRET,
        now=now,
        lifetime=timedelta(hours=hours),
    )


def test_the_emailed_link_acknowledges_without_a_login(lw: World) -> None:
    alert = lw.alerts["p-n1"]
    token = link_token(lw, alert, COORD)
    page = lw.client.get("/api/v1/ack", params={"token": token})
    assert page.status_code == 200
    assert "Acknowledge this alert?" in page.text
    assert page.headers["cache-control"] == "no-store"
    with lw.session() as s:
        assert s.get(Alert, alert).status == "open"  # type: ignore[union-attr]  # opening it changes nothing
    done = lw.client.post("/api/v1/ack", data={"token": token})
    assert done.status_code == 200
    assert "Acknowledged" in done.text
    again = lw.client.post("/api/v1/ack", data={"token": token})
    assert "already acknowledged" in again.text
    assert events(lw, alert) == [("acknowledged", lw.users[COORD], "link")]
    # The page of an acknowledged alert has nothing to press.
    assert "<form" not in lw.client.get("/api/v1/ack", params={"token": token}).text


def test_bad_links_are_refused(lw: World) -> None:
    alert = lw.alerts["p-n1"]
    expired = link_token(lw, alert, COORD, hours=-1)
    refused(lw.client.post("/api/v1/ack", data={"token": expired}), 401, "not_authenticated")
    forged = links.issue_ack_token(
        alert_id=alert, user_id=lw.users[COORD], key="x" * 40,
        now=lw.client.app.state.services.clock(), lifetime=timedelta(hours=1),  # type: ignore[attr-defined]
    )  # fmt: skip
    refused(lw.client.get("/api/v1/ack", params={"token": forged}), 401, "not_authenticated")
    # An API access token is not an acknowledge link.
    access = lw.token(CLIN)["Authorization"].removeprefix("Bearer ")
    refused(lw.client.post("/api/v1/ack", data={"token": access}), 401, "not_authenticated")
    refused(lw.client.post("/api/v1/ack", data={}), 422, "invalid_request")
    # A link sent to a north user does not reach a south alert through a guessed id.
    south_link = link_token(lw, lw.alerts["p-s1"], COORD)
    refused(lw.client.post("/api/v1/ack", data={"token": south_link}), 404, "not_found")
    with lw.session() as s:
        assert s.get(Alert, alert).status == "open"  # type: ignore[union-attr]


def test_alerts_from_before_escalation_existed_are_not_escalated_on_upgrade(lw: World) -> None:
    inner = lw.client.app.state.services.escalation  # type: ignore[attr-defined]
    assert inner.run_once(now=T0 + timedelta(days=30)) == []  # the seeded alerts have no start
    assert post(lw, f"/api/v1/alerts/{lw.alerts['p-n1']}/escalate", COORD).status_code == 200
