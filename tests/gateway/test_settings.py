"""Gateway settings: the BLE reconnect cap is ``ble_reconnect_max_s``, beside the broker's
``mqtt.reconnect_max_s``; its former name is still read, with a deprecation line."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.settings import load_settings

TOML = """gateway_id = "gw-1"
{top}
[mqtt]
reconnect_max_s = 60
"""


def write(tmp_path: Path, top: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(TOML.format(top=top))
    return path


def test_the_ble_and_broker_caps_are_two_settings(tmp_path: Path) -> None:
    with capture_logs() as logs:
        settings = load_settings(write(tmp_path, "ble_reconnect_max_s = 12.5"))
    assert settings.ble_reconnect_max_s == 12.5
    assert settings.mqtt.reconnect_max_s == 60
    assert logs == []


def test_the_former_key_in_a_file_is_read_with_a_warning(tmp_path: Path) -> None:
    with capture_logs() as logs:
        settings = load_settings(write(tmp_path, "reconnect_max_s = 7"))
    assert settings.ble_reconnect_max_s == 7.0
    assert settings.mqtt.reconnect_max_s == 60
    assert [(e["event"], e["key"]) for e in logs] == [
        ("settings.deprecated_key", "reconnect_max_s")
    ]


def test_the_former_env_variable_is_read_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VG_GW_RECONNECT_MAX_S", "9")
    with capture_logs() as logs:
        settings = load_settings(write(tmp_path, ""))
    assert settings.ble_reconnect_max_s == 9.0
    assert [e["env"] for e in logs] == ["VG_GW_RECONNECT_MAX_S"]


def test_the_new_name_wins_over_the_former(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VG_GW_BLE_RECONNECT_MAX_S", "4")
    settings = load_settings(write(tmp_path, "reconnect_max_s = 7"))
    assert settings.ble_reconnect_max_s == 4.0
