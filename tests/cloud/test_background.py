"""The background-service base: ``tick`` runs on wake and on its interval, a failing round
does not end the thread, and stop ends it."""

from __future__ import annotations

import threading
import time

from cloud.background import BackgroundService

DEADLINE_S = 10.0


class Counter(BackgroundService):
    thread_name = "test-counter"
    failed_event = "test_counter.failed"

    def __init__(self, *, interval_s: float, fail_first: bool = False) -> None:
        super().__init__(interval_s=interval_s)
        self.ticks = 0
        self.fail_first = fail_first
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        if self.fail_first and self.ticks == 1:
            raise RuntimeError("an outage")
        self.ticked.set()


def test_a_woken_service_ticks_at_once_and_stops() -> None:
    service = Counter(interval_s=3600.0)
    service.start()
    try:
        service.wake()
        assert service.ticked.wait(DEADLINE_S)
        assert service.ticks == 1
    finally:
        service.stop()
    assert not service._loop._thread.is_alive()


def test_a_failing_round_is_tried_again_at_the_next_interval() -> None:
    service = Counter(interval_s=0.01, fail_first=True)
    service.start()
    try:
        assert service.ticked.wait(DEADLINE_S)
        assert service.ticks >= 2
    finally:
        service.stop()


def test_stop_without_start_is_harmless() -> None:
    started = time.monotonic()
    Counter(interval_s=1.0).stop()
    assert time.monotonic() - started < DEADLINE_S
