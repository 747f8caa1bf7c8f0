"""Per-patient thresholds: program defaults plus overrides (locks refused), each change a
version with history, shadow rules recorded but never notified, and a replay endpoint that
answers exactly as ``vitalgate-cloud replay``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from cloud.alerts import service
from cloud.alerts.missing_data import MissingDataWatch
from cloud.cli import app as cli
from cloud.store.models import Alert, AuditEvent, Delivery, Reading, ShadowFinding
from cloud.store.readings import upsert_readings, wire_reading
from tests.fixtures.api import T0, World, reading_row

CLIN = "clin@north.test"
PATH = "/api/v1/patients/p-n1/thresholds"


def put(world: World, who: str, body: dict[str, Any], path: str = PATH) -> httpx.Response:
    response: httpx.Response = world.client.put(path, json=body, headers=world.token(who))
    return response


def rules_by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["rule_id"]: r for r in body["rules"]}


def test_defaults_overrides_versions_and_history(world: World) -> None:
    first = world.get(PATH, CLIN)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["program"], body["version"], body["overrides"]) == ("general", 0, [])
    rules = rules_by_id(body)
    assert rules["general.hr"]["definition"]["fire_high"] == 131
    assert (rules["general.hr"]["source"], rules["general.hr"]["locked"]) == ("program", False)
    assert rules["general.sbp"]["locked"]

    changed = put(
        world,
        CLIN,
        {
            "rules": [
                {"rule_id": "general.hr", "fire_high": 140, "clear_high": 130},
                {"rule_id": "general.spo2", "mode": "shadow"},
                {"rule_id": "p.hr100", "kind": "threshold", "metric": "heart_rate",
                 "fire_high": 100, "clear_high": 95, "priority": "low"},
            ],
            "note": "athlete: resting tachycardia is usual for her",
            "base_version": 0,
        },
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    v1 = changed.json()
    assert v1["version"] == 1
    rules = rules_by_id(v1)
    assert rules["general.hr"]["definition"]["fire_high"] == 140
    assert (rules["general.hr"]["source"], rules["general.hr"]["version"]) == ("override", 2)
    assert (rules["general.spo2"]["mode"], rules["general.spo2"]["version"]) == ("shadow", 1)
    assert (rules["p.hr100"]["source"], rules["p.hr100"]["version"]) == ("custom", 2)
    assert rules["general.temp"]["version"] == 1

    # Version 2 changes only the custom rule: general.hr keeps its version.
    again = put(
        world,
        CLIN,
        {"rules": [{"rule_id": "general.hr", "fire_high": 140, "clear_high": 130},
                   {"rule_id": "p.hr100", "kind": "threshold", "metric": "heart_rate",
                    "fire_high": 105, "clear_high": 95, "priority": "low"}]},
    )  # fmt: skip
    assert again.status_code == 200, again.text
    rules = rules_by_id(again.json())
    assert (rules["general.hr"]["version"], rules["p.hr100"]["version"]) == (2, 3)
    assert rules["general.spo2"]["mode"] == "active"

    stale = put(world, CLIN, {"rules": [], "base_version": 1})
    assert (stale.status_code, stale.json()["code"]) == (409, "conflict")

    history = world.get(f"{PATH}/history", CLIN).json()
    assert [h["version"] for h in history] == [2, 1]
    assert history[1]["note"].startswith("athlete")
    assert history[1]["created_by"] == world.users[CLIN]
    with world.session() as s:
        writes = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "write", AuditEvent.patient_id == "p-n1")
        ).all()
    assert len(writes) == 2
    assert all(w.resource == f"PUT {PATH}" for w in writes)


def test_locked_and_invalid_overrides_are_refused_and_scoped(world: World) -> None:
    locked = put(world, CLIN, {"rules": [{"rule_id": "general.sbp", "fire_high": 240}]})
    assert (locked.status_code, locked.json()["code"]) == (409, "conflict")
    assert "locked by the general program" in locked.json()["detail"]
    for bad in (
        [{"rule_id": "general.hr", "fire_high": 900}],  # not a heart rate: another unit?
        [{"rule_id": "general.hr", "metric": "spo2"}],
        [{"rule_id": "nope", "fire_high": 100}],
        [{"rule_id": "general.hr", "mode": "loud"}],
        [{"rule_id": "general.hr"}, {"rule_id": "general.hr"}],
    ):
        r = put(world, CLIN, {"rules": bad})
        assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), (bad, r.text)
    assert put(world, "coord@north.test", {"rules": []}).status_code == 403
    assert put(world, "clin@south.test", {"rules": []}).status_code == 404
    assert world.get(PATH, "clin@south.test").status_code == 404
    assert world.get(PATH, "pat@north.test").status_code == 403
    assert world.get(PATH, CLIN).json()["version"] == 0


def _ingest(world: World, values: list[float], start: datetime, patient: str = "p-n2") -> list[str]:
    """What ingest does with a batch of heart rates: store them, judge them."""
    rulebook = world.client.app.state.services.rulebook  # type: ignore[attr-defined]
    rows = [
        reading_row(f"hr-{start:%d%H%M}-{i}", patient, "dev", v, start + timedelta(minutes=i))
        for i, v in enumerate(values)
    ]
    now = rows[-1]["ts"] + timedelta(seconds=1)
    with world.session() as s, s.begin():
        upsert_readings(s, rows)
        changes = service.evaluate(
            s, {(patient, "heart_rate"): rows[0]["ts"]}, now=now, channels=["json#0"],
            rulebook=rulebook,
        )  # fmt: skip
    return [c.change for c in changes]


def test_ingest_judges_with_the_patients_rules_and_shadow_rules_only_record(world: World) -> None:
    path = "/api/v1/patients/p-n2/thresholds"
    r = put(
        world,
        CLIN,
        {"rules": [
            {"rule_id": "p.hr100", "kind": "threshold", "metric": "heart_rate",
             "fire_high": 100, "clear_high": 95},
            {"rule_id": "p.hr90", "kind": "threshold", "metric": "heart_rate",
             "fire_high": 90, "clear_high": 85, "mode": "shadow"},
        ]},
        path,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    start = T0 + timedelta(hours=1)
    assert _ingest(world, [70, 95, 95, 110, 120, 70], start) == ["opened", "resolved"]
    with world.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.rule_id.like("p.%"))).all()
        shadow = s.scalars(select(ShadowFinding).order_by(ShadowFinding.ts)).all()
        deliveries = s.scalars(select(Delivery).where(Delivery.alert_id == alerts[0].id)).all()
    assert [(a.rule_id, a.rule_version) for a in alerts] == [("p.hr100", 2)]
    assert len(deliveries) == 1
    assert [(f.rule_id, f.kind, f.value) for f in shadow] == [
        ("p.hr90", "fire", 95.0),
        ("p.hr90", "all_clear", 70.0),
    ]
    assert (alerts[0].worst_value, alerts[0].status) == (120.0, "resolved")
    listed = world.get(f"{path}/shadow-findings", CLIN).json()
    assert [f["kind"] for f in listed] == ["all_clear", "fire"]

    # Back to the defaults: the same readings no longer alert (the cache saw the change).
    assert put(world, CLIN, {"rules": []}, path).status_code == 200
    assert _ingest(world, [110, 110, 70], start + timedelta(hours=1)) == []


def test_replay_endpoint_matches_the_cli(world: World, tmp_path: Path) -> None:
    start = T0 + timedelta(days=2)
    values = [70.0] * 10 + [140.0] * 10 + [70.0] * 10 + [104.0] * 5 + [70.0] * 5
    with world.session() as s, s.begin():
        upsert_readings(
            s,
            [
                reading_row(f"hr-r-{i}", "p-n1", "dev", v, start + timedelta(minutes=i))
                for i, v in enumerate(values)
            ],
        )
    candidate = [{"kind": "threshold", "rule_id": "try.hr100", "metric": "heart_rate",
                  "fire_high": 100, "clear_high": 95, "priority": "low"}]  # fmt: skip
    until = (start + timedelta(days=1)).isoformat()
    r = world.client.post(
        f"{PATH}/replay", json={"rules": candidate, "until": until}, headers=world.token(CLIN)
    )
    assert r.status_code == 200, r.text
    api = r.json()
    with world.session() as s:
        rows = s.scalars(
            select(Reading)
            .where(Reading.patient_id == "p-n1", Reading.ts >= start - timedelta(days=29))
            .order_by(Reading.ts)
        ).all()
        lines = [wire_reading(row).model_dump_json() for row in rows]
    assert api["readings"] == len(lines)
    (tmp_path / "r.jsonl").write_text("\n".join(lines))
    (tmp_path / "rules.json").write_text(json.dumps(candidate))
    done = CliRunner().invoke(
        cli,
        ["replay", "--program", "general", "--readings", str(tmp_path / "r.jsonl"),
         "--rules", str(tmp_path / "rules.json")],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    cli_rows = [json.loads(line) for line in done.output.splitlines()]
    assert api["findings"] == cli_rows
    assert [(f["rule"], f["value"]) for f in cli_rows] == [
        ("try.hr100", 140.0),
        ("try.hr100", 104.0),
    ]

    # Overrides on top of the program (what a PUT would set), and the rules in force.
    over = world.client.post(
        f"{PATH}/replay",
        json={
            "overrides": [{"rule_id": "general.hr", "persistence": {"count": 1}}],
            "until": until,
        },
        headers=world.token(CLIN),
    ).json()
    fired = [(f["rule"], f["value"]) for f in over["findings"] if f["rule"] == "general.hr"]
    assert fired == [("general.hr", 140.0)]
    assert world.client.post(
        f"{PATH}/replay", json={"overrides": [{"rule_id": "general.sbp", "fire_high": 250}]},
        headers=world.token(CLIN),
    ).status_code == 409  # fmt: skip
    assert world.get(PATH, CLIN).json()["version"] == 0  # a replay changes nothing


def test_missing_data_rules_in_shadow_mode_only_record(world: World) -> None:
    path = "/api/v1/patients/p-n2/thresholds"
    r = put(world, CLIN, {"rules": [{"rule_id": "general.hr_stale", "mode": "shadow",
                                     "expected_interval_s": 60}]}, path)  # fmt: skip
    assert r.status_code == 200, r.text
    start = T0 + timedelta(days=3)
    with world.session() as s, s.begin():
        upsert_readings(
            s,
            [
                reading_row(f"st-{i}", "p-n2", "dev", 70.0, start + timedelta(minutes=i))
                for i in range(30)
            ],
        )
    services = world.client.app.state.services  # type: ignore[attr-defined]
    watch = MissingDataWatch(services.sessions, services.rulebook, channels=["json#0"])
    last = start + timedelta(minutes=29)
    changes = watch.run_once(now=last + timedelta(hours=1), since=last)
    assert changes == []
    with world.session() as s:
        shadow = s.scalars(select(ShadowFinding).where(ShadowFinding.patient_id == "p-n2")).all()
        opened = s.scalars(select(Alert).where(Alert.patient_id == "p-n2")).all()
    assert [(f.rule_id, f.category, f.priority) for f in shadow] == [
        ("general.hr_stale", "missing_data", "medium"),
        ("general.hr_stale", "missing_data", "high"),
    ]
    assert opened == []
