"""/docs renders in a real browser under the app's Content-Security-Policy, from the app's
own assets (headless Chromium, which reports every CSP violation on its console)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "VG_DATA_DIR": str(tmp_path), "VG_INGEST_ENABLED": "false"}
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloud", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout=60
            )
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def test_swagger_ui_renders_under_the_csp(server: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=15000",
            "--enable-logging=stderr",
            "--dump-dom",
            f"{server}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # Swagger UI ran (its bundle and start-up script loaded) and drew the operations.
    assert 'data-path="/api/v1/auth/token"' in dom
    assert 'data-path="/api/v1/auth/logout"' in dom
    assert "Content Security Policy" not in done.stderr
