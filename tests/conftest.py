"""Shared fixtures: databases (SQLite and PostgreSQL), an app and an HTTP client.

PostgreSQL: ``HOTLINE_TEST_POSTGRES_URL`` (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test, then the same as user root).
Each test session works in its own throwaway schema, dropped at the end; tables
are emptied after every test. When the server cannot be reached the PostgreSQL
tests fail, loudly, unless ``HOTLINE_SKIP_POSTGRES=1``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text

from hotline.settings import DatabaseSettings, Settings, parse_bool
from hotline.storage.base import Base
from hotline.storage.db import Database

T = TypeVar("T")

DEFAULT_PG_URLS = (
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "postgresql+asyncpg://root@127.0.0.1:5432/test",
)
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop (usable from sync fixtures and inside a loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def skip_postgres() -> bool:
    return parse_bool(os.environ.get("HOTLINE_SKIP_POSTGRES", "0"))


async def _admin_sql(url: str, *statements: str) -> None:
    db = Database(DatabaseSettings(url=url))
    try:
        async with db.engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of a reachable PostgreSQL test database."""
    if skip_postgres():
        pytest.skip("HOTLINE_SKIP_POSTGRES=1")
    env = os.environ.get("HOTLINE_TEST_POSTGRES_URL")
    errors = []
    for url in (env,) if env else DEFAULT_PG_URLS:
        try:
            run_in_thread(_admin_sql(url, "SELECT 1"))
            return url
        except Exception as exc:  # report every attempt below
            errors.append(f"{url}: {exc}")
    pytest.fail(
        "PostgreSQL unreachable (" + "; ".join(errors) + "). Start it, set HOTLINE_TEST_POSTGRES_URL, "
        "or set HOTLINE_SKIP_POSTGRES=1 to skip the PostgreSQL tests.",
        pytrace=False,
    )


def new_schema_name(prefix: str = "hotline_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema private to this test session, holding every table (created from the models)."""
    schema = new_schema_name()

    async def create() -> None:
        await _admin_sql(postgres_url, f'CREATE SCHEMA "{schema}"')
        db = Database(DatabaseSettings(url=postgres_url), schema=schema)
        try:
            await db.create_all()
        finally:
            await db.dispose()

    run_in_thread(create())
    yield schema
    run_in_thread(_admin_sql(postgres_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> AsyncIterator[Database]:
    db = Database(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hotline.db"))
    await db.create_all()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def postgres_db(postgres_url: str, postgres_schema: str) -> AsyncIterator[Database]:
    db = Database(DatabaseSettings(url=postgres_url), schema=postgres_schema)
    try:
        yield db
    finally:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")


def make_settings(db_url: str = "sqlite+aiosqlite:///:memory:", **overrides: Any) -> Settings:
    return Settings(secret_key=TEST_SECRET, database={"url": db_url}, **overrides)


@dataclass
class ApiEnv:
    """An app on a clean SQLite database, with an HTTP client and helpers to create users."""

    app: Any
    client: httpx.AsyncClient
    services: Any

    async def user(self, username: str, role: str = "agent", password: str = "password-123", **fields: Any) -> Any:
        from hotline.security import hash_password_async
        from hotline.storage.models import User

        async with self.services.db.session() as session:
            user = User(
                username=username, display_name=username, role=role,
                password_hash=await hash_password_async(password), **fields,
            )
            session.add(user)
            await session.commit()
            return user

    def token_for(self, user: Any, **kwargs: Any) -> str:
        from hotline.security import create_access_token

        token, _ = create_access_token(
            self.services.settings, username=user.username, role=user.role, user_id=user.id,
            agent_id=user.agent_id, **kwargs,
        )
        return token

    async def auth_headers(self, role: str = "agent", username: str | None = None) -> dict[str, str]:
        user = await self.user(username or f"{role}-{uuid.uuid4().hex[:6]}", role)
        return {"Authorization": f"Bearer {self.token_for(user)}"}


@pytest.fixture
async def api(sqlite_db: Database) -> AsyncIterator[ApiEnv]:
    from hotline.api.app import AppServices, create_app

    services = AppServices(settings=make_settings(str(sqlite_db.url)), db=sqlite_db)
    app = create_app(services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield ApiEnv(app=app, client=client, services=services)
