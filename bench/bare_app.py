"""The API benchmark's baseline: a bare FastAPI app whose two routes return the JSON a Shotline server gave
for the same requests (passed in BENCH_BARE_RESPONSES), with no validation, auth, database or queue. It is
served as `shotline serve` serves: `uvicorn.run` with the same options, and the same GIL switch interval.

    BENCH_BARE_RESPONSES='{"submit": {...}, "result": {...}}' BENCH_BARE_PORT=8001 python -m bench.bare_app
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from shotline.config import Settings

RESPONSES: dict[str, Any] = json.loads(os.environ.get("BENCH_BARE_RESPONSES", "{}"))
SWITCH_INTERVAL_S = Settings(_env_file=None).api_switch_interval_s


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/v3/async/kling-v3.0-pro-t2v")
async def submit() -> dict[str, Any]:
    return RESPONSES["submit"]


@app.get("/v3/async/task-result")
async def task_result() -> dict[str, Any]:
    return RESPONSES["result"]


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_BARE_PORT"]), log_config=None,
                timeout_graceful_shutdown=10)
