"""The reports pages through the real app: billing readiness equal to the API's report, its
CSV checked cell by cell (and safe to open in a spreadsheet), engagement bars with numbers."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest

from cloud.reports.schemas import BillingReport, BillingRow
from cloud.store.readings import upsert_readings
from cloud.store.rollups import add_to_rollups
from cloud.web.reports_pages import billing_csv, safe_cell
from tests.fixtures.api import World, reading_row
from tests.web.conftest import NOW
from tests.web.test_pages import _csrf, sign_in

MONTH = "2026-11"


def _measure_daily(world: World, patient_id: str, days: int) -> None:
    """One weight a day for ``days`` days of November, so the report has codes to show."""
    rows = []
    for d in range(days):
        row = reading_row(f"kg-{patient_id}-{d}", patient_id, "scale-1", 80.0, NOW.replace(day=1) + timedelta(days=d, hours=8))  # fmt: skip
        row.update(metric="body_weight", unit="kg")
        rows.append(row)
    with world.session() as s, s.begin():
        upsert_readings(s, rows)
        add_to_rollups(s, rows)


@pytest.fixture
def billed(web_world: World) -> World:
    _measure_daily(web_world, "p-n1", 17)
    sign_in(web_world, "clin@north.test")
    page = web_world.client.get("/patients/p-n1").text
    web_world.client.post("/patients/p-n1/time", data={"minutes": "25", "interactive": "true", "csrf_token": _csrf(page)})  # fmt: skip
    return web_world


def test_billing_page_shows_the_services_report(billed: World) -> None:
    html = billed.client.get(f"/reports?month={MONTH}").text
    api = billed.get("/api/v1/reports/billing", "clin@north.test", month=MONTH).json()
    assert [r["patient_id"] for r in api["patients"]] == ["p-n1", "p-n2"]
    for row in api["patients"]:
        tr = html.split(f'<tr data-patient="{row["patient_id"]}">')[1].split("</tr>")[0]
        assert f'<td class="days">{row["days_with_data"]}</td>' in tr
        assert f'<td class="minutes">{row["minutes"]}</td>' in tr
        assert f'<td class="codes">{" ".join(row["management_codes"]) or "—"}</td>' in tr
        assert f'<td class="supply">{row["supply_code"] or "—"}' in tr
    p1 = next(r for r in api["patients"] if r["patient_id"] == "p-n1")
    assert (p1["supply_code"], p1["minutes"], p1["management_codes"]) == ("99454", 25, ["99457"])
    for code in ("99454", "99445", "99470", "99457", "99458"):
        count = api["totals"].get(code, 0)
        assert f'<dd data-code="{code}">{count} patient' in html
    assert '<a href="/reports" aria-current="page">Reports</a>' in html


def test_billing_csv_cell_by_cell(billed: World) -> None:
    r = billed.client.get(f"/reports/billing.csv?month={MONTH}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        r.headers["content-disposition"]
        == f'attachment; filename="vitalgate-billing-north-{MONTH}.csv"'
    )
    rows = list(csv.reader(io.StringIO(r.text)))
    api = billed.get("/api/v1/reports/billing", "clin@north.test", month=MONTH).json()
    assert rows[0] == ["patient_id", "days_with_data", "supply_code", "projected_days", "at_risk",
                       "minutes", "interactive", "management_codes"]  # fmt: skip
    assert rows[1:] == [
        [p["patient_id"], str(p["days_with_data"]), p["supply_code"] or "", str(p["projected_days"]),
         "yes" if p["at_risk"] else "no", str(p["minutes"]), "yes" if p["interactive"] else "no",
         " ".join(p["management_codes"])]
        for p in api["patients"]
    ]  # fmt: skip
    # 17 days of weights, and the heart rate of the last day (19th and 20th).
    assert rows[1][:3] == ["p-n1", "19", "99454"]


def test_a_formula_never_reaches_a_spreadsheet() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "p-n1", 16, None)] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "p-n1", "16", "",
    ]  # fmt: skip
    evil = BillingRow(patient_id="=HYPERLINK(\"http://x\")", days_with_data=1, supply_code=None,
                      projected_days=-1.0, at_risk=False, minutes=0, interactive=False,
                      management_codes=["@cmd"])  # fmt: skip
    report = BillingReport(organisation_id="north", month=MONTH, period_start=date(2026, 11, 1),
                           period_end=date(2026, 11, 30), as_of=date(2026, 11, 20),
                           patients=[evil], totals={})  # fmt: skip
    rows = list(csv.reader(io.StringIO(billing_csv(report))))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "1", "", "'-1.0", "no", "0", "no", "'@cmd"]


def test_reports_are_scoped_and_refused_to_patients(billed: World) -> None:
    sign_in(billed, "coord@north.test")  # on p-n1's team only
    html = billed.client.get(f"/reports?month={MONTH}").text
    assert '<tr data-patient="p-n1">' in html
    assert "p-n2" not in html
    csv_rows = list(
        csv.reader(io.StringIO(billed.client.get(f"/reports/billing.csv?month={MONTH}").text))
    )
    assert [r[0] for r in csv_rows[1:]] == ["p-n1"]
    assert billed.client.get("/reports?month=2026-13").status_code == 422
    sign_in(billed, "pat@north.test")
    for path in ("/reports", "/reports/billing.csv", "/reports/engagement"):
        assert billed.client.get(path).status_code == 403


def test_engagement_bars_carry_the_services_numbers(billed: World) -> None:
    html = billed.client.get("/reports/engagement").text
    api = billed.get("/api/v1/reports/engagement", "clin@north.test").json()
    summary = api["summary"]
    n = summary["patients"]
    assert f"{summary['adherent_16_days']} of {n}" in html
    assert f"{summary['stopped_measuring']} of {n}" in html
    for row in api["patients"]:
        bar = re.search(
            rf'<th scope="row">{row["patient_id"]}</th>\s*<td><span class="bar" style="width: ([\d.]+)%" aria-hidden="true"></span> <span class="num">(\d+) days</span>',
            html,
        )  # fmt: skip
        assert bar, row["patient_id"]
        assert int(bar.group(2)) == row["adherence_days"]
        assert float(bar.group(1)) == round(100 * row["adherence_days"] / 30, 1)
    assert f"<dt>Minutes logged this month</dt><dd>{summary['minutes_this_month']}</dd>" in html
