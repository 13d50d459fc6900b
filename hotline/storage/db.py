"""The async engine and session factory.

``Database(settings.database)`` owns one engine. SQLite runs with WAL, foreign
keys on and a busy timeout; PostgreSQL may be confined to one schema (tests,
shared servers) through ``schema=``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from hotline.settings import DatabaseSettings
from hotline.storage.base import Base

log = logging.getLogger("hotline.storage")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


class Database:
    """One async engine plus its session factory."""

    def __init__(self, settings: DatabaseSettings, *, schema: str | None = None) -> None:
        self.settings = settings
        self.url: URL = make_url(settings.url)
        self.schema = schema
        self.engine: AsyncEngine = self._make_engine()
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False, autoflush=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def _make_engine(self) -> AsyncEngine:
        s = self.settings
        if self.is_sqlite:
            memory = self.url.database in (None, "", ":memory:")
            if not memory:
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
            engine = create_async_engine(self.url, echo=s.echo, connect_args={"timeout": 30}, **kwargs)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            return engine
        connect_args: dict[str, Any] = {"timeout": 10}  # seconds to establish a connection
        if self.schema:
            connect_args["server_settings"] = {"search_path": self.schema}
        return create_async_engine(
            self.url,
            echo=s.echo,
            pool_size=s.pool_size,
            max_overflow=s.pool_size,
            pool_pre_ping=True,
            connect_args=connect_args,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Rolled back on error, closed on exit."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction committed on success, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def create_all(self) -> None:
        """Create every table directly from the models (tests; deployments use migrations)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def drop_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)

    async def check(self, timeout: float = 2.0) -> bool:
        """Readiness: True when a trivial query succeeds within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # any failure means "not ready"; the reason goes to the log
            log.warning("database check failed: %s", exc)
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
