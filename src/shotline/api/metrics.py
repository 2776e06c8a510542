"""GET /metrics in the Prometheus text format.

Two sources, chosen by who can see the truth:

- HTTP requests (count by route template and status code, latency) are counted in this API process, as
  Prometheus expects: it scrapes each API process and sums them. Routes are labelled by their template
  (`/v3/files/{task_id}/video.mp4`), never the raw path, so ids never become label values.
- Everything about tasks and workers (tasks by status, queue depth, generation and encode seconds,
  heartbeat age, GPU memory) is read from the database when scraped, by a custom collector. Workers run in
  other processes, often on other hosts; each one writes its task timings (tasks.generate_s/encode_s) and
  its GPU memory (with its heartbeat) into rows that every API process reads. So any one API process
  answers for the whole deployment, and the figures survive restarts. Prometheus' multiprocess mode was
  the alternative; it shares a directory, so it covers one host only.

The endpoint needs no API key (it shows counts and timings, never keys, prompts or task ids);
SHOTLINE_METRICS=false turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from shotline.config import Settings
from shotline.db.stats import StatsStore
from shotline.service import Service

log = logging.getLogger("shotline.api")

GENERATE_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
ENCODE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics (text format; no key needed)", include_in_schema=True,
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


class StoreCollector(Collector):
    def __init__(self, stats: StatsStore) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            families = list(self._from_store())
        except SQLAlchemyError as err:
            # The scrape still answers: `shotline_store_up 0` is the signal to alert on.
            log.warning("metrics: database unreachable (%s)", type(err).__name__)
            yield GaugeMetricFamily("shotline_store_up", "1 if the database answered this scrape", value=0)
            return
        yield GaugeMetricFamily("shotline_store_up", "1 if the database answered this scrape", value=1)
        yield from families

    def _from_store(self) -> Iterator[Metric]:
        counts = self.stats.tasks_by_status()
        tasks = GaugeMetricFamily("shotline_tasks", "Tasks by status, across the deployment",
                                  labels=["status"])
        for status, n in counts.items():
            tasks.add_metric([status], n)
        yield tasks
        yield GaugeMetricFamily("shotline_queue_depth", "Tasks waiting for a worker",
                                value=counts["TASK_STATUS_QUEUED"])
        yield self._histogram("shotline_generation_seconds", "Seconds in the model per succeeded task",
                              "generate_s", GENERATE_BUCKETS)
        yield self._histogram("shotline_encode_seconds",
                              "Seconds encoding video and audio per succeeded task", "encode_s",
                              ENCODE_BUCKETS)
        age = GaugeMetricFamily("shotline_worker_heartbeat_age_seconds",
                                "Seconds since a worker's last heartbeat",
                                labels=["worker", "engine", "state"])
        used = GaugeMetricFamily("shotline_worker_gpu_memory_used_bytes",
                                 "GPU memory a worker process holds (torch reserved)", labels=["worker"])
        total = GaugeMetricFamily("shotline_worker_gpu_memory_total_bytes", "GPU memory of a worker's card",
                                  labels=["worker"])
        for w in self.stats.workers():
            age.add_metric([w.id, w.engine, w.state], w.heartbeat_age_s)
            if w.gpu_memory_used_bytes is not None:
                used.add_metric([w.id], w.gpu_memory_used_bytes)
            if w.gpu_memory_total_bytes is not None:
                total.add_metric([w.id], w.gpu_memory_total_bytes)
        yield from (age, used, total)

    def _histogram(self, name: str, doc: str, column: str,
                   bounds: tuple[float, ...]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=["engine"])
        for timing in self.stats.timing(column, bounds):
            buckets = [(str(float(b)), n) for b, n in zip(bounds, timing.cumulative, strict=True)]
            family.add_metric([timing.engine], [*buckets, ("+Inf", timing.count)], sum_value=timing.total)
        return family


class HttpMetrics:
    """Counts requests by method, route template and status, and times them. Pure ASGI, outside the body
    limits, so 413s and 415s are counted too."""

    def __init__(self, app: Any, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("shotline_http_requests", "HTTP requests by route template and status code",
                                ["method", "route", "code"], registry=registry)
        self.latency = Histogram("shotline_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], registry=registry)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, t0 = 500, time.perf_counter()

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router put the matched route into the scope; a request that matched none has no template.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - t0)


def install(app: FastAPI, settings: Settings, service: Service) -> None:
    if not settings.metrics:
        return
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(StatsStore(service.tasks.db)))
    app.state.metrics_registry = registry
    app.include_router(router)
    app.add_middleware(HttpMetrics, registry=registry)
