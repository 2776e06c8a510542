"""The FastAPI application, built from settings by `create_app` (no global state)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shotline import __version__
from shotline.api import errors, files, health, metrics, web
from shotline.api.kling import router as kling
from shotline.api.kling.serving import KlingServing
from shotline.api.limits import BodyLimits
from shotline.api.openai import router as openai
from shotline.api.openapi import document_errors
from shotline.api.request_id import RequestId
from shotline.config import Settings
from shotline.db import DispatchLog, KeyStore, TaskStore, WebhookOutbox, WorkerRegistry, make_db, migrate
from shotline.queue import Queue, make_queue
from shotline.service import Service
from shotline.storage import from_settings as storage_from_settings
from shotline.webhooks.sender import WebhookSender

log = logging.getLogger("shotline.api")


def build_service(settings: Settings) -> tuple[Service, Queue]:
    db = make_db(settings.resolved_database_url)
    migrate(db)
    storage = storage_from_settings(settings)
    storage.ensure()
    queue = make_queue(settings, DispatchLog(db))
    return Service(settings=settings, tasks=TaskStore(db), keys=KeyStore(db), workers=WorkerRegistry(db),
                   storage=storage, queue=queue), queue


def webhook_sender(service: Service) -> WebhookSender:
    """The outbox's sender, rendering each event as the Kling task-result body."""
    kling = KlingServing(service)
    return WebhookSender(service.settings, WebhookOutbox(service.tasks.db), tasks=service.tasks, keys=service.keys,
                         render=lambda task, base_url: kling.result_of(task, base_url).model_dump(mode="json"))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service, queue = build_service(settings)
    webhooks = webhook_sender(service)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(settings.api_switch_interval_s)
        if not settings.api_keys and service.keys.count_live() == 0:
            log.warning("no API keys yet: every request will get 401. Create one with `shotline keys create` "
                        "or set SHOTLINE_API_KEYS")
        queue.start()
        webhooks.start()
        try:
            yield
        finally:
            webhooks.stop()
            queue.stop()

    app = FastAPI(
        title="Shotline",
        version=__version__,
        summary="The Kling v3.0 Pro text-to-video API on your own GPUs",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.queue = queue
    app.state.webhooks = webhooks
    errors.install(app)
    app.include_router(kling.router)
    app.include_router(openai.router)
    app.include_router(files.router)
    app.include_router(health.router)
    web.install(app)  # the playground at `/`
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth,
                       timeout_s=settings.body_timeout_s)
    metrics.install(app, settings, service)  # /metrics, and request counts outside the body limits
    app.add_middleware(RequestId)  # outermost: every answer carries X-Request-Id
    document_errors(app)  # every error answer in /openapi.json, in its API's shape (never FastAPI's 422)
    return app
