"""The memory benchmark runs; its streaming adds little memory.

The 120 MB budget is for a gateway process (``python -m tests.bench gateway_memory``);
inside the test run RSS also holds everything every other test imported, so here only
the growth while streaming is checked."""

from __future__ import annotations

from tests.bench import gateway_memory


def test_gateway_memory_benchmark_reports_rss_within_budget() -> None:
    figures = {f.bench: f for f in gateway_memory.run(simulated_s=300)}
    peak = figures["gateway_memory.rss_peak_mb"]
    assert peak.baseline == gateway_memory.BUDGET_MB
    assert peak.extra is not None
    assert peak.figure - peak.extra["rss_start_mb"] < 20
    assert peak.extra["readings"] == 300 * (7 + 3 * 2)  # straps: HR; oximeters: SpO2 + pulse
    assert figures["gateway_memory.notifications_per_s"].figure > 0
