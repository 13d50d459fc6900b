"""Faults during live traffic: the PBX restarts, the AMI link drops, the database goes away.

What must hold afterwards: every call is accounted for in the calls table (ended, one
row per call), nothing is left open in the call model, no caller is ever bridged
with two seats at once, and no agent is left ringing or on a call that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import func, select

from hotline.storage.models import Call
from pbxsim.callers import SimCall
from tests.e2e.conftest import E2E, eventually

pytestmark = pytest.mark.timeout(120)

SEAT = re.compile(r"^PJSIP/80\d\d-")


class BridgeWatch:
    """Inside the simulator: who shares a bridge with whom, checked at every BridgeEnter."""

    def __init__(self, env: E2E) -> None:
        self.members: dict[str, set[str]] = defaultdict(set)
        self.violations: list[str] = []
        self.seat_bridges = 0
        self.unsubscribe = env.sim.subscribe(self._on)

    def _on(self, name: str, headers: Any) -> None:
        if name not in ("BridgeEnter", "BridgeLeave", "BridgeDestroy"):
            return
        h = dict(headers)
        bid = h.get("BridgeUniqueid", "")
        if name == "BridgeDestroy":
            self.members.pop(bid, None)
            return
        ch = h.get("Channel", "")
        if name == "BridgeLeave":
            self.members[bid].discard(ch)
            return
        self.members[bid].add(ch)
        seats = [c for c in self.members[bid] if SEAT.match(c)]
        callers = [c for c in self.members[bid] if c.startswith("PJSIP/trunk-")]
        if seats:
            self.seat_bridges += 1
        if len(seats) > 1 and callers:
            self.violations.append(f"{callers} bridged with seats {seats} at once")
        # a channel is in one bridge at a time: a caller in two bridges with seats would show up here
        for other, mem in self.members.items():
            if other != bid and ch in mem:
                self.violations.append(f"{ch} in bridges {bid} and {other}")


async def rows_for(env: E2E, ids: list[str]) -> dict[str, Call]:
    async with env.server.db.session() as s:
        rows = (await s.scalars(select(Call).where(Call.id.in_(ids)))).all()
    return {r.id: r for r in rows}


async def assert_all_accounted(env: E2E, calls: list[SimCall], timeout: float = 30.0) -> dict[str, Call]:
    outs = [await c.wait(timeout) for c in calls]
    await env.settle(timeout)
    ids = [o.uniqueid for o in outs]
    assert len(set(ids)) == len(ids)
    rows = await rows_for(env, ids)
    missing = [i for i in ids if i not in rows]
    assert not missing, f"calls missing from the calls table: {missing}"
    open_rows = [i for i in ids if rows[i].ended_at is None]
    assert not open_rows, f"calls never closed in the calls table: {open_rows}"
    async with env.server.db.session() as s:
        dup = (await s.execute(select(Call.caller_number, func.count()).where(Call.caller_number.in_(
            [c.script.caller_num for c in calls])).group_by(Call.caller_number).having(func.count() > 1))).all()
    assert not dup, f"callers with more than one calls row: {dup}"
    async with env.server.db.session() as s:
        others = (await s.scalars(select(Call.id).where(Call.id.not_in(ids)))).all()
    placed = {c.channel.uniqueid for c in env.calls}
    assert not [i for i in others if i not in placed], f"rows that are no citizen's call: {others}"
    assert env.server.model.live_calls == 0
    return rows


def assert_no_agent_stuck(env: E2E) -> None:
    eng = env.router.engine
    for seat in eng.seats.by_id.values():
        assert seat.state.value in ("available", "wrap_up"), (
            f"seat {seat.agent.seat} left {seat.state.value} ({seat.reason})")
    assert not [c for c in eng.calls.values()], f"router still holds calls: {list(eng.calls)}"


# ---------------------------------------------------------------------------------------------- restart


async def test_pbx_restart_with_callers_in_ivr_queue_and_talking(e2e: E2E) -> None:
    env = e2e
    watch = BridgeWatch(env)
    talking = [await env.call(keys=["1"], talk_time=1000.0) for _ in range(2)]
    await eventually(lambda: all(env.seat_state(s) == "on_call" for s in ("8001", "8002")), what="both seats busy")
    queued = [await env.call(keys=["0"], patience=1000.0) for _ in range(2)]
    await eventually(lambda: env.queue_figures("general")["waiting"] == 2, what="two callers queued")
    in_ivr = [await env.call(keys=[]) for _ in range(2)]
    await eventually(lambda: all(c.state == "ivr" for c in in_ivr), what="two callers in the IVR")

    await env.sim.restart()
    everyone = talking + queued + in_ivr
    outs = [await c.wait(10) for c in everyone]
    assert all(not o.hung_up_by == "caller" for o in outs)  # the PBX dropped them, nobody hung up
    await eventually(lambda: env.server.client.connected, what="AMI link back")
    rows = await assert_all_accounted(env, everyone)
    for c in talking:
        assert rows[c.channel.uniqueid].agent in ("8001", "8002")
    await eventually(lambda: all(env.seat_state(s) in ("available", "wrap_up") for s in ("8001", "8002")),
                     what="seats free again")
    assert_no_agent_stuck(env)
    assert env.queue_figures("general")["waiting"] == 0

    # the centre goes on: a new call after the restart is answered, with a calls row of its own
    after = await env.call(keys=["1"], talk_time=2.0)
    out = await after.wait(30)
    assert any(SEAT.match(b) for b in out.bridged_with)
    rows2 = await assert_all_accounted(env, [after])
    assert rows2[out.uniqueid].disposition == "answered"
    assert not watch.violations


# ---------------------------------------------------------------------------------------------- AMI cut


KEYS = (["1"], ["0"], ["3"], ["2", "1"])


def cut_link(env: E2E, rng: random.Random) -> str:
    """Drop the AMI TCP connection, from the PBX's side or from the server's side."""
    if rng.random() < 0.5:
        for s in list(env.sim.server.sessions):
            if s.transport is not None:
                s.transport.abort()
        return "pbx side"
    proto = env.server.client._protocol
    if proto is not None and getattr(proto, "transport", None) is not None:
        proto.transport.abort()
    return "server side"


async def test_ami_link_cut_while_talking_call_still_closed_and_seat_freed(e2e: E2E) -> None:
    env = e2e
    call = await env.call(keys=["1"], talk_time=30.0)
    await eventually(lambda: call.state == "bridged", what="caller talking to an agent")
    cut_link(env, random.Random(1))
    await eventually(lambda: env.server.client.connected, what="AMI link back")
    out = await call.wait(30)
    assert out.hung_up_by == "caller" and len([b for b in out.bridged_with if SEAT.match(b)]) == 1
    rows = await assert_all_accounted(env, [call])
    assert rows[out.uniqueid].disposition == "answered"
    await eventually(lambda: not env.router.engine.calls, what="router holds no call")
    assert_no_agent_stuck(env)


async def test_ami_link_cut_while_caller_in_the_ivr_caller_still_served(e2e: E2E) -> None:
    env = e2e
    call = await env.call(keys=[], patience=400.0, talk_time=2.0)  # no key: menus, then the general queue
    await eventually(lambda: call.state == "ivr", what="caller in the IVR")
    await asyncio.sleep(0.05)
    cut_link(env, random.Random(1))
    out = await call.wait(30)
    assert any(SEAT.match(b) for b in out.bridged_with), f"caller never served: {out.agi_commands}"


async def test_call_arriving_while_ami_link_down_is_served_after_reconnect(e2e: E2E) -> None:
    env = e2e
    for s in list(env.sim.server.sessions):
        s.transport.abort()
    call = await env.call(keys=["1"], patience=60.0, talk_time=2.0)
    out = await call.wait(30)
    assert any(SEAT.match(b) for b in out.bridged_with), f"caller never served: {out.agi_commands}"


async def _busy_run_with_cuts(env: E2E, seed: int) -> tuple[list[str], list[str]]:
    """14 callers while the link is cut 4 times at random points.

    Returns (broken invariants, lost or unrecorded calls): the first list is about who was
    given to whom (no caller with two seats at once, no seat left ringing or on a call that
    is gone, no call left in the router); the second about calls lost or not recorded.
    """
    rng = random.Random(seed)
    watch = BridgeWatch(env)
    calls: list[SimCall] = []
    broken: list[str] = []
    lost: list[str] = []

    async def traffic() -> None:
        for _ in range(14):
            dnis = rng.choice(["12345", "12345", "12345", "12319", "12315"])
            keys = rng.choice(KEYS) if dnis == "12345" else []
            calls.append(await env.call(dnis=dnis, keys=list(keys), talk_time=rng.uniform(2.0, 8.0),
                                        patience=rng.uniform(300.0, 400.0)))
            await asyncio.sleep(rng.uniform(0.02, 0.25))

    async def chaos() -> None:
        for _ in range(4):
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            cut_link(env, rng)

    await asyncio.gather(traffic(), chaos())
    await eventually(lambda: env.server.client.connected, what="AMI link back")
    outs = [await c.wait(40) for c in calls]  # every caller's call ends (served, or patience ran out)
    unserved = [o.uniqueid for o in outs if not any(SEAT.match(b) for b in o.bridged_with)]
    if unserved:
        lost.append(f"{len(unserved)} of {len(outs)} callers never reached an agent: {unserved}")
    try:
        await eventually(lambda: env.server.model.live_calls == 0, 10, "model empty")
    except AssertionError:
        lost.append(f"{env.server.model.live_calls} calls left open in the call model")
    await env.server.journal.flush()
    rows = await rows_for(env, [o.uniqueid for o in outs])
    missing = [o.uniqueid for o in outs if o.uniqueid not in rows]
    unclosed = [i for i, r in rows.items() if r.ended_at is None]
    if missing:
        lost.append(f"calls missing from the calls table: {missing}")
    async with env.server.db.session() as s:
        n_rows = await s.scalar(select(func.count()).select_from(Call))
    if n_rows != len(outs):
        lost.append(f"{n_rows} rows in the calls table for {len(outs)} calls")
    if unclosed:
        lost.append(f"calls never closed in the calls table: {unclosed}")
    if env.server.journal.rejected:
        lost.append(f"{len(env.server.journal.rejected)} journal operations rejected by the database")
    left = [s for s in env.sim.pbx.registry.channels if SEAT.match(s)]
    if left:
        lost.append(f"seat legs left up on the PBX with no call: {left}")
    try:
        await eventually(lambda: not env.router.engine.calls, 10, "router holds no call")
    except AssertionError:
        broken.append(f"router still holds calls: {list(env.router.engine.calls)}")
    for seat in env.router.engine.seats.by_id.values():
        if seat.state.value in ("ringing", "on_call"):
            broken.append(f"seat {seat.agent.seat} stuck {seat.state.value} ({seat.reason})")
    broken += watch.violations
    if not watch.seat_bridges:
        broken.append("no caller was ever bridged with a seat")
    return broken, lost


@pytest.mark.parametrize("seed", [11, 22, 33])
async def test_ami_link_cut_at_random_points_of_a_busy_run(e2e: E2E, seed: int) -> None:
    broken, lost = await _busy_run_with_cuts(e2e, seed)
    assert not broken, "\n".join(broken)
    assert not lost, "\n".join(lost)


# ---------------------------------------------------------------------------------------------- database away


class FlakyDatabase:
    """The server's database behind a switch: while ``down`` every journal transaction fails."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.down = True
        self.refused = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> Any:
        if self.down:
            self.refused += 1
            raise ConnectionRefusedError("database unreachable")
        async with self._db.transaction() as s:
            yield s

    def session(self) -> Any:
        return self._db.session()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_database_away_then_back_every_finished_call_is_stored(e2e: E2E) -> None:
    env = e2e
    journal = env.server.journal
    journal.retry_initial, journal.retry_max = 0.05, 0.2
    flaky = FlakyDatabase(journal.db)
    journal.db = flaky
    calls = [await env.call(keys=[rng_keys], talk_time=2.0) for rng_keys in ("1", "0", "1", "0", "3", "1")]
    outs = [await c.wait(30) for c in calls]
    await eventually(lambda: env.server.model.live_calls == 0, what="calls over")
    assert journal.pending > 0 and flaky.refused > 0  # nothing could be written meanwhile
    flaky.down = False
    rows = await assert_all_accounted(env, calls)
    for o in outs:
        row = rows[o.uniqueid]
        assert row.flow_name == "main" and row.disposition == "answered" and row.agent in ("8001", "8002")
        assert await env.ivr_path(o.uniqueid)
    assert journal.failures > 0 and not journal.rejected
