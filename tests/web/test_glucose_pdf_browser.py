"""The AGP report from the patient page, as a clinician gets it in Chromium: the link is found
by its name, the download is a PDF named after the patient and the day, and the page with the
link passes axe-core."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.api import PASSWORD
from tests.web.conftest import NOW
from tests.web.test_browser import ARGS, CHROMIUM, Served, _axe, served  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_agp_pdf_downloads_from_the_patient_page(served: Served, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{served.url}/patients/p-n1")
        page.get_by_label("Email").fill("clin@north.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        link = page.get_by_role("link", name="Download AGP report (PDF)")
        expect(link).to_be_visible()
        assert _axe(page) == []
        with page.expect_download() as info:
            link.click()
        download = info.value
        assert download.suggested_filename == f"agp-p-n1-{NOW:%Y%m%d}.pdf"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        browser.close()
    data = saved.read_bytes()
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")
