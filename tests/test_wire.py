"""The wire contract: what is accepted, what is refused (with a reason), and the published schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway import wire

ROOT = Path(__file__).resolve().parents[1]


def reading(**over: Any) -> dict[str, Any]:
    base = {
        "id": "r-1",
        "patient_id": "p-1",
        "device_id": "d-1",
        "metric": "heart_rate",
        "value": 72,
        "unit": "/min",
        "ts": "2026-11-23T10:00:00+01:00",
    }
    return {**base, **over}


def batch(*readings: dict[str, Any], **over: Any) -> bytes:
    body = {
        "schema": "vg.readings/1",
        "gateway_id": "gw-1",
        "batch_id": "b-1",
        "sent_at": "2026-11-23T09:00:01Z",
        "readings": list(readings) or [reading()],
        **over,
    }
    return json.dumps(body).encode()


def test_reading_batch_round_trips_and_normalises_time_to_utc() -> None:
    msg = wire.decode(batch(), expect="vg.readings/1")
    assert isinstance(msg, wire.ReadingBatch)
    assert msg.readings[0].ts == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    again = wire.decode(wire.encode(msg))
    assert again == msg
    assert json.loads(wire.encode(msg))["readings"][0]["ts"] == "2026-11-23T09:00:00Z"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"gateway_id": "gw-1"}', "missing 'schema'"),
        (b'{"schema": "vg.readings/9"}', "unknown schema"),
        (batch(reading(value=float("nan"))), "finite"),
        (batch(reading(unit="bpm")), "must be sent in '/min'"),
        (batch(reading(metric="mood")), "metric"),
        (batch(reading(id="1; DROP TABLE readings")), "readings.0.id"),
        (batch(reading(ts="2026-11-23T10:00:00")), "timezone"),
        (batch(reading(extra="x")), "extra"),
        (batch(readings=[]), "readings"),
        (
            json.dumps({"schema": "vg.acks/1", "batch_ids": ["b"]}).encode(),
            "on a topic that carries",
        ),
    ],
)
def test_bad_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError, match=None) as err:
        wire.decode(payload, expect="vg.readings/1")
    assert reason.lower() in str(err.value).lower()


def test_topics_and_their_parsing() -> None:
    topics = wire.Topics("gw-7")
    assert topics.readings == "vg/v1/gw-7/readings"
    assert topics.acks == "vg/v1/gw-7/acks"
    assert wire.split_topic(topics.status) == ("gw-7", "status")
    assert wire.uplink_filter("readings") == "vg/v1/+/readings"
    for bad in ("vg/v1/gw-7", "vg/v1/gw-7/unknown", "other/gw/readings", "vg/v1/a/b/readings"):
        with pytest.raises(wire.WireError):
            wire.split_topic(bad)


def test_threshold_rule_refuses_inverted_hysteresis() -> None:
    with pytest.raises(ValueError, match="clear_high"):
        wire.ThresholdRule(
            rule_id="r", patient_id="p", metric="heart_rate", fire_high=120, clear_high=130
        )


def test_published_json_schemas_match_the_models() -> None:
    """docs/wire is what third parties build against: it must never drift from the code."""
    for name, schema in wire.json_schemas().items():
        path = ROOT / "docs" / "wire" / f"{name.replace('/', '.v')}.schema.json"
        assert path.is_file(), f"{path} missing: run `vitalgate-cloud schema`"
        assert json.loads(path.read_text()) == schema, (
            f"{path} is stale: run `vitalgate-cloud schema`"
        )


def test_status_counters_are_optional_and_acks_name_dead_letters_only_when_there_are_some() -> None:
    older = (
        b'{"schema":"vg.status/1","gateway_id":"gw-1","state":"online","ts":"2026-12-01T00:00:00Z"}'
    )
    status = wire.decode(older, expect="vg.status/1")
    assert isinstance(status, wire.Status)
    assert status.counters is None
    counted = status.model_copy(update={"counters": wire.OutboxCounters(accepted=5, thinned=1)})
    again = wire.decode(wire.encode(counted), expect="vg.status/1")
    assert isinstance(again, wire.Status)
    assert again.counters == counted.counters
    assert (
        wire.encode(wire.Ack(batch_ids=("b-1",))) == b'{"schema":"vg.acks/1","batch_ids":["b-1"]}'
    )
    dead = wire.decode(wire.encode(wire.Ack(batch_ids=("b-1",), dead_letters=("b-1",))))
    assert isinstance(dead, wire.Ack)
    assert dead.dead_letters == ("b-1",)
