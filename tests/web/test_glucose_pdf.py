"""The AGP report as a PDF to file: it parses, names the patient and the period, carries the
same time-in-range figures as the JSON report, and is scoped and audited like it, through
the API (bearer token) and the patient page's link (web session)."""

from __future__ import annotations

import base64
import itertools
import re
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloud.store.tenancy import AuditEvent
from gateway.signal import glucose
from tests.fixtures.api import World
from tests.web.conftest import NOW, store_cgm
from tests.web.test_pages import sign_in

PDF = "/api/v1/patients/p-n2/glucose/agp.pdf"
CLIN = "clin@north.test"


def pdf_text(data: bytes) -> str:
    """The decoded content streams of a PDF (ReportLab's ASCII85 + Flate, or plain), after
    checking the file's frame: header, cross-reference table, trailer, end marker."""
    assert data.startswith(b"%PDF-1.")
    assert re.search(rb"\nxref\n0 \d+\n", data)
    assert b"trailer" in data
    assert data.rstrip().endswith(b"%%EOF")
    out = []
    for head, raw in re.findall(rb"<<([^<>]*)>>\s*stream\r?\n(.*?)\r?\n?endstream", data, re.S):
        body = raw
        if b"/ASCII85Decode" in head:
            body = base64.a85decode(body.strip().removesuffix(b"~>"))
        if b"/FlateDecode" in head:
            body = zlib.decompress(body)
        out.append(body.decode("latin-1"))
    return "\n".join(out)


def shown(text: str) -> list[str]:
    """The strings a content stream draws (``(…) Tj``), unescaped."""
    return [re.sub(r"\\(.)", r"\1", s) for s in re.findall(r"\(((?:[^()\\]|\\.)*)\) Tj", text)]


def test_pdf_parses_and_carries_the_reports_figures(web_world: World) -> None:
    times, values = store_cgm(web_world, "p-n2", days=14)
    expected = glucose.summary(values, times, start=NOW - timedelta(days=14), end=NOW)
    r = web_world.get(PDF, CLIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == (f'attachment; filename="agp-p-n2-{NOW:%Y%m%d}.pdf"')
    assert r.content.count(b"/Type /Page\n") + r.content.count(b"/Type /Page ") == 1
    lines = shown(pdf_text(r.content))
    assert any("Patient id: p-n2" in line for line in lines), lines
    assert any(f"{(NOW - timedelta(days=14)):%d %b %Y} - {NOW:%d %b %Y}" in s for s in lines)
    figures = dict(itertools.pairwise(lines))
    assert figures["In range (70-180 mg/dL)"] == f"{expected.tir:.1f} %"
    assert figures["Very low (<54 mg/dL)"] == f"{expected.tbr_54:.1f} %"
    assert figures["Low (<70 mg/dL, incl. very low)"] == f"{expected.tbr_70:.1f} %"
    assert figures["High (>180 mg/dL, incl. very high)"] == f"{expected.tar_180:.1f} %"
    assert figures["Very high (>250 mg/dL)"] == f"{expected.tar_250:.1f} %"
    assert figures["Glucose management indicator (GMI)"] == f"{expected.gmi:.1f} %"
    # The JSON report says the same.
    assert web_world.get("/api/v1/patients/p-n2/glucose", CLIN).json()["tir"] == pytest.approx(
        expected.tir, abs=0.051
    )
    # The same report gives the same bytes (nothing random or clock-dependent inside).
    assert web_world.get(PDF, CLIN).content == r.content


def test_pdf_is_scoped_and_audited(web_world: World) -> None:
    store_cgm(web_world, "p-n2", days=14)
    assert web_world.get(PDF, "clin@south.test").status_code == 404  # another organisation
    assert web_world.get(PDF, "pat@north.test").status_code == 404  # another patient
    assert web_world.client.get(PDF).status_code == 401  # no token
    assert web_world.get(PDF.replace("p-n2", "p-n1"), CLIN).status_code == 404  # no CGM data
    assert web_world.get(PDF, CLIN).status_code == 200
    with web_world.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.resource == f"GET {PDF}").order_by(AuditEvent.id)
        ).all()
    assert [(e.action, e.patient_id) for e in events] == [
        ("refused", "p-n2"), ("refused", "p-n2"), ("read", "p-n2")
    ]  # fmt: skip


def test_the_patient_page_links_the_pdf(web_world: World) -> None:
    store_cgm(web_world, "p-n2", days=14)
    anonymous = web_world.client.get("/patients/p-n2/glucose/agp.pdf", follow_redirects=False)
    assert anonymous.status_code == 303  # to sign-in, like every page
    sign_in(web_world, CLIN)
    page = web_world.client.get("/patients/p-n2").text
    assert '<a href="/patients/p-n2/glucose/agp.pdf" download>Download AGP report (PDF)</a>' in page
    r = web_world.client.get("/patients/p-n2/glucose/agp.pdf")
    assert r.status_code == 200
    assert any("Patient id: p-n2" in line for line in shown(pdf_text(r.content)))
