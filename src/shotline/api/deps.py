"""Dependencies the routes share: the service, and the caller's API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from shotline.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def api_key(service: ServiceDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's key id, or a 401. Sync, so FastAPI runs the lookup in its thread pool."""
    return service.authenticate(authorization)


KeyDep = Annotated[str, Depends(api_key)]
