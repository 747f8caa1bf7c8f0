"""Download stored glucose records over the Record Access Control Point (GLS 1.0 §3.6).

The gateway asks for records after the last sequence number it downloaded (persisted in
``gateway.ble.state``), so each record crosses the air once in normal use and a transfer
that breaks off resumes where it stopped. Records arrive as 0x2A18 (and 0x2A34)
notifications on the session's own subscription; this module runs the procedure and
waits for the meter's response code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

import structlog

from gateway.ble.kinds import RACP
from gateway.ble.link import BleConnection, ConnectionLostError
from gateway.ble.profiles import ProfileError, RacpResponseCode, decode, encode_request
from gateway.ble.profiles.racp import REPORT_ALL, RacpRequest, ResponseCode, report_from

log = structlog.get_logger(__name__)

RACP_TIMEOUT_S: Final = 60.0
"""A meter with a thousand records sends them in well under a minute."""
MAX_SEQUENCE: Final = 0xFFFF


class RacpError(ConnectionLostError):
    """The meter refused the request or did not finish it; retried on the next connection."""


@dataclass(frozen=True, slots=True)
class DownloadOutcome:
    request: RacpRequest
    response: ResponseCode


def request_after(last_sequence: int | None) -> RacpRequest:
    """Every record when nothing was downloaded yet, else those after ``last_sequence``."""
    if last_sequence is None or last_sequence >= MAX_SEQUENCE:
        return REPORT_ALL
    return report_from(last_sequence + 1)


async def download(
    conn: BleConnection,
    *,
    last_sequence: int | None,
    lost: asyncio.Event,
    timeout_s: float = RACP_TIMEOUT_S,
) -> DownloadOutcome:
    """Run "report stored records" and wait for its outcome (records reach the session's
    notification callback meanwhile). Raise ``ConnectionLostError`` if the link drops."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[RacpResponseCode] = loop.create_future()

    def on_racp(_uuid: str, data: bytes) -> None:
        try:
            value = decode(RACP, data)
        except ProfileError as exc:
            log.warning("ble.racp_malformed", address=conn.address, reason=str(exc))
            return
        if isinstance(value, RacpResponseCode) and not answer.done():
            answer.set_result(value)

    request = request_after(last_sequence)
    await conn.start_notify(RACP, on_racp)
    await conn.write(RACP, encode_request(request), response=True)
    dropped: asyncio.Future[Any] = asyncio.ensure_future(lost.wait())
    waiting: set[asyncio.Future[Any]] = {answer, dropped}
    try:
        done, _ = await asyncio.wait(
            waiting, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        # Not awaited: suppressing its CancelledError here could swallow our own cancellation.
        dropped.cancel()
    if answer not in done:
        answer.cancel()
        why = "the meter disconnected" if lost.is_set() else f"no answer in {timeout_s:.0f} s"
        raise RacpError(
            f"{conn.address}: record download interrupted ({why}); it resumes on the next "
            "connection: keep the meter near the gateway until it finishes"
        )
    code = answer.result().response
    if not isinstance(code, ResponseCode) or code not in (
        ResponseCode.SUCCESS,
        ResponseCode.NO_RECORDS_FOUND,
    ):
        why = code.name if isinstance(code, ResponseCode) else f"unknown response code {code}"
        raise RacpError(f"{conn.address}: the meter refused the record download ({why})")
    return DownloadOutcome(request, code)
