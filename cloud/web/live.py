"""Live updates of the alert inbox: a server-sent event stream that says "the alerts (or the
worklist) changed", never what — the page then fetches the list as any other request, with
its scope and its audit.

Each stream compares a cheap "last change" marker of the caller's alerts and tasks, read in
a short session of its own (no session stays open between polls), every ``POLL_SECONDS``
or sooner when a session of this process commits a change to an alert or a task. The
marker lives in the database, so a change made by another API process or the ingest worker
is seen too, within one poll. A stream ends when the client goes away, and in any case
after ``STREAM_SECONDS``; the browser then reconnects (which checks the session again). A
stopping server does not wait for it: uvicorn cancels it after its graceful-shutdown
timeout (``serve`` sets 5 s), and nothing it holds outlives the cancellation.

The page carries the marker it was drawn from (``since``) and each event its own (the SSE
``id``, which the browser sends back as ``Last-Event-ID`` when it reconnects), so a change
made between the page's query and the stream's start, or while the browser was
reconnecting, is announced at once rather than lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.sse import ServerSentEvent
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.engagement.worklist import tasks_for
from cloud.store.models import Alert, AlertEvent, AlertStatus, Task

POLL_SECONDS: Final = 2.0
"""The longest a change made by another process waits before an open inbox hears of it."""
STREAM_SECONDS: Final = 300.0
"""A stream's lifetime; the browser reconnects, so a session that ended stops streaming."""
RETRY_MS: Final = 2000
"""How long the browser waits before reconnecting."""
_CHANGED: Final = "vg_inbox_changed"


@dataclass(frozen=True, slots=True)
class Marker:
    """What changes when an alert or a task of the caller's patients changes."""

    alerts: tuple[Any, ...]
    tasks: tuple[Any, ...]

    @property
    def tag(self) -> str:
        """A short, opaque form: ``<alerts>.<tasks>`` (no patient data, only digests)."""
        return f"{_digest(self.alerts)}.{_digest(self.tasks)}"


def _digest(part: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(part).encode()).hexdigest()[:12]


def read_marker(session: Session, principal: Principal) -> Marker:
    """The caller's marker: the newest history entry of their alerts (open, acknowledged,
    escalated, resolved…), the count, newest id, readings and last update of those not
    resolved (a merged reading adds no history entry), and the count and newest id of their
    open tasks."""
    visible = visible_patient_ids(principal)
    last_event = session.scalar(
        select(func.max(AlertEvent.id))
        .join(Alert, Alert.id == AlertEvent.alert_id)
        .where(Alert.patient_id.in_(visible))
    )
    unresolved = session.execute(
        select(
            func.count(Alert.id),
            func.max(Alert.id),
            func.coalesce(func.sum(Alert.count), 0),
            func.max(Alert.updated_at),
        ).where(Alert.status != AlertStatus.RESOLVED, Alert.patient_id.in_(visible))
    ).one()
    tasks_open = tasks_for(principal).subquery()
    tasks = session.execute(select(func.count(tasks_open.c.id), func.max(tasks_open.c.id))).one()
    return Marker((last_event, *unresolved), tuple(tasks))


def marker(sessions: sessionmaker[Session], principal: Principal) -> Marker:
    """The caller's marker, read in a short session of its own."""
    with sessions() as session:
        return read_marker(session, principal)


class ChangeFeed:
    """Wakes this process's streams when one of its sessions commits an alert or a task."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        with self._lock:
            waiting = list(self._waiting)
        for loop, woken in waiting:
            loop.call_soon_threadsafe(woken.set)

    async def wait(self, timeout: float) -> None:
        """Return at the next change in this process, or after ``timeout`` seconds."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiting.discard(entry)

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Listen to the sessions' flushes and commits (once per sessionmaker)."""

        def flushed(session: Session, _context: object) -> None:
            touched = (*session.new, *session.dirty, *session.deleted)
            if any(isinstance(o, Alert | AlertEvent | Task) for o in touched):
                session.info[_CHANGED] = True

        def committed(session: Session) -> None:
            if session.info.pop(_CHANGED, False):
                self.notify()

        def rolled_back(session: Session) -> None:
            session.info.pop(_CHANGED, None)

        event.listen(sessions, "after_flush", flushed)
        event.listen(sessions, "after_commit", committed)
        event.listen(sessions, "after_rollback", rolled_back)


_feed_lock = threading.Lock()


def feed_of(app: FastAPI) -> ChangeFeed:
    """The app's feed, listening to its sessions from the first stream on."""
    with _feed_lock:
        feed: ChangeFeed | None = getattr(app.state, "inbox_feed", None)
        if feed is None:
            feed = ChangeFeed()
            feed.watch(app.state.services.sessions)
            app.state.inbox_feed = feed
        return feed


class StreamCount:
    """How many inbox streams this process holds open (tests wait on it going back to 0)."""

    def __init__(self) -> None:
        self.value = 0


open_streams = StreamCount()


async def changes(
    request: Request,
    principal: Principal,
    *,
    since: str | None,
    lifetime: float = STREAM_SECONDS,
) -> AsyncIterator[ServerSentEvent]:
    """``alerts`` / ``worklist`` events when the caller's marker differs from ``since`` (a
    ``Marker.tag``; none: the marker at the start) and whenever it changes after, until the
    client goes away or ``lifetime`` seconds have passed."""
    sessions = request.app.state.services.sessions
    feed = feed_of(request.app)
    deadline = time.monotonic() + lifetime
    open_streams.value += 1
    try:
        yield ServerSentEvent(comment="inbox changes", retry=RETRY_MS)
        now = await asyncio.to_thread(marker, sessions, principal)
        last = since.split(".") if since and since.count(".") == 1 else now.tag.split(".")
        if last == now.tag.split("."):
            # No event to show, but the browser keeps this id for its next reconnection.
            yield ServerSentEvent(comment="up to date", id=now.tag)
        while True:
            alerts, tasks = now.tag.split(".")
            if alerts != last[0]:
                yield ServerSentEvent(event="alerts", id=now.tag, data={"open": now.alerts[1]})
            if tasks != last[1]:
                yield ServerSentEvent(event="worklist", id=now.tag, data={"open": now.tasks[0]})
            last = [alerts, tasks]
            if time.monotonic() >= deadline or await request.is_disconnected():
                break
            await feed.wait(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            now = await asyncio.to_thread(marker, sessions, principal)
    finally:
        open_streams.value -= 1
