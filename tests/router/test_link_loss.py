"""The AMI link drops while an agent's phone rings (PBX simulator): the originate's result is lost,
the seat answers anyway; after the reconnect the router finds the seat's leg and bridges it with the
caller who still waits, or hangs it up when the caller is gone. No seat is left ringing, on a call
nobody explains, or with a leg up on the PBX for nobody."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from ivr.ports import QueueOutcomeKind
from pbxsim.config import AgentBehaviour
from router.models import AgentState

from tests.cti.test_control_sim import Stack, close_stack, make_stack
from tests.router.test_sim import inbound, router_on

S = AgentState
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def stack():
    s = await make_stack()
    try:
        yield s
    finally:
        await close_stack(s)


def cut_link(stack: Stack) -> None:
    """Drop the AMI connection from the PBX's side (as tests/e2e/test_faults.py does)."""
    for s in list(stack.sim.server.sessions):
        if s.transport is not None:
            s.transport.abort()


def cut_when(stack: Stack, pred: Callable[[str, dict[str, str]], bool], then: Callable[[], Any] | None = None) -> list[str]:
    """Cut the link inside the PBX at the first event matching ``pred``, before the event is sent:
    the server never sees it (nor the ones that follow until it has reconnected)."""
    cuts: list[str] = []

    def tap(name: str, headers: Any) -> None:
        h = dict(headers)
        if not cuts and pred(name, h):
            cuts.append(f"{name} {h.get('Channel')}")
            cut_link(stack)
            if then is not None:
                asyncio.get_running_loop().call_soon(then)

    stack.sim.subscribe(tap)
    return cuts


def seat_answers(seat: str) -> Callable[[str, dict[str, str]], bool]:
    return lambda name, h: name == "Newstate" and h.get("Channel", "").startswith(f"PJSIP/{seat}-") \
        and h.get("ChannelState") == "6"


def seat_leg_created(seat: str) -> Callable[[str, dict[str, str]], bool]:
    return lambda name, h: name == "Newchannel" and h.get("Channel", "").startswith(f"PJSIP/{seat}-")


def seat_legs(stack: Stack, seat: str) -> list[str]:
    return [name for name in stack.sim.pbx.registry.channels if name.startswith(f"PJSIP/{seat}-")]


async def test_seat_answers_while_link_down_is_bridged_with_the_waiting_caller(stack):
    stack.sim.agents["8001"] = AgentBehaviour(mode="answer", answer_after=2.0)
    svc = router_on(stack)
    svc.login("a1")
    cuts = cut_when(stack, seat_answers("8001"))
    call, req = await inbound(stack, "13800000011")
    h = await svc.enqueue(req)
    # the originate's answer is lost with the link (its own timer would say "timeout" only after 13 s)
    out = await asyncio.wait_for(h.outcome, 8)
    assert cuts, "the link was never cut"
    assert out.kind is QueueOutcomeKind.CONNECTED and out.agent == "8001"
    await stack.until(lambda: [p.name.split("-")[0] for p in stack.model.peers(call.channel.name)] == ["PJSIP/8001"])
    assert svc.engine.seats.get("a1").state is S.ON_CALL
    assert len(seat_legs(stack, "8001")) == 1
    stack.sim.hangup(call)
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.WRAP_UP)
    await stack.quiet()  # the seat's leg went with the call
    await svc.wait_idle()
    assert svc.engine.check_invariants() == []
    await svc.stop()


async def test_seat_answers_while_link_down_for_a_caller_who_left_is_hung_up(stack):
    stack.sim.agents["8001"] = AgentBehaviour(mode="answer", answer_after=2.0)
    svc = router_on(stack)
    svc.login("a1")
    call, req = await inbound(stack, "13800000012")
    cuts = cut_when(stack, seat_answers("8001"), then=lambda: stack.sim.hangup(call))
    h = await svc.enqueue(req)
    out = await asyncio.wait_for(h.outcome, 8)
    assert cuts and out.kind is QueueOutcomeKind.HANGUP
    await stack.until(lambda: not seat_legs(stack, "8001"), timeout=8)  # not left up for nobody
    await svc.wait_idle()
    await stack.quiet()
    assert svc.engine.seats.get("a1").state is S.AVAILABLE
    assert not svc.engine.calls
    assert svc.engine.check_invariants() == []
    await svc.stop()


async def test_seat_still_ringing_across_the_cut_answers_after_the_reconnect(stack):
    stack.sim.agents["8001"] = AgentBehaviour(mode="answer", answer_after=2.0)
    svc = router_on(stack)
    svc.login("a1")
    cuts = cut_when(stack, seat_leg_created("8001"))
    call, req = await inbound(stack, "13800000013")
    h = await svc.enqueue(req)
    out = await asyncio.wait_for(h.outcome, 8)
    assert cuts and out.kind is QueueOutcomeKind.CONNECTED and out.agent == "8001"
    await stack.until(lambda: [p.name.split("-")[0] for p in stack.model.peers(call.channel.name)] == ["PJSIP/8001"])
    assert len(seat_legs(stack, "8001")) == 1  # one leg for the seat, bridged
    stack.sim.hangup(call)
    await stack.until(lambda: svc.engine.seats.get("a1").state is S.WRAP_UP)
    await svc.wait_idle()
    await stack.quiet()
    assert svc.engine.check_invariants() == []
    await svc.stop()


async def test_seat_leg_left_over_by_an_earlier_run_is_hung_up_at_the_next_resync(stack):
    """An answered agent leg no call of the router explains (its ring was given up before the seat
    answered) is hung up when the link comes back; a connected call's leg is left alone."""
    svc = router_on(stack, agents=("a2",))
    svc.login("a2")
    talking, treq = await inbound(stack, "13800000014")
    assert (await asyncio.wait_for((await svc.enqueue(treq)).outcome, 10)).kind is QueueOutcomeKind.CONNECTED
    other, _ = await inbound(stack, "13800000015")
    ocid = stack.model.call_of(other.channel.name).call_id
    res = await stack.control.originate("PJSIP/8001", context="hotline-agent", exten="connect",
                                        call_id=ocid, role="agent")
    assert res.outcome == "answered"  # a seat's leg for a call the router does not hold
    cut_link(stack)
    await stack.until(lambda: stack.resync.runs >= 2 and stack.client.connected)
    await stack.until(lambda: not seat_legs(stack, "8001"))
    assert svc.link_sweeps == 1
    assert len(seat_legs(stack, "8002")) == 1 and svc.engine.seats.get("a2").state is S.ON_CALL
    stack.sim.hangup(talking)
    stack.sim.hangup(other)
    await stack.until(lambda: svc.engine.seats.get("a2").state is S.WRAP_UP)
    await svc.wait_idle()
    await stack.quiet()
    await svc.stop()
