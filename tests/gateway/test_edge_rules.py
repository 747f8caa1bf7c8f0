"""The rule set in the gateway config: versioned, generic over rule kinds, and a gateway that
cannot read a new one keeps running its last good one and says so (status and ping)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_sim.radio import SimLink, SimRadio
from gateway import signing, wire
from gateway.app import Gateway
from gateway.settings import GatewaySettings
from gateway.signal import edge_rules
from gateway.signal.programs import default_rules
from gateway.signal.rules import ThresholdRule
from gateway.signal.ruleset import rule_to_dict
from gateway.signal.stage import EdgeStage
from gateway.uplink.config import ConfigStore

GW = "gw-rules"
PATIENT = "p-rules"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def config(version: int, **update: Any) -> wire.GatewayConfig:
    base = wire.GatewayConfig(
        gateway_id=GW,
        version=version,
        issued_at=T0,
        patients=(PATIENT,),
        rules_version=wire.RULES_VERSION,
        rules=edge_rules.to_config(default_rules("general", PATIENT)),
    )
    return base.model_copy(update=update)


def spo2(minutes: int, value: float) -> wire.Reading:
    return wire.Reading(
        id=f"spo2-{minutes}",
        patient_id=PATIENT,
        device_id="ox-1",
        metric=wire.Metric.SPO2,
        value=value,
        unit="%",
        ts=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(gateway_id=GW, data_dir=tmp_path, link="sim")


@pytest.fixture
def gateway(settings: GatewaySettings) -> Iterator[Gateway]:
    ConfigStore(settings.config_path).save(config(1))
    gw = Gateway(settings, SimLink(SimRadio()))
    yield gw
    gw.outbox.close()


def receive(gateway: Gateway, message: wire.GatewayConfig) -> None:
    """As the uplink hands a config over (paho thread), then the loop applies it."""
    decoded = wire.decode(wire.encode(message), expect="vg.config/1")
    assert isinstance(decoded, wire.GatewayConfig)
    gateway._on_config(decoded)
    gateway._apply_config(decoded)


def ping(gateway: Gateway) -> dict[str, Any]:
    cmd = wire.Command(command_id="c-ping", name=wire.CommandName.PING, issued_at=T0)
    result: dict[str, Any] = gateway._execute(cmd).result["rule_set"]
    return result


def test_the_whole_rule_set_runs_at_the_edge_confirmation_included(gateway: Gateway) -> None:
    assert gateway.status().rule_set == wire.RuleSetStatus(
        config_version=1, rules_version=1, rules=6, cloud_only=1
    )
    # general.spo2 (≤ 91 %) waits for a re-measurement; a normal one cancels it…
    events, _ = gateway.edge.observe([spo2(0, 90.0)], now=(T0).timestamp())
    assert events == []
    events, _ = gateway.edge.observe([spo2(5, 96.0)], now=(T0 + timedelta(minutes=5)).timestamp())
    assert events == []
    # …a low one confirms it (judged on the re-measurement), one alert with both readings;
    # ≤ 87 % is urgent at once.
    gateway.edge.observe([spo2(60, 90.0)], now=(T0 + timedelta(minutes=60)).timestamp())
    events, _ = gateway.edge.observe([spo2(64, 86.0)], now=(T0 + timedelta(minutes=64)).timestamp())
    assert sorted((e.evidence["features"]["level"], e.value) for e in events) == [
        ("low", 86.0),
        ("urgent_low", 86.0),
    ]
    confirmed = next(e for e in events if e.evidence["features"]["level"] == "low")
    assert [s["value"] for s in confirmed.evidence["samples"]][-2:] == [90.0, 86.0]
    assert confirmed.evidence["features"]["confirmation"] == "confirmed"


def test_a_newer_rules_version_keeps_the_last_good_rules_and_says_so(
    gateway: Gateway, settings: GatewaySettings
) -> None:
    running = gateway.edge.rules
    future = config(2, rules_version=wire.RULES_VERSION + 1, rules=({"kind": "x", "rule_id": "y"},))
    receive(gateway, future)
    assert gateway.config is not None
    assert gateway.config.version == 2
    assert gateway.edge.rules == running
    state = gateway.status().rule_set
    assert state is not None
    assert (state.config_version, state.rules, state.refused_version) == (1, 6, 2)
    assert state.refused_reason is not None
    assert "rules_version 2" in state.refused_reason
    assert ping(gateway)["refused_version"] == 2

    # After a restart without a network: still the last good rules, still said.
    gateway.outbox.close()
    again = Gateway(settings, SimLink(SimRadio()))
    try:
        assert again.edge.rules == running
        assert again.status().rule_set == state
        # The next readable set runs and clears the refusal.
        receive(again, config(3))
        assert again.status().rule_set == wire.RuleSetStatus(
            config_version=3, rules_version=1, rules=6, cloud_only=1
        )
    finally:
        again.outbox.close()


def test_a_bad_rule_in_a_known_kind_is_refused_whole(gateway: Gateway) -> None:
    bad = rule_to_dict(default_rules("general", PATIENT)[0]) | {"fire_high": 900.0}
    receive(gateway, config(2, rules=(bad,)))
    state = gateway.status().rule_set
    assert state is not None
    assert (state.config_version, state.refused_version) == (1, 2)


def test_an_unknown_kind_is_left_to_the_cloud_and_the_rest_runs(gateway: Gateway) -> None:
    """A kind the cloud knows before this gateway does (say a CGM rule) travels in the same
    form; until the gateway is updated it is counted as the cloud's."""
    rules = (*config(2).rules, {"kind": "fall_risk", "rule_id": "gait.falls", "window_s": 1200})
    receive(gateway, config(2, rules=rules))
    assert gateway.status().rule_set == wire.RuleSetStatus(
        config_version=2, rules_version=1, rules=6, cloud_only=2
    )


def test_an_older_clouds_thresholds_only_config_still_runs(gateway: Gateway) -> None:
    threshold = wire.ThresholdRule(
        rule_id="old.spo2", patient_id=PATIENT, metric=wire.Metric.SPO2, fire_low=92.0
    )
    receive(gateway, config(2, rules_version=None, rules=(), thresholds=(threshold,)))
    assert gateway.status().rule_set == wire.RuleSetStatus(config_version=2, rules=1)
    events, _ = gateway.edge.observe([spo2(0, 90.0)], now=T0.timestamp())
    assert [(e.rule, e.kind) for e in events] == [("old.spo2", wire.EventKind.ALERT)]


def test_rules_without_a_version_or_for_another_patient_are_refused() -> None:
    with pytest.raises(ValueError, match="rules need a rules_version"):
        wire.GatewayConfig.model_validate(
            config(1).model_dump(by_alias=True) | {"rules_version": None}
        )
    with pytest.raises(ValueError, match="'kind' and a 'rule_id'"):
        wire.GatewayConfig.model_validate(
            config(1).model_dump(by_alias=True) | {"rules": [{"rule_id": "x"}]}
        )
    with pytest.raises(ValueError, match="rule_id is letters"):
        wire.GatewayConfig.model_validate(
            config(1).model_dump(by_alias=True) | {"rules": [{"kind": "x", "rule_id": "a b"}]}
        )
    foreign = config(1, patients=("p-other",))
    with pytest.raises(edge_rules.RuleSetError, match="not in the config"):
        edge_rules.from_config(foreign)


def test_the_rule_set_is_signed_with_the_config() -> None:
    """The config is signed over its canonical JSON, rules included."""
    key = Ed25519PrivateKey.generate()
    signed = signing.sign(config(1), gateway_id=GW, key=key)
    body = wire.encode(signed)
    signing.verify(json.loads(body), gateway_id=GW, key=key.public_key())
    tampered = json.loads(body)
    tampered["rules"][0]["fire_low"] = 30
    with pytest.raises(signing.SignatureError):
        signing.verify(tampered, gateway_id=GW, key=key.public_key())


def test_a_held_fire_alerts_unconfirmed_on_the_tick_after_its_window() -> None:
    stage = EdgeStage(default_rules("general", PATIENT), rollups=False)
    assert stage.observe([spo2(0, 90.0)], now=T0.timestamp()) == ([], [])
    assert len(stage.monitor.held) == 1
    late = T0 + timedelta(hours=1)
    assert stage.observe([], now=late.timestamp() - 1) == ([], [])
    (event,), _ = stage.observe([], now=late.timestamp())
    assert (event.rule, event.ts, event.evidence["features"]["confirmation"]) == (
        "general.spo2",
        late,
        "unconfirmed",
    )
    assert stage.monitor.held == []


def test_a_new_rule_set_keeps_the_windows_and_reports_nothing_twice() -> None:
    rules = default_rules("general", PATIENT)
    stage = EdgeStage(rules, rollups=False)
    stage.observe([spo2(0, 90.0)], now=T0.timestamp())
    (low, urgent), _ = stage.observe([spo2(3, 86.0)], now=(T0 + timedelta(minutes=3)).timestamp())
    assert {low.rule, urgent.rule} == {"general.spo2"}
    windows = stage.monitor.windows
    # A clinician lowers the SpO2 level: the episode under way is not a new fire, the
    # unchanged rules keep their state, nothing already sent is sent again.
    changed = [
        replace(r, fire_low=89.0, clear_low=91.0, version=2)
        if isinstance(r, ThresholdRule) and r.rule_id == "general.spo2"
        else r
        for r in rules
    ]
    stage.set_rules(changed)
    assert stage.monitor.windows is windows
    events, _ = stage.observe([spo2(10, 86.5)], now=(T0 + timedelta(minutes=10)).timestamp())
    assert events == []
    events, _ = stage.observe([spo2(20, 97.0)], now=(T0 + timedelta(minutes=20)).timestamp())
    assert sorted((e.kind, e.rule_version, e.evidence["features"]["level"]) for e in events) == [
        (wire.EventKind.ALL_CLEAR, 2, "low"),
        (wire.EventKind.ALL_CLEAR, 2, "urgent_low"),
    ]
