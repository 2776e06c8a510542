"""The API: submit and task-result against a bare FastAPI app returning the same JSON (bench/bare_app.py),
both served by uvicorn the same way, on loopback. The server runs the API alone (no worker), so the
figures are the API's own: validation, auth, the database, the queue's send.

- throughput: requests/s with 16 requests in flight (closed loop, a fixed count), Shotline over bare.
  Target: ratio >= 0.7.
- latency: p50 and p99 at fixed rates (open loop: each request is sent at its scheduled time and timed
  from then, so a server that falls behind is not hidden by the client waiting for it). Target: submit
  p99 < 25 ms at 200 req/s.

Backends: the embedded default (SQLite), and the scale-out one (PostgreSQL, Celery on Redis) when those
services answer. The load generator (httpx on asyncio) shares the machine with the server; on 2 cores
it takes CPU the server could use, alike for both sides.

    python -m bench api
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.common import figure, median, not_run, percentile, quick
from bench.servers import KEY, Bare, Shotline, postgres_available

SUBMIT = "/v3/async/kling-v3.0-pro-t2v"
RESULT = "/v3/async/task-result"
BODY = {"prompt": "a red fox runs through fresh snow", "duration": 5, "aspect_ratio": "16:9", "sound": True}
CONCURRENCY = 16
P99_TARGET = {("submit", 200): "< 25 ms"}


def sizes() -> dict[str, Any]:
    if quick():
        return {"rates": (50, 200), "seconds": 1.0, "repeat": 1, "closed_n": 150, "backends": ("sqlite",)}
    return {"rates": (50, 100, 200), "seconds": 2.0, "repeat": 3, "closed_n": 500,
            "backends": ("sqlite", "postgresql")}


class Load:
    """One endpoint of one server, driven by one client with keep-alive connections."""

    def __init__(self, url: str, endpoint: str, task_id: str) -> None:
        self.url, self.endpoint, self.task_id = url, endpoint, task_id

    async def _one(self, client: httpx.AsyncClient) -> int:
        """The status code; 0 when the connection failed (counted in `failed`, timed like the others: a
        keep-alive connection the server closed just as it was reused is a real cost under load)."""
        try:
            if self.endpoint == "submit":
                r = await client.post(SUBMIT, json=BODY)
            else:
                r = await client.get(RESULT, params={"task_id": self.task_id})
        except httpx.TransportError:
            return 0
        return r.status_code

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30,
                                 limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

    async def at_rate(self, rate: float, seconds: float) -> dict[str, Any]:
        """Open loop: request i goes out at start + i/rate; its latency counts from then."""
        n = max(1, int(rate * seconds))
        latencies: list[float] = []
        failed = 0
        async with self._client() as client:
            await self._warm(client)
            start = time.perf_counter()

            async def one(due: float) -> None:
                nonlocal failed
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                status = await self._one(client)
                latencies.append((time.perf_counter() - due) * 1000)
                failed += status != 200

            await asyncio.gather(*(one(start + i / rate) for i in range(n)))
            elapsed = time.perf_counter() - start
        return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "n": n, "failed": failed,
                "achieved_rps": n / elapsed}

    async def closed(self, n: int) -> dict[str, Any]:
        """Closed loop: CONCURRENCY requests in flight until n are done; requests/s."""
        left, failed = n, 0
        async with self._client() as client:
            await self._warm(client)

            async def lane() -> None:
                nonlocal left, failed
                while left > 0:
                    left -= 1
                    failed += await self._one(client) != 200

            start = time.perf_counter()
            await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - start
        return {"rps": n / elapsed, "failed": failed}

    async def _warm(self, client: httpx.AsyncClient) -> None:
        # Open the connections and pay first-request costs before the clock starts.
        await asyncio.gather(*(self._one(client) for _ in range(CONCURRENCY)))


def responses_of(shotline: Shotline) -> tuple[str, dict[str, Any]]:
    """A queued task to poll, and the JSON Shotline answers for submit and task-result (the bare app's)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    created = httpx.post(shotline.url + SUBMIT, json=BODY, headers=headers, timeout=30)
    created.raise_for_status()
    task_id = created.json()["task_id"]
    result = httpx.get(shotline.url + RESULT, params={"task_id": task_id}, headers=headers, timeout=30)
    result.raise_for_status()
    return task_id, {"submit": created.json(), "result": result.json()}


def measure(backend: str, size: dict[str, Any]) -> list[dict[str, Any]]:
    runs: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    with Shotline(backend) as shotline:
        task_id, responses = responses_of(shotline)
        with Bare(responses) as bare:
            servers = {"shotline": Load(shotline.url, "", task_id), "bare": Load(bare.url, "", task_id)}
            # Interleaved (shotline, bare, shotline, bare, …) so that other load on the machine falls on both.
            for _ in range(size["repeat"]):
                for endpoint in ("submit", "result"):
                    for name, load in servers.items():
                        load.endpoint = endpoint
                        runs.setdefault((name, endpoint, "closed"), []).append(
                            asyncio.run(load.closed(size["closed_n"])))
                    for rate in size["rates"]:
                        for name, load in servers.items():
                            load.endpoint = endpoint
                            runs.setdefault((name, endpoint, rate), []).append(
                                asyncio.run(load.at_rate(rate, size["seconds"])))
    return figures(backend, size, runs)


def figures(backend: str, size: dict[str, Any], runs: dict[tuple[str, str, Any], list[dict[str, Any]]]) -> list[dict]:
    def med(name: str, endpoint: str, point: Any, key: str) -> float:
        return median([r[key] for r in runs[(name, endpoint, point)]])

    def failed(endpoint: str, point: Any) -> int:
        return sum(r["failed"] for r in runs[("shotline", endpoint, point)])

    baseline = "bare FastAPI route returning the same JSON, same uvicorn settings"
    where = "SQLite, in-process queue" if backend == "sqlite" else "PostgreSQL, Celery on Redis"
    common = {"backend": where, "n": size["repeat"], "task_status": "TASK_STATUS_QUEUED"}
    lines = []
    for endpoint in ("submit", "result"):
        lines.append(figure(
            f"api_{endpoint}_throughput_{backend}", med("shotline", endpoint, "closed", "rps"), "req/s",
            baseline=baseline, baseline_value=med("bare", endpoint, "closed", "rps"), target="ratio >= 0.7",
            concurrency=CONCURRENCY, requests=size["closed_n"], failed=failed(endpoint, "closed"), **common))
        for rate in size["rates"]:
            lines.append(figure(
                f"api_{endpoint}_p99_at_{rate}rps_{backend}", med("shotline", endpoint, rate, "p99"), "ms",
                baseline=baseline, baseline_value=med("bare", endpoint, rate, "p99"),
                target=P99_TARGET.get((endpoint, rate)), p50_ms=round(med("shotline", endpoint, rate, "p50"), 2),
                baseline_p50_ms=round(med("bare", endpoint, rate, "p50"), 2),
                achieved_rps=round(med("shotline", endpoint, rate, "achieved_rps"), 1),
                requests=runs[("shotline", endpoint, rate)][0]["n"], failed=failed(endpoint, rate), **common))
    return lines


def run() -> list[dict[str, Any]]:
    size = sizes()
    lines: list[dict[str, Any]] = []
    for backend in size["backends"]:
        why = postgres_available() if backend == "postgresql" else None
        if why:
            lines.append(not_run(f"api_{backend}", why))
            continue
        lines += measure(backend, size)
    return lines


if __name__ == "__main__":
    import json

    for line in run():
        print(json.dumps(line))
