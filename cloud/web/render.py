"""Rendering the web app's pages: one Jinja2 environment (autoescaped), its filters, and
HTML responses that are never cached (they carry patient data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

templates = Environment(
    loader=PackageLoader("cloud.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def utc(ts: datetime | None) -> str:
    # isoformat, cut before the offset: several times faster than strftime, which the
    # population page calls five thousand times.
    return "—" if ts is None else f"{ts.isoformat(' ', 'minutes')[:16]} UTC"


def ago(ts: datetime | None, now: datetime) -> str:
    if ts is None:
        return "never"
    seconds = max(0, int((now - ts).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


templates.filters["utc"] = utc
templates.globals["metric_name"] = lambda m: m.replace("_", " ")


def render(name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
