"""The patient's own page by signed link: their week in plain words, a reply that reaches
the worklist like an SMS "2", preferences and STOP, in Spanish when they choose it; an
expired, forged or staff token opens nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from cloud.engagement import patient_link
from cloud.store.models import Contact, Message, Task
from cloud.store.tenancy import AuditEvent
from tests.fixtures.api import SECRET, World
from tests.web.conftest import NOW


def _link(world: World, patient_id: str = "p-n1") -> str:
    r = world.client.post(
        f"/api/v1/patients/{patient_id}/link", headers=world.token("clin@north.test")
    )
    assert r.status_code == 201, r.text
    url: str = r.json()["url"]
    assert r.json()["expires_at"].startswith((NOW + timedelta(days=7)).date().isoformat())
    return "/" + url.split("/", 3)[3]


def _form(html: str) -> str:
    found = re.search(r'name="form" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_the_link_opens_the_patients_week_in_plain_words(web_world: World) -> None:
    path = _link(web_world)
    page = web_world.client.get(path)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    # 48 heart rates this week (the world's older three are outside it).
    assert re.search(r"Your heart rate this week:</span> <strong>\d+</strong> /min", page.text)
    assert "(on average, 48 readings)" in page.text
    with web_world.session() as s:
        audited = s.scalars(select(AuditEvent).where(AuditEvent.role == "patient_link")).all()
    assert [(a.patient_id, a.action) for a in audited] == [("p-n1", "read")]
    # Another patient's page stays closed to this link, and a staff member cannot see it
    # without their own sign-in.
    assert web_world.client.get(path.replace("/p/", "/p/x")).status_code == 401


def test_a_reply_reaches_the_care_team_like_an_sms(web_world: World) -> None:
    path = _link(web_world)
    form = _form(web_world.client.get(path).text)
    refused = web_world.client.post(f"{path}/reply", data={"body": "2"}, follow_redirects=False)
    assert refused.status_code == 403
    r = web_world.client.post(
        f"{path}/reply", data={"body": "2", "form": form}, follow_redirects=False
    )
    assert r.status_code == 303
    page = web_world.client.get(r.headers["location"]).text
    assert "Your care team will read your message." in page
    with web_world.session() as s:
        message = s.scalars(select(Message).where(Message.channel == "web")).one()
        task = s.scalars(select(Task).where(Task.message_id == message.id)).one()
    assert (message.patient_id, message.intent, message.direction) == ("p-n1", "call_me", "inbound")
    assert (task.patient_id, task.reason, task.status) == ("p-n1", "call_me", "open")
    # The same reply as the care team reads it in the patient's thread.
    thread = web_world.get("/api/v1/patients/p-n1/messages", "clin@north.test").json()
    assert thread[0]["body"] == "2"


def test_preferences_stop_and_spanish(web_world: World) -> None:
    with web_world.session() as s, s.begin():
        s.add(Contact(organisation_id="north", user_id=None, patient_id="p-n1", kind="sms",
                      address="+15550100111", rank=0, opted_out=False, created_at=NOW))  # fmt: skip
    path = _link(web_world)
    form = _form(web_world.client.get(path).text)
    r = web_world.client.post(
        f"{path}/preferences",
        data={"language": "es", "quiet_start": "21:30", "quiet_end": "08:00", "stop": "true",
              "form": form},
        follow_redirects=True,
    )  # fmt: skip
    assert r.status_code == 200
    assert '<html lang="es">' in r.text
    assert "Sus preferencias están guardadas." in r.text
    assert "Su ritmo cardíaco esta semana" in r.text
    prefs = web_world.get("/api/v1/patients/p-n1/preferences", "clin@north.test").json()
    assert (prefs["language"], prefs["quiet_start"]) == ("es", "21:30:00")
    with web_world.session() as s:
        assert s.scalars(select(Contact.opted_out).where(Contact.patient_id == "p-n1")).all() == [
            True
        ]


def test_expired_forged_and_other_tokens_open_nothing(web_world: World) -> None:
    old = patient_link.issue(patient_id="p-n1", key=SECRET, now=NOW - timedelta(days=8))
    r = web_world.client.get(f"/p/{old}")
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    forged = patient_link.issue(
        patient_id="p-n1", key="another-key-that-is-long-enough-0123456789", now=NOW
    )
    assert web_world.client.get(f"/p/{forged}").status_code == 401
    access = web_world.token("clin@north.test")["Authorization"].removeprefix("Bearer ")
    assert web_world.client.get(f"/p/{access}").status_code == 401
    # A patient may only be linked by staff who can see them.
    r = web_world.client.post(
        "/api/v1/patients/p-s1/link", headers=web_world.token("clin@north.test")
    )
    assert r.status_code == 404
