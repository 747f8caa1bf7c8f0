"""The management pages in Debian's Chromium, as an administrator would use them: unlock a
colleague's account, change a patient's heart-rate levels after previewing what they would
have fired, and download the month's billing CSV; axe-core finds no serious or critical
violation on any of these pages.

``VG_SCREENSHOTS=docs/screenshots`` keeps a screenshot of each (see tests/web/test_browser.py).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.store.tenancy import User
from tests.fixtures.api import PASSWORD
from tests.web.conftest import NOW
from tests.web.test_browser import ARGS, CHROMIUM, Served, _axe, _shot, served

__all__ = ["served"]  # the served app fixture, shared with the first browser test

pytestmark = pytest.mark.browser


def _lock(served: Served, email: str) -> None:
    with served.world.session() as s, s.begin():
        user = s.scalars(select(User).where(User.email == email)).one()
        user.locked_until, user.failed_logins = NOW + timedelta(hours=1), 6


def test_unlock_an_account_edit_thresholds_with_a_preview_and_download_billing(
    served: Served, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _lock(served, "coord@north.test")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{served.url}/login")
        page.get_by_label("Email").fill("admin@north.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        # Administration: the locked coordinator, unlocked with one button.
        page.get_by_role("link", name="Administration").click()
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
        row = page.locator('tr[data-user="coord@north.test"]')
        expect(row).to_contain_text("locked until 2026-11-20 13:00 UTC")
        assert _axe(page) == []
        _shot(page, "admin-users")
        page.get_by_role("button", name="Unlock coord@north.test").click()
        expect(page.get_by_role("status")).to_have_text("Unlocked coord@north.test")
        expect(row.locator("td.state")).to_have_text("active")
        expect(page.get_by_role("button", name="Unlock coord@north.test")).to_have_count(0)
        for link, heading, shot in (
            ("Care teams", "Care teams", "admin-care-teams"),
            ("Escalation chains", "Escalation chains", "admin-chains"),
            ("Gateways and pairings", "Gateways and pairings", "admin-gateways"),
        ):
            page.get_by_role("navigation", name="Administration").get_by_role(
                "link", name=link
            ).click()
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            assert _axe(page) == [], link
            if shot == "admin-chains":
                _shot(page, shot)

        # Thresholds: lower p-n1's heart-rate level, preview, then save.
        page.get_by_role("link", name="Patients").click()
        page.get_by_role("link", name="p-n1").click()
        page.get_by_role("link", name="Thresholds: defaults, locks and changes").click()
        hr = page.locator('fieldset[data-rule="general.hr"]')
        expect(hr.get_by_label("fire high")).to_have_value("131")
        expect(
            page.locator('fieldset[data-rule="general.sbp"]').get_by_label("fire low")
        ).to_be_disabled()
        hr.get_by_label("fire high").fill("100")
        hr.get_by_label("clear high").fill("95")
        page.get_by_role("button", name="Preview the last 30 days").click()
        expect(page.locator("#preview")).to_contain_text("these rules would have fired")
        assert _axe(page) == []
        _shot(page, "thresholds")
        page.get_by_label("Why").fill("resting rate runs high after surgery")
        page.get_by_role("button", name="Save thresholds").click()
        expect(page.get_by_role("status")).to_have_text("Saved as version 1")
        expect(hr.get_by_label("fire high")).to_have_value("100")
        assert _axe(page) == []

        # Reports: the month's billing readiness, its CSV, and engagement.
        page.get_by_role("link", name="Reports").click()
        expect(page.get_by_role("heading", name="Billing readiness, 2026-11")).to_be_visible()
        assert _axe(page) == []
        _shot(page, "reports-billing")
        with page.expect_download() as info:
            page.get_by_role("link", name="Download CSV for 2026-11").click()
        download = info.value
        assert download.suggested_filename == "vitalgate-billing-north-2026-11.csv"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        rows = list(csv.reader(io.StringIO(saved.read_text())))
        assert rows[0][:3] == ["patient_id", "days_with_data", "supply_code"]
        assert [r[0] for r in rows[1:]] == ["p-n1", "p-n2"]
        for r in rows[1:]:
            shown = page.locator(f'tr[data-patient="{r[0]}"]')
            expect(shown.locator("td.days")).to_have_text(r[1])
            expect(shown.locator("td.minutes")).to_have_text(r[5])
        page.get_by_role("link", name="Engagement").click()
        expect(
            page.get_by_role("table", name="Days with readings in the last 30, per patient")
        ).to_be_visible()
        assert _axe(page) == []
        _shot(page, "reports-engagement")
        browser.close()
