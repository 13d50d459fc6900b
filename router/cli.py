"""`hotline erlang`: staffing advice from the command line.

    hotline erlang --calls 360 --interval 30m --aht 240 --target 15 --goal 0.8
    hotline erlang --calls 360 --interval 30m --aht 4m --target 15s --agents 55 --patience 3m --json
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

import typer

from hotline.settings import parse_duration
from router.erlang import ErlangResult, agents_needed, metrics

app = typer.Typer(help="Queue router tools.", no_args_is_help=True)


def _dur(value: str, name: str) -> float:
    try:
        v = parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None
    if v <= 0:
        raise typer.BadParameter("must be > 0", param_hint=name)
    return v


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isinf(v) else (round(v, 6) if isinstance(v, float) else v)) for k, v in d.items()}


def advise(
    calls: float,
    interval: float,
    aht: float,
    target: float,
    goal: float,
    patience: float | None = None,
    agents: int | None = None,
    max_asa: float | None = None,
    max_abandon: float | None = None,
) -> dict[str, Any]:
    """What the CLI and the API return: agents needed, plus figures at a given staffing when asked."""
    out: dict[str, Any] = {"model": "A" if patience else "C", "calls": calls, "interval": interval, "aht": aht,
                           "target": target, "goal": goal, "patience": patience}
    need = agents_needed(calls, interval, aht, target, goal, patience=patience, max_asa=max_asa, max_abandon=max_abandon)
    out["agents_needed"] = need.agents
    out["at_needed"] = _clean(need.result.as_dict())
    if patience is not None:
        c = agents_needed(calls, interval, aht, target, goal, max_asa=max_asa)
        out["agents_needed_erlang_c"] = c.agents
    if agents is not None:
        out["at_agents"] = _clean(metrics(calls, interval, aht, agents, target, patience).as_dict())
    return out


def _line(r: dict[str, Any]) -> str:
    asa = "inf" if r["asa"] is None else f"{r['asa']:.2f}s"
    s = (f"{r['agents']:>5} agents  P(wait) {r['p_wait']:.4f}  ASA {asa}  "
         f"SL {r['service_level'] * 100:.2f}%  occupancy {r['occupancy'] * 100:.1f}%")
    if r["model"] == "A":
        s += f"  abandon {r['p_abandon'] * 100:.2f}%"
    return s


def erlang(
    calls: float = typer.Option(..., help="Calls offered in the interval"),
    interval: str = typer.Option("30m", help="Interval length (e.g. 15m, 30m, 1h)"),
    aht: str = typer.Option(..., help="Average handle time, talk + wrap-up (e.g. 240, 4m)"),
    target: str = typer.Option("20s", help="Service level target: answered within this time"),
    goal: float = typer.Option(0.8, help="Share to answer within the target (0-1)"),
    patience: Optional[str] = typer.Option(None, help="Mean caller patience: use Erlang A (e.g. 3m)"),
    agents: Optional[int] = typer.Option(None, help="Also show the figures at this many agents"),
    max_asa: Optional[float] = typer.Option(None, help="Also require ASA <= this many seconds"),
    max_abandon: Optional[float] = typer.Option(None, help="Also require P(abandon) <= this (Erlang A)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Agents needed under Erlang C (and Erlang A with --patience)."""
    if not 0 < goal < 1:
        raise typer.BadParameter("must be between 0 and 1", param_hint="--goal")
    if calls < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--calls")
    res = advise(
        calls, _dur(interval, "--interval"), _dur(aht, "--aht"), _dur(target, "--target"), goal,
        _dur(patience, "--patience") if patience else None, agents, max_asa, max_abandon,
    )
    if as_json:
        typer.echo(json.dumps(res, ensure_ascii=False, indent=2))
        return
    model = "Erlang A" if res["model"] == "A" else "Erlang C"
    typer.echo(f"{model}: {calls:g} calls / {res['interval']:g}s, AHT {res['aht']:g}s, "
               f"target {res['goal'] * 100:g}% in {res['target']:g}s"
               + (f", patience {res['patience']:g}s" if res["patience"] else ""))
    typer.echo(f"agents needed: {res['agents_needed']}"
               + (f" (Erlang C: {res['agents_needed_erlang_c']})" if "agents_needed_erlang_c" in res else ""))
    typer.echo(_line(res["at_needed"]))
    if "at_agents" in res and res["at_agents"]["agents"] != res["agents_needed"]:
        typer.echo(_line(res["at_agents"]))


@app.callback()
def _group() -> None:
    """Queue router tools."""


app.command("erlang")(erlang)

__all__ = ["app", "erlang", "advise", "ErlangResult"]
