"""The router on the PBX simulator: AMI client, call model, call control, CallControlConnector, RouterService."""

from __future__ import annotations

import asyncio
import time

import pytest

from ivr.ports import CallInfo, QueueOutcomeKind, QueueRequest
from pbxsim.config import AgentBehaviour
from router.callbacks import CallbackDesk, MemoryCallbackRepository
from router.connector import CallControlConnector
from router.engine import Engine
from router.models import AgentState, RoutingConfig
from router.service import AgentRecord, RouterOptions, RouterService
from router.wallboard import Wallboard
from router.wiring import router_bus_events

from tests.cti.test_control_sim import Stack, close_stack, make_stack
from tests.router.helpers import GROUPS, SITES, agent, standard_queue

S = AgentState


@pytest.fixture
async def stack():
    s = await make_stack()
    try:
        yield s
    finally:
        await close_stack(s)


def router_on(stack: Stack, agents=("a1", "a2"), repo=None) -> RouterService:
    holder = {}
    cfg = RoutingConfig(SITES, GROUPS, tuple(agent(a) for a in agents), (standard_queue(wrapup=5),))
    eng = Engine(cfg, time.time, listener=lambda ev: holder["svc"].on_event(ev))
    svc = RouterService(eng, CallControlConnector(stack.control, stack.client),
                        CallbackDesk(eng, repo or MemoryCallbackRepository(), time.time), Wallboard(eng, time.time),
                        time.time, options=RouterOptions(ring_timeout=3.0))
    holder["svc"] = svc
    stack.bus.subscribe(svc.on_bus_event, *router_bus_events(), name=f"router-{id(svc)}")
    return svc


async def inbound(stack: Stack, num: str):
    call, cid = await stack.inbound(dnis="12345", caller_num=num)
    return call, QueueRequest(CallInfo(cid, call.channel.name, num, "12345"), "general", 5, None, False)


async def test_caller_connected_to_agent_then_wrap_up(stack):
    svc = router_on(stack)
    svc.login("a1")
    call, req = await inbound(stack, "13800000001")
    h = await svc.enqueue(req)
    out = await asyncio.wait_for(h.outcome, 20)
    assert out.kind is QueueOutcomeKind.CONNECTED and out.agent == "8001"
    await stack.until(lambda: [p.name.split("-")[0] for p in stack.model.peers(call.channel.name)] == ["PJSIP/8001"])
    stack.sim.hangup(call)
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.WRAP_UP)
    await stack.quiet()
    assert svc.engine.check_invariants() == []


async def test_ring_no_answer_then_next_agent(stack):
    stack.sim.agents["8001"] = AgentBehaviour(mode="ring")
    svc = router_on(stack)
    svc.login("a1")
    await asyncio.sleep(0.01)
    svc.login("a2")
    call, req = await inbound(stack, "13800000002")
    h = await svc.enqueue(req)
    out = await asyncio.wait_for(h.outcome, 30)
    assert out.agent == "8002"
    a1 = svc.engine.seats.get("a1")
    assert a1.state is S.PAUSED and a1.reason == "ring-no-answer"
    stack.sim.hangup(call)
    await stack.quiet()


async def test_busy_seat_is_paused_with_reason(stack):
    stack.sim.agents["8001"] = AgentBehaviour(mode="busy")
    svc = router_on(stack)
    svc.login("a1")
    await asyncio.sleep(0.01)
    svc.login("a2")
    call, req = await inbound(stack, "13800000003")
    h = await svc.enqueue(req)
    assert (await asyncio.wait_for(h.outcome, 30)).agent == "8002"
    assert svc.engine.seats.get("a1").reason in ("seat busy", "seat unreachable")
    stack.sim.hangup(call)
    await stack.quiet()


async def test_caller_hangs_up_while_agent_rings(stack):
    stack.sim.agents["8001"] = AgentBehaviour(mode="answer", answer_after=2.0)
    svc = router_on(stack)
    svc.login("a1")
    call, req = await inbound(stack, "13800000004")
    h = await svc.enqueue(req)
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.RINGING)
    stack.sim.hangup(call)
    out = await asyncio.wait_for(h.outcome, 20)
    assert out.kind is QueueOutcomeKind.HANGUP
    await svc.wait_idle()
    await stack.quiet()  # the agent leg that answered late was hung up: nothing left on the PBX
    assert svc.engine.seats.get("a1").state is S.AVAILABLE
    assert svc.engine.check_invariants() == []


async def test_restart_rebuilds_the_queue_from_the_pbx(stack):
    svc = router_on(stack)
    call1, req1 = await inbound(stack, "13800000005")
    call2, req2 = await inbound(stack, "13800000006")
    await svc.enqueue(req1)
    await svc.enqueue(req2)
    await svc.wait_idle()  # the channel marks are written
    await svc.stop()
    # --- the server restarts: a new router, nothing in memory
    svc2 = router_on(stack)
    legs = await svc2.connector.live_legs()
    rep = await svc2.recover(legs, [AgentRecord("a1", S.AVAILABLE)])
    assert rep.waiting == 2
    await svc2.wait_idle()
    # a1 took the caller who had waited longest; the other one still waits at its place
    await stack.until(lambda: [p.name.split("-")[0] for p in stack.model.peers(call1.channel.name)] == ["PJSIP/8001"])
    assert svc2.engine.position(req2.call.call_id) == 1
    stack.sim.hangup(call1)
    stack.sim.hangup(call2)
    await stack.quiet()
    assert svc2.engine.check_invariants() == []


async def test_callback_rings_the_citizen_back_and_connects(stack):
    svc = router_on(stack, agents=("a1",))
    svc.login("a1")
    busy_call, busy_req = await inbound(stack, "13800000007")
    await asyncio.wait_for((await svc.enqueue(busy_req)).outcome, 20)  # a1 now talks to the first caller
    call, req = await inbound(stack, "13800000008")
    h = await svc.enqueue(req)
    await h.accept_callback("13900000008")
    assert (await h.outcome).kind is QueueOutcomeKind.CALLBACK
    stack.sim.hangup(call)  # the caller hangs up after accepting
    stack.sim.hangup(busy_call)  # a1's first call ends; wrap-up 5 s
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.WRAP_UP)
    svc.engine.ready("a1")  # the agent ends wrap-up early
    svc.tick()  # an agent is free and nobody waits on the line: ring the citizen back
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.ON_CALL, timeout=20)
    (cb,) = svc.callbacks.repo.rows.values()
    assert cb.status.value == "done" and cb.outcomes == ["answered"]
    agent_leg = svc._call_agent_leg[req.call.call_id]
    (peer,) = stack.model.peers(agent_leg)
    assert peer.caller_num == "13900000008"  # the citizen, through the trunk
    await stack.control.hangup(agent_leg)  # the agent ends the call-back
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.WRAP_UP)
    await stack.quiet()
    assert svc.engine.check_invariants() == []
