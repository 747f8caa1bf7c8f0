"""Reports for the care team's manager: billing readiness for a month (with a CSV export)
and the organisation's engagement, as tables and plain bars with their numbers.

Both are ``cloud.reports.service`` exactly as ``GET /api/v1/reports/billing`` and
``/reports/engagement`` compute them, over the patients the caller may see, and audited
like them. The CSV neutralises spreadsheet formulas: a cell starting with ``=``, ``+``,
``-``, ``@`` (or a tab or carriage return) is prefixed with ``'`` (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cloud.api.deps import ClockDep, SessionDep
from cloud.auth.scope import audit_read, visible_patient_ids
from cloud.engagement.billing import DAYS_99454
from cloud.reports import service
from cloud.reports.schemas import BillingReport
from cloud.web import session as web
from cloud.web.render import render

MONTH: Final = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER: Final = (
    "patient_id", "days_with_data", "supply_code", "projected_days", "at_risk", "minutes",
    "interactive", "management_codes",
)  # fmt: skip
CODES: Final = ("99454", "99445", "99470", "99457", "99458")

router = APIRouter(include_in_schema=False)
Month = Annotated[str | None, Query(pattern=MONTH.pattern)]


def _patients(session: Session, user: web.WebUser) -> list[str]:
    return list(session.scalars(visible_patient_ids(user.principal)))


def _billing(
    session: Session, user: web.WebUser, request: Request, month: str | None, today: date
) -> BillingReport:
    report = service.billing_report(
        session, organisation_id=user.principal.organisation_id,
        patient_ids=_patients(session, user), month=month or f"{today:%Y-%m}", today=today,
    )  # fmt: skip
    audit_read(session, user.principal, request, patient_id=None, rows=len(report.patients))
    return report


@router.get("/reports")
def billing_page(
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    month: Month = None,
) -> HTMLResponse:
    """Billing readiness per patient for a month, with the count of patients per code."""
    report = _billing(session, user, request, month, clock().date())
    return render(
        "reports_billing.html.j2", user=user, active="reports", report=report, codes=CODES,
        need_days=DAYS_99454,
    )  # fmt: skip


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def billing_csv(report: BillingReport) -> str:
    """The report's rows as CSV (RFC 4180, CRLF line ends), one line per patient."""
    out = io.StringIO()
    writer = csv.writer(out)
    rows: Iterable[Sequence[object]] = (
        (r.patient_id, r.days_with_data, r.supply_code or "", r.projected_days,
         "yes" if r.at_risk else "no", r.minutes, "yes" if r.interactive else "no",
         " ".join(r.management_codes))
        for r in report.patients
    )  # fmt: skip
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


@router.get("/reports/billing.csv")
def billing_export(
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    month: Month = None,
) -> Response:
    report = _billing(session, user, request, month, clock().date())
    filename = f"vitalgate-billing-{report.organisation_id}-{report.month}.csv"
    return Response(
        billing_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    shown: str
    percent: float
    """Width of the bar: the value as a share of the scale (0–100)."""


def _bars(items: Sequence[tuple[str, float, str]], scale: float) -> list[Bar]:
    return [
        Bar(label, value, shown, round(100 * value / scale, 1) if scale else 0.0)
        for label, value, shown in items
    ]


@router.get("/reports/engagement")
def engagement_page(
    user: web.StaffPage, session: SessionDep, request: Request, clock: ClockDep
) -> HTMLResponse:
    """The organisation's engagement: how many patients measure enough, reply, are at risk."""
    today = clock().date()
    report = service.engagement_report(
        session, organisation_id=user.principal.organisation_id,
        patient_ids=_patients(session, user), today=today,
    )  # fmt: skip
    audit_read(session, user.principal, request, patient_id=None, rows=len(report.patients))
    s = report.summary
    n = int(s["patients"] or 0)
    people = _bars(
        [
            (f"Measured on {DAYS_99454}+ of the last 30 days", float(s["adherent_16_days"] or 0),
             f"{s['adherent_16_days']} of {n}"),
            ("At risk of missing 16 days this month", float(s["at_risk"] or 0),
             f"{s['at_risk']} of {n}"),
            ("Stopped measuring (7+ days without a reading)", float(s["stopped_measuring"] or 0),
             f"{s['stopped_measuring']} of {n}"),
        ],
        n,
    )  # fmt: skip
    adherence = _bars(
        [(r.patient_id, float(r.adherence_days), f"{r.adherence_days} days")
         for r in report.patients],
        30,
    )  # fmt: skip
    return render(
        "reports_engagement.html.j2", user=user, active="reports", report=report,
        people=people, adherence=adherence, summary=s,
    )  # fmt: skip
