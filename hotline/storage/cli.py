"""`hotline db ...`: schema migrations and the first admin account.

Works from any directory: the migrations ship inside the package and the
database URL comes from the settings (HOTLINE_DATABASE__URL).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Optional, TypeVar

import typer

from hotline.settings import Settings, SettingsError, load_settings
from hotline.storage.db import Database

T = TypeVar("T")

app = typer.Typer(
    help="Database schema (Alembic migrations) and initial accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _run(fn: Callable[[Database], Awaitable[T]]) -> T:
    db = Database(_settings().database)

    async def go() -> T:
        try:
            return await fn(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except (OSError, ConnectionError) as exc:
        typer.echo(f"error: cannot reach the database {db.url.render_as_string(hide_password=True)}: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision (default: head)")) -> None:
    """Migrate the database schema up to REVISION."""
    from hotline.storage import migrate

    _run(lambda db: migrate.upgrade(db, revision))
    typer.echo(f"database at {', '.join(_run(migrate.current)) or 'base'}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base")) -> None:
    """Migrate the database schema down to REVISION."""
    from hotline.storage import migrate

    _run(lambda db: migrate.downgrade(db, revision))
    typer.echo(f"database at {', '.join(_run(migrate.current)) or 'base'}")


@app.command()
def current() -> None:
    """Show the revision the database is at, and the newest one available."""
    from hotline.storage import migrate

    at = _run(migrate.current)
    heads = migrate.head_revisions()
    typer.echo(f"database at {', '.join(at) or 'base'}; head is {', '.join(heads)}")
    if sorted(at) != sorted(heads):
        typer.echo("run `hotline db upgrade` to migrate", err=True)


@app.command("seed-admin")
def seed_admin(
    username: str = typer.Option("admin", help="Account name"),
    password: Optional[str] = typer.Option(
        None, help="Password (default: $HOTLINE_ADMIN_PASSWORD, else asked for)", show_default=False
    ),
) -> None:
    """Create an admin account, or reset an existing account's password and make it admin."""
    from hotline.storage.seed import seed_admin as do_seed

    password = password or os.environ.get("HOTLINE_ADMIN_PASSWORD")
    if not password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        typer.echo("error: the password must have at least 8 characters", err=True)
        raise typer.Exit(2)

    async def go(db: Database) -> bool:
        async with db.session() as session:
            return await do_seed(session, username, password, actor="cli")

    _run(go)
    typer.echo(f"admin account {username!r} ready")
