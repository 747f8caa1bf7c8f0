"""The cloud's process roles: ``serve``, ``ingest``, ``worker`` and ``run`` (all of them).

Every role may run several times at once against one database: ingest workers split the
stream through the MQTT 5 shared subscription, API processes share nothing but the
database, and the schedulers claim their work in it (``cloud.store.leases``). SIGTERM ends
each role with its in-flight work finished or handed back within ``STOP_DEADLINE_S``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import structlog

from cloud.api.app import STOP_DEADLINE_S, build_services
from cloud.metrics import serve_metrics
from cloud.settings import CloudSettings

log = structlog.get_logger(__name__)

CHILD_GRACE_S: Final = STOP_DEADLINE_S + 2.0
"""``run`` waits this long for its children after passing SIGTERM on, then kills them."""


def serve_http(
    settings: CloudSettings, *, host: str, port: int, log_level: str, background: bool
) -> None:
    """Uvicorn on ``host:port``; the broker is connected only once the port is bound, so
    a process that cannot listen never takes a share of the stream."""
    import uvicorn  # noqa: PLC0415 - keeps `--help` fast

    from cloud.api.app import create_app  # noqa: PLC0415

    app = create_app(settings, background=background, broker_after_bind=True)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                log.info("serve.listening", host=host, port=port)
                app.state.start_broker()

    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=5
    )
    Server(config).run()


def run_parts(settings: CloudSettings, names: Sequence[str]) -> None:
    """Start the named parts of the services (``ingest``, schedulers) until SIGTERM/SIGINT."""
    services = build_services(settings)
    serve_metrics(settings.metrics_port)  # a role without HTTP still shows its metrics
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    services.start(*names)
    log.info("role.started", parts=list(names), pid=os.getpid())
    try:
        stop.wait()
    finally:
        log.info("role.stopping", parts=list(names))
        services.stop()
        if services.timeseries is not None:
            services.timeseries.close()
        services.engine.dispose()


def _role_commands(
    settings: CloudSettings, *, host: str, port: int, ingest_workers: int, log_level: str
) -> dict[str, tuple[list[str], dict[str, str]]]:
    cloud = [sys.executable, "-m", "cloud"]
    level = ["--log-level", log_level]
    roles: dict[str, tuple[list[str], dict[str, str]]] = {
        "serve": (
            [*cloud, "serve", "--http-only", "--host", host, "--port", str(port), *level],
            {},
        ),
        "worker": ([*cloud, "worker", *level], {}),
    }
    for i in range(1, ingest_workers + 1):
        # Named when a name is configured; otherwise each worker takes a session slot.
        named = settings.ingest_client_id and ingest_workers > 1
        env = {"VG_INGEST_CLIENT_ID": f"{settings.ingest_client_id}-{i}"} if named else {}
        roles[f"ingest-{i}"] = ([*cloud, "ingest", *level], env)
    if settings.influx.enabled:
        roles["sink"] = ([*cloud, "sink", *level], {})
    return roles


def run_tree(
    settings: CloudSettings, *, host: str, port: int, ingest_workers: int, log_level: str
) -> int:
    """Every role as a child process; returns when SIGTERM/SIGINT arrives (0) or a child
    exits on its own (1, after stopping the others)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children: dict[str, subprocess.Popen[bytes]] = {}
    roles = _role_commands(
        settings, host=host, port=port, ingest_workers=ingest_workers, log_level=log_level
    )
    for name, (command, env) in roles.items():
        children[name] = subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603
        log.info("run.started", role=name, pid=children[name].pid)
    failed: str | None = None
    while not stop.wait(0.2):
        failed = next((n for n, p in children.items() if p.poll() is not None), None)
        if failed is not None:
            log.error("run.role_exited", role=failed, exit_code=children[failed].returncode,
                      advice="stopping the other roles; see this role's log above")  # fmt: skip
            break
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    end = time.monotonic() + CHILD_GRACE_S
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("run.role_killed", role=name, pid=child.pid, after_s=CHILD_GRACE_S)
            child.kill()
            child.wait()
    return 0 if failed is None else 1
