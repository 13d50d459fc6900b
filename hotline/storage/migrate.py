"""Run Alembic migrations on a :class:`Database` from async code.

The migrations live in ``hotline/storage/migrations`` and the configuration in
``hotline/storage/alembic.ini``, both inside the package, so nothing depends
on the current directory. Alembic's synchronous API runs on the async
connection through ``run_sync`` and never blocks the event loop on I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from hotline.storage.db import Database

PACKAGE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"


def alembic_config(url: str | None = None, schema: str | None = None) -> Config:
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def head_revisions() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


async def run_with_connection(db: Database, fn: Callable[[Config, Connection], object]) -> object:
    """Call ``fn(config, sync_connection)`` on one connection, committing at the end.

    SQLite runs with foreign keys off meanwhile: batch migrations copy tables,
    and dropping the old copy must not cascade into its children.
    """
    cfg = alembic_config(db.url.render_as_string(hide_password=False), db.schema)
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            result = await conn.run_sync(lambda sync_conn: fn(cfg, sync_conn))
            await conn.commit()
            return result
        except BaseException:
            await conn.rollback()
            raise
        finally:
            if db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _with(cfg: Config, conn: Connection) -> Config:
    cfg.attributes["connection"] = conn
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    await run_with_connection(db, lambda cfg, conn: command.upgrade(_with(cfg, conn), revision))


async def downgrade(db: Database, revision: str) -> None:
    await run_with_connection(db, lambda cfg, conn: command.downgrade(_with(cfg, conn), revision))


async def current(db: Database) -> list[str]:
    """The revisions the database is at (empty before the first upgrade)."""
    result = await run_with_connection(db, lambda cfg, conn: list(MigrationContext.configure(conn).get_current_heads()))
    return list(result)  # type: ignore[call-overload]


class SchemaMismatch(RuntimeError):
    """The database has tables but no migration history, and they differ from the models."""


def _adopt_or_upgrade(cfg: Config, conn: Connection) -> str:
    from alembic.autogenerate import compare_metadata
    from sqlalchemy import inspect

    from hotline.storage.base import Base

    context = MigrationContext.configure(conn, opts={"compare_type": True})
    existing = set(inspect(conn).get_table_names()) & set(Base.metadata.tables)
    if not context.get_current_heads() and existing:
        diff = compare_metadata(context, Base.metadata)
        if diff:
            raise SchemaMismatch(
                f"the database has tables ({len(existing)}) but no migration history and differs from the models "
                f"({len(diff)} differences); move it aside and start again, or migrate it by hand"
            )
        command.stamp(_with(cfg, conn), "head")
        return "stamped"
    command.upgrade(_with(cfg, conn), "head")
    return "upgraded"


async def ensure_schema(db: Database) -> str:
    """Bring a development database to head: upgrade it, or adopt tables made by create_all that match."""
    return str(await run_with_connection(db, _adopt_or_upgrade))
