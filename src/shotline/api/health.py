"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shotline.api.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Store, storage and a worker with a loaded engine are reachable",
            responses={503: {"description": "Not ready; `metadata.checks` says what is missing"}})
def readyz(service: ServiceDep) -> JSONResponse:
    checks = service.readiness()
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    if not ready:
        body.update(code=503, reason="SERVICE_UNAVAILABLE",
                    message="not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"),
                    metadata={"checks": checks})
    return JSONResponse(body, status_code=200 if ready else 503)
