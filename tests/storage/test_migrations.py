"""Alembic migrations: up to head and back to base on an empty SQLite file and PostgreSQL schema,
and the migrated schema equals the models (autogenerate finds nothing to do)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hotline.settings import DatabaseSettings
from hotline.storage import migrate
from hotline.storage.base import Base
from hotline.storage.db import Database

from tests.conftest import _admin_sql, new_schema_name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        db = Database(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/migr.db"))
        yield db
        await db.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = new_schema_name("test_migr")
    await _admin_sql(url, f'CREATE SCHEMA "{schema}"')
    db = Database(DatabaseSettings(url=url), schema=schema)
    try:
        yield db
    finally:
        await db.dispose()
        await _admin_sql(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def schema_diff(db: Database) -> list:
    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
        )


async def test_upgrade_head_matches_models_and_downgrade_base_empties(empty_db: Database) -> None:
    assert await migrate.current(empty_db) == []
    assert len(await schema_diff(empty_db)) >= len(Base.metadata.tables)  # the comparison does see tables
    await migrate.upgrade(empty_db)
    assert await migrate.current(empty_db) == migrate.head_revisions()
    assert set(Base.metadata.tables) <= await tables(empty_db)
    assert await schema_diff(empty_db) == []
    await migrate.downgrade(empty_db, "base")
    assert await migrate.current(empty_db) == []
    assert await tables(empty_db) <= {"alembic_version"}


async def test_upgrade_is_idempotent_and_data_survives(empty_db: Database) -> None:
    from hotline.storage.models import Callback

    await migrate.upgrade(empty_db)
    async with empty_db.session() as s:
        s.add(Callback(number="13700000000", queue="general"))
        await s.commit()
    await migrate.upgrade(empty_db)
    async with empty_db.session() as s:
        assert (await s.get(Callback, 1)) is not None


def test_single_head() -> None:
    assert len(migrate.head_revisions()) == 1


def test_cli_upgrade_from_any_directory(tmp_path: Path) -> None:
    """`hotline db upgrade` finds its migrations wherever it is started from."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_DATABASE__URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    cmd = [sys.executable, "-c", "from hotline.cli import main; main()", "db"]
    up = subprocess.run([*cmd, "upgrade"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    assert f"database at {migrate.head_revisions()[0]}" in up.stdout
    cur = subprocess.run([*cmd, "current"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert cur.returncode == 0 and "database at" in cur.stdout, cur.stderr
    down = subprocess.run([*cmd, "downgrade", "base"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and "database at base" in down.stdout, down.stderr


async def test_tables_without_history_that_differ_are_refused(sqlite_db: Database) -> None:
    async with sqlite_db.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE hotlines DROP COLUMN skill")
    with pytest.raises(migrate.SchemaMismatch, match="no migration history"):
        await migrate.ensure_schema(sqlite_db)
    assert await migrate.current(sqlite_db) == []


async def test_matching_tables_without_history_are_adopted(db: Database) -> None:
    assert await migrate.ensure_schema(db) == "stamped"
    assert await migrate.current(db) == migrate.head_revisions()
    assert await migrate.ensure_schema(db) == "upgraded"  # from now on plain upgrades
    async with db.engine.begin() as conn:  # leave the shared test schema as the fixtures made it
        await conn.exec_driver_sql("DROP TABLE alembic_version")
