"""Liveness, readiness, metrics, and authentication on every other route."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from hotline.api.app import AppServices, create_app
from hotline.api.deps import CurrentUser
from hotline.settings import DatabaseSettings
from hotline.storage.db import Database

from tests.conftest import ApiEnv, make_settings

PUBLIC = {"/health", "/ready", "/metrics"}


async def test_health_needs_no_auth(api: ApiEnv) -> None:
    r = await api.client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_ready_when_database_reachable(api: ApiEnv) -> None:
    r = await api.client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": True}, "failing": []}


async def test_ready_503_names_failing_checks(api: ApiEnv) -> None:
    async def slow_ami() -> bool:
        await asyncio.sleep(0)
        return False

    def broken() -> bool:
        raise RuntimeError("boom")

    api.app.state.readiness.add("ami", slow_ami)
    api.app.state.readiness.add("asr", broken)
    api.app.state.readiness.add("bus", lambda: True)
    r = await api.client.get("/ready")
    assert r.status_code == 503
    assert r.json()["failing"] == ["ami", "asr"]
    assert r.json()["checks"]["bus"] is True


async def test_ready_503_when_database_unreachable() -> None:
    db = Database(DatabaseSettings(url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    services = AppServices(settings=make_settings(), db=db, readiness_checks={"ami": lambda: True})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://t") as c:
        r = await c.get("/ready")
    await db.dispose()
    assert r.status_code == 503 and r.json()["failing"] == ["database"]


async def test_metrics_count_requests_by_route_template(api: ApiEnv) -> None:
    h = await api.auth_headers("admin")
    await api.client.get("/api/users/12345", headers=h)
    await api.client.get("/health")
    r = await api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'hotline_http_requests_total{method="GET",route="/api/users/{user_id}",status="404"} 1.0' in text
    assert 'hotline_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert "hotline_http_request_duration_seconds_bucket" in text
    assert "12345" not in text


async def test_many_apps_each_with_their_own_registry(sqlite_db: Database) -> None:
    shared = CollectorRegistry()
    apps = [create_app(AppServices(settings=make_settings(), db=sqlite_db)) for _ in range(3)]
    apps.append(create_app(AppServices(settings=make_settings(), db=sqlite_db, registry=shared)))
    assert len({id(a.state.metrics_registry) for a in apps}) == 4
    assert apps[-1].state.metrics_registry is shared


async def test_extra_routers_are_mounted(sqlite_db: Database) -> None:
    extra = APIRouter(prefix="/api/extra", tags=["extra"])

    @extra.get("/who")
    async def who(user: CurrentUser) -> dict[str, str]:
        return {"username": user.username}

    app = create_app(AppServices(settings=make_settings(), db=sqlite_db), routers=[extra])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/api/extra/who")).status_code == 401
    assert "/api/extra/who" in app.openapi()["paths"]


async def test_every_route_but_health_ready_metrics_requires_auth(api: ApiEnv) -> None:
    paths = api.app.openapi()["paths"]
    checked = 0
    for path, ops in paths.items():
        for method in ops:
            if path in PUBLIC or path == "/api/auth/login":
                continue
            url = path.replace("{user_id}", "1")
            r = await api.client.request(method.upper(), url)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers.get("www-authenticate") == "Bearer"
            checked += 1
    assert checked >= 6


async def test_openapi_has_tags(api: ApiEnv) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert {"auth", "users", "audit", "health"} <= {t["name"] for t in spec["tags"]}
    login = spec["paths"]["/api/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(login)
