"""A meter answering a record download with a response code this version does not know:
the download is refused with the number named, never mistaken for a success."""

from __future__ import annotations

import asyncio

import pytest

from gateway.ble.link import NotifyCallback
from gateway.ble.racp_download import RacpError, download


class _Meter:
    """Just enough of a BleConnection: answers any RACP write with ``answer``."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.callback: NotifyCallback | None = None

    @property
    def address(self) -> str:
        return "C0:FF:EE:00:00:01"

    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None:
        self.callback = callback

    async def write(self, char_uuid: str, data: bytes, *, response: bool = True) -> None:
        assert self.callback is not None
        self.callback(char_uuid, self.answer)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("06000100", "unknown response code 0"),  # code 0 is reserved (GLS 1.0 §3.6.2)
        ("060001f0", "unknown response code 240"),
        ("06000106", None),  # no records found: a normal end
    ],
)
def test_download_outcome_for_response_code(answer: str, why: str | None) -> None:
    async def run() -> None:
        meter = _Meter(bytes.fromhex(answer))
        await download(meter, last_sequence=None, lost=asyncio.Event(), timeout_s=5)  # type: ignore[arg-type]

    if why is None:
        asyncio.run(run())
        return
    with pytest.raises(RacpError, match=why):
        asyncio.run(run())
