"""The FastAPI application: built from the services the composition root hands in.

    services = AppServices(settings=settings, db=Database(settings.database), bus=bus)
    services.readiness_checks["ami"] = lambda: ami.connected
    app = create_app(services, routers=[ivr_router, router_router])

Nothing here is global: every app has its own metrics registry and readiness
checks, so tests can build as many apps as they like.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from hotline.settings import Settings
from hotline.storage.db import Database

log = logging.getLogger("hotline.api")

ReadinessCheck = Callable[[], "bool | Awaitable[bool]"]

OPENAPI_TAGS = [
    {"name": "auth", "description": "Log in and identify the current user."},
    {"name": "users", "description": "User accounts and roles (admin)."},
    {"name": "audit", "description": "Who did what, when (supervisor)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics (no authentication)."},
]

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


@dataclass
class AppServices:
    """What the HTTP edge needs from the composition root; stored at ``app.state.services``."""

    settings: Settings
    db: Database
    bus: Any = None
    routers: list[APIRouter] = field(default_factory=list)
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    registry: CollectorRegistry | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def create_app(services: AppServices, routers: Sequence[APIRouter] = ()) -> FastAPI:
    from hotline.api import audit, auth, health, metrics, users

    registry = services.registry if services.registry is not None else CollectorRegistry()
    app = FastAPI(
        title="12345 hotline server",
        version="0.1.0",
        description="Call handling for 12345 citizen-service hotlines on Asterisk.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=_lifespan,
    )
    app.state.services = services
    app.state.metrics_registry = registry
    app.state.readiness = health.Readiness()
    app.state.readiness.add("database", services.db.check)
    for name, check in services.readiness_checks.items():
        app.state.readiness.add(name, check)
    app.add_middleware(metrics.MetricsMiddleware, metrics=metrics.HttpMetrics(registry))
    if services.settings.http.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=services.settings.http.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (health.router, metrics.router, auth.router, users.router, audit.router):
        app.include_router(router)
    for router in [*services.routers, *routers]:
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Tables come from migrations; only a development SQLite database is migrated at start."""
    services: AppServices = app.state.services
    if services.settings.mode == "development" and services.db.is_sqlite:
        from hotline.storage.migrate import ensure_schema
        from hotline.storage.seed import seed_admin

        await ensure_schema(services.db)
        password = os.environ.get("HOTLINE_ADMIN_PASSWORD")
        if password:
            async with services.db.session() as session:
                if await seed_admin(session, "admin", password, only_if_no_admin=True):
                    log.info("created the initial development admin user 'admin'")
    yield


def _field_message(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    name = ".".join(p for p in loc if p not in _LOCATIONS) or (loc[0] if loc else "request")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{name}: {msg}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, each message naming its field; submitted values are not echoed back."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"type": e.get("type"), "loc": e.get("loc"), "msg": _field_message(e)} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(detail)})
