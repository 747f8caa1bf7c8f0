"""Two-way messages over the real API: the inbound-reply webhook (form or JSON, secret or
HMAC), the patient's thread, the worklist, opt-out, and a care-team member's SMS "ACK".
Malformed webhooks are refused with 422; unknown numbers are recorded, never an error."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from cloud.engagement import webhook
from cloud.store.models import Alert, Contact, Message
from tests.fixtures.api import World, running_world
from tests.fixtures.waiting import wait_until
from tests.fixtures.webhook import WebhookReceiver

INBOUND = "/api/v1/messages/inbound"
WEBHOOK_SECRET = "inbound-secret-shared-with-the-sms-provider"
ADMIN, CLIN, COORD, PAT = (
    "admin@north.test",
    "clin@north.test",
    "coord@north.test",
    "pat@north.test",
)
PATIENT_PHONE, COORD_PHONE = "+44 7700 900123", "+44 7700 900999"


@pytest.fixture
def mw(db_url: str, tmp_path: Path, webhook: WebhookReceiver) -> Iterator[World]:
    """Patients are texted through an SMS provider stand-in: the test's webhook receiver."""
    with running_world(
        db_url,
        tmp_path / "cloud",
        inbound_secret=SecretStr(WEBHOOK_SECRET),
        escalation_interval_s=300,
        contact_urls={"sms": f"json://127.0.0.1:{webhook.port}/sms/{{address}}"},
    ) as world:
        for body in (
            {"patient_id": "p-n1", "kind": "sms", "address": PATIENT_PHONE},
            {"patient_id": "p-n1", "kind": "email", "address": "Pat.N1@Example.org", "rank": 1},
            {"user_id": world.users[COORD], "kind": "sms", "address": COORD_PHONE},
        ):
            r = world.client.post("/api/v1/contacts", json=body, headers=world.token(ADMIN))
            assert r.status_code == 201, r.text
        yield world


def sms(
    world: World, sender: str, text: str, *, sid: str | None = None, secret: str = WEBHOOK_SECRET
) -> httpx.Response:
    """What an SMS provider posts: a form, with the shared secret in a header."""
    form = {"From": sender, "Body": text, **({"MessageSid": sid} if sid else {})}
    response: httpx.Response = world.client.post(
        INBOUND, data=form, headers={"X-VitalGate-Secret": secret}
    )
    return response


def signed_headers(
    raw: bytes, *, key: str = WEBHOOK_SECRET, at: float | None = None
) -> dict[str, str]:
    """What a signing provider sends: the time and an HMAC over ``time.body``."""
    timestamp = str(int(time.time() if at is None else at))
    return {
        "Content-Type": "application/json",
        "X-VitalGate-Timestamp": timestamp,
        "X-VitalGate-Signature": webhook.sign(key.encode(), timestamp, raw),
    }


def signed_json(world: World, payload: object, *, key: str = WEBHOOK_SECRET) -> httpx.Response:
    raw = json.dumps(payload).encode()
    response: httpx.Response = world.client.post(
        INBOUND, content=raw, headers=signed_headers(raw, key=key)
    )
    return response


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_call_me_reaches_the_thread_the_alert_and_the_worklist(mw: World) -> None:
    alert = mw.alerts["p-n1"]
    r = sms(mw, "+447700900123", "2", sid="SM0001")
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["status"], result["intent"], result["alert_id"]) == (
        "attached",
        "call_me",
        alert,
    )
    work = mw.get("/api/v1/worklist", COORD).json()
    assert [(t["patient_id"], t["reason"], t["alert_id"], t["status"]) for t in work] == [
        ("p-n1", "call_me", alert, "open")
    ]
    thread = mw.get("/api/v1/patients/p-n1/messages", PAT).json()
    assert [(m["direction"], m["body"], m["intent"]) for m in thread] == [
        ("inbound", "2", "call_me")
    ]
    history = mw.get(f"/api/v1/alerts/{alert}/events", CLIN).json()
    assert [(e["action"], e["channel"], e["detail"]["intent"]) for e in history] == [
        ("patient_reply", "sms", "call_me")
    ]
    # The provider retries the same webhook: recorded once, no second task.
    assert sms(mw, "+447700900123", "2", sid="SM0001").json()["status"] == "duplicate"
    assert len(mw.get("/api/v1/worklist", COORD).json()) == 1
    # Completing the task takes it off the open worklist, once.
    task = work[0]["id"]
    done = mw.client.post(
        f"/api/v1/worklist/{task}/complete", json={"note": "called"}, headers=mw.token(COORD)
    )
    assert done.json()["status"] == "done"
    assert done.json()["done_by"] == mw.users[COORD]
    assert mw.get("/api/v1/worklist", COORD).json() == []
    assert len(mw.get("/api/v1/worklist", COORD, status="done").json()) == 1
    refused(
        mw.client.post(f"/api/v1/worklist/{task}/complete", headers=mw.token(COORD)),
        409,
        "conflict",
    )
    refused(
        mw.client.post(f"/api/v1/worklist/{task}/complete", headers=mw.token("clin@south.test")),
        404,
        "not_found",
    )


def test_feeling_fine_free_text_and_an_email_reply(mw: World) -> None:
    assert sms(mw, "+44 (7700) 900-123", "1.").json()["intent"] == "feels_fine"
    text = "my ankles are swollen again since Sunday"
    r = signed_json(mw, {"from": "pat.n1@example.org", "body": text, "id": "em-1"})
    assert r.json()["intent"] == "free_text"
    work = mw.get("/api/v1/worklist", CLIN).json()
    assert [t["reason"] for t in work] == ["read_reply"]
    thread = mw.get("/api/v1/patients/p-n1/messages", CLIN).json()
    assert [(m["channel"], m["body"]) for m in thread] == [("email", text), ("sms", "1.")]


def test_stop_and_start_set_the_addresss_opt_out(mw: World) -> None:
    def opted_out() -> bool:
        with mw.session() as s:
            contact = s.scalars(select(Contact).where(Contact.kind == "sms", Contact.patient_id == "p-n1")).one()  # fmt: skip
            return contact.opted_out

    assert sms(mw, PATIENT_PHONE, "STOP").json()["intent"] == "opt_out"
    assert opted_out()
    contacts = mw.get("/api/v1/contacts", ADMIN, patient_id="p-n1").json()
    assert [c["opted_out"] for c in contacts] == [True, False]  # the e-mail is still in
    assert sms(mw, PATIENT_PHONE, "start").json()["intent"] == "opt_in"
    assert not opted_out()
    assert mw.get("/api/v1/worklist", CLIN).json() == []


def test_unknown_and_shared_numbers_are_recorded_not_attached(mw: World) -> None:
    r = sms(mw, "+1 555 0100 999", "2")
    assert r.status_code == 200
    assert r.json()["status"] == "unmatched"
    with mw.session() as s, s.begin():  # a second patient gives the same (family) number
        s.add(Contact(organisation_id="north", patient_id="p-n2", kind="sms", address="+447700900123", rank=0, opted_out=False, created_at=s.get(Alert, mw.alerts["p-n1"]).opened_at))  # type: ignore[union-attr]  # fmt: skip
    assert sms(mw, PATIENT_PHONE, "2").json()["status"] == "ambiguous"
    assert mw.get("/api/v1/worklist", CLIN).json() == []
    with mw.session() as s:
        kept = s.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.outcome, m.patient_id, m.body) for m in kept] == [
            ("unmatched", None, "2"),
            ("ambiguous", None, "2"),
        ]
    assert mw.get("/api/v1/patients/p-n1/messages", CLIN).json() == []


def test_a_coordinator_acknowledges_by_sms(mw: World) -> None:
    alert = mw.alerts["p-n1"]
    r = sms(mw, COORD_PHONE, f"ACK {alert}")
    assert (r.json()["status"], r.json()["intent"], r.json()["alert_id"]) == ("staff", "ack", alert)
    body = mw.get(f"/api/v1/alerts/{alert}", CLIN).json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", mw.users[COORD])
    history = mw.get(f"/api/v1/alerts/{alert}/events", CLIN).json()
    assert [(e["action"], e["actor_user_id"], e["channel"]) for e in history] == [
        ("acknowledged", mw.users[COORD], "sms")
    ]
    # Another organisation's alert id acknowledges nothing.
    other = mw.alerts["p-s1"]
    assert sms(mw, COORD_PHONE, f"ack {other}").json()["alert_id"] is None
    assert mw.get(f"/api/v1/alerts/{other}", "clin@south.test").json()["status"] == "open"


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/x-www-form-urlencoded", b"Body=2"),
        ("application/x-www-form-urlencoded", b"From=%2B447700900123"),
        ("application/json", b"{not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b'{"from": 447700900123, "body": "2"}'),
        ("application/json", b'{"from": "+447700900123", "body": null}'),
        ("application/x-www-form-urlencoded", b"From=%FF%FE&Body=2"),
        ("application/x-www-form-urlencoded", b"From=not-a-number&Body=2"),
        ("text/plain", b"From=+447700900123&Body=2"),
        ("application/json", b'{"from": "+447700900123", "body": "' + b"x" * 20_000 + b'"}'),
        ("application/json", b'{"from": "+447700900123", "body": "a\\u0000b"}'),
        ("application/x-www-form-urlencoded", b"From=%2B447700900123&Body=2&MessageSid=" + b"S" * 129),
    ],
    ids=[
        "no-from", "no-body", "bad-json", "json-array", "number-from", "null-body",
        "bad-utf8", "not-an-address", "text-plain", "too-long", "nul", "long-id",
    ],
)  # fmt: skip
def test_malformed_webhooks_are_refused(mw: World, content_type: str, raw: bytes) -> None:
    r = mw.client.post(
        INBOUND,
        content=raw,
        headers={"Content-Type": content_type, "X-VitalGate-Secret": WEBHOOK_SECRET},
    )
    refused(r, 422, "invalid_request")
    with mw.session() as s:
        assert s.scalars(select(Message)).all() == []


def test_a_webhook_without_the_secret_is_refused(mw: World) -> None:
    refused(sms(mw, PATIENT_PHONE, "2", secret="guess"), 401, "bad_signature")
    refused(
        signed_json(mw, {"from": PATIENT_PHONE, "body": "2"}, key="guess"), 401, "bad_signature"
    )
    r = mw.client.post(INBOUND, data={"From": PATIENT_PHONE, "Body": "2"})
    refused(r, 401, "bad_signature")
    with mw.session() as s:
        assert s.scalars(select(Message)).all() == []


def test_a_signed_webhook_cannot_be_replayed_or_sent_late(mw: World) -> None:
    raw = json.dumps({"from": PATIENT_PHONE, "body": "2"}).encode()
    headers = signed_headers(raw)
    first = mw.client.post(INBOUND, content=raw, headers=headers)
    assert first.status_code == 200, first.text
    # The same request again, byte for byte: refused, and nothing more is recorded.
    refused(mw.client.post(INBOUND, content=raw, headers=headers), 409, "replayed")
    # Signed ten minutes ago (or ahead), or with the time changed after signing: refused.
    for late in (time.time() - 600, time.time() + 600):
        r = mw.client.post(INBOUND, content=raw, headers=signed_headers(raw, at=late))
        refused(r, 401, "bad_signature")
        assert "server's clock" in r.json()["detail"]
    moved = {**signed_headers(raw), "X-VitalGate-Timestamp": str(int(time.time()) + 1)}
    refused(mw.client.post(INBOUND, content=raw, headers=moved), 401, "bad_signature")
    # The old body-only signature (no timestamp) is not accepted any more.
    no_time = {k: v for k, v in signed_headers(raw).items() if k != "X-VitalGate-Timestamp"}
    refused(mw.client.post(INBOUND, content=raw, headers=no_time), 401, "bad_signature")
    with mw.session() as s:
        assert len(s.scalars(select(Message)).all()) == 1
    # A new delivery, signed anew (another second), is accepted.
    again = signed_headers(raw, at=time.time() - 60)
    assert mw.client.post(INBOUND, content=raw, headers=again).status_code == 200


def test_deeply_nested_json_is_bad_input_not_a_server_error(mw: World) -> None:
    raw = b"[" * 8_000 + b"]" * 8_000  # within the webhook's 16 KB, far past the parser's depth
    r = mw.client.post(
        INBOUND,
        content=raw,
        headers={"Content-Type": "application/json", "X-VitalGate-Secret": WEBHOOK_SECRET},
    )
    refused(r, 422, "invalid_request")


def test_the_webhook_is_off_until_a_secret_is_set(world: World) -> None:
    refused(sms(world, PATIENT_PHONE, "2"), 403, "inbound_disabled")


def test_threads_and_contacts_are_scoped(mw: World) -> None:
    sms(mw, PATIENT_PHONE, "hello")
    refused(mw.client.get("/api/v1/patients/p-n1/messages", headers=mw.token("clin@south.test")), 404, "not_found")  # fmt: skip
    refused(mw.client.get("/api/v1/worklist", headers=mw.token(PAT)), 403, "forbidden")
    assert mw.get("/api/v1/worklist", "clin@south.test").json() == []
    bad: list[dict[str, Any]] = [
        {"patient_id": "p-s1", "kind": "sms", "address": "+15550100"},
        {"patient_id": "p-n1", "kind": "sms", "address": "pat@example.org"},
        {"patient_id": "p-n1", "user_id": 1, "kind": "sms", "address": "+15550100"},
        {"patient_id": "p-n1", "kind": "fax", "address": "+15550100"},
    ]
    codes = [
        mw.client.post("/api/v1/contacts", json=b, headers=mw.token(ADMIN)).json()["code"]
        for b in bad
    ]
    assert codes == ["not_found", "invalid_request", "invalid_request", "invalid_request"]
    refused(
        mw.client.post("/api/v1/contacts", json=bad[0], headers=mw.token(CLIN)), 403, "forbidden"
    )


def test_the_care_team_messages_a_patient_unless_they_opted_out(
    mw: World, webhook: WebhookReceiver
) -> None:
    path = "/api/v1/patients/p-n1/messages"
    text = "Hello, this is your care team: please call us back today."
    r = mw.client.post(path, json={"body": text}, headers=mw.token(COORD))
    assert r.status_code == 202, r.text
    assert (r.json()["direction"], r.json()["outcome"]) == ("outbound", "queued")
    [sent] = wait_until(lambda: list(webhook.received), what="the SMS at the provider")
    assert sent["path"] == "/sms/+447700900123"
    assert sent["body"]["message"] == text
    wait_until(
        lambda: mw.get(path, CLIN).json()[0]["outcome"] == "sent", what="the message marked sent"
    )
    sms(mw, PATIENT_PHONE, "STOP")
    refused(mw.client.post(path, json={"body": "again"}, headers=mw.token(COORD)), 409, "opted_out")
    refused(
        mw.client.post(
            "/api/v1/patients/p-n2/messages", json={"body": "hi"}, headers=mw.token(CLIN)
        ),
        409,
        "no_contact",
    )
    refused(
        mw.client.post(path, json={"body": ""}, headers=mw.token(COORD)), 422, "invalid_request"
    )
    refused(mw.client.post(path, json={"body": "hi"}, headers=mw.token(PAT)), 403, "forbidden")
    refused(
        mw.client.post(path, json={"body": "hi"}, headers=mw.token("clin@south.test")),
        404,
        "not_found",
    )
    assert len(webhook.received) == 1
