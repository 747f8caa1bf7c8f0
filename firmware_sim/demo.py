"""``vitalgate-sim demo``: the whole stack on one machine with embedded defaults.

Makes a PKI and provisions one gateway identity per simulated patient (through the
``vitalgate-cloud`` commands an operator uses), then starts Mosquitto from the generated
config (mutual TLS, per-gateway roles), the cloud (SQLite under the data folder) and the
gateways, each gateway reading a simulated heart-rate strap over the firmware_sim radio.
Alerts arrive at a small webhook receiver inside this process and are printed. Ctrl-C
stops every process the demo started.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from rich.console import Console
from rich.table import Table

from firmware_sim.demo_history import COORDINATOR, COORDINATOR_PASSWORD

console = Console()


@dataclass(frozen=True)
class DemoPatient:
    patient_id: str
    baseline_bpm: float
    seed: int
    episode: tuple[float, float, float] | None = None
    """(start s, end s, +bpm): a tachycardia the cloud should alert on."""


DEMO_RULES: Final = [
    # Short persistence so the demo shows an alert within a minute; the programs' rules
    # (gateway/signal/programs.py) hold a continuous heart rate for 5 minutes first.
    {"kind": "threshold", "rule_id": "demo.hr_high", "metric": "heart_rate",
     "fire_high": 120, "clear_high": 110, "persistence": {"count": 3}},
    {"kind": "threshold", "rule_id": "demo.hr_low", "metric": "heart_rate",
     "fire_low": 40, "clear_low": 45, "priority": "high", "persistence": {"count": 3}},
]  # fmt: skip
DEMO_ORG: Final = "demo"
DEMO_LOGIN: Final = "clinician@demo.vitalgate.test"
DEMO_PASSWORD: Final = "demo-clinician-password"  # noqa: S105 - synthetic, printed in the banner
"""The demo clinician; log in at ``/docs`` (Authorize) or ``POST /api/v1/auth/token``."""

PATIENTS: Final = (
    DemoPatient("p-001", 66, seed=1),
    DemoPatient("p-002", 74, seed=2),
    DemoPatient("p-003", 72, seed=3, episode=(20, 140, 58)),
)


class DemoError(Exception):
    """The demo cannot start; the message says what to do."""


def _port_free(port: int) -> bool:
    """Nothing listens on ``port``. Sockets of a stopped run still in TIME_WAIT do not count:
    the server binds with SO_REUSEADDR (as uvicorn and Mosquitto do), and so does this check."""
    with contextlib.closing(socket.socket()) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _any_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Linux: children get SIGTERM if the demo itself is killed, so nothing is orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _AlertPrinter(BaseHTTPRequestHandler):
    """Stands in for the inboxes: alert channels post to ``/alerts``, a person's contact to
    ``/to/<address>``; each message is printed whole, with its links."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with contextlib.suppress(ValueError):
            msg = json.loads(body)
            to = unquote(self.path.removeprefix("/to/")) if self.path.startswith("/to/") else ""
            who = f" → {to}" if to else ""
            console.print(f"[bold red]ALERT[/bold red]{who} {msg.get('title', '')}")
            for line in str(msg.get("message", "")).splitlines():
                console.print(f"      {line}", markup=False, highlight=False)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


class Demo:
    def __init__(self, data_dir: Path, *, port: int, broker_port: int | None, speed: float) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.broker_port = broker_port
        self.cloud_port = _any_port()
        """The broker's listener for the cloud's own processes (loopback, cloud CA only)."""
        self.speed = speed
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._hook: ThreadingHTTPServer | None = None

    def _spawn(self, name: str, args: list[str], *, env: dict[str, str] | None = None) -> None:
        log = (self.data_dir / "logs" / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own fixed commands
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # Ctrl-C reaches the demo, which stops children in order
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets a Linux death signal
        )
        (self.data_dir / "pids.json").write_text(
            json.dumps({n: p.pid for n, p in self.procs.items()})
        )

    def pick_broker_port(self) -> int:
        return self.broker_port or (8883 if _port_free(8883) else _any_port())

    def start_broker(self, port: int) -> None:
        """Mosquitto from `vitalgate-cloud broker config`: mutual TLS, one role per gateway."""
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if binary is None:
            raise DemoError(
                "Mosquitto (the MQTT broker) is not installed. Install it with\n"
                "    sudo apt-get install -y mosquitto\n"
                "or run `make demo`, which installs it for you."
            )
        workdir = self.data_dir / "mosquitto"
        self._cloud_cli(
            [
                "broker",
                "config",
                "--out",
                str(workdir),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cloud-port",
                str(self.cloud_port),
            ]
        )
        conf = workdir / "mosquitto.conf"
        if os.geteuid() == 0:
            conf.write_text(conf.read_text() + "user root\n")
        self._spawn("mosquitto", [binary, "-c", str(conf)])
        self._wait(lambda: not (_port_free(port) or _port_free(self.cloud_port)), "Mosquitto", 10)

    def _cloud_env(self) -> dict[str, str]:
        return {
            "VG_DATA_DIR": str(self.data_dir / "cloud"),
            "VG_PKI_DIR": str(self.data_dir / "pki"),
            "VG_MQTT__HOST": "127.0.0.1",
            "VG_MQTT__PORT": str(self.cloud_port),
        }

    def _cloud_cli(self, args: list[str]) -> None:
        """Run one ``vitalgate-cloud`` command in this process (one import for all of them:
        a Python start per command made the demo's start-up slow), with the cloud's
        environment set only while it runs, so the gateways never inherit it."""
        from cloud.cli import app  # noqa: PLC0415 - the cloud is imported only by the demo

        saved = dict(os.environ)
        os.environ.update(self._cloud_env())
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = app(args, prog_name="vitalgate-cloud", standalone_mode=False)
        except Exception as exc:  # a usage error, or a failure the command did not handle
            code, _ = 1, out.write(str(exc))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        if code:
            raise DemoError(
                f"`vitalgate-cloud {' '.join(args[:2])}` failed: {out.getvalue().strip()}"
            )

    def start_alert_receiver(self) -> int:
        self._hook = ThreadingHTTPServer(("127.0.0.1", 0), _AlertPrinter)
        threading.Thread(target=self._hook.serve_forever, daemon=True).start()
        return int(self._hook.server_address[1])

    def seed_cloud(self) -> None:
        """The demo organisation, its clinician, its patients, the PKI and each gateway's
        identity (all kept across reruns)."""
        user = ["--email", DEMO_LOGIN, "--password", DEMO_PASSWORD, "--role", "clinician"]
        org = ["--org", DEMO_ORG, "--org-name", "Demo clinic", "--exist-ok"]
        commands = [["user", "create", *user, *org]]
        for i, p in enumerate(PATIENTS, start=1):
            patient = ["--id", p.patient_id, "--org", DEMO_ORG, "--name", f"Demo patient {i}"]
            commands.append(["patient", "create", *patient, "--program", "general", "--exist-ok"])
        if not (self.data_dir / "pki" / "ca.pem").exists():
            commands.append(["pki", "init", "--dir", str(self.data_dir / "pki")])
        for i in range(1, len(PATIENTS) + 1):
            identity = self.data_dir / f"gateway-{i}" / "identity"
            if not (identity / "gateway.pem").exists():
                commands.append(
                    ["gateway", "provision", f"gw-demo-{i}", "--organisation", DEMO_ORG,
                     "--out", str(identity), "--broker-host", "127.0.0.1"]
                )  # fmt: skip
        for command in commands:
            self._cloud_cli(command)
        from cloud.settings import CloudSettings  # noqa: PLC0415 - the demo needs the cloud extra
        from firmware_sim.demo_history import LiveDevice, seed_demo_world  # noqa: PLC0415

        db_url = CloudSettings(data_dir=self.data_dir / "cloud").db_url
        devices = [
            LiveDevice(f"hrm-{i}", "hr_strap", _address(i), f"gw-demo-{i}", p.patient_id)
            for i, p in enumerate(PATIENTS, start=1)
        ]
        seed_demo_world(
            db_url, organisation=DEMO_ORG, live_patients=[p.patient_id for p in PATIENTS],
            live_devices=devices,
        )  # fmt: skip

    def start_cloud(self, hook_port: int) -> None:
        if not _port_free(self.port):
            raise DemoError(f"port {self.port} is in use; pass --port to use another one")
        rules = self.data_dir / "demo-rules.json"
        rules.write_text(json.dumps(DEMO_RULES, indent=2))
        env = {
            **self._cloud_env(),
            "VG_ALERT_RULES_FILE": str(rules),
            "VG_ALERT_CHANNELS": json.dumps([f"json://127.0.0.1:{hook_port}/alerts"]),
            # The care team's own contacts (their login e-mail) land in the same printer.
            "VG_CONTACT_URLS": json.dumps(
                {"email": f"json://127.0.0.1:{hook_port}/to/{{address}}"}
            ),
            "VG_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
        }
        self._spawn(
            "cloud", [sys.executable, "-m", "cloud", "serve", "--port", str(self.port)], env=env
        )
        self._wait(self._cloud_ready, "the cloud", 60)

    def _cloud_ready(self) -> bool:
        import urllib.request  # noqa: PLC0415

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def start_gateways(self, broker_port: int) -> None:
        for i, patient in enumerate(PATIENTS, start=1):
            gw_dir = self.data_dir / f"gateway-{i}"
            gw_dir.mkdir(parents=True, exist_ok=True)
            config = gw_dir / "gateway.toml"
            config.write_text(_gateway_toml(i, patient, gw_dir, broker_port, self.speed))
            self._spawn(
                f"gateway-{i}", [sys.executable, "-m", "gateway", "run", "--config", str(config)]
            )

    def _wait(self, check: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            failed = [n for n, p in self.procs.items() if p.poll() is not None]
            if failed:
                raise DemoError(f"{', '.join(failed)} exited; see {self.data_dir / 'logs'}")
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{what} did not start within {timeout:.0f} s; see {self.data_dir / 'logs'}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Gateways first (they say goodbye on MQTT), then the cloud, then the broker."""
        for name in sorted(self.procs, key=lambda n: (n == "mosquitto", n == "cloud", n)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._hook is not None:
            self._hook.shutdown()

    def banner(self, broker_port: int) -> None:
        table = Table(title="VitalGate demo is running", show_header=True)
        table.add_column("what")
        table.add_column("where")
        url = f"http://127.0.0.1:{self.port}"
        table.add_row(
            "MQTT broker (Mosquitto)",
            f"mqtts://127.0.0.1:{broker_port}  (client certificates from {self.data_dir / 'pki'})",
        )
        table.add_row("Web app", f"{url}/  (sign in with a login below)")
        table.add_row("Coordinator login", f"{COORDINATOR}  ·  password {COORDINATOR_PASSWORD}")
        table.add_row("Clinician login", f"{DEMO_LOGIN}  ·  password {DEMO_PASSWORD}")
        table.add_row("Cloud API", f"{url}/api/v1/readings  ·  {url}/api/v1/alerts")
        table.add_row("API docs", f"{url}/docs  (Authorize with a login above)")
        table.add_row("Health / metrics", f"{url}/healthz  ·  {url}/metrics/")
        for i, p in enumerate(PATIENTS, start=1):
            story = "tachycardia episode after ~20 s" if p.episode else "stable"
            table.add_row(f"gateway-{i}", f"patient {p.patient_id}, heart-rate strap ({story})")
        table.add_row(
            "History",
            "4 patients, one per program, 30 days each (p-hf-01, p-copd-01, p-htn-01, p-dm-01)",
        )
        table.add_row("Alert rules", "demo: heart rate ≥ 120 /min for 3 readings (demo-rules.json)")
        table.add_row("Data and logs", str(self.data_dir))
        console.print(table)
        console.print(
            "Alerts are printed below as they arrive. [bold]Press Ctrl-C to stop everything.[/bold]"
        )


def _address(i: int) -> str:
    """The Bluetooth address of demo gateway ``i``'s simulated strap."""
    return f"D0:E0:00:00:00:{i:02X}"


def _gateway_toml(
    i: int, patient: DemoPatient, gw_dir: Path, broker_port: int, speed: float
) -> str:
    address = _address(i)
    identity = gw_dir / "identity"  # written by `vitalgate-cloud gateway provision`
    lines = [
        f'gateway_id = "gw-demo-{i}"',
        f'data_dir = "{gw_dir}"',
        'link = "sim"',
        "flush_interval_s = 0.5",
        f'downlink_key = "{identity / "downlink-signing.pub"}"',
        "[mqtt]",
        'host = "127.0.0.1"',
        f"port = {broker_port}",
        "tls = true",
        f'ca_file = "{identity / "ca.pem"}"',
        f'cert_file = "{identity / "gateway.pem"}"',
        f'key_file = "{identity / "gateway.key"}"',
        "[[devices]]",
        f'device_id = "hrm-{i}"',
        f'address = "{address}"',
        'kind = "hr_strap"',
        f'patient_id = "{patient.patient_id}"',
        "[[sim.devices]]",
        f'address = "{address}"',
        f"seed = {patient.seed}",
        f"baseline_bpm = {patient.baseline_bpm}",
        f"real_interval_s = {1.0 / speed}",
    ]
    if patient.episode:
        start, end, delta = patient.episode
        lines += [
            "[[sim.devices.episodes]]",
            f"start_s = {start}",
            f"end_s = {end}",
            f"delta = {delta}",
        ]
    return "\n".join(lines) + "\n"


def run_demo(
    data_dir: Path, *, port: int = 8000, broker_port: int | None = None, speed: float = 1.0
) -> int:
    """Start everything, print where it runs, and stop it all on Ctrl-C / SIGTERM."""
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    demo = Demo(data_dir, port=port, broker_port=broker_port, speed=speed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        broker_port = demo.pick_broker_port()
        demo.seed_cloud()
        demo.start_broker(broker_port)
        hook_port = demo.start_alert_receiver()
        demo.start_cloud(hook_port)
        demo.start_gateways(broker_port)
        demo.banner(broker_port)
        while not stop.wait(0.5):
            dead = [n for n, p in demo.procs.items() if p.poll() is not None]
            if dead:
                console.print(
                    f"[red]{', '.join(dead)} stopped unexpectedly; see {data_dir / 'logs'}[/red]"
                )
                return 1
        console.print("Stopping…")
        return 0
    except DemoError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    finally:
        demo.stop()
        console.print("All demo processes stopped.")
