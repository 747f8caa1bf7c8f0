"""All device sessions of one gateway, and what ``gateway.app`` needs from the BLE stage.

``DeviceManager`` runs one ``DeviceRuntime`` task per paired device (a slow or vanished
device never blocks another), a scan loop that feeds pairing windows, signal strength and
the stuck-adapter watch, and a watcher for pairing requests from the CLI or local page.
It persists device state under the data dir and reports device problems as wire events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import structlog
from pydantic import ValidationError

from gateway import wire
from gateway.ble import pairing
from gateway.ble.adapter import AdapterWatch
from gateway.ble.bind_keys import BindKeyError, BindKeys
from gateway.ble.cgm import WARM_UP
from gateway.ble.link import AdapterControl, BleError, BleLink, BondingLink
from gateway.ble.listening import PassiveListening
from gateway.ble.measurement import Measurement, MeasurementSink
from gateway.ble.pairing import PairingRequest, PairingState, PairingWindow
from gateway.ble.passive_runtime import PassiveReader, describe
from gateway.ble.problems import EventSink, Problem, ProblemTracker, device_event
from gateway.ble.runtime import DeviceRuntime, Sleep
from gateway.ble.state import DeviceState, Origin, StateStore

log = structlog.get_logger(__name__)

SCAN_INTERVAL_S: Final = 30.0
"""Between background scans (signal strength, the adapter watch)."""
PAIRING_SCAN_INTERVAL_S: Final = 1.0
"""Between scans while a pairing window is open: the patient is waiting."""
SCAN_DURATION_S: Final = 3.0
PAIR_TIMEOUT_S: Final = 30.0
POWER_CYCLE_TIMEOUT_S: Final = 10.0
REQUEST_POLL_S: Final = 1.0
STATE_FLUSH_S: Final = 5.0


def pairings_from_settings(configs: Iterable[Any]) -> list[wire.Pairing]:
    """Pairings for ``GatewaySettings.devices`` (``DeviceConfig``: one patient each)."""
    return [
        wire.Pairing(
            device_id=c.device_id,
            address=c.address,
            kind=c.kind,
            patients=(wire.PatientAssignment(patient_id=c.patient_id),),
        )
        for c in configs
    ]


def devices_from_settings(configs: Iterable[Any]) -> list[DeviceState]:
    """Device state rows for ``GatewaySettings.devices`` (``DeviceConfig``: one patient each)."""
    return [
        DeviceState(
            device_id=p.device_id,
            address=p.address or "",
            kind=p.kind,
            patients=list(p.patients),
            origin="settings",
        )
        for p in pairings_from_settings(configs)
    ]


class DeviceManager(PassiveListening):
    """Owns every device session; ``run()`` until cancelled."""

    def __init__(
        self,
        link: BleLink,
        *,
        data_dir: Path,
        gateway_id: str,
        sink: MeasurementSink,
        events: EventSink,
        devices: Iterable[DeviceState] = (),
        clock_fn: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
        backoff_scale: float = 1.0,
        backoff_cap_s: float | None = None,
        scan_interval_s: float = SCAN_INTERVAL_S,
        pairing_scan_interval_s: float = PAIRING_SCAN_INTERVAL_S,
        scan_duration_s: float = SCAN_DURATION_S,
        battery_readings: bool = False,
    ) -> None:
        self.link = link
        self.data_dir = Path(data_dir)
        self.gateway_id = gateway_id
        self.sink = sink
        self.events = events
        self.now = clock_fn
        self.sleep = sleep
        self.backoff_scale = backoff_scale
        self.backoff_cap_s = backoff_cap_s
        self.scan_interval_s = scan_interval_s
        self.pairing_scan_interval_s = pairing_scan_interval_s
        self.scan_duration_s = scan_duration_s
        self.battery_readings = battery_readings
        self.store = StateStore(self.data_dir)
        for device in devices:
            if device.device_id not in self.store.devices:
                self.store.put(device)
        self.runtimes: dict[str, DeviceRuntime] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.window: PairingWindow | None = None
        self.watch = AdapterWatch()
        self.adapter_problems = ProblemTracker(None, None, events)
        self._tg: asyncio.TaskGroup | None = None
        self._wake = asyncio.Event()
        self.keys = BindKeys(self.data_dir)
        self.passive = PassiveReader(
            self.store,
            self.keys,
            sink=sink,
            clock_fn=clock_fn,
            on_first_reading=self._first_reading,
        )
        self._listener: asyncio.Task[None] | None = None

    # --- what app.py uses ------------------------------------------------------------------
    async def run(self) -> None:
        """Every device session, the scan loop and the request watcher, until cancelled."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for device in list(self.store.devices.values()):
                    self._start(device)
                self._update_listener()
                tg.create_task(self._scan_loop(), name="ble-scan")
                tg.create_task(self._requests_loop(), name="ble-pairing-requests")
                tg.create_task(self._flush_loop(), name="ble-state")
        finally:
            self._tg = None
            self.store.save()

    def statuses(self) -> tuple[wire.DeviceStatus, ...]:
        """Device rows for the gateway's ``…/status`` message."""
        out = []
        for device in self.store.devices.values():
            rt = self.runtimes.get(device.device_id)
            out.append(
                wire.DeviceStatus(
                    device_id=device.device_id,
                    kind=device.kind,
                    connected=bool(rt and rt.connected),
                    battery=device.battery,
                    rssi=device.rssi
                    if device.rssi is not None and -127 <= device.rssi <= 20
                    else None,
                    last_seen=device.last_seen,
                )
            )
        return tuple(out)

    def open_pairing(self, request: PairingRequest) -> PairingWindow:
        """Open (or replace) the pairing window; scanning speeds up at once."""
        self.window = pairing.open_window(request, now=self.now())
        log.info("ble.pairing_open", kind=request.kind.value, source=request.source)
        self._write_window()
        self._wake.set()
        self._update_listener()
        return self.window

    def unpair(self, device_id: str) -> bool:
        """Forget a device (the patient's own choice): its session stops, it is no longer
        read or listened to, and its bind key is deleted. False if it was not paired."""
        if self.store.get(device_id) is None:
            return False
        self._forget(device_id, reason="unpaired")
        return True

    def handle_command(self, command: wire.Command) -> wire.CommandResult:
        """Answer a cloud command the BLE stage owns (``start_pairing``)."""
        now = self.now()

        def result(ok: bool, detail: str, **extra: Any) -> wire.CommandResult:
            return wire.CommandResult(
                gateway_id=self.gateway_id,
                command_id=command.command_id,
                ok=ok,
                ts=now,
                detail=detail,
                result=extra,
            )

        if command.expired(now=now):
            return result(False, "the command expired before it arrived")
        if command.name is wire.CommandName.START_PAIRING:
            try:
                request = PairingRequest.model_validate(
                    {**command.args, "source": "cloud", "request_id": command.command_id}
                )
            except ValidationError as exc:
                return result(False, f"invalid pairing request: {exc.errors()[0]['msg']}")
            window = self.open_pairing(request)
            return result(True, window.message, expires_at=window.expires_at.isoformat())
        if command.name is wire.CommandName.DOWNLOAD_RECORDS:
            for rt in self.runtimes.values():
                rt.poke()
            return result(
                True,
                "asking every device for its stored readings now; "
                "devices that are asleep send them when next used",
                devices=len(self.runtimes),
            )
        if command.name is wire.CommandName.SYNC_CLOCKS:
            connected = [rt for rt in self.runtimes.values() if rt.connected]
            if self._tg is not None:
                for rt in connected:
                    self._tg.create_task(rt.sync_clock(), name=f"ble-clock-{rt.device_id}")
            return result(
                True,
                "checking the clocks of connected devices now; the others are checked "
                "at their next connection",
                devices=len(connected),
            )
        return result(False, f"{command.name.value} is not handled by the BLE stage")

    def apply_pairings(
        self, pairings: Iterable[wire.Pairing], *, origin: Origin = "config"
    ) -> None:
        """Adopt the complete pairing list of a cloud config (or of the gateway settings).

        New devices start and listed ones get the listed patients; a device whose address
        or kind changed starts afresh; a device no longer listed stops and is forgotten,
        unless a local pairing window found it and no config has listed it yet (the cloud
        hears of it from the ``paired`` event first). Loop thread, no await.
        """
        wanted = {p.device_id: p for p in pairings}
        for device_id, device in list(self.store.devices.items()):
            p = wanted.get(device_id)
            if p is None:
                if device.origin != "pairing":
                    self._forget(device_id, reason="no longer paired")
            elif p.address is not None and (
                p.address.upper() != device.address.upper() or p.kind != device.kind
            ):
                self._forget(device_id, reason="address or kind changed")
        for p in wanted.values():
            existing = self.store.get(p.device_id)
            if existing is not None:
                existing.patients = list(p.patients)
                existing.origin = origin
                self.store.touch()
                rt = self.runtimes.get(p.device_id)
                if rt is not None:
                    rt.problems.patient_id = (
                        p.patients[0].patient_id if len(p.patients) == 1 else None
                    )
                continue
            if p.address is None:
                continue  # paired by kind only: a pairing window will find it
            device = DeviceState(
                device_id=p.device_id,
                address=p.address,
                kind=p.kind,
                patients=list(p.patients),
                paired_at=self.now(),
                origin=origin,
            )
            self.store.put(device)
            if self._tg is not None:
                self._start(device)

    def _forget(self, device_id: str, *, reason: str) -> None:
        """Stop a device's session (it disconnects as it ends) and drop its state."""
        task = self._tasks.pop(device_id, None)
        if task is not None:
            task.cancel()
        self.runtimes.pop(device_id, None)
        self.store.remove(device_id)
        try:
            self.keys.remove(device_id)
        except BindKeyError as exc:
            log.error("ble.bind_keys_unreadable", reason=str(exc), device_id=device_id)
        self.passive.rebuild()
        self._update_listener()
        log.info("ble.device_removed", device_id=device_id, reason=reason)

    # --- sessions --------------------------------------------------------------------------
    def _start(self, device: DeviceState) -> None:
        assert self._tg is not None
        if device.passive:  # read by listening, never connected
            self.passive.rebuild()
            self._update_listener()
            return
        if device.device_id in self.runtimes:
            return
        try:
            rt = DeviceRuntime(
                self.link,
                device,
                store=self.store,
                sink=self._deliver,
                events=self.events,
                clock_fn=self.now,
                sleep=self.sleep,
                backoff_scale=self.backoff_scale,
                backoff_cap_s=self.backoff_cap_s,
                on_first_reading=self._first_reading,
                battery_readings=self.battery_readings,
            )
        except (KeyError, ValueError):
            log.error("ble.unknown_kind", device_id=device.device_id, kind=device.kind)
            return
        self.runtimes[device.device_id] = rt
        self._tasks[device.device_id] = self._tg.create_task(
            rt.run(), name=f"ble-{device.device_id}"
        )

    def _deliver(self, m: Measurement) -> None:
        """A connected device's measurement: remember it in words, then hand it on."""
        device = self.store.get(m.device_id)
        said = describe(m.decoded.readings())
        if device is not None and said:
            device.last_reading = said
        self.sink(m)

    def _first_reading(self, device: DeviceState, m: Measurement) -> None:
        window = self.window
        if window is None or window.device_id != device.device_id:
            return
        if window.state is not PairingState.PAIRED:
            return
        said = describe(m.decoded.readings())
        self.window = window.with_state(
            PairingState.CONFIRMED,
            f"It worked: your first reading has arrived ({said}). Thank you!"
            if said
            else "It worked: your first reading has arrived. Thank you!",
        )
        self._pairing_event("first_reading", device, metric=m)
        self._write_window()

    def _pairing_event(self, code: str, device: DeviceState, *, metric: Measurement | None) -> None:
        patient = metric.patient_id if metric is not None else None
        if patient is None and len(device.patients) == 1:
            patient = device.patients[0].patient_id
        self.events(
            device_event(
                kind=wire.EventKind.PAIRING,
                code=code,
                ts=self.now(),
                device_id=device.device_id,
                patient_id=patient,
                evidence={
                    "kind": device.kind,
                    "address": device.address,
                    "bonded": device.bonded,
                    "message": self.window.message if self.window else "",
                },
            )
        )

    # --- scanning, pairing, the adapter ----------------------------------------------------
    async def _scan_loop(self) -> None:
        while True:
            await self._scan_once()
            open_ = self.window is not None and self.window.state is PairingState.OPEN
            interval = self.pairing_scan_interval_s if open_ else self.scan_interval_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    async def _scan_once(self) -> None:
        now = self.now()
        try:
            heard = await self.link.scan(timeout=self.scan_duration_s)
        except (BleError, TimeoutError) as exc:
            log.warning("ble.scan_failed", reason=str(exc))
            if self.watch.scan_failed(now=now):
                self.adapter_problems.raise_(Problem.ADAPTER_STUCK, now=now, reason=str(exc)[:200])
            if self.watch.should_power_cycle(now=now):
                await self._power_cycle()
            return
        if self.watch.scan_ok():
            self.adapter_problems.clear(Problem.ADAPTER_STUCK, now=now)
        by_address = {ad.address.upper(): ad for ad in heard}
        for device in self.store.devices.values():
            ad = by_address.get(device.address.upper())
            if ad is not None and ad.rssi is not None:
                device.rssi = ad.rssi
                self.store.touch()
        window = self.window
        if window is not None and pairing.expired(window, now=now):
            self.window = window.with_state(
                PairingState.EXPIRED,
                "No device found. Switch it on (or take a measurement) next to the gateway "
                "and start pairing again.",
            )
            self._write_window()
            self._update_listener()
            self.events(
                device_event(
                    kind=wire.EventKind.PAIRING,
                    code="pairing_expired",
                    ts=now,
                    device_id=None,
                    patient_id=window.request.patients[0].patient_id,
                    evidence={"kind": window.request.kind.value, "source": window.request.source},
                )
            )
        elif (
            window is not None and window.state is PairingState.OPEN and not window.request.passive
        ):
            await self._try_pair(window, heard)

    async def _power_cycle(self) -> None:
        if not isinstance(self.link, AdapterControl):
            log.error("ble.adapter_stuck", advice="unplug the gateway for 10 seconds")
            return
        try:
            await self.link.power_cycle(timeout=POWER_CYCLE_TIMEOUT_S)
            log.warning("ble.adapter_power_cycled")
        except (BleError, TimeoutError) as exc:
            log.error("ble.power_cycle_failed", reason=str(exc))

    async def _try_pair(self, window: PairingWindow, heard: list[Any]) -> None:
        known = [d.address for d in self.store.devices.values()]
        ad = pairing.candidate(window, heard, paired=known)
        if ad is None:
            return
        bonded = False
        if isinstance(self.link, BondingLink):
            try:
                bonded = await self.link.pair(ad.address, timeout=PAIR_TIMEOUT_S)
            except (BleError, TimeoutError) as exc:
                log.warning("ble.pairing_failed", address=ad.address, reason=str(exc))
                self.window = window.with_state(
                    PairingState.OPEN, window.message, tried=(*window.tried, ad.address)
                )
                return
        request = window.request
        device = pairing.paired_device(
            request, ad, now=self.now(), bonded=bonded, session_start=request.sensor_inserted_at
        )
        self.store.put(device)
        await self.store.save_async()
        message = "Paired. Now take a measurement to finish."
        if request.sensor_inserted_at is not None:
            ready = request.sensor_inserted_at + WARM_UP
            message = (
                "Paired. The sensor is warming up: its first reading comes by "
                f"{ready.strftime('%H:%M')} UTC at the latest."
            )
        self.window = window.with_state(
            PairingState.PAIRED, message, device_id=device.device_id, address=ad.address
        )
        log.info("ble.paired", device_id=device.device_id, kind=device.kind, bonded=bonded)
        self._pairing_event("paired", device, metric=None)
        self._write_window()
        self._start(device)

    # --- files shared with the CLI and the local page --------------------------------------
    def _write_window(self) -> None:
        if self.window is None:
            return
        path = self.data_dir / pairing.STATUS_FILE
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.window.to_json(), indent=2))
            tmp.replace(path)

    async def _requests_loop(self) -> None:
        path = self.data_dir / pairing.REQUEST_FILE
        unpair = self.data_dir / pairing.UNPAIR_FILE
        while True:
            if unpair.is_file():
                with contextlib.suppress(OSError, ValueError):
                    for device_id in json.loads(unpair.read_text()).get("device_ids", []):
                        self.unpair(str(device_id))
                with contextlib.suppress(OSError):
                    unpair.unlink()
                await self.store.save_async()  # the CLI waits to see it gone
            if path.is_file():
                try:
                    request = PairingRequest.model_validate_json(path.read_bytes())
                except ValidationError as exc:
                    # Fields and reasons only: pydantic's text quotes the input (a bind key).
                    reasons = "; ".join(
                        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                    )
                    log.error("ble.pairing_request_invalid", path=str(path), reason=reasons)
                except OSError as exc:
                    log.error("ble.pairing_request_invalid", path=str(path), reason=str(exc))
                else:
                    self.open_pairing(request)
                with contextlib.suppress(OSError):
                    path.unlink()
            await asyncio.sleep(REQUEST_POLL_S)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_FLUSH_S)
            await self.store.save_async()
