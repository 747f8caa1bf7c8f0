"""The care team's pages through the real app (TestClient): sign-in with CSRF, scope, the
population ranking, charts that carry their data, and acknowledging an alert."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from cloud.store.edge_records import EdgeRollup
from cloud.store.models import Alert, AlertEvent
from cloud.store.tenancy import AuditEvent
from tests.fixtures.api import PASSWORD, World
from tests.web.conftest import HR_READINGS, NOW


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def sign_in(world: World, email: str) -> None:
    page = world.client.get("/login")
    r = world.client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "vg_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_signed_out_visitor_lands_on_the_sign_in_form(web_world: World) -> None:
    r = web_world.client.get("/patients/p-n1?span=7d", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/patients/p-n1%3Fspan%3D7d"
    page = web_world.client.get(r.headers["location"])
    assert '<label for="email">Email</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert '<button type="submit" class="primary">Sign in</button>' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_sign_in_refuses_a_form_without_its_csrf_token_and_a_wrong_password(
    web_world: World,
) -> None:
    web_world.client.get("/login")
    r = web_world.client.post(
        "/login", data={"email": "clin@north.test", "password": PASSWORD, "csrf_token": "x"}
    )
    assert r.status_code == 403
    assert "vg_session" not in r.headers.get("set-cookie", "")
    page = web_world.client.get("/login")
    r = web_world.client.post(
        "/login",
        data={"email": "clin@north.test", "password": "wrong", "csrf_token": _csrf(page.text)},
    )
    assert r.status_code == 401
    assert "do not match" in r.text


def test_sign_in_returns_only_to_a_local_page(web_world: World) -> None:
    page = web_world.client.get("/login")
    r = web_world.client.post(
        "/login",
        data={"email": "clin@north.test", "password": PASSWORD, "csrf_token": _csrf(page.text),
              "next": "//evil.example/phish"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.headers["location"] == "/"


def test_population_is_ranked_by_need_and_scoped_to_the_organisation(web_world: World) -> None:
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/").text
    order = re.findall(r'<a href="/patients/([^"]+)">', html)
    # p-n2 has an open high alert, p-n1 a medium one; south's patient is never listed.
    assert order == ["p-n2", "p-n1"]
    assert "p-s1" not in html
    assert "body weight 81.6" in html
    assert "heart rate 130" in html
    api = web_world.get("/api/v1/population", "clin@north.test").json()
    assert [row["patient_id"] for row in api] == ["p-n2", "p-n1"]
    assert api[0]["clinical_alerts"] == {"high": 1}
    hr = next(x for x in api[1]["latest"] if x["metric"] == "heart_rate")
    assert (hr["value"], hr["direction"]) == (130.0, "up")


def test_patient_page_charts_carry_their_points_and_are_audited(web_world: World) -> None:
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/patients/p-n1?span=7d").text
    assert f'data-metric="heart_rate" data-points="{HR_READINGS}"' in html
    weight = web_world.client.get("/patients/p-n2?span=30d").text
    assert 'data-metric="body_weight" data-points="2"' in weight
    assert "7-day change: +1.6 kg" in weight
    with web_world.session() as s:
        audited = s.scalars(
            select(AuditEvent.resource).where(
                AuditEvent.patient_id == "p-n1", AuditEvent.user_id == web_world.users["clin@north.test"]
            )
        ).all()  # fmt: skip
    assert "GET /patients/p-n1" in audited
    assert web_world.client.get("/patients/p-s1").status_code == 404


def test_a_form_post_without_csrf_changes_nothing(web_world: World) -> None:
    sign_in(web_world, "coord@north.test")
    alert_id = web_world.alerts["p-n1"]
    r = web_world.client.post(f"/alerts/{alert_id}/ack", data={}, follow_redirects=False)
    assert r.status_code == 403
    with web_world.session() as s:
        assert s.get(Alert, alert_id).status == "open"  # type: ignore[union-attr]


def test_acknowledge_from_the_inbox_shows_who_and_when(web_world: World) -> None:
    sign_in(web_world, "coord@north.test")
    inbox = web_world.client.get("/alerts").text
    alert_id = web_world.alerts["p-n1"]
    assert f"/alerts/{alert_id}/ack" in inbox
    # The coordinator is on p-n1's team only: p-n2's alert is not in their inbox.
    assert f"/alerts/{web_world.alerts['p-n2']}/" not in inbox
    r = web_world.client.post(
        f"/alerts/{alert_id}/ack",
        data={"csrf_token": _csrf(inbox), "next": "/alerts"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/alerts")
    page = web_world.client.get(f"/alerts/{alert_id}").text
    assert "status <strong>acknowledged</strong>" in page
    assert "<strong>acknowledged</strong> by coord@north.test" in page
    with web_world.session() as s:
        event = s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)).one()
    assert (event.action, event.channel, event.actor_user_id) == (
        "acknowledged", "web", web_world.users["coord@north.test"],
    )  # fmt: skip


def test_a_patient_account_gets_no_care_team_page(web_world: World) -> None:
    sign_in(web_world, "pat@north.test")
    r: httpx.Response = web_world.client.get("/")
    assert r.status_code == 403


def test_static_assets_are_served_from_the_app(web_world: World) -> None:
    page = web_world.client.get("/login").text
    for src in re.findall(r'(?:src|href)="([^"#][^"]*)"', page):
        assert src.startswith("/"), f"{src} is not served by VitalGate"
    assert web_world.client.get("/static/vendor/uPlot.iife.min.js").status_code == 200
    assert web_world.client.get("/static/vendor/htmx.min.js").status_code == 200


def test_from_the_patient_page_a_clinician_messages_logs_time_and_previews_rules(
    web_world: World,
) -> None:
    from cloud.store.models import Contact, Delivery
    from cloud.store.timelog import TimeEntry
    from tests.web.conftest import NOW

    sign_in(web_world, "clin@north.test")
    page = web_world.client.get("/patients/p-n1?span=7d")
    assert "Rules in force" in page.text
    assert 'hx-get="/patients/p-n1/replay"' in page.text
    preview = web_world.client.get("/patients/p-n1/replay").text
    assert re.search(r"these rules would have fired <strong>\d+</strong> alert", preview)
    csrf = _csrf(page.text)
    # No contact yet: the clinician is told so, nothing is queued.
    r = web_world.client.post("/patients/p-n1/messages", data={"body": "Hello", "csrf_token": csrf})
    assert "has no contact VitalGate can send to" in r.text
    with web_world.session() as s, s.begin():
        s.add(Contact(organisation_id="north", user_id=None, patient_id="p-n1", kind="email",
                      address="p-n1@example.test", rank=0, opted_out=False, created_at=NOW))  # fmt: skip
    # An e-mail transport, so the contact is one VitalGate can send to (nothing is sent here).
    notifier = web_world.client.app.state.services.notifier  # type: ignore[attr-defined]
    notifier.transports = {"email": "json://127.0.0.1:9/{address}"}
    r = web_world.client.post(
        "/patients/p-n1/messages", data={"body": "How are you today?", "csrf_token": csrf}
    )
    assert "Message queued" in r.text
    assert "How are you today?" in r.text
    r = web_world.client.post(
        "/patients/p-n1/time",
        data={"minutes": "12", "interactive": "true", "note": "call", "csrf_token": csrf},
    )
    assert "Time logged" in r.text
    with web_world.session() as s:
        delivery = s.scalars(select(Delivery).where(Delivery.message_id.is_not(None))).one()
        entry = s.scalars(select(TimeEntry)).one()
    assert delivery.channel == "email:patient"
    assert (entry.patient_id, entry.minutes, entry.interactive, entry.user_id) == (
        "p-n1", 12, True, web_world.users["clin@north.test"],
    )  # fmt: skip
    refused = web_world.client.post("/patients/p-n1/time", data={"minutes": "5"})
    assert refused.status_code == 403


def _figure_data(html: str, metric: str) -> tuple[dict[str, str], dict[str, object]]:
    found = re.search(
        rf'<figure class="chart" data-metric="{metric}"([^>]*)>.*?'
        r'<script type="application/json">(.*?)</script>',
        html,
        re.S,
    )
    assert found, f"no {metric} chart"
    attributes = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', found.group(1)))
    return attributes, json.loads(found.group(2))


def test_charts_draw_the_patients_own_alert_levels(web_world: World) -> None:
    """The bands on a chart are the levels that alert for this patient: the program's, then
    the clinician's override once it is saved."""
    sign_in(web_world, "clin@north.test")
    attributes, data = _figure_data(
        web_world.client.get("/patients/p-n1?span=7d").text, "heart_rate"
    )
    assert [(lv["value"], lv["label"]) for lv in data["levels"]] == [  # type: ignore[attr-defined]
        (40.0, "heart rate ≤ 40"),
        (131.0, "heart rate ≥ 131"),
    ]
    assert attributes["data-levels"] == "2"
    r = web_world.client.put(
        "/api/v1/patients/p-n1/thresholds",
        json={"rules": [{"rule_id": "general.hr", "fire_high": 140, "clear_high": 130}]},
        headers=web_world.token("clin@north.test"),
    )
    assert r.status_code == 200, r.text
    html = web_world.client.get("/patients/p-n1?span=7d").text
    _, data = _figure_data(html, "heart_rate")
    assert [lv["value"] for lv in data["levels"]] == [40.0, 140.0]  # type: ignore[attr-defined]
    assert "alerts at heart rate ≤ 40, heart rate ≥ 140" in html


def test_hrv_from_the_straps_rr_intervals_is_charted(web_world: World) -> None:
    rmssd = [42.0, 38.5, 51.25, 47.0]
    with web_world.session() as s:
        for i, value in enumerate(rmssd):
            start = NOW - timedelta(hours=2, minutes=-i)
            s.add(
                EdgeRollup(
                    id=f"roll-{i}", gateway_id="gw-1", patient_id="p-n1", device_id="strap-1",
                    metric="heart_rate", start=start, end=start + timedelta(minutes=1),
                    count=60, min=60.0, max=80.0, mean=70.0, median=70.0, last=71.0,
                    rejected=0, hrv={"rmssd_ms": value, "sdnn_ms": value * 1.2, "pnn50": 10.0},
                    received_at=start + timedelta(minutes=2),
                )
            )  # fmt: skip
        s.add(  # a minute without RR intervals draws nothing
            EdgeRollup(
                id="roll-no-rr", gateway_id="gw-1", patient_id="p-n1", device_id="strap-1",
                metric="heart_rate", start=NOW - timedelta(hours=1), end=NOW - timedelta(minutes=59),
                count=60, min=60.0, max=80.0, mean=70.0, median=70.0, last=71.0, rejected=0,
                hrv=None, received_at=NOW,
            )
        )  # fmt: skip
        s.commit()
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/patients/p-n1?span=1d").text
    attributes, data = _figure_data(html, "hrv_rmssd")
    assert attributes["data-points"] == str(len(rmssd))
    assert data["unit"] == "ms"
    assert data["series"][0]["y"] == rmssd  # type: ignore[index]
    assert "Heart rate variability (RMSSD)" in html
    # p-n2 has no RR intervals: no HRV chart.
    assert 'data-metric="hrv_rmssd"' not in web_world.client.get("/patients/p-n2?span=1d").text


def test_tags_filter_the_population_and_stay_in_the_organisation(web_world: World) -> None:
    """The care team tags a patient from their page; the patients list and the API filter
    by it; a tag that is not one is refused with its reason; erasure takes the tags."""
    sign_in(web_world, "clin@north.test")
    page = web_world.client.get("/patients/p-n1").text
    r = web_world.client.post(
        "/patients/p-n1/tags",
        data={"tags": " Post-discharge ,cohort   B, post-discharge", "csrf_token": _csrf(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"].endswith("notice=Tags+saved")
    header = web_world.token("clin@north.test")
    tags = web_world.client.get("/api/v1/patients/p-n1/tags", headers=header)
    assert tags.json() == {"tags": ["cohort b", "post-discharge"]}

    listed = web_world.client.get("/?tag=post-discharge").text
    assert '<a href="/patients/p-n1">' in listed
    assert '<a href="/patients/p-n2">' not in listed
    assert '<option value="cohort b"' in listed
    api = web_world.client.get("/api/v1/population", params={"tag": "Cohort B"}, headers=header)
    assert [(row["patient_id"], row["tags"]) for row in api.json()] == [
        ("p-n1", ["cohort b", "post-discharge"])
    ]

    refused = web_world.client.put(
        "/api/v1/patients/p-n2/tags", json={"tags": ["<script>"]}, headers=header
    )
    assert refused.status_code == 422
    assert "letters, digits" in refused.text
    # Another organisation's patient cannot be tagged, nor a form posted without CSRF.
    other = web_world.client.put("/api/v1/patients/p-s1/tags", json={"tags": ["x"]}, headers=header)
    assert other.status_code == 404
    no_csrf = web_world.client.post(
        "/patients/p-n1/tags", data={"tags": ""}, follow_redirects=False
    )
    assert no_csrf.status_code == 403
    assert web_world.client.get("/api/v1/patients/p-n1/tags", headers=header).json()["tags"]
