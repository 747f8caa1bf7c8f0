"""The profiles benchmark runs, measures every characteristic, and compares like with like."""

from __future__ import annotations

import math

from gateway.ble.profiles import decode
from tests.bench import profiles


def test_benchmark_yields_a_figure_per_characteristic() -> None:
    figures = list(profiles.run(loops=5))
    per_char = [f for f in figures if f.unit == "decodes/s"]
    assert len(per_char) == len(profiles.CASES) == 21
    assert all(f.figure > 0 and f.baseline and f.ratio for f in per_char)
    assert figures[-1].unit == "geometric mean ratio"


def test_baselines_read_the_same_numbers_as_the_decoders() -> None:
    # Blood pressure: the struct baseline's systolic/diastolic/MAP and pulse match ours.
    uuid, _, hex_, baseline = next(c for c in profiles.CASES if c[0] == 0x2A35)
    ours = decode(uuid, bytes.fromhex(hex_))
    sys_, dia, mean, _, _, pulse, user, _ = baseline(bytes.fromhex(hex_))
    assert (sys_, dia, mean, pulse, user) == (
        ours.systolic,
        ours.diastolic,
        ours.mean_arterial_pressure,
        ours.pulse_rate,
        ours.user_id,
    )
    uuid, _, hex_, baseline = next(c for c in profiles.CASES if c[0] == 0x2A1C)
    value, *_ = baseline(bytes.fromhex(hex_))
    assert math.isclose(value, decode(uuid, bytes.fromhex(hex_)).temperature)
