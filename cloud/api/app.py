"""The FastAPI application: HTTP API under ``/api/v1``, health, readiness and metrics.

In the embedded default the same process also runs an ingest worker and the notifier
(``VG_INGEST_ENABLED``); in production they can run as separate ``vitalgate-cloud ingest``
processes next to any number of API processes.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from cloud import __version__, metrics
from cloud.admin import router as admin_router
from cloud.admin.purge import RetentionPurge
from cloud.alerts import router as alerts_router
from cloud.alerts.escalation import EscalationScheduler
from cloud.alerts.missing_data import MissingDataWatch
from cloud.alerts.rulebook import RuleBook
from cloud.api.docs import install_docs
from cloud.api.headers import SecurityHeaders
from cloud.api.limits import BodySizeLimit
from cloud.api.schemas import ErrorBody, Health
from cloud.auth import router as auth_router
from cloud.auth.scope import audit_refusal
from cloud.auth.throttle import LoginThrottle
from cloud.background import BackgroundService
from cloud.downlink import ConfigPublisher, DownlinkSigner
from cloud.engagement import router as engagement_router
from cloud.engagement.channels import channels_from_urls
from cloud.engagement.messenger import PatientMessenger
from cloud.engagement.notifier import Notifier
from cloud.errors import CloudError, NotAuthenticatedError, NotFoundError, TooManyRequestsError
from cloud.fhir import router as fhir_router
from cloud.ingest.session_slot import SessionSlot
from cloud.ingest.worker import IngestWorker
from cloud.population import router as population_router
from cloud.readings import router as readings_router
from cloud.reports import router as reports_router
from cloud.settings import CloudSettings
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.influx import TimeSeriesStore
from cloud.tenancy import router as tenancy_router
from cloud.thresholds import router as thresholds_router
from cloud.trends import router as trends_router
from cloud.web import router as web_router

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 413, 422, 429)
}
HTTP_CODES: dict[int, str] = {413: "payload_too_large"}
"""Machine codes for framework refusals that have a name; others are ``http_<status>``."""


Clock = Callable[[], datetime]
log = structlog.get_logger(__name__)
STOP_DEADLINE_S: Final = 10.0
"""SIGTERM to exit: in-flight work finished or handed back within this."""
SCHEDULERS: Final = (
    "notifier", "escalation", "patient-messages", "missing-data", "config-publisher", "purge",
)  # fmt: skip
"""The ``worker`` role: every background round but ingest."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: CloudSettings
    engine: Engine
    sessions: sessionmaker[Session]
    ingest: IngestWorker | None
    notifier: Notifier
    watch: MissingDataWatch
    rulebook: RuleBook
    escalation: EscalationScheduler
    messenger: PatientMessenger
    downlink: ConfigPublisher | None = None
    timeseries: TimeSeriesStore | None = None
    """For deletes (erasure); the sink that writes to it is ``vitalgate-cloud sink``."""
    clock: Clock = _utcnow
    """Now, for the lifecycle and the schedulers (tests move a fake clock)."""
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    purge: RetentionPurge | None = None
    """The daily retention purge (``vitalgate-cloud worker`` runs it)."""
    _started: list[str] = field(default_factory=list)

    def schedulers(self) -> dict[str, BackgroundService]:
        """Every background round of the ``worker`` role, by name."""
        found: dict[str, BackgroundService | None] = {
            "notifier": self.notifier,
            "escalation": self.escalation,
            "patient-messages": self.messenger,
            "missing-data": self.watch,
            "config-publisher": self.downlink,
            "purge": self.purge,
        }
        return {name: service for name, service in found.items() if service is not None}

    def running(self, name: str) -> bool:
        return name in self._started

    def start(self, *names: str) -> None:
        """Start the named parts (a scheduler's name, or ``ingest``), each once."""
        for name in names:
            if name in self._started:
                continue
            part = self.ingest if name == "ingest" else self.schedulers().get(name)
            if part is not None:
                part.start()
                self._started.append(name)

    def stop(self, *, deadline_s: float = STOP_DEADLINE_S) -> list[str]:
        """Stop what was started, all at once: in-flight work is finished or handed back
        within ``deadline_s``; the names of the parts still busy then (logged)."""
        parts = {
            name: self.ingest if name == "ingest" else self.schedulers()[name]
            for name in self._started
        }
        threads = {
            name: threading.Thread(target=part.stop, name=f"stop-{name}", daemon=True)
            for name, part in parts.items()
            if part is not None
        }
        for thread in threads.values():
            thread.start()
        end = time.monotonic() + deadline_s
        for thread in threads.values():
            thread.join(timeout=max(0.0, end - time.monotonic()))
        busy = [name for name, thread in threads.items() if thread.is_alive()]
        if busy:
            log.error("cloud.stop_overran", parts=busy, deadline_s=deadline_s)
        self._started.clear()
        return busy

    def wake_downlink(self) -> None:
        """Publish the gateway configs a change has just issued."""
        if self.downlink is not None:
            self.downlink.wake()


def build_services(settings: CloudSettings, *, clock: Clock = _utcnow) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = session_factory(engine)
    metrics.STORE.bind(sessions)  # the gauges read the fleet's state at scrape time
    notifier = Notifier(
        sessions,
        channels_from_urls(settings.alert_channels),
        public_url=settings.public_url,
        transports=settings.contact_urls,
        link_key=settings.secret_key.get_secret_value(),
        link_lifetime=timedelta(hours=settings.ack_link_hours),
        clock=clock,
        lease_s=settings.delivery_lease_s,
    )
    escalation = EscalationScheduler(
        sessions,
        clock=clock,
        transports=lambda: list(notifier.transports),
        interval_s=settings.escalation_interval_s,
        on_deliveries=notifier.wake,
    )

    messenger = PatientMessenger(
        sessions,
        clock=clock,
        transports=lambda: list(notifier.transports),
        interval_s=settings.patient_message_interval_s,
        on_messages=notifier.wake,
    )

    def on_alerts() -> None:
        notifier.wake()
        escalation.wake()
        messenger.wake()

    rulebook = RuleBook.load(program=settings.alert_program, rules_file=settings.alert_rules_file)
    watch = MissingDataWatch(sessions, rulebook, channels=notifier.labels, on_alerts=on_alerts)
    signer = DownlinkSigner.from_settings(settings)
    ingest = None
    if settings.ingest_enabled:
        ingest = IngestWorker(
            settings.mqtt,
            sessions,
            group=settings.ingest_group,
            client_id=settings.ingest_client_id,
            batch_max=settings.ingest_batch_max,
            flush_s=settings.ingest_flush_s,
            queue_max=settings.ingest_queue_max,
            session_expiry_s=settings.ingest_session_expiry_s,
            stall_after_s=settings.ingest_stall_s,
            channel_labels=notifier.labels,
            on_alerts=on_alerts,
            rulebook=rulebook,
            signer=signer,
            slot=None
            if settings.ingest_client_id
            else SessionSlot(sessions, settings.ingest_group),
        )
    downlink = None
    if settings.publishes_configs:
        downlink_id = f"{settings.ingest_client_id}-downlink" if settings.ingest_client_id else None
        downlink = ConfigPublisher(settings.mqtt, sessions, client_id=downlink_id, signer=signer)
    timeseries = TimeSeriesStore(settings.influx) if settings.influx.enabled else None
    throttle = LoginThrottle(
        storage_uri=settings.login_throttle_storage,
        per_client=settings.login_per_client,
        per_client_account=settings.login_per_client_account,
        per_account=settings.login_per_account,
    )
    purge = RetentionPurge(
        sessions, clock=clock, timeseries=timeseries, interval_s=settings.purge_interval_s
    )
    return Services(
        settings, engine, sessions, ingest, notifier, watch, rulebook, escalation, messenger,
        downlink,
        timeseries, clock, throttle, purge,
    )  # fmt: skip


_HEAP_SETTLED: Final = threading.Event()


def _settle_heap() -> None:
    """Once a process, when the app starts: move what it holds for its lifetime (modules,
    routes, schemas, the engine) to the collector's permanent generation (``gc.freeze``).

    A page of a thousand rows allocates enough to set off a full collection; without this,
    each one walked the whole start-up heap too (about half the population page's CPU time,
    measured; docs/architecture.md).
    """
    if not _HEAP_SETTLED.is_set():
        _HEAP_SETTLED.set()
        gc.freeze()


def create_app(
    settings: CloudSettings | None = None,
    *,
    clock: Clock | None = None,
    background: bool = True,
    broker_after_bind: bool = False,
) -> FastAPI:
    """The application; ``clock`` replaces the wall clock of the lifecycle and schedulers.

    ``background``: run the schedulers (but the purge, which is the worker's) and, if
    ``ingest_enabled``, an ingest worker in this process (the embedded default); off for
    ``serve --http-only`` beside ``worker`` and ``ingest`` processes. ``broker_after_bind``:
    leave the parts that connect to the broker to ``app.state.start_broker()``, which
    ``serve`` calls once the HTTP port is bound.
    """
    settings = settings or CloudSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, clock=clock or _utcnow)
        app.state.services = services
        _settle_heap()
        broker_parts = ("ingest", "config-publisher") if background else ()
        app.state.start_broker = lambda: services.start(*broker_parts)
        if background:
            services.start("notifier", "escalation", "patient-messages", "missing-data")
            if not broker_after_bind:
                app.state.start_broker()
        try:
            yield
        finally:
            services.stop()
            if services.timeseries is not None:
                services.timeseries.close()
            services.engine.dispose()

    app = FastAPI(
        title="VitalGate",
        version=__version__,
        summary="Remote patient monitoring: readings, alerts and the care conversation.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.mount("/metrics", make_asgi_app())
    for router in (
        auth_router.router,
        tenancy_router.router,
        population_router.router,
        readings_router.router,
        alerts_router.router,
        engagement_router.router,
        trends_router.router,
        thresholds_router.router,
        reports_router.router,
        admin_router.router,
    ):
        app.include_router(router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.include_router(fhir_router.router, responses=ERROR_RESPONSES)
    _error_handlers(app)
    web_router.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: refusals get the headers too

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["ops"])
    def readyz(services: Annotated[Services, Depends(get_services)], response: Response) -> Health:
        """Ready to serve: the database answers and, if ingest runs here, the broker is
        connected and the worker is not stuck with messages waiting."""
        checks: dict[str, str] = {}
        try:
            with services.sessions() as session:
                session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is reported
            checks["database"] = f"error: {type(exc).__name__}"
        if services.ingest is not None and services.running("ingest"):
            checks["broker"] = "ok" if services.ingest.connected.is_set() else "not connected"
            checks["ingest"] = services.ingest.stalled() or "ok"
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        return Health(status="ready" if ready else "not ready", checks=checks)

    return app


def _error_handlers(app: FastAPI) -> None:
    """Every refusal has one shape: ``{"detail": …, "code": …}``."""

    @app.exception_handler(CloudError)
    async def cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if isinstance(exc, NotFoundError) and principal is not None:
            await run_in_threadpool(
                audit_refusal,
                request.app.state.services.sessions,
                principal,
                request,
                refusal=exc,
            )
        headers: dict[str, str] | None = None
        if isinstance(exc, NotAuthenticatedError):
            headers = {"WWW-Authenticate": "Bearer"}
        elif isinstance(exc, TooManyRequestsError):
            headers = {"Retry-After": str(exc.retry_after)}
        body = {"detail": str(exc), "code": exc.code}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed back: it may be large or hold personal data.
        errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
        body = {"detail": jsonable_encoder(errors), "code": "invalid_request"}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        body = {"detail": str(exc.detail), "code": code}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
