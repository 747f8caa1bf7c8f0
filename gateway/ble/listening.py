"""The listening scanner of ``DeviceManager``: passive sensors are read by listening.

A mixin of the manager (as ``DeviceReads`` is of ``DeviceRuntime``): it runs the link's
``ListeningLink.listen`` while a passive sensor is paired or a passive pairing window is
open, and only then, hands each advertisement to the ``PassiveReader``, and pairs the
sensor a passive window waits for (``passive_candidate``: with a bind key, only the sensor
that key opens).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Final

import structlog

from gateway.ble import pairing
from gateway.ble.bind_keys import BindKeys
from gateway.ble.link import Advertisement, BleError, BleLink, ListeningLink
from gateway.ble.measurement import Measurement
from gateway.ble.pairing import PairingState, PairingWindow
from gateway.ble.passive_runtime import PassiveReader, passive_candidate
from gateway.ble.state import DeviceState, StateStore

log = structlog.get_logger(__name__)

LISTEN_RETRY_S: Final = 5.0
"""After the listening scanner failed to start (adapter off or stuck)."""


class PassiveListening:
    link: BleLink
    window: PairingWindow | None
    store: StateStore
    keys: BindKeys
    passive: PassiveReader
    now: Callable[[], datetime]
    _tg: asyncio.TaskGroup | None
    _listener: asyncio.Task[None] | None

    def _pairing_event(self, code: str, device: DeviceState, *, metric: Measurement | None) -> None:
        raise NotImplementedError

    def _write_window(self) -> None:
        raise NotImplementedError

    def _update_listener(self) -> None:
        """Listen while a passive sensor is paired or a passive pairing window is open, and
        only then: a continuous scan costs the radio time the connected devices need."""
        if self._tg is None or not isinstance(self.link, ListeningLink):
            return
        window = self.window
        wanted = self.passive.active or (
            window is not None and window.state is PairingState.OPEN and window.request.passive
        )
        if wanted and self._listener is None:
            self._listener = self._tg.create_task(self._listen(), name="ble-listen")
        elif not wanted and self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def _listen(self) -> None:
        assert isinstance(self.link, ListeningLink)
        while True:
            try:
                await self.link.listen(self._heard)
            except BleError as exc:
                log.warning("ble.listen_failed", reason=str(exc))
            await asyncio.sleep(LISTEN_RETRY_S)

    def _heard(self, ad: Advertisement) -> None:
        """Loop thread: one advertisement from the listening scanner."""
        window = self.window
        if window is not None and window.state is PairingState.OPEN and window.request.passive:
            self._pair_passive(window, ad)
        self.passive.heard(ad)

    def _pair_passive(self, window: PairingWindow, ad: Advertisement) -> None:
        request = window.request
        key = bytes.fromhex(request.bind_key) if request.bind_key else None
        taken = [d.address for d in self.store.devices.values()]
        if not passive_candidate(request.kind, key, ad, taken=taken):
            return
        device = pairing.paired_device(request, ad, now=self.now(), passive=True)
        if key is not None:
            self.keys.put(device.device_id, key)
        self.store.put(device)
        self.window = window.with_state(
            PairingState.PAIRED,
            "Found it. Now take a measurement to finish.",
            device_id=device.device_id,
            address=ad.address,
        )
        log.info("ble.paired", device_id=device.device_id, kind=device.kind, passive=True)
        self._pairing_event("paired", device, metric=None)
        self._write_window()
        self.passive.rebuild()
