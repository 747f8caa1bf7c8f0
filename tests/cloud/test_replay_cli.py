"""`vitalgate-cloud replay`: a program's rules over a file of wire readings, one line per alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from cloud.cli import app
from gateway import wire

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def hr_readings(patient: str, values: list[float]) -> list[str]:
    return [
        wire.Reading(
            id=f"{patient}-{i}",
            patient_id=patient,
            device_id=f"hrm-{patient}",
            metric=wire.Metric.HEART_RATE,
            value=v,
            unit="/min",
            ts=T0 + timedelta(minutes=i),
        ).model_dump_json()
        for i, v in enumerate(values)
    ]


def test_replay_prints_the_alerts_of_the_program(tmp_path: Path) -> None:
    # p-1 is tachycardic (140 /min) for 20 minutes of a 60-minute record; p-2 stays at 70.
    p1 = [70.0] * 20 + [140.0] * 20 + [70.0] * 20
    lines = hr_readings("p-1", p1) + hr_readings("p-2", [70.0] * 60)
    path = tmp_path / "readings.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(app, ["replay", "--program", "general", "--readings", str(path)])

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"patient_id", "rule", "category", "priority", "ts", "metric", "value"}
    assert (row["patient_id"], row["rule"], row["category"], row["priority"]) == (
        "p-1",
        "general.hr",
        "clinical",
        "high",
    )
    assert (row["metric"], row["value"]) == ("heart_rate", 140.0)
    assert (
        T0 + timedelta(minutes=20) <= datetime.fromisoformat(row["ts"]) < T0 + timedelta(minutes=40)
    )


def test_replay_with_a_rules_file_tries_other_rules(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    path.write_text("\n".join(hr_readings("p-2", [70.0] * 10 + [101.0] * 10)))
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [
                {
                    "kind": "threshold",
                    "rule_id": "try.hr100",
                    "metric": "heart_rate",
                    "fire_high": 100,
                    "clear_high": 95,
                    "priority": "low",
                },
            ]
        )
    )
    result = CliRunner().invoke(
        app, ["replay", "--program", "general", "--readings", str(path), "--rules", str(rules)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["patient_id"], r["rule"], r["priority"], r["value"]) for r in rows] == [
        ("p-2", "try.hr100", "low", 101.0)
    ]


def test_a_bad_line_or_program_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    path.write_text(hr_readings("p-1", [70.0])[0] + "\n" + '{"id": "x"}\n')
    result = CliRunner().invoke(app, ["replay", "--program", "general", "--readings", str(path)])
    assert result.exit_code == 2
    assert "readings line 2" in result.output
    good = tmp_path / "good.jsonl"
    good.write_text(hr_readings("p-1", [70.0])[0])
    result = CliRunner().invoke(app, ["replay", "--program", "cardiology", "--readings", str(good)])
    assert result.exit_code == 2
    assert "unknown program 'cardiology'" in result.output


def test_replay_prints_what_confirmation_cancelled_and_what_still_waits(tmp_path: Path) -> None:
    sbp = wire.Metric.SYSTOLIC_BP
    at = [(0, 126.0), (600, 174.0), (604, 127.0), (1440, 168.0)]  # minutes from T0
    path = tmp_path / "readings.jsonl"
    path.write_text("\n".join(
        wire.Reading(id=f"bp-{i}", patient_id="p-3", device_id="cuff", metric=sbp, value=v,
                     unit=wire.CANONICAL_UNITS[sbp], ts=T0 + timedelta(minutes=m)).model_dump_json()
        for i, (m, v) in enumerate(at)
    ))  # fmt: skip
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"kind": "threshold", "rule_id": "bp", "metric": "systolic_bp",
                                  "fire_high": 160, "clear_high": 150, "confirm_s": 3600,
                                  "confirm_by": "mean"}]))  # fmt: skip
    result = CliRunner().invoke(
        app,
        ["replay", "--program", "general", "--readings", str(path), "--rules", str(rules)],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["value"], r.get("status")) for r in rows] == [
        (174.0, "cancelled"),  # re-measured 127 four minutes later: saved an alert
        (168.0, "pending"),  # the record ends inside its confirmation window
    ]
