"""Resync against the simulator: Asterisk restarted mid-call, the AMI link cut at random points.

Every call ends with exactly one CDR, none is leaked in the model, none duplicated.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from cti import events as E
from cti.control import ControlError
from cti.model import LOST_CAUSE_TXT
from pbxsim.callers import CallerScript
from tests.cti.test_control_sim import Stack, close_stack, make_stack


async def test_restart_mid_call_closes_every_call_once() -> None:
    s = await make_stack()
    try:
        c1, id1 = await s.inbound(dnis="12345", caller_num="13800000011", hangup_after=600)
        c2, id2 = await s.inbound(dnis="12319", caller_num="13800000012", hangup_after=600)
        await s.agent_for(id1)
        assert s.model.live_calls == 2
        runs = s.resync.runs
        await s.sim.restart()
        await s.until(lambda: s.resync.runs > runs)
        assert s.model.live_calls == 0
        await s.model.flush()
        recs = {r.call_id: r for r in s.sink.records}
        assert set(recs) == {id1, id2}
        assert all(r.lost and r.hangup_cause_txt == LOST_CAUSE_TXT for r in recs.values())
        assert len(recs[id1].legs) == 2
        (resynced,) = [e for e in s.seen.of(E.ModelResynced) if e.closed]
        assert resynced.closed == 2
        assert s.seen.of(E.AmiLinkDown)
        assert s.resync.restarts == 1
        # after the restart names and Uniqueid counters start again: a new call is tracked as new
        # (the simulator restarts within the same second, so even its Uniqueid can repeat)
        c3, id3 = await s.inbound(dnis="12345", caller_num="13800000013")
        s.sim.hangup(c3)
        await s.quiet()
        assert len(s.sink.records) == 3 and s.sink.records[-1].call_id == id3
        assert not s.sink.records[-1].lost
    finally:
        await close_stack(s)


async def _cut(s: Stack, rng: random.Random, live: list) -> None:
    """Drop the AMI link: close every manager session and refuse connections for a while;
    calls arrive meanwhile (some end before the link is back, some are adopted by the resync)."""
    runs = s.resync.runs
    server = s.sim.server
    await server.close_all(shutdown_event=False)
    await server.stop()
    for _ in range(rng.choice([0, 0, 1, 2])):
        live.append(await s.sim.place_call(
            CallerScript(dnis="12345", caller_num=f"1390000{rng.randint(0, 9999):04d}", hangup_after=rng.uniform(0.2, 6.0))
        ))
        await asyncio.sleep(rng.uniform(0.0, 0.04))
    await asyncio.sleep(rng.uniform(0.0, 0.08))
    await server.start()
    await s.until(lambda: s.resync.runs > runs and s.client.connected)


async def _random_run(seed: int) -> None:
    rng = random.Random(seed)
    s = await make_stack(speed=40.0)
    must_account: set[str] = set()  # calls placed while the link was up
    try:
        live: list = []
        for _ in range(rng.randint(6, 14)):
            step = rng.random()
            if step < 0.4:
                up = s.client.connected
                call = await s.sim.place_call(
                    CallerScript(dnis=rng.choice(["12345", "12319"]), caller_num=f"1380000{rng.randint(0, 9999):04d}",
                                 hangup_after=rng.uniform(0.5, 6.0))
                )
                live.append(call)
                if up:
                    must_account.add(call.channel.uniqueid)
            elif step < 0.6 and live:
                call = rng.choice(live)
                ch = s.model.channel(call.channel.uniqueid) if call.channel else None
                if ch is not None and not call.channel.hungup:
                    try:
                        res = await s.control.originate("PJSIP/80%02d" % rng.randint(1, 40), context="hotline-agent",
                                                        exten="connect", call_id=ch.call_id, ring_timeout=5)
                        if res.success and not call.channel.hungup:
                            await s.control.bridge(res.channel, call.channel.name)
                    except ControlError:
                        pass  # the link or the channel went away meanwhile
            elif step < 0.8:
                await _cut(s, rng, live)
            else:
                await asyncio.sleep(rng.uniform(0.0, 0.05))
        # let every call end (callers hang up; agent legs follow when their bridge dissolves)
        await s.until(lambda: all(c.channel is None or c.channel.hungup for c in live), timeout=30)
        for ch in list(s.sim.pbx.registry.channels.values()):
            s.sim.hangup(ch)
        await s.quiet()
        ids = [r.call_id for r in s.sink.records]
        assert len(ids) == len(set(ids)), f"seed {seed}: duplicated CDR"
        started = {e.call_id for e in s.seen.of(E.CallStarted)} - {e.call_id for e in s.seen.of(E.CallMerged)}
        assert set(ids) == started, f"seed {seed}: unaccounted {started ^ set(ids)}"
        assert s.model.live_calls == 0 and not s.model.channels, f"seed {seed}: leaked"
        assert must_account <= set(ids), f"seed {seed}: calls seen live but without CDR {must_account - set(ids)}"
    finally:
        await close_stack(s)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100))
async def test_random_link_cuts_every_call_accounted(seed: int) -> None:
    await _random_run(seed)
