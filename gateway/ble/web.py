"""A small local web page on the gateway: the paired devices, and a button to pair one.

For the patient (or the nurse setting the gateway up) on the home network: no login, no
patient data beyond device names and the patient ids typed in. Plain asyncio and HTML,
so the gateway needs no web framework. Serve it with ``serve(manager, host, port)``.
``GET /metrics`` gives Prometheus text when ``serve`` is handed a ``metrics`` function
(``gateway.metrics``: the outbox's counters; no patient data).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qs

import structlog
from pydantic import ValidationError

from gateway.ble.manager import DeviceManager
from gateway.ble.pairing import PairingRequest, PairingState
from gateway.ble.profiles import DeviceKind
from gateway.wire import PatientAssignment

log = structlog.get_logger(__name__)

Metrics = Callable[[], bytes]
METRICS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_PORT: Final = 8080
MAX_BODY: Final = 4096
READ_TIMEOUT_S: Final = 5.0
LABELS: Final = {
    DeviceKind.BP_CUFF: "Blood pressure cuff",
    DeviceKind.SCALE: "Scale",
    DeviceKind.PULSE_OXIMETER: "Pulse oximeter",
    DeviceKind.THERMOMETER: "Thermometer",
    DeviceKind.GLUCOSE_METER: "Glucose meter",
    DeviceKind.HR_STRAP: "Heart rate strap",
}

PAGE: Final = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}
<title>VitalGate</title><style>
body{{font:1.25rem/1.5 system-ui,sans-serif;margin:1.5rem;max-width:40rem}}
button,select,input{{font-size:1.25rem;padding:.5rem;margin:.25rem 0}}
.msg{{background:#eef6ee;border-left:.4rem solid #3a7d44;padding:1rem}}
td,th{{padding:.25rem .75rem;text-align:left}}</style></head><body>
<h1>Your health devices</h1>{message}
<table><tr><th>Device</th><th>Battery</th><th>Last reading</th></tr>{rows}</table>
<h2>Add a device</h2>
<form method="post" action="/pair">
<label>Which device?<br><select name="kind">{options}</select></label><br>
<label>Patient<br><input name="patient" required></label><br>
<label>User number on the device (only if several people share it)<br>
<input name="user" inputmode="numeric"></label><br>
<button type="submit">Start pairing</button></form>
<p>Then switch the device on, or take a measurement, next to the gateway.</p>
</body></html>"""


def render(manager: DeviceManager) -> str:
    window = manager.window
    message = f'<p class="msg">{html.escape(window.message)}</p>' if window else ""
    waiting = window is not None and window.state in (PairingState.OPEN, PairingState.PAIRED)
    rows = "".join(
        f"<tr><td>{html.escape(LABELS.get(DeviceKind(d.kind), d.kind))}</td>"
        f"<td>{'—' if d.battery is None else f'{d.battery} %'}</td>"
        f"<td>{html.escape(d.last_reading_at.strftime('%d %b %H:%M')) if d.last_reading_at else 'none yet'}</td></tr>"
        for d in manager.store.devices.values()
        if d.kind in DeviceKind.__members__.values()
    )
    options = "".join(f'<option value="{k.value}">{v}</option>' for k, v in LABELS.items())
    return PAGE.format(
        refresh='<meta http-equiv="refresh" content="3">' if waiting else "",
        message=message,
        rows=rows or '<tr><td colspan="3">No devices yet</td></tr>',
        options=options,
    )


def pairing_request(form: dict[str, list[str]]) -> PairingRequest:
    """The pairing request a submitted form asks for; ValueError with a plain message."""
    user = (form.get("user") or [""])[0].strip()
    try:
        return PairingRequest(
            kind=DeviceKind((form.get("kind") or [""])[0]),
            patients=[
                PatientAssignment(
                    patient_id=(form.get("patient") or [""])[0].strip(),
                    user_index=int(user) if user else None,
                )
            ],
            source="local_page",
        )
    except (ValidationError, ValueError) as exc:
        raise ValueError("Please choose a device and type the patient's id.") from exc


def _response(status: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    return head.encode() + body


async def _handle(
    manager: DeviceManager,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    metrics: Metrics | None = None,
) -> None:
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            request_line = (await reader.readline()).decode("latin-1").split()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
            body = await reader.readexactly(length) if length else b""
        if metrics is not None and request_line[:2] == ["GET", "/metrics"]:
            # Reads the outbox (SQLite): off the event loop.
            writer.write(_response("200 OK", await asyncio.to_thread(metrics), METRICS_TYPE))
        else:
            writer.write(_route(manager, request_line, body))
        await writer.drain()
    except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
        log.info("web.bad_request", reason=str(exc))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _route(manager: DeviceManager, request_line: list[str], body: bytes) -> bytes:
    method, path = ([*request_line, "", ""])[:2]
    html_type = "text/html; charset=utf-8"
    if method == "GET" and path == "/":
        return _response("200 OK", render(manager).encode(), html_type)
    if method == "GET" and path == "/status.json":
        status = {
            "pairing": manager.window.to_json() if manager.window else None,
            "devices": manager.store.snapshot(),
        }
        return _response("200 OK", json.dumps(status).encode(), "application/json")
    if method == "POST" and path == "/pair":
        try:
            request = pairing_request(parse_qs(body.decode("utf-8", "replace")))
        except ValueError as exc:
            return _response("400 Bad Request", html.escape(str(exc)).encode(), html_type)
        manager.open_pairing(request)
        return _response("303 See Other", b"", html_type, "Location: /\r\n")
    return _response("404 Not Found", b"Not found", "text/plain")


async def serve(
    manager: DeviceManager,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    metrics: Metrics | None = None,
) -> asyncio.Server:
    """Start the page (and ``/metrics`` when ``metrics`` is given); close the returned
    server to stop it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _handle(manager, reader, writer, metrics)

    server = await asyncio.start_server(handle, host, port)
    log.info("web.listening", host=host, port=port)
    return server
