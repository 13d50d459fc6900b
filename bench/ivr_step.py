"""IVR engine step latency: from an AGI result arriving to the next AGI command leaving.

``python -m bench.ivr_step [--quick]`` prints the figures and writes
bench/results/ivr_step.json. Three parts, each measured side by side with its
raw floor in the same run (a bare AGI echo handler that does nothing but send
the next command when a result arrives):

1. ``single``: one call at a time on an in-process AsyncAGI stand-in whose
   results arrive as loop callbacks (as AMI events do): the engine's own cost
   per step, menus, conditions, sets, queue waits and all.
2. ``stand_in_<N>``: N concurrent calls (500 and 2,000) on the stand-in, each
   command answered after a random PBX delay; the latency includes waiting
   for the event loop behind every other call.
3. ``pbxsim_<N>``: N concurrent calls on the PBX simulator, through the whole
   stack (AMI TCP, AmiClient, AgiManager, engine); the simulator runs in its
   own process, as Asterisk would. The result time is taken when the
   AsyncAGIExec event is dispatched, so AMI parsing and dispatch of every
   other call's events is in the figure.

Goal: p99 at most 5 ms at 2,000 concurrent calls.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

from cti.agi import AgiHangup, AgiResult, parse_result
from ivr.bundle import FlowBundle, FlowRegistry, load_dir_bundle
from ivr.engine import EngineConfig, IvrEngine
from ivr.ports import NullRecorder
from ivr.simulate import ScriptedActions, ScriptedQueue

from bench.latency import OpenHoursClock, summarise

ROOT = Path(__file__).resolve().parent.parent
GOAL_P99_MS = 5.0


# --------------------------------------------------------------------------- the stand-in PBX


class StandInAgi:
    """Answers AGI commands as loop callbacks after ``delay()`` seconds; measures step latency."""

    def __init__(self, n: int, keys: list[str], samples: list[int], delay: Callable[[], float],
                 measuring: Callable[[], bool]) -> None:
        self.channel = f"PJSIP/trunk-{n:08x}"
        self.uniqueid = self.linkedid = f"1795266440.{n}"
        self.env = {"agi_callerid": f"138{n:08d}", "agi_extension": "12345", "agi_dnid": "12345",
                    "agi_context": "hotline-inbound"}
        self.keys = list(keys)
        self.samples = samples
        self.delay = delay
        self.measuring = measuring
        self.t_in = 0
        self.ended = False
        self.loop = asyncio.get_running_loop()

    async def command(self, cmd: str, timeout: float | None = None) -> AgiResult:
        t_out = time.perf_counter_ns()
        if self.t_in and self.measuring():
            self.samples.append(t_out - self.t_in)
        if self.ended:
            raise AgiHangup("hung up")
        fut: asyncio.Future[str] = self.loop.create_future()
        # playing and listening take the PBX time; setting variables and the like do not
        d = self.delay() if cmd.startswith(("STREAM FILE", "GET DATA", "WAIT FOR", "RECORD FILE", "SAY")) else 0.0
        if d > 0:
            self.loop.call_later(d, self._answer, fut, cmd)
        else:
            self.loop.call_soon(self._answer, fut, cmd)
        raw = await fut
        return parse_result(raw)

    def _answer(self, fut: "asyncio.Future[str]", cmd: str) -> None:
        if cmd.startswith("GET DATA"):
            k = self.keys.pop(0) if self.keys else ""
            raw = f"200 result={k}" if k else "200 result= (timeout)"
        elif cmd == "HANGUP":
            self.ended = True
            raw = "200 result=1"
        elif cmd.startswith("SET VARIABLE"):
            raw = "200 result=1"
        else:
            raw = "200 result=0 endpos=16000"
        if fut.done():  # the session was cancelled at the end of the run
            return
        self.t_in = time.perf_counter_ns()
        fut.set_result(raw)


async def echo_floor(agi: StandInAgi, steps: int) -> None:
    """The raw floor: answer each result with the next command, nothing else."""
    for _ in range(steps):
        await agi.command('STREAM FILE hold_music ""')


# keys for one call: a wrong key, then policy consultation, queue connected at once
CALL_KEYS = ["7", "1"]
# keys for a call that waits in the general queue (announcements, hold music) until the bench ends
WAIT_KEYS = ["0"]


def _engine(bundle: FlowBundle, queue: ScriptedQueue, timeout: float = 30.0) -> IvrEngine:
    return IvrEngine(FlowRegistry(bundle), queue, ScriptedActions(), NullRecorder(), clock=OpenHoursClock(),
                     config=EngineConfig(agi_timeout=timeout, hangup_grace=0.01))


async def single(bundle: FlowBundle, calls: int) -> dict[str, Any]:
    engine_samples: list[int] = []
    floor_samples: list[int] = []
    engine = _engine(bundle, ScriptedQueue())
    for i in range(calls):
        agi = StandInAgi(i, CALL_KEYS, engine_samples, lambda: 0.0, lambda: True)
        await engine.handle(agi)
    steps = max(1, len(engine_samples) // calls)
    for i in range(calls):
        await echo_floor(StandInAgi(i, [], floor_samples, lambda: 0.0, lambda: True), steps + 1)
    return {"calls": calls, "engine": summarise(engine_samples), "floor": summarise(floor_samples)}


async def concurrent_stand_in(bundle: FlowBundle, n: int, seconds: float, mean_delay: float) -> dict[str, Any]:
    """N calls waiting in the general queue (announcements + hold music) on the stand-in PBX."""
    rnd = random.Random(12345)
    measuring = False
    engine_samples: list[int] = []
    floor_samples: list[int] = []

    def delay() -> float:
        return rnd.uniform(0.2 * mean_delay, 1.8 * mean_delay)

    queue = ScriptedQueue(["wait"] * n)
    engine = _engine(bundle, queue)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Future[Any]] = []
    floor_tasks: list[asyncio.Future[Any]] = []
    ramp = 2 * mean_delay  # calls arrive at random moments, as real calls do

    def start(i: int) -> None:
        tasks.append(asyncio.ensure_future(engine.handle(StandInAgi(i, WAIT_KEYS, engine_samples, delay,
                                                                    lambda: measuring))))
        floor_tasks.append(asyncio.ensure_future(echo_floor(
            StandInAgi(n + i, [], floor_samples, delay, lambda: measuring), 10**9)))

    for i in range(n):
        loop.call_later(rnd.uniform(0, ramp), start, i)
    await asyncio.sleep(ramp + 6 * mean_delay)  # everyone past the welcome and the menu, waiting
    gc.collect()
    gc.freeze()  # as the server does once started: long-lived objects out of the collector's scans
    measuring = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring = False
    elapsed = time.perf_counter() - t0
    for t in tasks + floor_tasks:
        t.cancel()
    await asyncio.gather(*tasks, *floor_tasks, return_exceptions=True)
    gc.unfreeze()
    waiting = sum(1 for h in queue.handles if not h.outcome.done())
    return {
        "concurrent_calls": n, "floor_sessions": n, "seconds": round(elapsed, 2),
        "engine_commands_per_s": round(len(engine_samples) / elapsed), "mean_pbx_delay_s": mean_delay,
        "calls_in_queue": len(queue.handles), "engine": summarise(engine_samples), "floor": summarise(floor_samples),
        "goal_p99_ms": GOAL_P99_MS, "meets_goal": summarise(engine_samples)["p99_ms"] <= GOAL_P99_MS,
        "still_waiting": waiting,
    }


async def on_pbxsim(bundle: FlowBundle, n: int, seconds: float, speed: float) -> dict[str, Any]:
    """N concurrent calls through AMI on the PBX simulator; engine and floor in separate runs."""
    engine_fig = await _pbxsim_run(bundle, n, seconds, speed, floor=False)
    floor_fig = await _pbxsim_run(bundle, n, seconds, speed, floor=True)
    return {"concurrent_calls": n, "speed": speed, **{f"engine_{k}": v for k, v in engine_fig.items()},
            "floor": floor_fig.get("latency"), "engine": engine_fig.get("latency"),
            "goal_p99_ms": GOAL_P99_MS,
            "meets_goal": (engine_fig.get("latency") or {}).get("p99_ms", 1e9) <= GOAL_P99_MS}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pbxsim_run(bundle: FlowBundle, n: int, seconds: float, speed: float, floor: bool) -> dict[str, Any]:
    """The simulator runs in its own process (as Asterisk does), placing ``n`` calls over a ramp."""
    import subprocess
    import sys

    from cti.agi import AgiManager
    from cti.ami.client import AmiClient
    from hotline.settings import AmiSettings

    port = _free_port()
    ramp = max(4.0, n / 100)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbxsim", "--port", str(port), "--speed", str(speed), "--calls", str(n),
        "--interval", f"{ramp / n:.4f}", "--keys", ",,0", cwd=str(ROOT),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = AmiClient(AmiSettings(port=port, ping_interval=3600, action_timeout=60,
                                   reconnect_initial=0.1, reconnect_max=0.5))
    agi = AgiManager(client, default_timeout=60.0)
    t_in: dict[str, int] = {}
    samples: list[int] = []
    measuring = False
    sessions = 0

    def on_exec(msg: Any) -> None:
        t_in[msg.fields.get("Channel", "")] = time.perf_counter_ns()

    class Timed:
        def __init__(self, s: Any) -> None:
            self.s = s
            self.channel, self.uniqueid, self.linkedid, self.env = s.channel, s.uniqueid, s.linkedid, s.env

        @property
        def active(self) -> bool:
            return self.s.active

        async def command(self, cmd: str, timeout: float | None = None) -> AgiResult:
            t = t_in.pop(self.channel, None)
            if t is not None and measuring:
                samples.append(time.perf_counter_ns() - t)
            return await self.s.command(cmd, timeout)

    queue = ScriptedQueue(["wait"] * n)
    engine = _engine(bundle, queue, timeout=60.0)

    async def handle(session: Any) -> None:
        nonlocal sessions
        sessions += 1
        timed = Timed(session)
        if floor:
            try:
                while True:
                    await timed.command('STREAM FILE hold_music ""')
            except (AgiHangup, asyncio.CancelledError):
                return
        await engine.handle(timed)

    client.subscribe(on_exec, "AsyncAGIExec")
    agi.on_session(handle)
    try:
        await client.start(timeout=20)
        await asyncio.sleep(ramp / speed + 12.0 / speed)  # every call placed, past the welcome and the menu
        gc.collect()
        gc.freeze()
        measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - t0
        out = {"sessions": sessions, "in_queue": len(queue.handles), "ramp_s": ramp,
               "commands_per_s": round(len(samples) / elapsed), "latency": summarise(samples) if samples else None}
    finally:
        agi.close()
        await client.stop()
        proc.terminate()
        await proc.wait()
        gc.unfreeze()
    return out


def run(quick: bool = False) -> dict[str, Any]:
    bundle, errors = load_dir_bundle(ROOT / "flows")
    if bundle is None:
        raise SystemExit("flows do not validate: " + "; ".join(map(str, errors)))

    async def main() -> dict[str, Any]:
        figs: dict[str, Any] = {"goal": f"p99 <= {GOAL_P99_MS} ms at 2,000 concurrent calls"}
        figs["single"] = await single(bundle, 200 if quick else 2000)
        secs = 4.0 if quick else 12.0
        for n in (500, 2000):
            figs[f"stand_in_{n}"] = await concurrent_stand_in(bundle, n, secs, mean_delay=n / 1000)
        for n in ((500,) if quick else (500, 2000)):
            figs[f"pbxsim_{n}"] = await on_pbxsim(bundle, n, secs, speed=1.0)
        return figs

    load_before = os.getloadavg()
    figs = asyncio.run(main())
    figs["event_loop"] = "asyncio"  # the default loop, as the server runs
    figs["load_average"] = {"before": [round(x, 2) for x in load_before],
                            "after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    return figs


def main(argv: list[str] | None = None) -> int:
    from bench.run import run_one

    argv = sys.argv[1:] if argv is None else argv
    run_one("ivr_step", "--quick" in argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
