"""The web app in Debian's Chromium, driven by Playwright as a person would: sign in, find
the patient, read the heart-rate chart, acknowledge an alert in the inbox and see who did
it; axe-core finds no serious or critical accessibility violation on any page.

Set ``VG_SCREENSHOTS`` to a folder to keep a screenshot of each page (the README's come
from ``VG_SCREENSHOTS=docs/screenshots``).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import uvicorn
from sqlalchemy.orm import Session

from cloud.api.app import create_app
from cloud.auth import security
from tests.fixtures.api import PASSWORD, World, _hash_once, seed, settings_for
from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until
from tests.web.conftest import HR_READINGS, NOW, seed_recent, store_cgm

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class _ServedWorld(World):
    """The seeding helpers' view of a world whose app is served by uvicorn, not TestClient."""

    app: Any = None

    def session(self) -> Session:
        return self.app.state.services.sessions()  # type: ignore[no-any-return]


@dataclass
class Served:
    url: str
    world: World
    server: uvicorn.Server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: make bootstrap installs it")
    port = free_port()
    settings = settings_for(
        f"sqlite:///{tmp_path / 'cloud.sqlite3'}", tmp_path / "cloud",
        public_url=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    app = create_app(settings, clock=lambda: NOW)
    # Like `serve`: open event streams are cancelled after a graceful-shutdown timeout.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    with mock.patch.object(security, "hash_password", _hash_once):
        thread.start()
        wait_until(lambda: server.started, timeout=20, what="the web app to serve")
        world = _ServedWorld(client=None, settings=settings)  # type: ignore[arg-type]
        world.app = app
        seed(world)
        seed_recent(world)
        store_cgm(world, "p-n1", days=3)
        try:
            yield Served(f"http://127.0.0.1:{port}", world, server)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _axe(page: Any) -> list[str]:
    """Serious and critical violations on the current page, as 'rule: target' lines."""
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {node['target']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("VG_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_sign_in_read_a_chart_and_acknowledge_an_alert(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    alert_id = served.world.alerts["p-n1"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{served.url}/")
        expect(page).to_have_url(f"{served.url}/login?next=/")
        assert _axe(page) == []
        _shot(page, "sign-in")
        page.get_by_label("Email").fill("coord@north.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("heading", name="Patients, most in need first")).to_be_visible()
        assert _axe(page) == []
        _shot(page, "population")

        page.get_by_role("link", name="p-n1").click()
        chart = page.locator('figure[data-metric="heart_rate"]')
        # The default range (30 days) holds the last day's readings and the world's first 3.
        expected = str(HR_READINGS + 3)
        expect(chart).to_have_attribute("data-points", expected)
        # Drawn, not only sent: app.js sets data-drawn once uPlot has the points on a canvas.
        expect(chart).to_have_attribute("data-drawn", expected)
        expect(chart.locator("canvas")).to_have_count(1)
        agp = page.locator('figure[data-metric="agp"]')
        expect(agp).to_have_attribute("data-drawn", "96")
        assert _axe(page) == []
        _shot(page, "patient")

        page.get_by_role("link", name="Alerts").click()
        assert _axe(page) == []
        _shot(page, "alerts")
        page.get_by_role("button", name=f"Acknowledge alert {alert_id}").click()
        expect(page.get_by_role("button", name=f"Acknowledge alert {alert_id}")).to_have_count(0)

        page.goto(f"{served.url}/alerts/{alert_id}")
        history = page.locator("ol.history")
        expect(history).to_contain_text("acknowledged by coord@north.test")
        expect(history).to_contain_text("via web")
        assert _axe(page) == []
        _shot(page, "alert")

        # The patient's own page, from the link their care team sends.
        link = page.request.post(
            f"{served.url}/api/v1/patients/p-n1/link", headers=_bearer(page, served.url)
        ).json()["url"]
        patient = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        patient.goto(link)
        expect(patient.get_by_text("Your heart rate this week:")).to_be_visible()
        patient.get_by_label("Write to your care team").fill("2")
        patient.get_by_role("button", name="Send").click()
        expect(patient.get_by_role("status")).to_have_text(
            "Thank you. Your care team will read your message."
        )
        assert _axe(patient) == []
        _shot(patient, "patient-own-page")
        browser.close()


def _bearer(page: Any, url: str) -> dict[str, str]:
    token = page.request.post(
        f"{url}/api/v1/auth/token", form={"username": "clin@north.test", "password": PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
