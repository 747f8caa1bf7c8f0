"""The local pairing page over HTTP: the household by first name, the steps per kind, the
refusals (unknown person, bad bind key, missing or foreign CSRF token) and unpairing,
after which the device is no longer read."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from firmware_sim.devices import BloodPressureCuff
from firmware_sim.radio import SimLink, SimRadio
from gateway import wire
from gateway.ble import web
from gateway.ble.household import people
from gateway.ble.manager import DeviceManager, devices_from_settings
from gateway.ble.pairing import PairingState
from gateway.settings import DeviceConfig, PatientConfig
from tests.ble._util import Collected, FakeClock, running, until

HOUSEHOLD = people(
    [
        PatientConfig(patient_id="p-maria", first_name="Maria"),
        PatientConfig(patient_id="p-jose", first_name="José"),
    ],
    None,
)
CUFF = "0E:00:00:00:00:01"
KEY = "231d39c1 d7cc1ab1 aee224cd 096db932"


def _manager(tmp: Path, radio: SimRadio, got: Collected, clock: FakeClock) -> DeviceManager:
    configured = devices_from_settings(
        [DeviceConfig(device_id="cuff-1", address=CUFF, kind="bp_cuff", patient_id="p-maria")]
    )
    return DeviceManager(
        SimLink(radio),
        data_dir=tmp,
        gateway_id="gw",
        sink=got.measurements.append,
        events=got.events.append,
        devices=configured,
        clock_fn=clock,
        sleep=clock.sleep,
        scan_interval_s=0.05,
    )


async def _with_page(
    manager: DeviceManager, body: Callable[[httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    server = await web.serve(manager, "127.0.0.1", 0, household=lambda: HOUSEHOLD)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            return await body(client)
    finally:
        server.close()
        await server.wait_closed()


def _token(client: httpx.AsyncClient) -> str:
    return str(client.cookies[web.CSRF_COOKIE])


def test_the_page_walks_a_person_through_pairing_and_refuses_bad_forms(tmp_path: Path) -> None:
    got, clock = Collected(), FakeClock()
    manager = _manager(tmp_path, SimRadio(), got, clock)

    async def body(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        out = {"home": await client.get("/")}
        token = _token(client)
        out["kinds"] = await client.get("/pair", params={"person": "p-jose"})
        out["steps"] = await client.get("/pair", params={"person": "p-jose", "kind": "scale"})
        out["cgm_steps"] = await client.get("/pair", params={"person": "p-jose", "kind": "cgm"})
        out["nobody"] = await client.get("/pair", params={"person": "p-stranger"})
        form = {"csrf": token, "person": "p-jose", "kind": "scale"}
        out["no_token"] = await client.post("/pair", data={**form, "csrf": ""})
        out["foreign"] = await client.post(
            "/pair", data=form, headers={"Origin": "http://evil.example"}
        )
        out["unknown"] = await client.post("/pair", data={**form, "person": "p-stranger"})
        out["bad_key"] = await client.post("/pair", data={**form, "bind_key": "abc123"})
        out["bad_user"] = await client.post("/pair", data={**form, "user": "two"})
        out["toaster"] = await client.post("/pair", data={**form, "kind": "toaster"})
        assert manager.window is None  # nothing refused opened a window
        out["cgm"] = await client.post(
            "/pair", data={**form, "kind": "cgm", "inserted_minutes_ago": "60"}
        )
        assert manager.window is not None
        cgm = manager.window.request
        assert cgm.sensor_inserted_at == clock.now - timedelta(hours=1)
        out["ok"] = await client.post("/pair", data={**form, "bind_key": KEY, "user": "2"})
        out["after"] = await client.get("/")
        out["status"] = await client.get("/status.json")
        return out

    r = asyncio.run(_with_page(manager, body))
    assert r["home"].status_code == 200
    assert "Who will use this device?" in r["home"].text
    assert ">Maria</a>" in r["home"].text
    assert ">José</a>" in r["home"].text
    assert "Blood pressure cuff" in r["home"].text
    assert "SameSite=Strict" in r["home"].headers["set-cookie"]
    assert "Which device will José use?" in r["kinds"].text
    assert r["kinds"].text.count("<svg") == 7
    assert "Step on the scale" in r["steps"].text
    assert "Bind key" in r["steps"].text
    assert "When did you put this sensor on?" in r["cgm_steps"].text
    assert r["nobody"].status_code == 400
    assert r["no_token"].status_code == 403
    assert r["foreign"].status_code == 403
    assert r["unknown"].status_code == 400
    assert "not in this household" in r["unknown"].text
    assert r["bad_key"].status_code == 400
    assert "A bind key has 32 characters; this one has 6" in r["bad_key"].text
    assert r["bad_user"].status_code == 400
    assert r["toaster"].status_code == 400
    assert "choose a device" in r["toaster"].text
    assert r["cgm"].status_code == 303
    assert r["ok"].status_code == 303
    assert manager.window is not None
    request = manager.window.request
    assert manager.window.state is PairingState.OPEN
    assert request.patients[0] == wire.PatientAssignment(patient_id="p-jose", user_index=2)
    assert request.source == "local_page"
    assert request.passive
    assert request.bind_key == KEY.replace(" ", "")
    assert "Switch on the scale" in r["after"].text
    assert 'http-equiv="refresh"' in r["after"].text
    assert r["status"].json()["pairing"]["kind"] == "scale"
    assert KEY.replace(" ", "") not in r["status"].text  # the key is never shown back


def test_unpair_from_the_page_stops_reading_the_device(tmp_path: Path) -> None:
    got, clock = Collected(), FakeClock()
    radio = SimRadio()
    cuff = radio.add(BloodPressureCuff(CUFF, seed=4))
    manager = _manager(tmp_path, radio, got, clock)

    async def body(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        await until(lambda: cuff.subscribed(0x2A35), timeout=10)
        cuff.measure()
        await until(lambda: len(got.measurements) == 1, timeout=10)
        home = await client.get("/")
        form = {"csrf": _token(client), "device_id": "cuff-1"}
        gone = await client.post("/unpair", data=form)
        again = await client.post("/unpair", data=form)
        await until(lambda: not cuff.connected, timeout=10)
        cuff.measure()
        after = await client.get("/")
        return home, gone, again, after

    async def main() -> tuple[httpx.Response, ...]:
        result: tuple[httpx.Response, ...] = await running(
            manager.run(), lambda: _with_page(manager, body)
        )
        return result

    home, gone, again, after = asyncio.run(main())
    assert "Unpair Blood pressure cuff of Maria" in home.text
    assert re.search(r"blood pressure \d+/\d+ mmHg", home.text)  # the last reading
    assert gone.status_code == 303
    assert again.status_code == 404
    assert "cuff-1" not in manager.store.devices
    assert "No devices yet" in after.text
    assert len(got.measurements) == 1  # the measurement after unpairing was not read
