"""A private system bus for the fake BlueZ (``bluez_bus``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firmware_sim.bluez import PrivateBus


@pytest.fixture
def bluez_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    bus = PrivateBus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    yield bus.address
    bus.close()
