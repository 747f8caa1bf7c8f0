"""The FastAPI application: HTTP API under ``/api/v1``, health, readiness and metrics.

In the embedded default the same process also runs an ingest worker and the notifier
(``VG_INGEST_ENABLED``); in production they can run as separate ``vitalgate-cloud ingest``
processes next to any number of API processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import make_asgi_app
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cloud import __version__
from cloud.alerts.rulebook import RuleBook
from cloud.alerts.schedule import MissingDataWatch
from cloud.api import routes
from cloud.api.schemas import Health
from cloud.engagement.channels import channels_from_urls
from cloud.engagement.notifier import Notifier
from cloud.ingest.worker import IngestWorker
from cloud.settings import CloudSettings
from cloud.store.db import make_engine, migrate, session_factory


@dataclass
class Services:
    settings: CloudSettings
    sessions: sessionmaker[Session]
    ingest: IngestWorker | None
    notifier: Notifier
    watch: MissingDataWatch


def build_services(settings: CloudSettings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url)
    sessions = session_factory(make_engine(settings.db_url))
    notifier = Notifier(
        sessions, channels_from_urls(settings.alert_channels), public_url=settings.public_url
    )
    rulebook = RuleBook.load(program=settings.alert_program, rules_file=settings.alert_rules_file)
    watch = MissingDataWatch(sessions, rulebook, channels=notifier.labels, on_alerts=notifier.wake)
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
            alert_channels=settings.alert_channels,
            on_alerts=notifier.wake,
            rulebook=rulebook,
        )
    return Services(settings, sessions, ingest, notifier, watch)


def create_app(settings: CloudSettings | None = None) -> FastAPI:
    settings = settings or CloudSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        app.state.services = services
        services.notifier.start()
        services.watch.start()
        if services.ingest is not None:
            services.ingest.start()
        try:
            yield
        finally:
            if services.ingest is not None:
                services.ingest.stop()
            services.watch.stop()
            services.notifier.stop()

    app = FastAPI(
        title="VitalGate",
        version=__version__,
        summary="Remote patient monitoring: readings, alerts and the care conversation.",
        lifespan=lifespan,
    )
    app.mount("/metrics", make_asgi_app())
    app.include_router(routes.router, prefix="/api/v1")

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["ops"])
    def readyz(services: Annotated[Services, Depends(get_services)], response: Response) -> Health:
        """Ready to serve: the database answers and, if ingest runs here, the broker is connected."""
        checks: dict[str, str] = {}
        try:
            with services.sessions() as session:
                session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is reported
            checks["database"] = f"error: {type(exc).__name__}"
        if services.ingest is not None:
            checks["broker"] = "ok" if services.ingest.connected.is_set() else "not connected"
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        return Health(status="ready" if ready else "not ready", checks=checks)

    return app


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
