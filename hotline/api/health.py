"""Liveness and readiness (no authentication: load balancers and orchestrators call these)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

log = logging.getLogger("hotline.api.health")

router = APIRouter(tags=["health"])

Check = Callable[[], "bool | Awaitable[bool]"]


class Readiness:
    """Named readiness checks (database, AMI link, ...); each returns bool, sync or async."""

    def __init__(self, timeout: float = 3.0) -> None:
        self.timeout = timeout
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    async def _one(self, name: str, check: Check) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                result = check()
                if inspect.isawaitable(result):
                    result = await result
            return bool(result)
        except Exception as exc:  # a failing check means "not ready", whatever the failure
            log.warning("readiness check %s failed: %s", name, exc or type(exc).__name__)
            return False

    async def run(self) -> dict[str, bool]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._one(n, self._checks[n]) for n in names))
        return dict(zip(names, results))


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, bool]
    failing: list[str]


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
async def health() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: database reachable and every registered check passing",
    responses={503: {"model": ReadyOut, "description": "Not ready; `failing` names the checks"}},
)
async def ready(request: Request) -> ReadyOut | JSONResponse:
    checks = await request.app.state.readiness.run()
    failing = [name for name, ok in checks.items() if not ok]
    out = ReadyOut(status="not ready" if failing else "ready", checks=checks, failing=failing)
    if failing:
        return JSONResponse(status_code=503, content=out.model_dump())
    return out
