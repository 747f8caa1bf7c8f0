"""The alert inbox's routes through the real app (TestClient): escalate, assign and the
worklist's "done" refuse a post without its CSRF token and an alert of another
organisation, and write the alert's history with the person who acted; the live marker
changes for the caller's organisation only."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.api.deps import Principal
from cloud.store.models import Alert, AlertEvent, AuditEvent, Task
from cloud.store.tenancy import Role
from cloud.web import live
from tests.fixtures.api import World, running_world
from tests.web.conftest import NOW
from tests.web.test_pages import _csrf, sign_in


def _history(world: World, alert_id: int) -> list[tuple[str, str, int | None]]:
    with world.session() as s:
        rows = s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)).all()
        return [(e.action, e.channel, e.actor_user_id) for e in rows]


def _add_task(world: World, patient_id: str, organisation_id: str) -> int:
    with world.session() as s, s.begin():
        task = Task(
            organisation_id=organisation_id, patient_id=patient_id, reason="call_me",
            status="open", created_at=NOW - timedelta(minutes=5),
        )  # fmt: skip
        s.add(task)
        s.flush()
        return task.id


@pytest.mark.parametrize(
    ("path", "data"),
    [("escalate", {}), ("assign", {"user_id": "0"}), ("ack", {}), ("resolve", {})],
)
def test_an_action_without_its_csrf_token_is_refused_and_changes_nothing(
    web_world: World, path: str, data: dict[str, str]
) -> None:
    sign_in(web_world, "coord@north.test")
    alert_id = web_world.alerts["p-n1"]
    if path == "assign":
        data = {"user_id": str(web_world.users["coord@north.test"])}
    r = web_world.client.post(f"/alerts/{alert_id}/{path}", data=data, follow_redirects=False)
    assert r.status_code == 403
    with web_world.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        assert (alert.status, alert.assigned_to, alert.escalation_step) == ("open", None, 0)
    assert _history(web_world, alert_id) == []


def test_a_worklist_task_done_without_csrf_is_refused(web_world: World) -> None:
    sign_in(web_world, "coord@north.test")
    task_id = _add_task(web_world, "p-n1", "north")
    r = web_world.client.post(f"/worklist/{task_id}/done", data={}, follow_redirects=False)
    assert r.status_code == 403
    with web_world.session() as s:
        assert s.get(Task, task_id).status == "open"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["escalate", "assign", "ack", "snooze", "resolve"])
def test_an_alert_of_another_organisation_is_not_found(web_world: World, path: str) -> None:
    sign_in(web_world, "clin@north.test")
    csrf = _csrf(web_world.client.get("/alerts").text)
    south = web_world.alerts["p-s1"]
    data = {"csrf_token": csrf, "user_id": str(web_world.users["clin@north.test"])}
    r = web_world.client.post(f"/alerts/{south}/{path}", data=data, follow_redirects=False)
    assert r.status_code == 404
    assert web_world.client.get(f"/alerts/{south}").status_code == 404
    with web_world.session() as s:
        alert = s.get(Alert, south)
        assert alert is not None
        assert (alert.status, alert.assigned_to, alert.escalation_step) == ("open", None, 0)
    assert _history(web_world, south) == []


def test_escalate_and_assign_from_the_inbox_are_in_the_history_with_who(web_world: World) -> None:
    sign_in(web_world, "coord@north.test")
    coord, clin = web_world.users["coord@north.test"], web_world.users["clin@north.test"]
    alert_id = web_world.alerts["p-n1"]
    inbox = web_world.client.get("/alerts").text
    assert f"Take alert {alert_id}: assign it to me" in inbox
    csrf = _csrf(inbox)
    r = web_world.client.post(
        f"/alerts/{alert_id}/assign",
        data={"csrf_token": csrf, "user_id": str(coord), "next": "/alerts"},
        headers={"HX-Request": "true"},
        follow_redirects=False,
    )
    # htmx asked: it gets the list part back, to swap in place.
    assert (r.status_code, r.headers["location"]) == (303, "/alerts?partial=true")
    part = web_world.client.get(r.headers["location"]).text
    assert part.startswith('<section id="inbox"')
    assert "assigned to coord@north.test" in part
    assert f"Take alert {alert_id}" not in part  # it is theirs already

    r = web_world.client.post(
        f"/alerts/{alert_id}/escalate", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/alerts/{alert_id}")
    # On the alert's page, to someone else.
    r = web_world.client.post(
        f"/alerts/{alert_id}/assign", data={"csrf_token": csrf, "user_id": str(clin)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    history = _history(web_world, alert_id)
    assert ("assigned", "web", coord) in history
    assert ("escalated", "web", coord) in history
    assert history.count(("assigned", "web", coord)) == 2
    with web_world.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        assert (alert.assigned_to, alert.escalation_step) == (clin, 1)
        writes = s.scalars(
            select(AuditEvent.resource).where(
                AuditEvent.action == "write", AuditEvent.user_id == coord
            )
        ).all()
    assert f"POST /alerts/{alert_id}/escalate" in writes
    page = web_world.client.get(f"/alerts/{alert_id}").text
    assert "<strong>assigned</strong> by coord@north.test to clin@north.test" in page
    assert "assigned to clin@north.test" in page


def test_a_refused_action_says_why_and_changes_nothing(web_world: World) -> None:
    sign_in(web_world, "coord@north.test")
    alert_id = web_world.alerts["p-n1"]
    csrf = _csrf(web_world.client.get("/alerts").text)
    other = web_world.users["clin@south.test"]
    r = web_world.client.post(
        f"/alerts/{alert_id}/assign", data={"csrf_token": csrf, "user_id": str(other)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/alerts/{alert_id}?notice=no%20user")
    assert "no user" in web_world.client.get(r.headers["location"]).text
    with web_world.session() as s:
        assert s.get(Alert, alert_id).assigned_to is None  # type: ignore[union-attr]


def test_the_worklist_is_beside_the_inbox_and_done_records_who(web_world: World) -> None:
    mine = _add_task(web_world, "p-n1", "north")
    not_my_team = _add_task(web_world, "p-n2", "north")
    south = _add_task(web_world, "p-s1", "south")
    sign_in(web_world, "coord@north.test")
    page = web_world.client.get("/alerts").text
    assert f"Done: task {mine} for p-n1" in page
    assert f"task {not_my_team} " not in page
    assert f"task {south} " not in page
    r = web_world.client.post(
        f"/worklist/{mine}/done", data={"csrf_token": _csrf(page)},
        headers={"HX-Request": "true"}, follow_redirects=False,
    )  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/worklist")
    assert "No tasks from patients" in web_world.client.get("/worklist").text
    r = web_world.client.post(
        f"/worklist/{south}/done", data={"csrf_token": _csrf(page)}, follow_redirects=False
    )
    assert r.status_code == 404
    with web_world.session() as s:
        done = s.get(Task, mine)
        assert done is not None
        assert (done.status, done.done_by) == ("done", web_world.users["coord@north.test"])
        assert s.get(Task, south).status == "open"  # type: ignore[union-attr]


def test_the_stream_needs_a_signed_in_member_of_the_care_team(web_world: World) -> None:
    r = web_world.client.get("/alerts/stream", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_the_live_marker_moves_for_the_callers_organisation_only(web_world: World) -> None:
    _marker_moves_for_its_organisation_only(web_world)


@pytest.mark.postgres
def test_the_live_marker_on_postgresql(migrated_postgres_url: str, tmp_path: Path) -> None:
    with running_world(migrated_postgres_url, tmp_path / "cloud", clock=lambda: NOW) as world:
        _marker_moves_for_its_organisation_only(world)


def _marker_moves_for_its_organisation_only(web_world: World) -> None:
    sessions = web_world.client.app.state.services.sessions  # type: ignore[attr-defined]

    def principal(email: str, role: Role, org: str) -> Principal:
        return Principal(web_world.users[email], org, role, None, None)

    north = principal("clin@north.test", Role.CLINICIAN, "north")
    south = principal("clin@south.test", Role.CLINICIAN, "south")
    before_n, before_s = live.marker(sessions, north), live.marker(sessions, south)
    with web_world.session() as s, s.begin():
        alert = s.get(Alert, web_world.alerts["p-n1"])
        assert alert is not None
        alert.status = "acknowledged"
        s.add(
            AlertEvent(alert_id=alert.id, at=NOW, action="acknowledged", channel="api", detail={})
        )
    after_n = live.marker(sessions, north)
    assert after_n.alerts != before_n.alerts
    assert after_n.tasks == before_n.tasks
    assert live.marker(sessions, south) == before_s
    _add_task(web_world, "p-n1", "north")
    assert live.marker(sessions, north).tasks != after_n.tasks
    assert live.marker(sessions, south) == before_s


def test_a_commit_that_touches_tasks_or_alerts_wakes_the_streams_of_its_process(
    web_world: World,
) -> None:
    sessions = web_world.client.app.state.services.sessions  # type: ignore[attr-defined]
    feed = live.ChangeFeed()
    feed.watch(sessions)

    async def woken_by_a_commit() -> float:
        waiting = asyncio.create_task(feed.wait(60))
        while not feed._waiting:  # registered before the commit
            await asyncio.sleep(0)
        started = time.monotonic()
        await asyncio.to_thread(_add_task, web_world, "p-n1", "north")
        await asyncio.wait_for(waiting, 10)
        return time.monotonic() - started

    assert asyncio.run(woken_by_a_commit()) < 10  # not the 60 s timeout
