"""The 14-day glucose report as a one-page PDF a clinician can file: patient, period, the
consensus time-in-range figures with their targets, mean / GMI / CV, and the ambulatory
glucose profile (median, 25–75 % and 5–95 % bands by time of day).

Drawn with ReportLab's canvas from the same ``GlucoseReport`` the JSON route and the web
page give, so the three never disagree. Targets: Battelino et al., Diabetes Care
2019;42:1593 (table 1 of the consensus on time in range). Output is invariant (no creation
time or random id inside), so the same report gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from typing import Final

import numpy as np
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from cloud.trends.glucose import GlucoseReport
from gateway.signal import glucose

RANGES: Final = (
    ("Very high (>250 mg/dL)", "tar_250", "< 5 %"),
    ("High (>180 mg/dL, incl. very high)", "tar_180", "< 25 %"),
    ("In range (70-180 mg/dL)", "tir", "> 70 %"),
    ("Low (<70 mg/dL, incl. very low)", "tbr_70", "< 4 %"),
    ("Very low (<54 mg/dL)", "tbr_54", "< 1 %"),
)
"""(label, ``GlucoseSummary`` field, consensus target for most adults with type 1 or 2)."""
Y_MAX: Final = 350.0
"""mg/dL at the top of the AGP chart (the consensus AGP report's scale)."""
OUTER: Final = colors.Color(0.62, 0.75, 0.90)
INNER: Final = colors.Color(0.30, 0.50, 0.78)
MEDIAN: Final = colors.Color(0.05, 0.18, 0.45)
TARGET: Final = colors.Color(0.10, 0.55, 0.25)


def _runs(ok: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of each run of True in ``ok``: the bins with readings."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    yield from zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)


def _fmt_day(moment: datetime) -> str:
    return moment.strftime("%d %b %Y")


def _header(
    c: Canvas, *, name: str, patient_id: str, report: GlucoseReport, now: datetime
) -> float:
    width, height = A4
    y = height - 20 * mm
    c.setFont("Helvetica-Bold", 16)
    c.drawString(20 * mm, y, "Ambulatory glucose profile (AGP), 14 days")
    y -= 9 * mm
    c.setFont("Helvetica", 10)
    s = report.summary
    for line in (
        f"Patient: {name}    Patient id: {patient_id}",
        f"Period: {_fmt_day(report.since)} - {_fmt_day(report.until)} (UTC)    "
        f"Readings: {s.n_readings}    Sensor wear: {s.wear:.1f} %",
        f"Generated {now.strftime('%Y-%m-%d %H:%M')} UTC by VitalGate",
    ):
        c.drawString(20 * mm, y, line)
        y -= 5.5 * mm
    c.line(20 * mm, y, width - 20 * mm, y)
    return y - 8 * mm


def _summary(c: Canvas, report: GlucoseReport, y: float) -> float:
    s = report.summary
    c.setFont("Helvetica-Bold", 12)
    c.drawString(20 * mm, y, "Time in ranges")
    c.setFont("Helvetica", 9)
    c.drawString(130 * mm, y, "Consensus target")
    y -= 6.5 * mm
    c.setFont("Helvetica", 10)
    for label, attr, target in RANGES:
        c.drawString(22 * mm, y, label)
        c.drawRightString(118 * mm, y, f"{getattr(s, attr):.1f} %")
        c.drawString(130 * mm, y, target)
        y -= 5.5 * mm
    y -= 2 * mm
    for label, value, target in (
        ("Mean glucose", f"{s.mean_mg_dl:.0f} mg/dL", ""),
        ("Glucose management indicator (GMI)", f"{s.gmi:.1f} %", ""),
        ("Glucose variability (CV)", f"{s.cv:.1f} %", "<= 36 %"),
    ):
        c.drawString(22 * mm, y, label)
        c.drawRightString(118 * mm, y, value)
        c.drawString(130 * mm, y, target)
        y -= 5.5 * mm
    return y - 6 * mm


def _agp(c: Canvas, report: GlucoseReport, y_top: float) -> None:
    agp = report.agp
    width, _ = A4
    left, right = 32 * mm, width - 20 * mm
    bottom, top = y_top - 95 * mm, y_top - 8 * mm
    c.setFont("Helvetica-Bold", 12)
    c.drawString(20 * mm, y_top, "Ambulatory glucose profile")
    c.setFont("Helvetica", 8)
    c.drawString(
        20 * mm, y_top - 5 * mm,
        f"Median, 25-75 % and 5-95 % of readings by time of day ({report.timezone})",
    )  # fmt: skip
    minutes = agp.bin_start_min + (1440.0 / agp.bin_start_min.size) / 2

    def px(m: float) -> float:
        return left + (right - left) * m / 1440.0

    def py(v: float) -> float:
        return bottom + (top - bottom) * min(max(v, 0.0), Y_MAX) / Y_MAX

    c.setStrokeColor(colors.grey)
    c.rect(left, bottom, right - left, top - bottom)
    for hour in range(0, 25, 3):
        c.drawCentredString(px(hour * 60.0), bottom - 4 * mm, f"{hour:02d}:00")
    for level in (54, 70, 180, 250, 350):
        c.drawRightString(left - 2 * mm, py(level) - 1, str(level))
    ok = ~np.isnan(agp.p50)
    for lo_band, hi_band, fill in ((agp.p5, agp.p95, OUTER), (agp.p25, agp.p75, INNER)):
        for a, b in _runs(ok):
            path = c.beginPath()
            path.moveTo(px(minutes[a]), py(hi_band[a]))
            for i in range(a + 1, b):
                path.lineTo(px(minutes[i]), py(hi_band[i]))
            for i in range(b - 1, a - 1, -1):
                path.lineTo(px(minutes[i]), py(lo_band[i]))
            path.close()
            c.setFillColor(fill)
            c.drawPath(path, stroke=0, fill=1)
    c.setStrokeColor(TARGET)
    c.setLineWidth(1)
    for bound in (glucose.LOW, glucose.HIGH):
        c.line(left, py(bound), right, py(bound))
    c.setStrokeColor(MEDIAN)
    c.setLineWidth(2)
    for a, b in _runs(ok):
        path = c.beginPath()
        path.moveTo(px(minutes[a]), py(agp.p50[a]))
        for i in range(a + 1, b):
            path.lineTo(px(minutes[i]), py(agp.p50[i]))
        c.drawPath(path, stroke=1, fill=0)
    c.setFillColor(colors.black)
    c.setFont("Helvetica", 8)
    c.drawString(left, bottom - 10 * mm, "mg/dL; target range 70-180 mg/dL (green lines).")


def agp_pdf(*, name: str, patient_id: str, report: GlucoseReport, now: datetime) -> bytes:
    """The report as PDF bytes (A4, one page)."""
    buf = BytesIO()
    c = Canvas(buf, pagesize=A4, invariant=True)
    c.setTitle(f"AGP {patient_id} {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}")
    c.setAuthor("VitalGate")
    c.setSubject("Ambulatory glucose profile and time in ranges, 14 days")
    y = _header(c, name=name, patient_id=patient_id, report=report, now=now)
    y = _summary(c, report, y)
    _agp(c, report, y)
    c.showPage()
    c.save()
    return buf.getvalue()
