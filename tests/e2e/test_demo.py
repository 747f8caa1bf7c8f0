"""`vitalgate-sim demo` runs the whole stack, readings and an alert appear, Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from firmware_sim.demo import DEMO_LOGIN, DEMO_PASSWORD
from firmware_sim.demo_history import COORDINATOR, COORDINATOR_PASSWORD, HISTORY
from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it only waits to be reaped.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_demo_streams_readings_fires_an_alert_and_stops_cleanly(tmp_path: Path) -> None:
    port, broker_port = free_port(), free_port()
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware_sim",
            "demo",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--broker-port",
            str(broker_port),
            "--speed",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        # The demo clinician from the banner logs in; without a token the API refuses.
        token = wait_until(
            lambda: httpx.post(
                f"{api}/auth/token",
                data={"username": DEMO_LOGIN, "password": DEMO_PASSWORD},
                timeout=5,
            ).json()["access_token"],
            timeout=90,
            what="the demo clinician to log in",
        )
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{api}/readings", timeout=2).status_code == 401
        readings = wait_until(
            lambda: [
                r
                for r in httpx.get(
                    f"{api}/readings", params={"limit": 500}, headers=auth, timeout=2
                ).json()
                if r["metric"] == "heart_rate" and r["patient_id"] in {"p-001", "p-002", "p-003"}
            ],
            timeout=60,
            what="heart rate readings through the API",
        )
        assert {r["device_id"] for r in readings} <= {"hrm-1", "hrm-2", "hrm-3"}
        wait_until(
            lambda: (
                {"p-001", "p-002", "p-003"}
                <= {
                    r["patient_id"]
                    for r in httpx.get(f"{api}/readings", headers=auth, timeout=2).json()
                }
            ),
            timeout=30,
            what="readings from all three patients",
        )
        alerts = wait_until(
            lambda: httpx.get(f"{api}/alerts", headers=auth, timeout=2).json(),
            timeout=60,
            what="an alert",
        )
        assert alerts[0]["patient_id"] == "p-003"
        assert alerts[0]["rule_id"] == "demo.hr_high"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json() == {
            "status": "ok",
            "checks": {},
        }
        assert (
            "vitalgate_ingest_readings_total" in httpx.get(f"http://127.0.0.1:{port}/metrics/").text
        )
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2).status_code == 200
        # The web app: the coordinator from the banner signs in and sees the live patients
        # and one patient of each program with a month of history.
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10, follow_redirects=True
        ) as web:
            form = web.get("/login").text
            csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
            signed = web.post("/login", data={"email": COORDINATOR, "password": COORDINATOR_PASSWORD,
                                              "csrf_token": csrf})  # fmt: skip
            weight = web.get("/patients/p-hf-01").text
        assert signed.status_code == 200
        listed = set(re.findall(r'<a href="/patients/([^"]+)">', signed.text))
        assert listed == {"p-001", "p-002", "p-003", *(h.patient_id for h in HISTORY)}
        assert re.search(r'data-metric="body_weight" data-points="(2[6-9]|30|31)"', weight)
        pids = json.loads((data / "pids.json").read_text())
        assert set(pids) == {"mosquitto", "cloud", "gateway-1", "gateway-2", "gateway-3"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "Press Ctrl-C to stop everything" in text
    assert DEMO_LOGIN in text
    assert DEMO_PASSWORD in text
    assert "ALERT" in text
    assert "p-003" in text
    # The coordinator on p-003's care team is notified on their own contact, with the whole
    # message and the link to the alert's page.
    assert f"ALERT → {COORDINATOR}" in text
    assert re.search(rf"Open the alert: http://127\.0\.0\.1:{port}/alerts/\d+", text)
    assert "All demo processes stopped." in text
    assert [name for name, pid in pids.items() if alive(pid)] == []
