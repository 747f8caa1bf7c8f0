"""Clinician time and the billing and engagement reports over HTTP (CMS 2026 rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cloud.store.models import Message
from cloud.store.readings import upsert_readings
from cloud.store.rollups import add_to_rollups
from tests.fixtures.api import T0, World, reading_row

CLIN, COORD = "clin@north.test", "coord@north.test"


NO_CONVERSATION: dict[str, Any] = {
    "messages_sent": 0, "replies": 0, "reply_rate": None, "median_reply_s": None,
    "plans_acknowledged": 0, "ratings": 0, "mean_rating": None, "promoters": 0, "passives": 0,
    "detractors": 0, "nps": None,
}  # fmt: skip


def talk(
    world: World, patient: str, *messages: tuple[str, str, str, str | None, int | None]
) -> None:
    """Thread messages: (direction, ISO time, outcome, intent, rating)."""
    with world.session() as s, s.begin():
        for direction, at, outcome, intent, rating in messages:
            s.add(
                Message(
                    organisation_id="north", patient_id=patient, user_id=None,
                    direction=direction, channel="sms", address="+15550100", body="synthetic",
                    intent=intent, outcome=outcome, alert_id=None, provider_id=None,
                    at=datetime.fromisoformat(at), rating=rating,
                    kind="rating" if direction == "outbound" and rating is None else None,
                )
            )  # fmt: skip


def measure(world: World, patient: str, days: range, metric: str = "heart_rate") -> None:
    """One reading a day on the given days of November 2026 (T0 is 1 November)."""
    rows = [
        reading_row(
            f"d-{patient}-{metric}-{d}", patient, "dev", 70.0, T0 + timedelta(days=d, hours=2)
        )
        | {"metric": metric}
        for d in days
    ]
    with world.session() as s, s.begin():
        upsert_readings(s, rows)
        add_to_rollups(s, rows)


def log(world: World, patient: str, who: str, **body: Any) -> Any:
    return world.client.post(
        f"/api/v1/patients/{patient}/time", json=body, headers=world.token(who)
    )


def test_billing_report_counts_days_and_time(world: World) -> None:
    measure(world, "p-n1", range(0, 32, 2))  # 16 days in the 30-day period
    measure(world, "p-n2", range(10))
    measure(world, "p-n2", range(10, 20), metric="battery_level")  # a device, not the patient
    at = (T0 + timedelta(days=3)).isoformat()
    assert log(world, "p-n1", CLIN, minutes=25, interactive=True, at=at).status_code == 201
    assert log(world, "p-n1", COORD, minutes=20, at=at).status_code == 201
    assert log(world, "p-n2", CLIN, minutes=30, at=at).status_code == 201  # no conversation
    last_month = (T0 - timedelta(days=2)).isoformat()
    assert log(world, "p-n2", CLIN, minutes=30, at=last_month).status_code == 201

    r = world.get("/api/v1/reports/billing", CLIN, month="2026-11", as_of="2026-11-23")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["period_start"], report["period_end"]) == ("2026-11-01", "2026-11-30")
    rows = {p["patient_id"]: p for p in report["patients"]}
    assert set(rows) == {"p-n1", "p-n2"}  # not south's patient
    n1, n2 = rows["p-n1"], rows["p-n2"]
    assert (n1["days_with_data"], n1["supply_code"]) == (12, "99445")  # day 0..22 as of 23rd
    assert (n1["minutes"], n1["interactive"], n1["management_codes"]) == (
        45,
        True,
        ["99457", "99458"],
    )
    assert (n2["days_with_data"], n2["supply_code"], n2["at_risk"]) == (10, "99445", True)
    assert (n2["minutes"], n2["management_codes"]) == (30, [])

    end = world.get("/api/v1/reports/billing", CLIN, month="2026-11", as_of="2026-12-31").json()
    rows = {p["patient_id"]: p for p in end["patients"]}
    assert (rows["p-n1"]["days_with_data"], rows["p-n1"]["supply_code"]) == (15, "99445")
    assert end["totals"] == {"99445": 2, "99457": 1, "99458": 1}

    # A coordinator sees only their team's patient.
    mine = world.get("/api/v1/reports/billing", COORD, month="2026-11").json()
    assert [p["patient_id"] for p in mine["patients"]] == ["p-n1"]


def test_time_log_is_scoped_and_checked(world: World) -> None:
    assert log(world, "p-s1", CLIN, minutes=5).status_code == 404
    assert log(world, "p-n2", COORD, minutes=5).status_code == 404  # not on the team
    assert log(world, "p-n1", "pat@north.test", minutes=5).status_code == 403
    assert log(world, "p-n1", CLIN, minutes=0).status_code == 422
    future = (T0 + timedelta(days=3650)).isoformat()
    bad = log(world, "p-n1", CLIN, minutes=5, at=future)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")
    assert world.get("/api/v1/reports/billing", CLIN, month="2026-13").status_code == 422


def test_engagement_report(world: World) -> None:
    measure(world, "p-n1", range(0, 20))
    measure(world, "p-n2", range(0, 3))
    r = world.get("/api/v1/reports/engagement", CLIN, as_of="2026-11-20")
    assert r.status_code == 200, r.text
    report = r.json()
    rows = {p["patient_id"]: p for p in report["patients"]}
    assert (rows["p-n1"]["adherence_days"], rows["p-n1"]["stopped_measuring"]) == (20, False)
    assert (rows["p-n2"]["adherence_days"], rows["p-n2"]["last_reading"]) == (3, "2026-11-03")
    assert rows["p-n2"]["stopped_measuring"]
    assert report["summary"] == {
        "patients": 2,
        "adherent_16_days": 1,
        "at_risk": 0,
        "stopped_measuring": 1,
        "mean_adherence_days": 11.5,
        "minutes_this_month": 0,
        **NO_CONVERSATION,
    }


def test_engagement_report_responsiveness_involvement_and_sentiment(world: World) -> None:
    out, inn = "outbound", "inbound"
    talk(
        world, "p-n1",
        (out, "2026-11-10T09:00:00+00:00", "sent", None, None),
        (inn, "2026-11-10T09:30:00+00:00", "attached", "feels_fine", None),  # 1800 s
        (out, "2026-11-12T09:00:00+00:00", "sent", None, None),  # never answered
        (out, "2026-11-14T12:00:00+00:00", "sent", None, None),
        (inn, "2026-11-14T13:00:00+00:00", "attached", "rating", 9),  # 3600 s
        (out, "2026-11-16T09:00:00+00:00", "sent", None, None),
        (inn, "2026-11-16T11:00:00+00:00", "attached", "call_me", None),  # 7200 s
    )  # fmt: skip
    talk(
        world, "p-n2",
        (out, "2026-11-15T10:00:00+00:00", "sent", None, None),
        (inn, "2026-11-15T10:10:00+00:00", "attached", "rating", 5),  # 600 s
        (out, "2026-11-17T10:00:00+00:00", "failed", None, None),  # never delivered
        (inn, "2026-10-01T10:00:00+00:00", "attached", "rating", 0),  # before the 30 days
    )  # fmt: skip
    r = world.get("/api/v1/reports/engagement", CLIN, as_of="2026-11-20")
    assert r.status_code == 200, r.text
    rows = {p["patient_id"]: p for p in r.json()["patients"]}
    keys = list(NO_CONVERSATION)
    assert [rows["p-n1"][k] for k in keys] == [4, 3, 0.75, 3600.0, 1, 1, 9.0, 1, 0, 0, 100.0]
    assert [rows["p-n2"][k] for k in keys] == [1, 1, 1.0, 600.0, 0, 1, 5.0, 0, 0, 1, -100.0]
    summary = r.json()["summary"]
    # Org: 4 of 5 prompts answered; delays 600, 1800, 3600, 7200 → median 2700; ratings 9, 5.
    assert [summary[k] for k in keys] == [5, 4, 0.8, 2700.0, 1, 2, 7.0, 1, 0, 1, 0.0]
