"""The gateway's local pairing page in Chromium, as a person at home uses it: choose who,
choose the device, read what to press, start pairing, see the first reading confirmed with
its value, then unpair. Elements are found by their accessible names; axe-core finds no
serious or critical violation on any step."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.devices import BloodPressureCuff
from firmware_sim.radio import SimLink, SimRadio
from gateway.ble import web
from gateway.ble.household import people
from gateway.ble.manager import DeviceManager
from gateway.settings import PatientConfig
from tests.fixtures.waiting import wait_until
from tests.web.test_browser import ARGS, CHROMIUM, _axe, _shot

pytestmark = pytest.mark.browser

HOUSEHOLD = people(
    [
        PatientConfig(patient_id="p-maria", first_name="Maria"),
        PatientConfig(patient_id="p-jose", first_name="José"),
    ],
    None,
)


@dataclass
class Home:
    url: str
    cuff: BloodPressureCuff
    manager: DeviceManager
    loop: asyncio.AbstractEventLoop


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    radio = SimRadio()
    cuff = radio.add(BloodPressureCuff("0C:00:00:00:0B:01", seed=8))
    loop = asyncio.new_event_loop()
    manager: DeviceManager | None = None
    ready = threading.Event()
    port: list[int] = []

    async def main() -> None:
        nonlocal manager
        manager = DeviceManager(
            SimLink(radio),
            data_dir=tmp_path,
            gateway_id="gw-home",
            sink=lambda m: None,
            events=lambda e: None,
            pairing_scan_interval_s=0.1,
        )
        server = await web.serve(manager, "127.0.0.1", 0, household=lambda: HOUSEHOLD)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        try:
            await manager.run()
        finally:
            server.close()

    task = loop.create_task(main())

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    assert manager is not None
    try:
        yield Home(f"http://127.0.0.1:{port[0]}", cuff, manager, loop)
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10)
        with contextlib.suppress(RuntimeError):
            loop.close()


def test_a_person_pairs_a_cuff_sees_the_first_reading_and_unpairs_it(home: Home) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.goto(f"{home.url}/")
        expect(page.get_by_text("Who will use this device?")).to_be_visible()
        assert _axe(page) == []
        _shot(page, "gateway-home")
        page.get_by_role("link", name="Maria").click()
        expect(page.get_by_role("heading", name="Which device will Maria use?")).to_be_visible()
        assert _axe(page) == []
        page.get_by_role("link", name="Blood pressure cuff").click()
        expect(page.get_by_text("Press and hold the Bluetooth button")).to_be_visible()
        expect(page.get_by_role("img", name="Blood pressure monitor")).to_be_visible()
        assert _axe(page) == []
        _shot(page, "gateway-steps")
        page.get_by_role("button", name="Start pairing").click()
        expect(page.get_by_role("status")).to_be_visible()  # "Switch on…", then "Paired…"

        wait_until(lambda: home.cuff.subscribed(0x2A35), what="the cuff paired and subscribed")
        home.loop.call_soon_threadsafe(home.cuff.measure)
        # The page refreshes itself while it waits for the first reading.
        expect(page.get_by_role("status")).to_contain_text(
            "It worked: your first reading has arrived (blood pressure", timeout=15_000
        )
        assert _axe(page) == []
        _shot(page, "gateway-confirmed")

        page.get_by_role("button", name="Unpair Blood pressure cuff of Maria").click()
        expect(page.get_by_text("No devices yet")).to_be_visible()
        browser.close()
    assert home.manager.store.devices == {}
