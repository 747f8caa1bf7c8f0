"""Build a simulated radio with devices from gateway settings (``link = "sim"``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.physiology import Episode, HeartRateModel
from firmware_sim.radio import SimLink, SimRadio
from gateway.settings import SimSettings


def build(
    sim: SimSettings,
) -> tuple[SimLink, list[Coroutine[Any, Any, None]], list[HeartRateStrap]]:
    """The link the gateway uses, the coroutines that make the devices measure, and the devices."""
    radio = SimRadio()
    devices: list[HeartRateStrap] = []
    for spec in sim.devices:
        model = HeartRateModel(
            baseline_bpm=spec.baseline_bpm,
            episodes=tuple(
                Episode(e.start_s, e.end_s, e.delta, e.ramp_s)
                for e in spec.episodes
                if e.metric == "heart_rate"
            ),
        )
        strap = HeartRateStrap(
            spec.address, seed=spec.seed, model=model, interval_s=spec.interval_s
        )
        devices.append(radio.add(strap))
    runs = [
        d.run(real_interval_s=s.real_interval_s) for d, s in zip(devices, sim.devices, strict=True)
    ]
    return SimLink(radio), runs, devices
