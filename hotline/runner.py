"""Running the server: against Asterisk (``hotline serve``) or the simulator (``hotline demo``).

The demo starts the PBX simulator on a free port, loads the sample centre
(deploy/centre.yaml) and demo accounts into the SQLite database, logs the
seats in, places simulated citizens' calls at Poisson arrivals and prints
what happens to them, next to the URLs of the pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from hotline.app import HotlineServer, StartupError, build_server
from hotline.logging import setup_logging
from hotline.settings import Settings

log = logging.getLogger("hotline.runner")
ROOT = Path(__file__).resolve().parent.parent

DEMO_USERS = (("admin", "admin", "admin-12345"), ("supervisor", "supervisor", "super-12345"), ("agent8001", "agent", "agent-12345"))


@dataclass
class DemoStats:
    placed: int = 0
    finished: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)


def run_server(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    with_simulator: bool = False,
    duration: float | None = None,
    speed: float = 1.0,
) -> None:
    setup_logging(settings.log_level, settings.log_json)
    try:
        asyncio.run(_main(settings, host or settings.http.host, port if port is not None else settings.http.port,
                          with_simulator, duration, speed))
    except StartupError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


async def _main(settings: Settings, host: str, port: int, with_simulator: bool, duration: float | None, speed: float) -> None:
    sim = None
    if with_simulator:
        sim = await _start_simulator(settings, speed)
        settings = settings.model_copy(update={"ami": settings.ami.model_copy(update={"host": "127.0.0.1", "port": sim.ami_port})})
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await seed_demo(settings)
    server = await build_server(settings)
    try:
        await server.start(ami_timeout=15.0)
        if with_simulator:
            _login_all(server)
        http = uvicorn.Server(uvicorn.Config(server.app, host=host, port=port, log_config=None, lifespan="on"))
        http_task = asyncio.create_task(http.serve(), name="http")
        while not http.started and not http_task.done():
            await asyncio.sleep(0.05)
        _print_urls(host, port, with_simulator, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        tasks = [http_task]
        if sim is not None:
            stats = DemoStats()
            tasks.append(asyncio.create_task(_traffic(server, sim, settings, stats), name="demo-traffic"))
            tasks.append(asyncio.create_task(_report(server, stats), name="demo-report"))
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, http_task], timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        http.should_exit = True
        for t in tasks[1:]:
            t.cancel()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await http_task
        if sim is not None:
            _final_report(stats)
    finally:
        await server.stop()
        if sim is not None:
            await sim.stop()


async def _start_simulator(settings: Settings, speed: float) -> Any:
    from pbxsim.config import AgentBehaviour, SimConfig
    from pbxsim.sim import PbxSimulator

    cfg = SimConfig(
        host="127.0.0.1",
        port=settings.simulator.port,
        username=settings.ami.username,
        secret=settings.ami.secret,
        sounds_dir=settings.ivr.prompts_dir,
        recordings_dir=(settings.data_dir / "recordings").resolve(),
        speed=speed,
        agent_default=AgentBehaviour(mode="answer", answer_after=2.0),
    )
    sim = PbxSimulator(cfg)
    await sim.start()
    log.info("PBX simulator listening for AMI on 127.0.0.1:%d", sim.ami_port)
    return sim


async def seed_demo(settings: Settings) -> None:
    """The sample centre and the demo accounts (idempotent; development databases only)."""
    from sqlalchemy import select

    from hotline.centre import load_centre, parse_centre
    from hotline.security import hash_password_async
    from hotline.storage.db import Database
    from hotline.storage.migrate import ensure_schema
    from hotline.storage.models import User

    db = Database(settings.database)
    try:
        await ensure_schema(db)
        await load_centre(db, parse_centre(ROOT / "deploy" / "centre.yaml"))
        async with db.transaction() as s:
            for username, role, password in DEMO_USERS:
                if await s.scalar(select(User.id).where(User.username == username)) is None:
                    s.add(User(username=username, display_name=username, role=role,
                               password_hash=await hash_password_async(password)))
    finally:
        await db.dispose()


def _login_all(server: HotlineServer) -> None:
    svc = server.router.service
    for agent_id in list(svc.engine.seats.by_id):
        with contextlib.suppress(Exception):
            svc.login(agent_id)


async def _traffic(server: HotlineServer, sim: Any, settings: Settings, stats: DemoStats) -> None:
    from loadtest.traffic import TrafficProfile, generate

    profile = TrafficProfile(mean_patience=90.0, mean_talk=45.0, speech_dir=settings.simulator.speech_dir, seed=settings.simulator.seed)
    rate = settings.simulator.callers_per_minute / 60.0
    pending: set[asyncio.Task[Any]] = set()

    async def place(script: Any, intent: str) -> None:
        call = await sim.place_call(script)
        stats.placed += 1
        stats.intents[intent] += 1

        async def finish() -> None:
            outcome = await call.outcome
            stats.finished += 1
            stats.outcomes[_classify(outcome)] += 1

        t = asyncio.create_task(finish())
        pending.add(t)
        t.add_done_callback(pending.discard)

    try:
        await generate(profile, place, rate_per_second=rate)
    finally:
        for t in pending:
            t.cancel()


def _classify(outcome: Any) -> str:
    if any(b.startswith("PJSIP/80") for b in outcome.bridged_with):
        return "talked to an agent"
    if outcome.bridged_with:
        return "transferred"
    if outcome.hung_up_by == "caller":
        return "caller hung up in IVR or queue"
    return "ended by the IVR"


async def _report(server: HotlineServer, stats: DemoStats) -> None:
    t0 = time.monotonic()
    while True:
        await asyncio.sleep(10)
        snap = server.router.service.wallboard.snapshot() if hasattr(server.router.service.wallboard, "snapshot") else {}
        waiting = sum(q.get("waiting", 0) for q in snap.get("queues", [])) if isinstance(snap, dict) else 0
        print(
            f"[{time.monotonic() - t0:6.0f}s] calls placed {stats.placed}, live {server.model.live_calls}, "
            f"waiting {waiting}, finished {stats.finished}: "
            + ", ".join(f"{k} {v}" for k, v in stats.outcomes.most_common()),
            flush=True,
        )


def _final_report(stats: DemoStats) -> None:
    print(f"demo finished: {stats.placed} calls placed, {stats.finished} finished", flush=True)
    for k, v in stats.outcomes.most_common():
        print(f"  {k}: {v}", flush=True)


def _print_urls(host: str, port: int, demo: bool, settings: Settings) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    lines = [
        f"hotline server ready on {base}",
        f"  agent desktop   {base}/desktop",
        f"  wallboard       {base}/wallboard",
        f"  flow editor     {base}/flows",
        f"  REST API docs   {base}/docs",
        f"  metrics         {base}/metrics",
    ]
    if demo:
        lines.append("  demo accounts   " + ", ".join(f"{u}/{p} ({r})" for u, r, p in DEMO_USERS))
    print("\n".join(lines), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
