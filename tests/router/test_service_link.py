"""RouterService when the AMI link drops with a ring in flight (fake connector): the ring's outcome
comes from the live agent legs after the resync; legs no call explains are hung up."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from cti.events import AmiLinkDown, LegHungup, LegStateChanged, ModelResynced
from ivr.ports import QueueOutcomeKind
from router.models import AgentState, CallState
from router.service import LinkLostError, LiveLeg, RingResult, RouterOptions, RouterService
from router.wiring import router_bus_events

from tests.router.test_service import FakeConnector, build, req

S = AgentState
C = CallState
AT = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)


class LinkConnector(FakeConnector):
    """ring_agent reports what call control reports when the link drops: outcome failed, detail
    not_connected / timeout (the originate may still have been carried out on the PBX)."""

    def __init__(self):
        super().__init__()
        self.legs: list[LiveLeg] = []
        self.lost: dict[str, str] = {}  # seat -> detail of a lost result

    async def ring_agent(self, seat, call_id, caller, timeout):
        detail = self.lost.pop(seat, None)
        if detail is None:
            return await super().ring_agent(seat, call_id, caller, timeout)
        self.rung.append((seat, call_id))
        gate = self.gates.get(seat)
        if gate is not None:
            await gate.wait()
        return RingResult("no_answer" if detail == "timeout" else "failed", "", "", detail)

    async def agent_legs(self):
        return list(self.legs)


def build_link(**kw):
    svc, eng, _, clock = build(**kw)
    conn = LinkConnector()
    svc.connector = conn
    svc.opt = RouterOptions(ring_timeout=0.2, link_wait=0.3)
    return svc, eng, conn, clock


def leg(seat, call_id, *, answered=True, bridged_with="", n=1):
    return LiveLeg(f"PJSIP/{seat}-{n:08x}", call_id, "agent", seat=seat, for_call=call_id,
                   bridged_with=bridged_with, leg_id=f"u-{seat}-{n}", answered=answered)


def resynced(errors=()):
    return ModelResynced(AT, 0, 1, 0, 1, errors=tuple(errors))


async def until(pred, timeout=2.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


def test_bus_events_named_by_the_service_exist():
    assert [t.__name__ for t in router_bus_events()] == list(RouterService.BUS_EVENT_NAMES)


async def test_not_connected_then_seat_answered_is_bridged_after_the_resync():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.lost["8001"] = "not_connected"
    h = await svc.enqueue(req("c1"))
    await svc.on_bus_event(AmiLinkDown(AT, "closed"))
    await until(lambda: conn.rung)
    await asyncio.sleep(0.01)
    assert eng.seats.get("a1").state is S.RINGING  # not blamed, not freed: the seat may be ringing
    conn.legs = [leg("8001", "c1")]
    await svc.on_bus_event(resynced())
    out = await asyncio.wait_for(h.outcome, 1)
    assert out.kind is QueueOutcomeKind.CONNECTED and out.agent == "8001"
    assert conn.bridged == [("PJSIP/trunk-c1", "PJSIP/8001-00000001")]
    assert eng.seats.get("a1").state is S.ON_CALL and not conn.hung
    await svc.wait_idle()


async def test_not_connected_and_no_leg_after_the_resync_requeues_without_blaming_the_agent():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.lost["8001"] = "not_connected"
    conn.gates["8001"] = gate = asyncio.Event()
    await svc.enqueue(req("c1"))
    await until(lambda: conn.rung)
    await svc.on_bus_event(AmiLinkDown(AT, "closed"))
    conn.script["8001"] = ["answered"]
    gate.set()
    await asyncio.sleep(0.01)
    conn.gates.clear()
    await svc.on_bus_event(resynced())  # no leg of 8001 on the PBX
    await until(lambda: eng.calls["c1"].state is C.CONNECTED)  # re-offered to the same, available, agent
    assert [s for s, _ in conn.rung] == ["8001", "8001"]
    assert eng.seats.get("a1").reason != "ring-no-answer"
    await svc.wait_idle()


async def test_seat_still_ringing_after_the_resync_is_followed_until_it_answers():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.lost["8001"] = "not_connected"
    h = await svc.enqueue(req("c1"))
    await svc.on_bus_event(AmiLinkDown(AT, "closed"))
    await until(lambda: conn.rung)
    ringing = leg("8001", "c1", answered=False)
    conn.legs = [ringing]
    await svc.on_bus_event(resynced())
    await asyncio.sleep(0.01)
    assert not h.outcome.done() and not conn.hung  # neither hung up nor given up
    await svc.on_bus_event(LegStateChanged("c1", AT, ringing.leg_id, ringing.channel, "ringing", "up"))
    out = await asyncio.wait_for(h.outcome, 1)
    assert out.kind is QueueOutcomeKind.CONNECTED
    assert conn.bridged == [("PJSIP/trunk-c1", ringing.channel)]
    await svc.wait_idle()


async def test_seat_still_ringing_after_the_resync_then_hung_up_is_a_ring_no_answer():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.lost["8001"] = "not_connected"
    await svc.enqueue(req("c1"))
    await svc.on_bus_event(AmiLinkDown(AT, "closed"))
    await until(lambda: conn.rung)
    ringing = leg("8001", "c1", answered=False)
    conn.legs = [ringing]
    await svc.on_bus_event(resynced())
    await svc.on_bus_event(LegHungup("c1", AT, ringing.leg_id, ringing.channel, 19, "No answer"))
    await until(lambda: eng.calls["c1"].state is C.WAITING)
    a1 = eng.seats.get("a1")
    assert a1.state is S.PAUSED and a1.reason == "ring-no-answer"
    await svc.wait_idle()


async def test_timeout_without_a_resync_seen_looks_at_the_legs_at_once():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.lost["8001"] = "timeout"
    conn.legs = [leg("8001", "c1")]
    h = await svc.enqueue(req("c1"))
    out = await asyncio.wait_for(h.outcome, 1)
    assert out.kind is QueueOutcomeKind.CONNECTED
    await svc.wait_idle()


async def test_no_resync_in_time_gives_the_call_back_to_its_lane():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.lost["8001"] = "not_connected"
    conn.script["8001"] = ["busy"]  # the next ring, after it was given back
    await svc.enqueue(req("c1"))
    await svc.on_bus_event(AmiLinkDown(AT, "closed"))  # and the link stays down
    await until(lambda: len(conn.rung) == 2, timeout=3)
    await svc.wait_idle()


async def test_resync_sweeps_agent_legs_no_call_explains_and_keeps_the_others():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    svc.login("a2")
    h = await svc.enqueue(req("c1"))
    await svc.wait_idle()
    assert h.outcome.result().kind is QueueOutcomeKind.CONNECTED
    connected_leg = svc._call_agent_leg["c1"]
    conn.legs = [
        LiveLeg(connected_leg, "c1", "agent", seat=connected_leg[6:10], for_call="c1", leg_id="u1",
                answered=True),  # parked on hold: not bridged, but the router's connected call
        leg("8003", "c7", bridged_with="PJSIP/trunk-c7", n=2),  # bridged: left alone
        leg("8004", "c8", n=3),  # answered for a call the router does not hold
        leg("8005", "c9", answered=False, n=4),  # ringing for nothing
    ]
    await svc.on_bus_event(resynced())
    assert sorted(conn.hung) == ["PJSIP/8004-00000003", "PJSIP/8005-00000004"]
    assert svc.link_sweeps == 2
    conn.hung.clear()
    await svc.on_bus_event(resynced(["CoreShowChannels: AMI link lost"]))  # model not reconciled
    assert not conn.hung


async def test_sweep_leaves_the_leg_of_a_ring_in_flight():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.gates["8001"] = gate = asyncio.Event()
    h = await svc.enqueue(req("c1"))
    await until(lambda: conn.rung)
    conn.legs = [leg("8001", "c1", answered=False)]
    await svc.on_bus_event(resynced())  # a reconnect that did not interrupt this ring
    assert not conn.hung
    gate.set()
    assert (await asyncio.wait_for(h.outcome, 1)).kind is QueueOutcomeKind.CONNECTED
    await svc.wait_idle()


async def test_late_originate_answer_for_a_ring_settled_from_the_legs_is_hung_up():
    svc, eng, conn, _ = build_link()
    svc.login("a1")
    conn.gates["8001"] = gate = asyncio.Event()
    h = await svc.enqueue(req("c1"))
    await until(lambda: conn.rung)
    await svc.on_bus_event(AmiLinkDown(AT, "closed"))
    conn.legs = [leg("8001", "c1", n=9)]
    await svc.on_bus_event(resynced())
    assert (await asyncio.wait_for(h.outcome, 1)).kind is QueueOutcomeKind.CONNECTED
    assert conn.bridged == [("PJSIP/trunk-c1", "PJSIP/8001-00000009")]
    gate.set()  # the originate's own answer names another leg: not ours
    await until(lambda: conn.hung == ["PJSIP/8001-00000001"])
    await svc.wait_idle()
    assert svc._agent_legs == {"PJSIP/8001-00000009": "c1"}


class BridgeLostConnector(LinkConnector):
    """The first Bridge's answer is lost with the link."""

    def __init__(self):
        super().__init__()
        self.lose_bridge = 1

    async def bridge(self, a, b):
        if self.lose_bridge:
            self.lose_bridge -= 1
            self.bridged.append((a, b))
            raise LinkLostError("Bridge failed (not_connected): AMI link lost")
        return await super().bridge(a, b)


def build_bridge_lost():
    svc, eng, _, clock = build()
    conn = BridgeLostConnector()
    svc.connector = conn
    svc.opt = RouterOptions(ring_timeout=0.2, link_wait=0.3)
    return svc, eng, conn


async def test_bridge_answer_lost_but_bridged_on_the_pbx_counts_as_connected():
    svc, eng, conn = build_bridge_lost()
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await until(lambda: conn.bridged)
    conn.legs = [leg("8001", "c1", bridged_with="PJSIP/trunk-c1")]
    await svc.on_bus_event(resynced())
    assert (await asyncio.wait_for(h.outcome, 1)).kind is QueueOutcomeKind.CONNECTED
    assert len(conn.bridged) == 1 and not conn.hung
    assert eng.seats.get("a1").state is S.ON_CALL
    await svc.wait_idle()


async def test_bridge_answer_lost_and_legs_apart_are_bridged_again():
    svc, eng, conn = build_bridge_lost()
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await until(lambda: conn.bridged)
    conn.legs = [leg("8001", "c1")]
    await svc.on_bus_event(resynced())
    assert (await asyncio.wait_for(h.outcome, 1)).kind is QueueOutcomeKind.CONNECTED
    assert conn.bridged == [("PJSIP/trunk-c1", "PJSIP/8001-00000001")] * 2 and not conn.hung
    await svc.wait_idle()


async def test_bridge_answer_lost_and_seat_leg_gone_requeues_the_waiting_caller():
    svc, eng, conn = build_bridge_lost()
    svc.login("a1")
    svc.login("a2")
    h = await svc.enqueue(req("c1"))
    await until(lambda: conn.bridged)
    await svc.on_bus_event(resynced())  # no leg of 8001 any more; the caller did not hang up
    out = await asyncio.wait_for(h.outcome, 1)
    assert out.kind is QueueOutcomeKind.CONNECTED  # given to the next agent, not abandoned
    assert eng.seats.get("a1").state in (S.AVAILABLE, S.ON_CALL)
    await svc.wait_idle()


async def test_bridge_answer_lost_and_caller_gone_frees_the_agent():
    svc, eng, conn = build_bridge_lost()
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await until(lambda: conn.bridged)
    await svc.on_bus_event(LegHungup("c1", AT, "u-c1", "PJSIP/trunk-c1", None, "lost while disconnected"))
    conn.legs = [leg("8001", "c1")]
    await svc.on_bus_event(resynced())
    assert (await asyncio.wait_for(h.outcome, 1)).kind is QueueOutcomeKind.HANGUP
    await svc.wait_idle()
    assert "PJSIP/8001-00000001" in conn.hung
    assert eng.seats.get("a1").state is S.AVAILABLE and not eng.calls
