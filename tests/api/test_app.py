"""Application start-up and WebSocket authentication."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import APIRouter, WebSocket
from sqlalchemy import inspect, select
from starlette.websockets import WebSocketDisconnect

from hotline.api.app import AppServices, create_app
from hotline.api.deps import WS_UNAUTHORIZED, AppState, DbSession, websocket_principal
from hotline.security import create_access_token, verify_password
from hotline.settings import DatabaseSettings
from hotline.storage.db import Database
from hotline.storage.migrate import current, head_revisions, upgrade
from hotline.storage.models import User

from tests.conftest import make_settings, run_in_thread

if TYPE_CHECKING:
    from starlette.testclient import TestClient


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_development_sqlite_is_migrated_at_start_with_an_initial_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_ADMIN_PASSWORD", "dev-admin-pass")
    url = f"sqlite+aiosqlite:///{tmp_path}/dev.db"
    db = Database(DatabaseSettings(url=url))
    app = create_app(AppServices(settings=make_settings(url, mode="development"), db=db))
    try:
        async with app.router.lifespan_context(app):
            assert {"users", "calls", "alembic_version"} <= await _tables(db)
        async with app.router.lifespan_context(app):  # a second start changes nothing
            pass
        async with db.session() as s:
            [admin] = (await s.scalars(select(User))).all()
            assert admin.username == "admin" and admin.role == "admin"
            assert verify_password("dev-admin-pass", admin.password_hash)
    finally:
        await db.dispose()


async def test_development_start_adopts_tables_made_from_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/dev.db"
    db = Database(DatabaseSettings(url=url))
    await db.create_all()
    app = create_app(AppServices(settings=make_settings(url, mode="development"), db=db))
    try:
        async with app.router.lifespan_context(app):
            assert await current(db) == head_revisions()
    finally:
        await db.dispose()


async def test_production_start_creates_no_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/prod.db"
    db = Database(DatabaseSettings(url=url))
    settings = make_settings(url, mode="production", ami={"secret": "a-real-ami-secret"})
    app = create_app(AppServices(settings=settings, db=db))
    try:
        async with app.router.lifespan_context(app):
            assert await _tables(db) == set()
    finally:
        await db.dispose()


def _ws_app(tmp_path: Path) -> tuple[TestClient, str]:
    """An app with one authenticated WebSocket route, driven by Starlette's TestClient (WebSockets need it)."""
    from starlette.testclient import TestClient

    url = f"sqlite+aiosqlite:///{tmp_path}/ws.db"

    async def prepare() -> int:
        db = Database(DatabaseSettings(url=url))
        await upgrade(db)  # the development start-up migrates; give it a migrated database
        async with db.session() as s:
            user = User(username="ws-agent", password_hash="x", role="agent")
            s.add(user)
            await s.commit()
            uid = user.id
        await db.dispose()
        return uid

    uid = run_in_thread(prepare())
    ws = APIRouter()

    @ws.websocket("/ws/echo")
    async def echo(websocket: WebSocket, session: DbSession, services: AppState) -> None:
        principal = await websocket_principal(websocket)
        await websocket.accept()
        user = await session.get(User, principal.user_id)
        assert user is not None and services.settings.mode == "development"
        await websocket.send_json({"username": principal.username, "role": principal.role})
        await websocket.close()

    settings = make_settings(url)
    app = create_app(AppServices(settings=settings, db=Database(settings.database)), routers=[ws])
    token, _ = create_access_token(settings, username="ws-agent", role="agent", user_id=uid)
    return TestClient(app), token


pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def test_websocket_accepts_token_in_query(tmp_path: Path) -> None:
    client, token = _ws_app(tmp_path)
    with client, client.websocket_connect(f"/ws/echo?token={token}") as conn:
        assert conn.receive_json() == {"username": "ws-agent", "role": "agent"}


@pytest.mark.parametrize("query", ["", "?token=garbage"])
def test_websocket_without_valid_token_is_closed_4401(tmp_path: Path, query: str) -> None:
    client, _ = _ws_app(tmp_path)
    with client, client.websocket_connect(f"/ws/echo{query}") as conn:
        with pytest.raises(WebSocketDisconnect) as exc:
            conn.receive_json()
    assert exc.value.code == WS_UNAUTHORIZED


def test_expired_token_closes_websocket(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    client, _ = _ws_app(tmp_path)
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    token, _ = create_access_token(
        settings, username="ws-agent", role="agent", user_id=1, now=datetime.now(UTC) - timedelta(days=1), ttl=60
    )
    with client, client.websocket_connect(f"/ws/echo?token={token}") as conn:
        with pytest.raises(WebSocketDisconnect) as exc:
            conn.receive_json()
    assert exc.value.code == WS_UNAUTHORIZED and exc.value.reason == "token expired"
