"""The whole server against the PBX simulator over loopback TCP.

Each test gets a fresh SQLite database with a small centre (tests/e2e/centre.yaml,
short wrap-up), the default flows, a simulator running fast (prompts, rings and
talk at ``SPEED`` times real time) and a server built by the composition root
(real AMI client, call model, AsyncAGI, IVR engine, router, call control,
journal). The IVR's clock stands on a Tuesday morning in Asia/Shanghai so every
call lands in the staffed hours, whatever the time of the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hotline.app import HotlineServer, build_server
from hotline.centre import load_centre, parse_centre
from hotline.settings import Settings
from hotline.storage.db import Database
from hotline.storage.migrate import ensure_schema
from hotline.storage.models import Call, CallLeg, Callback, IvrEvent
from pbxsim.callers import CallerScript, CallOutcome, SimCall
from pbxsim.config import AgentBehaviour, SimConfig, TrunkBehaviour
from pbxsim.sim import PbxSimulator
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
CENTRE = Path(__file__).resolve().parent / "centre.yaml"
SPEED = 20.0
# a working Tuesday, 10:00 in the centre's time zone: agents and the enterprise desk are staffed
BUSINESS_MORNING = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class RunningClock:
    """The IVR's clock: starts at ``at`` and runs with real time (monotonic waits stay real)."""

    def __init__(self, at: dt.datetime) -> None:
        self._at = at.astimezone(dt.timezone.utc)
        self._m0 = time.monotonic()

    def now(self) -> dt.datetime:
        return self._at + dt.timedelta(seconds=time.monotonic() - self._m0)

    def monotonic(self) -> float:
        return time.monotonic()


async def eventually(pred: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``pred`` (sync or async) until truthy; fail after ``timeout`` (only a guard against hangs)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class E2E:
    sim: PbxSimulator
    server: HotlineServer
    settings: Settings
    tmp: Path
    calls: list[SimCall] = field(default_factory=list)
    _n: int = 0

    # ------------------------------------------------------------------ callers
    async def call(self, dnis: str = "12345", keys: list[str] | None = None, **kw: Any) -> SimCall:
        self._n += 1
        kw.setdefault("caller_num", f"1380000{self._n:04d}")
        kw.setdefault("think_time", 0.3)
        call = await self.sim.place_call(CallerScript(dnis=dnis, keys=list(keys or []), **kw))
        self.calls.append(call)
        return call

    async def outcome(self, call: SimCall, timeout: float = 30.0) -> CallOutcome:
        return await call.wait(timeout)

    # ------------------------------------------------------------------ the server's side
    @property
    def router(self) -> Any:
        return self.server.router.service

    def seat_state(self, seat: str) -> str:
        for s in self.router.engine.seats.by_id.values():
            if s.agent.seat == seat:
                return s.state.value
        raise KeyError(seat)

    def seat(self, seat: str) -> Any:
        for s in self.router.engine.seats.by_id.values():
            if s.agent.seat == seat:
                return s
        raise KeyError(seat)

    def queue_figures(self, queue: str) -> dict[str, Any]:
        for q in self.router.wallboard.snapshot()["queues"]:
            if q["id"] == queue:
                return q
        raise KeyError(queue)

    async def settle(self, timeout: float = 20.0) -> None:
        """Until the model has no live call and the journal has written everything."""
        await eventually(lambda: self.server.model.live_calls == 0, timeout, "no live calls in the model")
        await asyncio.wait_for(self.server.journal.flush(), timeout)

    async def call_row(self, call_id: str, timeout: float = 5.0, ended: bool = True) -> Call:
        """The call's row once the IVR summary (and with ``ended`` the CDR) is written."""

        async def written() -> Call | None:
            async with self.server.db.session() as s:
                row = await s.get(Call, call_id)
                ok = row is not None and row.flow_name and (row.ended_at is not None or not ended)
                return row if ok else None

        return await eventually(written, timeout, f"calls row of {call_id}" + (" ended" if ended else ""))

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.server.db.session() as s:
            return list((await s.scalars(select(model).where(*where))).all())

    async def ivr_path(self, call_id: str) -> list[str]:
        rows = await self.rows(IvrEvent, IvrEvent.call_id == call_id)
        return [r.node_id for r in sorted(rows, key=lambda r: r.seq) if r.event == "enter"]

    async def ivr_events(self, call_id: str) -> list[IvrEvent]:
        return sorted(await self.rows(IvrEvent, IvrEvent.call_id == call_id), key=lambda r: r.seq)

    async def legs(self, call_id: str) -> list[CallLeg]:
        return await self.rows(CallLeg, CallLeg.call_id == call_id)

    async def callbacks(self) -> list[Callback]:
        return await self.rows(Callback)


def e2e_settings(tmp: Path, ami_port: int, flows_dir: Path | None = None, **router: Any) -> Settings:
    return Settings(
        secret_key=TEST_SECRET,
        data_dir=tmp,
        database={"url": f"sqlite+aiosqlite:///{tmp}/hotline.db"},
        ami={"host": "127.0.0.1", "port": ami_port, "username": "ivr", "secret": "ivrsecret",
             "reconnect_initial": 0.05, "reconnect_max": 0.5, "ping_interval": 2.0, "pong_timeout": 2.0},
        ivr={"flows_dir": flows_dir or ROOT / "flows", "prompts_dir": ROOT / "flows" / "prompts", "agi_timeout": 20.0},
        router={"ring_timeout": 3.0, **router},
    )


async def seed(settings: Settings, centre: Path = CENTRE) -> None:
    db = Database(settings.database)
    try:
        await ensure_schema(db)
        await load_centre(db, parse_centre(centre))
    finally:
        await db.dispose()


async def start_e2e(
    tmp: Path,
    *,
    speed: float = SPEED,
    agents: dict[str, AgentBehaviour] | None = None,
    agent_default: AgentBehaviour | None = None,
    trunk: dict[str, TrunkBehaviour] | None = None,
    centre: Path = CENTRE,
    login: tuple[str, ...] | None = None,
    sim_port: int = 0,
    router: dict[str, Any] | None = None,
    flows_dir: Path | None = None,
    dialplan: Path | None = None,
) -> E2E:
    cfg = SimConfig(
        port=sim_port, speed=speed, sounds_dir=ROOT / "flows" / "prompts", recordings_dir=tmp / "recordings",
        agent_default=agent_default or AgentBehaviour(mode="answer", answer_after=1.0),
        agents=dict(agents or {}), trunk_numbers=dict(trunk or {}),
    )
    if dialplan is not None:
        cfg.dialplan_path = dialplan
    sim = PbxSimulator(cfg)
    await sim.start()
    settings = e2e_settings(tmp, sim.ami_port, flows_dir, **(router or {}))
    await seed(settings, centre)
    server = await build_server(settings, ivr_clock=RunningClock(BUSINESS_MORNING))
    await server.start(ami_timeout=10.0)
    svc = server.router.service
    for aid, seat in list((a, s.agent.seat) for a, s in svc.engine.seats.by_id.items()):
        if login is None or seat in login:
            svc.login(aid)
    return E2E(sim=sim, server=server, settings=settings, tmp=tmp)


async def stop_e2e(env: E2E) -> None:
    try:
        await env.server.stop()
    finally:
        await env.sim.stop()


@pytest.fixture
async def e2e_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    envs: list[E2E] = []

    async def make(**kw: Any) -> E2E:
        env = await start_e2e(tmp_path / f"run{len(envs)}", **kw)
        envs.append(env)
        return env

    yield make
    for env in envs:
        await stop_e2e(env)


@pytest.fixture
async def e2e(e2e_factory: Callable[..., Any]) -> E2E:
    return await e2e_factory()
