"""The FastAPI application, built from settings by `create_app` (no global state)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shotline import __version__
from shotline.api import errors, metrics
from shotline.api.limits import BodyLimits
from shotline.api.openapi import document_errors
from shotline.api.request_id import RequestId
from shotline.api.routes import files, health, kling, openai_videos, tasks, web
from shotline.config import Settings
from shotline.queue import Queue, make_queue
from shotline.service import Service
from shotline.storage import from_settings as storage_from_settings
from shotline.store import KeyStore, TaskStore, WebhookOutbox, make_engine, migrate
from shotline.webhooks.sender import WebhookSender

log = logging.getLogger("shotline.api")


def build_service(settings: Settings) -> tuple[Service, Queue]:
    db = make_engine(settings.resolved_database_url)
    migrate(db)
    tasks = TaskStore(db)
    storage = storage_from_settings(settings)
    storage.ensure()
    queue = make_queue(settings, tasks)
    return Service(settings=settings, tasks=tasks, keys=KeyStore(db), storage=storage, queue=queue), queue


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service, queue = build_service(settings)
    webhooks = WebhookSender(service, WebhookOutbox(service.tasks.engine))

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
    app.include_router(tasks.router)
    app.include_router(openai_videos.router)
    app.include_router(files.router)
    app.include_router(health.router)
    web.install(app)  # the playground at `/`
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth,
                       timeout_s=settings.body_timeout_s)
    metrics.install(app, settings, service)  # /metrics, and request counts outside the body limits
    app.add_middleware(RequestId)  # outermost: every answer carries X-Request-Id
    _document_errors_not_422(app)
    document_errors(app)
    return app


def _document_errors_not_422(app: FastAPI) -> None:
    """FastAPI documents a 422 for every route with parameters; Shotline answers 400 in the contract's
    shape instead (see api/errors.py), so the document must say that."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {
                            "description": "Invalid request; `metadata.field` names the field",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        }
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
