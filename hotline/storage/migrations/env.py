"""Alembic environment (async).

Runs on a connection handed in through ``config.attributes["connection"]``
(see hotline.storage.migrate) or, from the alembic command line, on an engine
built from ``sqlalchemy.url``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from hotline.settings import DatabaseSettings
from hotline.storage import models  # noqa: F401  (registers every table)
from hotline.storage.base import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    """The URL given by hotline.storage.migrate, else the one in the settings (plain `alembic -c ...` runs)."""
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from hotline.settings import load_settings

    return load_settings().database.url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write UTCDateTime as a plain timezone-aware DateTime so migrations never import model code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        compare_type=True,
        render_item=render_item,
    )


def run_on(connection: Connection) -> None:
    configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    from hotline.storage.db import Database

    db = Database(DatabaseSettings(url=database_url()), schema=config.attributes.get("schema"))
    try:
        async with db.engine.connect() as conn:
            if db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.run_sync(run_on)
            await conn.commit()
    finally:
        await db.dispose()


def run_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    run_on(connection)
else:
    asyncio.run(run_async())
