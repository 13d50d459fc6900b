"""Concurrent IVR sessions through the whole server: the engine's step latency at 500 and 2,000 calls.

``python -m bench.ivr_sessions [--quick]`` (or ``python -m bench.run ivr_sessions``)
prints the figures and writes bench/results/ivr_sessions.json.

Method (also written into the JSON):

* The PBX simulator runs in its own process (``python -m pbxsim --port N``), as
  Asterisk would, so its CPU is not the server's. It places N citizens' calls
  to 12345 over a ramp; the callers never press a key, so every call stays in
  the IVR: welcome, the main menu three times (no input), then the general
  queue's hold music and announcements (no agent is logged in, so nobody is
  taken out of the IVR). The window opens 3 s after the last session has
  started, so it holds every kind of step: welcome and menu prompts, the
  no-input retries, queue entry through the router's queue port, and the
  hold-music slices, announcements and estimated waits of the callers already
  holding (about a third of them by the window's end at 2,000 calls).
* The server is the one the composition root builds (``build_server``): AMI
  client, call model, resync, AsyncAGI, IVR engine, router (queue port), call
  control, journal on SQLite. Its IVR clock stands in the staffed hours.
* Step latency is measured at the AMI client: the time an ``AsyncAGIExec``
  event (an AGI result) is dispatched to its subscribers (a subscriber of the
  client, timestamping per channel), to the time the next ``Action: AGI`` for
  that channel is handed to the client for writing (a wrapper around
  ``AmiClient.action``, timestamping before the bytes are encoded and written).
  Every queued-but-not-yet-dispatched event of every other call, and the whole
  server's handling of them (call model, journal, router), is inside the figure.
* The raw floor is measured in the same run, on the same kind of server with
  the same client and simulator set-up, but with the IVR engine replaced by a
  bare AsyncAGI echo handler that answers each result with the next command
  (``STREAM FILE`` of the same hold-music file the engine plays, so the PBX
  paces both alike) and nothing else.
* Samples are taken over a fixed window starting 3 s after all N sessions
  are running; every step counts (prompts, menus, SET VARIABLE, queue entry,
  hold slices). The default asyncio loop; server logging at WARNING.
* Garbage collection: the server runs with its shipped runtime settings
  (``runtime.gc_freeze`` on, ``runtime.gc_thresholds`` 700/10/1000; see
  hotline/runtime.py), engine and floor alike. The collections that fell in
  the window are reported from the server's own GC monitor. At 2,000 calls the
  engine is also measured once with CPython's defaults (no freeze,
  700/10/10), to show what the tuning buys.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.latency import OpenHoursClock, summarise

ROOT = Path(__file__).resolve().parent.parent
GOAL_P99_MS = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StepTimer:
    """AsyncAGIExec dispatched -> next Action: AGI for the same channel, at the AMI client."""

    def __init__(self, client: Any) -> None:
        self.t_in: dict[str, int] = {}
        self.samples: list[int] = []
        self.measuring = False
        self.results = 0
        client.subscribe(self._on_exec, "AsyncAGIExec")
        orig = client.action

        async def action(name: str, headers: Any = None, timeout: float | None = None) -> Any:
            if name == "AGI" and headers is not None:
                t = self.t_in.pop(headers.get("Channel", ""), None)
                if t is not None and self.measuring:
                    self.samples.append(time.perf_counter_ns() - t)
            return await orig(name, headers, timeout)

        client.action = action  # instance attribute: every caller of client.action goes through it

    def _on_exec(self, msg: Any) -> None:
        self.t_in[msg.fields.get("Channel", "")] = time.perf_counter_ns()
        self.results += 1


async def _start_sim(port: int, n: int, ramp: float, speed: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbxsim", "--port", str(port), "--speed", str(speed), "--calls", str(n),
        "--interval", f"{ramp / n:.5f}", "--keys", "", "--talk-time", "3600", cwd=str(ROOT),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not listen on port {port}") from None
            await asyncio.sleep(0.1)


CPYTHON_GC = {"gc_freeze": False, "gc_thresholds": (700, 10, 10)}


async def _build(tmp: Path, port: int, runtime: dict[str, Any] | None = None) -> Any:
    from hotline.app import build_server
    from hotline.centre import load_centre, parse_centre
    from hotline.settings import Settings
    from hotline.storage.db import Database
    from hotline.storage.migrate import ensure_schema

    settings = Settings(
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        data_dir=tmp, log_level="WARNING",
        database={"url": f"sqlite+aiosqlite:///{tmp}/hotline.db"},
        ami={"host": "127.0.0.1", "port": port, "username": "ivr", "secret": "ivrsecret",
             "ping_interval": 3600, "action_timeout": 60, "reconnect_initial": 0.1, "reconnect_max": 0.5},
        ivr={"flows_dir": ROOT / "flows", "prompts_dir": ROOT / "flows" / "prompts", "agi_timeout": 120},
        **({"runtime": runtime} if runtime else {}),
    )
    db = Database(settings.database)
    try:
        await ensure_schema(db)
        await load_centre(db, parse_centre(ROOT / "deploy" / "centre.yaml"))
    finally:
        await db.dispose()
    return await build_server(settings, ivr_clock=OpenHoursClock())


def _waiting(server: Any) -> int:
    return sum(q["waiting"] for q in server.router.service.wallboard.snapshot()["queues"])


def _gc_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Collections in the window, per generation: how many, their total and (over the window) longest pause."""
    out = {}
    for gen, a in after.items():
        b = before[gen]
        out[gen] = {"collections": a["count"] - b["count"], "total_ms": round(a["total_ms"] - b["total_ms"], 3)}
    return out


async def _phase(n: int, seconds: float, speed: float, floor: bool, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    from cti.agi import AgiError, AgiHangup, AgiTimeout

    tmp = Path(tempfile.mkdtemp(prefix="ivr-sessions-"))
    port = _free_port()
    ramp = max(4.0, n / 100)
    server = await _build(tmp, port, runtime)
    timer = StepTimer(server.client)
    started = 0
    if floor:
        # the bare echo: the IVR engine is taken off the AGI manager, an echo handler put in its place
        server.agi._handlers.remove(server.ivr.handle)
        hold = server.ivr.registry.current.catalog.prompts.names["hold_music"]  # the file the engine plays

        async def echo(session: Any) -> None:
            nonlocal started
            started += 1
            try:
                while True:
                    await session.command(f'STREAM FILE {hold} ""')
            except (AgiHangup, AgiTimeout, AgiError, asyncio.CancelledError):
                return

        server.agi.on_session(echo)
    else:
        async def count(session: Any) -> None:
            nonlocal started
            started += 1

        server.agi.on_session(count)
    proc = await _start_sim(port, n, ramp, speed)
    try:
        await _wait_listening(port)
        await server.start(ami_timeout=20.0)
        t_ramp = time.perf_counter()
        while started < n and time.perf_counter() - t_ramp < ramp * 4 + 60:
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)
        live_before = len(server.agi.sessions)
        gc_monitor = server.runtime.gc
        for h in gc_monitor.by_generation.values():
            h.max = 0.0  # the window's longest pause, not start-up's
        gc0 = gc_monitor.figures()
        timer.measuring = True
        r0, t0 = timer.results, time.perf_counter()
        await asyncio.sleep(seconds)
        timer.measuring = False
        gc1 = gc_monitor.figures()
        elapsed = time.perf_counter() - t0
        live_after = len(server.agi.sessions)
        waiting = _waiting(server)
        return {
            "sessions_started": started,
            "live_sessions_at_start": live_before,
            "live_sessions_at_end": live_after,
            "callers_waiting_in_queue_at_end": waiting,
            "agi_results_per_s": round((timer.results - r0) / elapsed),
            "gc_in_window": {g: {**d, "max_ms": gc1[g]["max_ms"]} for g, d in _gc_delta(gc0, gc1).items()},
            "latency": summarise(timer.samples),
        }
    finally:
        try:
            await asyncio.wait_for(server.stop(), 30)
        except Exception:
            pass
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 5.0 if quick else 15.0
    levels = tuple(int(x) for x in os.environ.get("IVR_SESSIONS_LEVELS", "500,2000").split(","))
    # Simulator speed 1.0 is real time: prompts and hold-music slices last as long as a caller hears
    # them, so N sessions make the command rate N real callers make. 2.0 doubles every call's command
    # rate: a harder load than the same number of real callers, kept to show the headroom.
    speeds = tuple(float(x) for x in os.environ.get("IVR_SESSIONS_SPEEDS", "1.0,2.0").split(","))

    async def main() -> dict[str, Any]:
        figs: dict[str, Any] = {
            "goal": f"p99 <= {GOAL_P99_MS} ms at 2,000 concurrent calls",
            "method": " ".join(__doc__.split("Method (also written into the JSON):")[1].split()),
            "window_seconds": seconds,
            "simulator_speeds": list(speeds),
        }
        for speed in speeds:
            for n in levels:
                engine = await _phase(n, seconds, speed, floor=False)
                floor = await _phase(n, seconds, speed, floor=True)
                p99 = (engine.get("latency") or {}).get("p99_ms")
                figs[f"sessions_{n}_speed_{speed:g}"] = {
                    "concurrent_calls": n,
                    "simulator_speed": speed,
                    "engine": engine.pop("latency"),
                    "floor": floor.pop("latency"),
                    "engine_run": engine,
                    "floor_run": floor,
                    "goal_p99_ms": GOAL_P99_MS,
                    "meets_goal": p99 is not None and p99 <= GOAL_P99_MS,
                }
        if 2000 in levels and 1.0 in speeds and os.environ.get("IVR_SESSIONS_GC_DEFAULTS", "1") == "1":
            # the same engine run with CPython's collector settings: what the runtime tuning buys
            plain = await _phase(2000, seconds, 1.0, floor=False, runtime=CPYTHON_GC)
            lat = plain.pop("latency")
            figs["sessions_2000_speed_1_cpython_gc_defaults"] = {
                "runtime": CPYTHON_GC, "engine": lat, "engine_run": plain,
                "p99_ratio_defaults_to_tuned": round(lat["p99_ms"] / figs["sessions_2000_speed_1"]["engine"]["p99_ms"], 2)
                if lat and figs.get("sessions_2000_speed_1", {}).get("engine") else None,
            }
        return figs

    load_before = os.getloadavg()
    figs = asyncio.run(main())
    for speed in speeds:
        key = f"sessions_2000_speed_{speed:g}"
        if key in figs:
            figs[f"goal_met_at_2000_speed_{speed:g}"] = figs[key]["meets_goal"]
    figs["load_average"] = {"before": [round(x, 2) for x in load_before],
                            "after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    return figs


def main(argv: list[str] | None = None) -> int:
    from bench.run import run_one

    argv = sys.argv[1:] if argv is None else argv
    run_one("ivr_sessions", "--quick" in argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
