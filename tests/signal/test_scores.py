"""NEWS2 known answers, row by row from the RCP 2017 chart, and the risk bands."""

from __future__ import annotations

import pytest

from gateway.signal.scores import news2, news2_latest
from gateway.signal.series import SignalError
from gateway.wire import Metric

ALL_NORMAL = {
    "respiratory_rate": 16,
    "spo2": 97,
    "systolic_bp": 120,
    "pulse": 70,
    "temperature": 37.0,
}


def score(**kw: object) -> dict[str, int]:
    return news2(**{**ALL_NORMAL, **kw}).parts  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "points"),
    [(5, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (40, 3)],
)
def test_respiratory_rate(value: float, points: int) -> None:
    assert score(respiratory_rate=value)["respiratory_rate"] == points


@pytest.mark.parametrize(
    ("value", "points"), [(85, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1(value: float, points: int) -> None:
    assert score(spo2=value)["spo2"] == points
    assert score(spo2=value, on_oxygen=True)["spo2"] == points  # scale 1 ignores oxygen


@pytest.mark.parametrize(
    ("value", "on_oxygen", "points"),
    [
        (80, False, 3), (83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1),
        (87, False, 1), (88, False, 0), (92, False, 0), (93, False, 0), (97, False, 0),
        (100, False, 0), (83, True, 3), (85, True, 2), (87, True, 1), (88, True, 0),
        (92, True, 0), (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2),
        (97, True, 3), (100, True, 3),
    ],
)  # fmt: skip
def test_spo2_scale_2(value: float, on_oxygen: bool, points: int) -> None:
    assert score(spo2=value, spo2_scale=2, on_oxygen=on_oxygen)["spo2"] == points


def test_air_or_oxygen() -> None:
    assert score(on_oxygen=True)["air_or_oxygen"] == 2
    assert score(on_oxygen=False)["air_or_oxygen"] == 0


@pytest.mark.parametrize(
    ("value", "points"),
    [(70, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bp(value: float, points: int) -> None:
    assert score(systolic_bp=value)["systolic_bp"] == points


@pytest.mark.parametrize(
    ("value", "points"),
    [(30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
     (130, 2), (131, 3), (180, 3)],
)  # fmt: skip
def test_pulse(value: float, points: int) -> None:
    assert score(pulse=value)["pulse"] == points


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(level: str, points: int) -> None:
    assert score(consciousness=level)["consciousness"] == points


@pytest.mark.parametrize(
    ("value", "points"),
    [(34.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1),
     (39.1, 2), (41.0, 2), (35.04, 3), (35.05, 1)],
)  # fmt: skip
def test_temperature(value: float, points: int) -> None:
    assert score(temperature=value)["temperature"] == points


def test_values_round_to_the_chart_resolution() -> None:
    assert score(spo2=95.5)["spo2"] == 0  # 96
    assert score(spo2=95.4)["spo2"] == 1  # 95
    assert score(pulse=90.5)["pulse"] == 1  # 91


@pytest.mark.parametrize(
    ("kw", "total", "risk"),
    [
        ({}, 0, "low"),
        ({"respiratory_rate": 21, "pulse": 95, "temperature": 38.5}, 4, "low"),
        ({"respiratory_rate": 26}, 3, "low-medium"),  # a single parameter scoring 3
        ({"consciousness": "V", "pulse": 95}, 4, "low-medium"),
        ({"respiratory_rate": 22, "spo2": 94}, 3, "low"),
        ({"respiratory_rate": 22, "spo2": 94, "pulse": 112}, 5, "medium"),
        ({"respiratory_rate": 25, "pulse": 112}, 5, "medium"),  # ≥5 wins over the single 3
        ({"respiratory_rate": 22, "spo2": 93, "systolic_bp": 105, "pulse": 115}, 7, "high"),
        ({"respiratory_rate": 22, "spo2": 93, "on_oxygen": True, "systolic_bp": 105,
          "pulse": 115, "temperature": 38.5}, 10, "high"),
    ],
)  # fmt: skip
def test_total_and_risk(kw: dict[str, object], total: int, risk: str) -> None:
    r = news2(**{**ALL_NORMAL, **kw})  # type: ignore[arg-type]
    assert (r.total, r.risk) == (total, risk)
    assert r.total == sum(r.parts.values())
    assert r.missing == ()


def test_missing_parameters_score_nothing_and_are_named() -> None:
    r = news2(pulse=135)
    assert r.parts == {"pulse": 3, "air_or_oxygen": 0, "consciousness": 0}
    assert r.missing == ("respiratory_rate", "spo2", "systolic_bp", "temperature")
    assert (r.total, r.risk) == (3, "low-medium")
    none = news2(on_oxygen=None, consciousness=None)
    assert (none.total, none.parts, none.risk) == (0, {}, "low")
    assert "air_or_oxygen" in none.missing
    assert "consciousness" in none.missing


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"spo2": float("nan")}, "finite"),
        ({"pulse": float("inf")}, "finite"),
        ({"spo2_scale": 3}, "scale"),
        ({"consciousness": "X"}, "A, C, V, P, U"),
        ({"spo2": 90, "spo2_scale": 2, "on_oxygen": None}, "oxygen"),
    ],
)
def test_bad_input_is_a_clear_error(kw: dict[str, object], match: str) -> None:
    with pytest.raises(SignalError, match=match):
        news2(**kw)  # type: ignore[arg-type]


def test_latest_within_freshness() -> None:
    now = 1_000_000.0
    latest = {
        Metric.RESPIRATORY_RATE: (now - 60, 26.0),
        Metric.SPO2: (now - 5 * 3600, 90.0),  # older than 4 h: missing
        Metric.HEART_RATE: (now - 10, 135.0),
        Metric.SYSTOLIC_BP: (now + 600, 80.0),  # in the future: not trusted
        Metric.BODY_TEMPERATURE: (now - 3600, 39.5),
    }
    r = news2_latest(latest, now=now)
    assert r.parts == {
        "respiratory_rate": 3, "pulse": 3, "temperature": 2, "air_or_oxygen": 0, "consciousness": 0,
    }  # fmt: skip
    assert r.missing == ("spo2", "systolic_bp")
    assert (r.total, r.risk) == (8, "high")
    pulse_first = news2_latest({**latest, Metric.PULSE_RATE: (now - 10, 60.0)}, now=now)
    assert pulse_first.parts["pulse"] == 0


def test_latest_from_cleaned_series() -> None:
    from gateway.signal.series import Series

    s = Series.of(
        [0.0, 60.0, 120.0, 9999.0], [97.0, 90.0, float("nan"), 80.0], [True, True, True, True]
    )
    assert s.latest(now=500.0) == (60.0, 90.0)
    assert Series.empty().latest(now=1.0) is None
    r = news2_latest({Metric.SPO2: (60.0, 90.0)}, now=500.0)
    assert r.parts["spo2"] == 3
