"""Pure uplink policy: reconnect backoff with jitter, which config wins, command results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import wire
from gateway.uplink import remote_commands
from gateway.uplink.backoff import RECONNECT_CAP_S, reconnect_delay_s
from gateway.uplink.config import ConfigStore, Verdict, decide

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.0, 0.5),
        (0, 0.999, 0.9995),
        (1, 0.5, 1.5),
        (3, 0.0, 4.0),
        (10, 1.0, RECONNECT_CAP_S),
        (10, 0.0, RECONNECT_CAP_S / 2),
        (10_000, 0.5, RECONNECT_CAP_S * 0.75),
    ],
)
def test_reconnect_delay_grows_capped_with_equal_jitter(
    attempt: int, rand: float, expected: float
) -> None:
    assert reconnect_delay_s(attempt, rand=lambda: rand) == pytest.approx(expected)


def test_reconnect_delays_of_a_fleet_spread_out() -> None:
    import random

    rng = random.Random(42)
    delays = {round(reconnect_delay_s(4, rand=rng.random), 3) for _ in range(100)}
    assert len(delays) > 90
    assert min(delays) >= 8.0
    assert max(delays) <= 16.0


def test_reconnect_delay_refuses_negative_attempts() -> None:
    with pytest.raises(ValueError, match="attempt"):
        reconnect_delay_s(-1, rand=lambda: 0.0)


def config(version: int, gateway_id: str = "gw-1") -> wire.GatewayConfig:
    return wire.GatewayConfig(
        gateway_id=gateway_id,
        version=version,
        issued_at=T0,
        patients=("p-1",),
        pairings=(
            wire.Pairing(
                device_id="hrm-1",
                kind="hr_strap",
                address="C0:FF:EE:00:00:01",
                patients=(wire.PatientAssignment(patient_id="p-1"),),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("current", "incoming", "verdict"),
    [
        (None, config(1), Verdict.APPLY),
        (config(1), config(2), Verdict.APPLY),
        (config(2), config(2), Verdict.SAME),
        (config(3), config(2), Verdict.STALE),
        (None, config(5, gateway_id="gw-2"), Verdict.FOREIGN),
    ],
)
def test_only_a_newer_config_for_this_gateway_applies(
    current: wire.GatewayConfig | None, incoming: wire.GatewayConfig, verdict: Verdict
) -> None:
    assert decide(current, incoming, gateway_id="gw-1").verdict is verdict


def test_config_store_round_trips_and_survives_garbage(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.json")
    assert store.load() is None
    store.save(config(7))
    assert store.load() == config(7)
    assert not (tmp_path / "config.tmp").exists()
    (tmp_path / "config.json").write_text("{not json")
    assert store.load() is None  # falls back to the settings file, logged


def facts(now: datetime = T0) -> remote_commands.GatewayFacts:
    return remote_commands.GatewayFacts(
        gateway_id="gw-1",
        version="0.1.0",
        now=now,
        config_version=3,
        outbox_depth=12,
        devices=("hrm-1",),
    )


def command(name: str, **kw: object) -> wire.Command:
    return wire.Command(command_id="c-1", name=wire.CommandName(name), issued_at=T0, **kw)


def test_ping_reports_the_gateway() -> None:
    result = remote_commands.execute(command("ping"), facts())
    assert result.ok
    assert result.result == {
        "version": "0.1.0",
        "gateway_time": "2026-11-23T12:00:00Z",
        "config_version": 3,
        "outbox_depth": 12,
        "devices": ["hrm-1"],
    }


def test_sync_clocks_reports_the_gateway_time_and_offset() -> None:
    report = remote_commands.clock_report(command("sync_clocks"), now=T0 + timedelta(seconds=90))
    assert report == {"gateway_time": "2026-11-23T12:01:30Z", "offset_s": 90.0}


def test_device_commands_are_left_to_the_ble_stage() -> None:
    assert set(remote_commands.HANDLERS) == {wire.CommandName.PING}


@pytest.mark.parametrize(("after_s", "expired"), [(-1, False), (0, True), (1, True)])
def test_a_command_expires_at_its_expiry_instant(after_s: int, expired: bool) -> None:
    cmd = command("ping", expires_at=T0 + timedelta(seconds=10))
    at = T0 + timedelta(seconds=10 + after_s)
    assert cmd.expired(now=at) is expired
    assert remote_commands.execute(cmd, facts(at)).ok is not expired
    assert not command("ping").expired(now=at)


def test_expired_commands_do_not_run() -> None:
    cmd = command("ping", expires_at=T0 + timedelta(seconds=10))
    result = remote_commands.execute(cmd, facts(T0 + timedelta(seconds=11)))
    assert not result.ok
    assert "expired" in (result.detail or "")
    assert result.result == {}
