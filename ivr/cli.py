"""``hotline flow ...``: validate flow files and simulate calls on the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer

from hotline.settings import IvrSettings

app = typer.Typer(help="IVR flows: validate and simulate.", no_args_is_help=True, add_completion=False)

_DEFAULT = IvrSettings()


@app.command()
def validate(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="flow files or directories (default: the whole flows dir)")] = None,
    flows_dir: Annotated[Path, typer.Option("--flows-dir", help="catalogues and other flows")] = _DEFAULT.flows_dir,
    prompts_dir: Annotated[Optional[Path], typer.Option("--prompts-dir")] = None,
) -> None:
    """Check flows; print every error as file:line:col: message and exit 1 if there is any."""
    from ivr.validate import validate_paths

    errors = validate_paths(list(paths or []), flows_dir, prompts_dir)
    for e in errors:
        typer.echo(str(e))
    if errors:
        typer.echo(f"{len(errors)} error(s)", err=True)
        raise typer.Exit(1)
    typer.echo("ok")


@app.command()
def simulate(
    dnis: Annotated[str, typer.Option(help="dialled number: 12345 or a merged hotline")] = "12345",
    keys: Annotated[str, typer.Option(help="key presses, comma separated; empty entry = silence, 'hangup' = caller hangs up")] = "",
    say: Annotated[Optional[list[str]], typer.Option(help="recognised speech, one per --say, in order")] = None,
    caller: Annotated[str, typer.Option(help="caller number")] = "13800138000",
    at: Annotated[Optional[str], typer.Option(help='local time of the call, e.g. "2026-11-21 20:00" (Asia/Shanghai)')] = None,
    queue: Annotated[str, typer.Option(help="queue outcomes in order: connected, overflow, callback, hangup, wait")] = "",
    transfer: Annotated[str, typer.Option(help="transfer outcomes in order: answered, busy, noanswer, failed")] = "",
    repeat_calls: Annotated[int, typer.Option(help="earlier calls from this number (repeat-caller rule)")] = 0,
    reentry: Annotated[Optional[str], typer.Option(help="simulate re-entry into hotline-ivr at this extension (e.g. survey)")] = None,
    flows_dir: Annotated[Path, typer.Option("--flows-dir")] = _DEFAULT.flows_dir,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also print the AGI commands")] = False,
) -> None:
    """Dry-run one call through the flows and print the path taken."""
    from ivr.bundle import load_dir_bundle
    from ivr.engine import parse_at
    from ivr.simulate import simulate as run

    bundle, errors = load_dir_bundle(flows_dir)
    if bundle is None:
        for e in errors:
            typer.echo(str(e))
        raise typer.Exit(1)
    split = lambda s: [x.strip() for x in s.split(",")] if s else []  # noqa: E731
    try:
        when = parse_at(at, _DEFAULT.timezone) if at else None
    except ValueError:
        typer.echo(f"--at: not a date and time: {at!r} (e.g. \"2026-11-21 20:00\")", err=True)
        raise typer.Exit(2)
    result = asyncio.run(run(
        bundle, dnis=dnis, keys=split(keys), say=list(say or []), caller=caller, at=when,
        queue=split(queue), transfer=split(transfer), repeat_calls=repeat_calls,
        context="hotline-ivr" if reentry else "hotline-inbound", extension=reentry,
    ))
    for line in result.lines(verbose):
        typer.echo(line)
