"""The alert inbox in Debian's Chromium, as a coordinator uses it: an alert opened at ingest
after the page loaded appears without a reload, one acknowledged through the API by someone
else changes in place, the keyboard selects and acknowledges, the history shows who, and
axe-core finds no serious or critical violation. The page's event stream ends when the
browser goes away."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.alerts import service
from cloud.store.models import Task
from cloud.web import live
from gateway import wire
from gateway.signal.findings import Evidence, Finding, FindingKind
from tests.fixtures.api import PASSWORD
from tests.fixtures.waiting import wait_until
from tests.web import test_browser
from tests.web.conftest import NOW
from tests.web.test_browser import ARGS, CHROMIUM, Served, _axe, _bearer, _shot

pytestmark = pytest.mark.browser

served = test_browser.served


def _open_spo2_alert(served: Served) -> int:
    """Open an alert for p-n1 through the path ingest takes for a finding."""
    ts = NOW.timestamp()
    finding = Finding(
        patient_id="p-n1", rule="spo2_low", rule_version=1, kind=FindingKind.FIRE,
        category=wire.Category.CLINICAL, priority=wire.Priority.HIGH, ts=ts,
        metric=wire.Metric.SPO2, value=86.0,
        evidence=Evidence(samples=((ts, 86.0),), features=(("level", "low"),), rule_version=1),
    )  # fmt: skip
    with served.world.session() as s, s.begin():
        change = service.apply_finding(s, finding, now=NOW, channels=[])
    assert change is not None
    return change.alert_id


def _add_task(served: Served, patient_id: str) -> int:
    with served.world.session() as s, s.begin():
        task = Task(
            organisation_id="north", patient_id=patient_id, reason="call_me", status="open",
            created_at=NOW,
        )  # fmt: skip
        s.add(task)
        s.flush()
        return task.id


def _row(page: Any, alert_id: int) -> Any:
    return page.locator(f'#inbox tr[data-alert-id="{alert_id}"]')


def test_the_inbox_is_live_and_driven_by_the_keyboard(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    first = served.world.alerts["p-n1"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{served.url}/login?next=/alerts")
        page.get_by_label("Email").fill("coord@north.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
        expect(page.locator("body")).to_have_attribute("data-live", "on")
        wait_until(lambda: live.open_streams.value >= 1, timeout=10, what="the inbox's stream")
        expect(_row(page, first)).to_have_count(1)

        # Opened after the page loaded: it appears, and is announced, without a reload.
        opened = _open_spo2_alert(served)
        expect(_row(page, opened)).to_have_count(1, timeout=10_000)
        expect(page.locator("#inbox-announce")).to_contain_text(f"New Alert {opened}")
        # Someone else acknowledges the first one through the API: it changes in place.
        r = page.request.post(
            f"{served.url}/api/v1/alerts/{first}/ack", headers=_bearer(page, served.url)
        )
        assert r.ok, r.text()
        expect(
            _row(page, first).get_by_role("button", name=f"Acknowledge alert {first}")
        ).to_have_count(0, timeout=10_000)

        # A patient asks to be called: the worklist beside the inbox shows it, live too.
        task = _add_task(served, "p-n1")
        done = page.get_by_role("button", name=f"Done: task {task} for p-n1")
        expect(done).to_be_visible(timeout=10_000)
        assert _axe(page) == []
        _shot(page, "inbox")
        done.click()
        expect(page.locator("#worklist")).to_contain_text("No tasks from patients' replies.")
        expect(page.locator("#worklist-title")).to_be_focused()

        # The keyboard: ? lists the shortcuts; j selects the top (high priority) alert; a acknowledges it.
        page.keyboard.press("?")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
        page.keyboard.press("j")
        expect(page.locator("#inbox tr.selected")).to_have_attribute("data-alert-id", str(opened))
        expect(page.locator("#inbox-announce")).to_contain_text(
            f"Alert {opened}: high priority spo2"
        )
        expect(_row(page, opened).get_by_role("link").first).to_be_focused()
        # Typing in a field is typing, not a shortcut (any field: one is added for the check).
        page.evaluate(
            "() => { const f = document.createElement('input'); f.id = 'scratch';"
            " f.setAttribute('aria-label', 'Scratch'); document.getElementById('main').prepend(f); }"
        )
        page.get_by_label("Scratch").press_sequentially("a s e r")
        expect(page.get_by_label("Scratch")).to_have_value("a s e r")
        acknowledge = _row(page, opened).get_by_role("button", name=f"Acknowledge alert {opened}")
        expect(acknowledge).to_have_count(1)
        page.get_by_label("Scratch").evaluate("field => field.remove()")
        _row(page, opened).get_by_role("link").first.focus()
        page.keyboard.press("a")
        expect(
            _row(page, opened).get_by_role("button", name=f"Acknowledge alert {opened}")
        ).to_have_count(0)
        expect(page.locator("#inbox-announce")).to_have_text(f"Alert {opened} acknowledged.")
        expect(page.locator("#inbox tr.selected")).to_have_attribute("data-alert-id", str(opened))
        alert_link = _row(page, opened).get_by_role("link").first
        expect(alert_link).to_be_focused()
        # Tab moves on within the row as usual (selecting a row never pulls the focus back).
        page.keyboard.press("Tab")
        expect(_row(page, opened).get_by_role("link", name="p-n1")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(alert_link).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{served.url}/alerts/{opened}")
        history = page.locator("ol.history")
        expect(history).to_contain_text("acknowledged by coord@north.test")
        expect(history).to_contain_text("via web")
        assert _axe(page) == []
        browser.close()
    wait_until(lambda: live.open_streams.value == 0, timeout=10, what="the stream to end")


def _next_event(lines: Iterator[str]) -> dict[str, str]:
    """The fields of the next event on the stream (keep-alive comments skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
        elif not line and "event" in fields:
            return fields
    raise AssertionError("the stream ended")


def test_the_stream_speaks_server_sent_events_and_ends_with_its_client(served: Served) -> None:
    import httpx

    engine = served.world.app.state.services.engine  # type: ignore[attr-defined]
    with httpx.Client(base_url=served.url, timeout=10) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        r = client.post(
            "/login",
            data={"email": "clin@north.test", "password": PASSWORD, "csrf_token": csrf.group(1)},
        )
        assert r.status_code == 303, r.text
        # A page drawn from an older marker hears at once that both lists changed.
        with client.stream("GET", "/alerts/stream", params={"since": "0.0"}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            lines = stream.iter_lines()
            assert next(lines) == ": inbox changes"
            assert next(lines) == "retry: 2000"
            first = _next_event(lines)
            assert first["event"] == "alerts"
            assert _next_event(lines)["event"] == "worklist"
            # Idle, it holds no database connection.
            wait_until(lambda: engine.pool.checkedout() == 0, timeout=10, what="no session held")
            _open_spo2_alert(served)
            change = _next_event(lines)
            # Only that something changed (and the marker): the page fetches the list itself.
            assert change["event"] == "alerts"
            assert change["id"] != first["id"]
            assert "p-n1" not in change["data"]
    wait_until(lambda: live.open_streams.value == 0, timeout=10, what="the stream to end")


def test_an_open_stream_does_not_hold_the_server_when_it_stops(served: Served) -> None:
    import httpx

    with httpx.Client(base_url=served.url, timeout=10) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        client.post(
            "/login",
            data={"email": "clin@north.test", "password": PASSWORD, "csrf_token": csrf.group(1)},
        )
        with client.stream("GET", "/alerts/stream") as stream:
            lines = stream.iter_lines()
            assert [next(lines) for _ in range(3)] == [": inbox changes", "retry: 2000", ""]
            # Nothing to show, but an id for the browser to send back when it reconnects.
            assert next(lines) == ": up to date"
            assert re.fullmatch(r"id: [0-9a-f]{12}\.[0-9a-f]{12}", next(lines))
            wait_until(lambda: live.open_streams.value == 1, timeout=10, what="the stream")
            served.server.should_exit = True
            wait_until(lambda: live.open_streams.value == 0, timeout=10, what="the stream to end")

    def refused() -> bool:
        try:
            httpx.get(f"{served.url}/healthz", timeout=1)
        except httpx.TransportError:
            return True
        return False

    wait_until(refused, timeout=10, what="the server to stop")
