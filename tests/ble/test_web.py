"""The local pairing page: list devices, start pairing from a form, refuse a bad form."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from firmware_sim.radio import SimLink, SimRadio
from gateway.ble import web
from gateway.ble.manager import DeviceManager, devices_from_settings
from gateway.ble.pairing import PairingState
from gateway.settings import DeviceConfig
from tests.ble._util import Collected, FakeClock


def test_the_local_page_lists_devices_and_opens_a_pairing_window(tmp_path: Path) -> None:
    got, clock = Collected(), FakeClock()
    configured = devices_from_settings(
        [
            DeviceConfig(
                device_id="cuff-1", address="0E:00:00:00:00:01", kind="bp_cuff", patient_id="p-1"
            )
        ]
    )
    manager = DeviceManager(
        SimLink(SimRadio()),
        data_dir=tmp_path,
        gateway_id="gw",
        sink=got.measurements.append,
        events=got.events.append,
        devices=configured,
        clock_fn=clock,
    )

    async def body() -> tuple[httpx.Response, ...]:
        server = await web.serve(manager, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                page = await client.get("/")
                bad = await client.post("/pair", data={"kind": "toaster", "patient": "p-1"})
                ok = await client.post(
                    "/pair", data={"kind": "scale", "patient": "p-1", "user": "2"}
                )
                after = await client.get("/")
                status = await client.get("/status.json")
                missing = await client.get("/nope")
            return page, bad, ok, after, status, missing
        finally:
            server.close()
            await server.wait_closed()

    page, bad, ok, after, status, missing = asyncio.run(body())
    assert page.status_code == 200
    assert "Blood pressure cuff" in page.text
    assert "Start pairing" in page.text
    assert bad.status_code == 400
    assert "choose a device" in bad.text
    assert ok.status_code == 303
    assert manager.window is not None
    assert manager.window.state is PairingState.OPEN
    assert manager.window.request.patients[0].user_index == 2
    assert manager.window.request.source == "local_page"
    assert "Switch on the scale" in after.text
    assert 'http-equiv="refresh"' in after.text
    assert status.json()["pairing"]["kind"] == "scale"
    assert [d["device_id"] for d in status.json()["devices"]] == ["cuff-1"]
    assert missing.status_code == 404
