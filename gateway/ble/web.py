"""A small local web page on the gateway: pairing a device that a patient can do alone.

For the people at home (or the nurse setting the gateway up) on the home network: it names
the household by first name ("Who will use this device? Maria · José"), walks through the
chosen kind of device in large type with a picture of what to press, confirms the first
reading with its value, lists the paired devices with battery and last reading, and
unpairs. No login, so every form carries a CSRF token (a double-submit cookie, SameSite
Strict) and a cross-site Origin is refused: another page in the same browser cannot pair
or unpair. Plain asyncio and HTML, so the gateway needs no web framework. Serve it with
``serve(manager, host, port, household=...)``.
``GET /metrics`` gives Prometheus text when ``serve`` is handed a ``metrics`` function
(``gateway.metrics``: the outbox's counters; no patient data).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Final
from urllib.parse import parse_qs, quote, urlsplit

import structlog
from pydantic import ValidationError

from gateway.ble import guide
from gateway.ble.bind_keys import BindKeyError, parse_bind_key
from gateway.ble.household import Person, find, first_names
from gateway.ble.manager import DeviceManager
from gateway.ble.pairing import PairingRequest, PairingState
from gateway.ble.profiles import DeviceKind
from gateway.ble.state import DeviceState
from gateway.wire import PatientAssignment

log = structlog.get_logger(__name__)

Metrics = Callable[[], bytes]
METRICS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_PORT: Final = 8080
MAX_BODY: Final = 4096
READ_TIMEOUT_S: Final = 5.0
CSRF_COOKIE: Final = "vg_csrf"
LABELS: Final = {kind: g.label for kind, g in guide.GUIDES.items()}
INSERTED_CHOICES: Final = (
    (0, "Just now"),
    (30, "About 30 minutes ago"),
    (60, "About an hour ago"),
    (120, "About 2 hours ago"),
    (240, "Earlier today"),
)
"""A CGM's session start, as a person would say it (no clock or time zone to type)."""

Household = Callable[[], Sequence[Person]]

PAGE: Final = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}
<title>{title} · VitalGate</title><style>
body{{font:1.5rem/1.5 system-ui,sans-serif;margin:1.5rem;max-width:44rem;color:#1f1f1f}}
h1{{font-size:2.2rem}} h2{{font-size:1.8rem}}
button,select,input,.big{{font-size:1.5rem;padding:.6rem 1rem;margin:.3rem 0}}
.big{{display:inline-block;border:3px solid #1f1f1f;border-radius:.6rem;color:#1f1f1f;
text-decoration:none;margin:.4rem .6rem .4rem 0}}
.kind{{display:inline-block;width:12rem;vertical-align:top;text-align:center}}
.msg{{background:#eef6ee;border-left:.5rem solid #2e6b37;padding:1rem}}
.err{{background:#fbeaea;border-left:.5rem solid #b3261e;padding:1rem}}
td,th{{padding:.3rem .8rem;text-align:left;vertical-align:top}}
label{{display:block;margin-top:1rem}} .hint{{font-size:1.1rem}}
input[type=checkbox]{{width:1.8rem;height:1.8rem;vertical-align:middle;margin-right:.5rem}}</style></head><body>
<main>{body}</main></body></html>"""


class FormError(ValueError):
    """A form the page refuses; the message is shown to the person as it is."""


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="3">' if refresh else ""
    return PAGE.format(title=html.escape(title), body=body, refresh=meta)


def _csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{html.escape(token)}">'


def render(manager: DeviceManager, household: Sequence[Person] = (), csrf: str = "") -> str:
    """The home page: what is happening now, the paired devices, and who to pair for."""
    window = manager.window
    message = f'<p class="msg" role="status">{html.escape(window.message)}</p>' if window else ""
    waiting = window is not None and window.state in (PairingState.OPEN, PairingState.PAIRED)
    rows = "".join(_device_row(d, household, csrf) for d in manager.store.devices.values())
    people = "".join(
        f'<a class="big" href="/pair?person={quote(p.patient_id)}">{html.escape(p.first_name)}</a>'
        for p in household
    )
    body = (
        f"<h1>Your health devices</h1>{message}"
        "<table><tr><th>Device</th><th>Used by</th><th>Battery</th><th>Last reading</th>"
        f"<th></th></tr>{rows or '<tr><td colspan=5>No devices yet</td></tr>'}</table>"
        "<h2>Add a device</h2><p>Who will use this device?</p>"
        f'<nav aria-label="People">{people or "<p>Nobody is set up on this gateway yet.</p>"}'
        "</nav>"
    )
    return _page("Your health devices", body, refresh=waiting)


def _device_row(d: DeviceState, household: Sequence[Person], csrf: str) -> str:
    label = LABELS.get(DeviceKind(d.kind), d.kind) if d.kind in set(DeviceKind) else d.kind
    when = d.last_reading_at.strftime("%d %b %H:%M") if d.last_reading_at else ""
    last = f"{d.last_reading}, {when}" if d.last_reading else "none yet"
    who = first_names(household, [p.patient_id for p in d.patients])
    return (
        f"<tr><td>{html.escape(label)}</td><td>{html.escape(who)}</td>"
        f"<td>{'—' if d.battery is None else f'{d.battery} %'}</td>"
        f"<td>{html.escape(last)}</td><td>"
        f'<form method="post" action="/unpair">{_csrf_field(csrf)}'
        f'<input type="hidden" name="device_id" value="{html.escape(d.device_id)}">'
        f'<button type="submit" aria-label="Unpair {html.escape(label)} of '
        f'{html.escape(who)}">Unpair</button></form></td></tr>'
    )


def render_kinds(person: Person) -> str:
    """Step 2: which device, each with its picture."""
    cards = "".join(
        f'<a class="big kind" href="/pair?person={quote(person.patient_id)}&amp;kind={k.value}">'
        f"{g.picture}<br>{html.escape(g.label)}</a>"
        for k, g in guide.GUIDES.items()
    )
    body = (
        f"<h1>Which device will {html.escape(person.first_name)} use?</h1>{cards}"
        '<p><a href="/">Back</a></p>'
    )
    return _page("Which device?", body)


def render_steps(person: Person, kind: DeviceKind, csrf: str) -> str:
    """Step 3: what to press, and the form that opens the pairing window."""
    g = guide.GUIDES[kind]
    cgm = ""
    if kind is DeviceKind.CGM:
        options = "".join(f'<option value="{m}">{t}</option>' for m, t in INSERTED_CHOICES)
        cgm = (
            '<label for="inserted">When did you put this sensor on?</label>'
            f'<select id="inserted" name="inserted_minutes_ago">{options}</select>'
        )
    body = (
        f"<h1>{html.escape(g.label)} for {html.escape(person.first_name)}</h1>"
        f"{g.picture}<p>{html.escape(g.press)}</p>"
        f'<form method="post" action="/pair">{_csrf_field(csrf)}'
        f'<input type="hidden" name="person" value="{html.escape(person.patient_id)}">'
        f'<input type="hidden" name="kind" value="{kind.value}">{cgm}'
        '<label for="user">User number on the device (only if several people share it)</label>'
        '<input id="user" name="user" inputmode="numeric" pattern="[0-9]*">'
        f'<p class="hint">{html.escape(guide.BROADCAST_GUIDE)}</p>'
        '<label><input type="checkbox" name="passive" value="1"> '
        "This device only broadcasts (it has no pairing button)</label>"
        '<label for="bind_key">Bind key (32 characters, only if the box has one)</label>'
        '<input id="bind_key" name="bind_key" autocomplete="off" size="40" '
        'aria-describedby="bind_key_hint">'
        '<p id="bind_key_hint" class="hint">Letters a-f and digits; spaces are fine.</p>'
        '<p><button type="submit">Start pairing</button></p></form>'
        '<p><a href="/">Back</a></p>'
    )
    return _page(g.label, body)


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def pairing_request(
    form: dict[str, list[str]], household: Sequence[Person], *, now: datetime
) -> PairingRequest:
    """The pairing request a submitted form asks for; FormError with a plain reason."""
    person = find(household, _one(form, "person"))
    if person is None:
        raise FormError("That person is not in this household. Go back and choose a name.")
    try:
        kind = DeviceKind(_one(form, "kind"))
    except ValueError:
        raise FormError("Please choose a device.") from None
    user = _one(form, "user")
    if user and not user.isdigit():
        raise FormError("The user number is a number, such as 1 or 2.")
    key = _one(form, "bind_key") or None
    if key is not None:
        try:
            parse_bind_key(key)
        except BindKeyError as exc:
            raise FormError(str(exc)) from None
    inserted = None
    minutes = _one(form, "inserted_minutes_ago")
    if kind is DeviceKind.CGM and minutes.isdigit():
        inserted = timedelta(minutes=int(minutes))
    try:
        return PairingRequest(
            kind=kind,
            patients=[
                PatientAssignment(
                    patient_id=person.patient_id, user_index=int(user) if user else None
                )
            ],
            source="local_page",
            passive=_one(form, "passive") == "1" or key is not None,
            bind_key=key,
            sensor_inserted_at=None if inserted is None else now - inserted,
        )
    except ValidationError as exc:
        raise FormError(f"This form cannot be used: {exc.errors()[0]['msg']}") from None


def _response(status: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        "X-Frame-Options: DENY\r\nContent-Security-Policy: frame-ancestors 'none'\r\n"
        f"Cache-Control: no-store\r\n{extra}\r\n"
    )
    return head.encode() + body


HTML: Final = "text/html; charset=utf-8"


def _error_page(status: str, reason: str) -> bytes:
    body = f'<h1>That did not work</h1><p class="err" role="alert">{html.escape(reason)}</p>'
    body += '<p><a href="/">Back to your devices</a></p>'
    return _response(status, _page("That did not work", body).encode(), HTML)


def _cookie(headers: dict[str, str]) -> str | None:
    try:
        jar = SimpleCookie(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = jar.get(CSRF_COOKIE)
    return morsel.value if morsel is not None and len(morsel.value) == 32 else None


def _same_origin(headers: dict[str, str]) -> bool:
    """A browser sends Origin with a form post; a cross-site one is refused."""
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == headers.get("host", "")


class Request:
    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        parts = urlsplit(target)
        self.path = parts.path
        self.query = parse_qs(parts.query)
        self.headers = headers
        self.body = body
        self.cookie = _cookie(headers)
        self.token = self.cookie or secrets.token_hex(16)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))

    def html(self, page: str) -> bytes:
        """200 with ``page``, setting the CSRF cookie if the browser has none yet."""
        extra = ""
        if self.cookie is None:
            extra = f"Set-Cookie: {CSRF_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict\r\n"
        return _response("200 OK", page.encode(), HTML, extra)


def _csrf_ok(request: Request, form: dict[str, list[str]]) -> bool:
    sent = _one(form, "csrf")
    return (
        request.cookie is not None
        and _same_origin(request.headers)
        and hmac.compare_digest(sent.encode(), request.cookie.encode())
    )


def _route(manager: DeviceManager, household: Sequence[Person], request: Request) -> bytes:
    if request.method == "GET":
        return _get(manager, household, request)
    if request.method == "POST" and request.path in ("/pair", "/unpair"):
        return _post(manager, household, request)
    return _response("404 Not Found", b"Not found", "text/plain")


def _get(manager: DeviceManager, household: Sequence[Person], request: Request) -> bytes:
    if request.path == "/":
        return request.html(render(manager, household, request.token))
    if request.path == "/status.json":
        status = {
            "pairing": manager.window.to_json() if manager.window else None,
            "devices": manager.store.snapshot(),
        }
        return _response("200 OK", json.dumps(status).encode(), "application/json")
    if request.path != "/pair":
        return _response("404 Not Found", b"Not found", "text/plain")
    return _pair_steps(household, request)


def _pair_steps(household: Sequence[Person], request: Request) -> bytes:
    """GET /pair?person=…[&kind=…]: step 2 (which device) or 3 (what to press)."""
    person = find(household, _one(request.query, "person"))
    if person is None:
        return _error_page("400 Bad Request", "That person is not in this household.")
    kind = _one(request.query, "kind")
    if not kind:
        return request.html(render_kinds(person))
    if kind not in set(DeviceKind):
        return _error_page("400 Bad Request", "Please choose a device.")
    return request.html(render_steps(person, DeviceKind(kind), request.token))


def _post(manager: DeviceManager, household: Sequence[Person], request: Request) -> bytes:
    form = request.form()
    if not _csrf_ok(request, form):
        return _error_page("403 Forbidden", "This form has expired: reload the page and try again.")
    if request.path == "/unpair":
        if not manager.unpair(_one(form, "device_id")):
            return _error_page("404 Not Found", "That device is not paired any more.")
        return _response("303 See Other", b"", HTML, "Location: /\r\n")
    try:
        pairing = pairing_request(form, household, now=manager.now())
    except FormError as exc:
        return _error_page("400 Bad Request", str(exc))
    manager.open_pairing(pairing)
    return _response("303 See Other", b"", HTML, "Location: /\r\n")


async def _handle(
    manager: DeviceManager,
    household: Household,
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
        method, target = ([*request_line, "", ""])[:2]
        if metrics is not None and method == "GET" and target == "/metrics":
            # Reads the outbox (SQLite): off the event loop.
            writer.write(_response("200 OK", await asyncio.to_thread(metrics), METRICS_TYPE))
        else:
            request = Request(method, target or "/", headers, body)
            writer.write(_route(manager, household(), request))
        await writer.drain()
    except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
        log.info("web.bad_request", reason=str(exc))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _nobody() -> Sequence[Person]:
    return ()


async def serve(
    manager: DeviceManager,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    household: Household = _nobody,
    metrics: Metrics | None = None,
) -> asyncio.Server:
    """Start the page (and ``/metrics`` when ``metrics`` is given); close the returned server
    to stop it. ``household`` gives the people to pair for, as the settings and the cloud's
    config name them now."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _handle(manager, household, reader, writer, metrics)

    server = await asyncio.start_server(handle, host, port)
    log.info("web.listening", host=host, port=port)
    return server
