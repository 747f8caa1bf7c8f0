"""The cloud's roles as processes: ``serve`` connects to the broker only once its port is
bound, ``run`` starts every role as one process tree, and SIGTERM ends each within 10 s."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def cloud(tmp_path: Path, broker: Any, *args: str, **env: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{args[0]}.log").open("wb")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "cloud", *args],
            env={
                **os.environ,
                "VG_DATA_DIR": str(tmp_path / "data"),
                "VG_MQTT__HOST": broker.host,
                "VG_MQTT__PORT": str(broker.port),
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def broker_log(broker: Any) -> str:
    log: Path = broker.workdir / "mosquitto.log"
    return log.read_text()


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_within(proc: subprocess.Popen[bytes], seconds: float) -> tuple[int, float]:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=seconds + 5)
    return code, time.monotonic() - start


def test_serve_takes_no_share_of_the_stream_before_its_port_is_bound(
    tmp_path: Path, broker: Any
) -> None:
    port = free_port()
    client_id = f"ingest-bind-{port}"
    with contextlib.closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        refused = cloud(tmp_path, broker, "serve", "--port", str(port),
                        VG_INGEST_CLIENT_ID=client_id)  # fmt: skip
        assert refused.wait(timeout=60) != 0
    assert client_id not in broker_log(broker)  # never connected

    proc = cloud(tmp_path, broker, "serve", "--port", str(port), VG_INGEST_CLIENT_ID=client_id)
    try:
        wait_until(lambda: ready(port), timeout=60, what="serve ready (broker connected)")
        assert client_id in broker_log(broker)
        code, took = stop_within(proc, 10)
        # uvicorn re-raises the signal once shut down, so the exit says "terminated".
        assert code in (0, -signal.SIGTERM)
        assert took < 10
        assert "Application shutdown complete." in (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def children(pid: int) -> list[str]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [Path(f"/proc/{c}/cmdline").read_text().replace("\0", " ") for c in found]


def test_run_starts_every_role_and_stops_them_together(tmp_path: Path, broker: Any) -> None:
    port = free_port()
    client_id = f"ingest-run-{port}"
    proc = cloud(tmp_path, broker, "run", "--port", str(port), "--ingest-workers", "2",
                 VG_INGEST_CLIENT_ID=client_id)  # fmt: skip
    try:
        wait_until(lambda: ready(port), timeout=90, what="the API of `run`")

        def four_roles() -> list[str]:
            found = children(proc.pid)
            return found if len(found) == 4 else []

        roles = wait_until(four_roles, what="four roles")
        assert sorted(r.split(" -m cloud ", 1)[1].split(" --log-level")[0] for r in roles) == [
            "ingest",
            "ingest",
            f"serve --http-only --host 127.0.0.1 --port {port}",
            "worker",
        ]
        wait_until(
            lambda: all(f" as {client_id}-{i} " in broker_log(broker) for i in (1, 2)),
            timeout=60,
            what="both ingest workers connected, each with its own client id",
        )
        wait_until(lambda: f" as {client_id}-downlink " in broker_log(broker), timeout=60)
        pids = [
            int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        ]
        code, took = stop_within(proc, 12)
        assert code == 0
        assert took < 12
        for pid in pids:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text()
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
