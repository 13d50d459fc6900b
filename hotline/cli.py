"""The `hotline` command line: serve, demo, db, flow, erlang, bench, loadtest.

Every command loads the one Settings object first; a bad setting is reported
as one line and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

import typer

from hotline.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="12345 citizen-hotline call-handling server (Asterisk AMI/AsyncAGI, IVR, queue router).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="HTTP bind address (default: settings http.host)"),
    port: Optional[int] = typer.Option(None, help="HTTP port (default: settings http.port)"),
) -> None:
    """Run the server against the Asterisk named in the settings (HOTLINE_AMI__HOST/PORT)."""
    from hotline.runner import run_server

    settings = settings_or_exit()
    run_server(settings, host=host, port=port, with_simulator=False)


@app.command()
def demo(
    port: int = typer.Option(8345, help="HTTP port for the agent desktop, wallboard and flow editor"),
    calls_per_minute: float = typer.Option(6.0, help="Simulated callers per minute"),
    agents: int = typer.Option(8, help="Simulated agents logged in"),
    duration: Optional[float] = typer.Option(None, help="Stop after this many seconds (default: run until Ctrl-C)"),
    speed: float = typer.Option(1.0, help="Simulated clock speed (prompts, rings, talk time)"),
) -> None:
    """Run the server with the built-in PBX simulator, SQLite and the sample flows, with simulated callers."""
    from hotline.runner import run_server

    settings = settings_or_exit(
        simulator={"enabled": True, "callers_per_minute": calls_per_minute, "agents": agents},
        http={"port": port},
    )
    run_server(settings, with_simulator=True, duration=duration, speed=speed)


@app.command("config")
def show_config() -> None:
    """Validate the settings and print them (secrets hidden)."""
    s = settings_or_exit()
    data = s.model_dump(mode="json")
    data["secret_key"] = "***"
    data["ami"]["secret"] = "***"
    import json

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("bench")
def bench(
    names: list[str] = typer.Argument(None, help="Benchmarks to run (default: all in bench/)"),
    quick: bool = typer.Option(False, help="Small sizes, for a smoke run"),
) -> None:
    """Run benchmarks; each writes bench/results/<name>.json."""
    from bench.run import main as bench_main

    raise typer.Exit(bench_main(names or [], quick=quick))


centre_app = typer.Typer(help="The centre's sites, groups, seats and queues.", no_args_is_help=True)
app.add_typer(centre_app, name="centre")


@centre_app.command("load")
def centre_load(path: Path = typer.Argument(..., help="Centre YAML, e.g. deploy/centre.yaml")) -> None:
    """Validate a centre file and load it into the database (idempotent; nothing is written if it is invalid)."""
    import asyncio

    from hotline.centre import CentreError, load_centre, parse_centre
    from hotline.storage.db import Database

    settings = settings_or_exit()
    try:
        centre = parse_centre(path)
    except CentreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    async def run() -> dict[str, int]:
        db = Database(settings.database)
        try:
            return await load_centre(db, centre)
        finally:
            await db.dispose()

    counts = asyncio.run(run())
    typer.echo("loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()))


# Sub-commands contributed by the capability packages: (module, attribute, name, is_group).
_MOUNTS = [
    ("hotline.storage.cli", "app", "db", True),
    ("ivr.cli", "app", "flow", True),
    ("router.cli", "erlang", "erlang", False),
    ("router.cli", "app", "router", True),
    ("loadtest.cli", "app", "loadtest", True),
]


def _mount() -> None:
    for module, attr, name, is_group in _MOUNTS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
                continue
            raise
        obj = getattr(mod, attr, None)
        if obj is None:
            continue
        if is_group:
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)


_mount()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
