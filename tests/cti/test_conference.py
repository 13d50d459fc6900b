"""The three-way (ConfBridge) state machine: every state, every hang-up; the caller is never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cti import events as E
from cti.conference import STATES, ConferenceService, ThreeWayCall
from cti.transfer import InvalidTransfer
from tests.cti.test_control import bridged_call, chan, originate_response, setup
from tests.cti.test_model import StepClock, ev, messages, needs_traces
from tests.cti.test_transfer import echo_pbx

CALLER = chan("20.1", "PJSIP/trunk-00000011")
AGENT = chan("20.2", "PJSIP/8001-00000012", "20.1", context="hotline-agent", exten="connect")


class Rig:
    def __init__(self) -> None:
        self.ami, self.model, self.bus, self.control = setup()
        echo_pbx(self.ami, self.model)
        self.svc = ConferenceService(self.control, self.model, self.bus, clock=StepClock())
        bridged_call(self.model, CALLER, AGENT)
        self._seen = len(self.bus.events)
        self.m: ThreeWayCall | None = None

    async def settle(self) -> None:
        for _ in range(5):
            while self._seen < len(self.bus.events):
                self._seen += 1
                await self.svc.on_event(self.bus.events[self._seen - 1])
            await asyncio.sleep(0)

    async def start(self) -> ThreeWayCall:
        self.m = await self.svc.start_three_way("PJSIP/8001-00000012", "8002", guest_context="hotline-agent", room="room42")
        return self.m

    def guest_fields(self) -> dict[str, str]:
        assert self.m is not None
        gid = self.m.guest_id
        return chan(gid, "Local/8002@hotline-agent-00000013;1", gid, state="0", context="hotline-conference", exten="conf-room42")

    async def guest_rings(self) -> None:
        f = self.guest_fields()
        self.model.handle(ev("Newchannel", **f))
        self.model.handle(ev("VarSet", **f, Variable="HOTLINE_CALL", Value="20.1"))
        await self.settle()

    async def guest_answers(self) -> None:
        f = dict(self.guest_fields(), ChannelState="6")
        self.model.handle(ev("Newstate", **f))
        aid = [a for n, _, a in self.ami.sent if n == "Originate"][-1]
        self.ami.emit(originate_response(aid, True, 4, f["Channel"], f["Uniqueid"]))
        await self.settle()

    async def guest_fails(self, reason: int = 0) -> None:
        aid = [a for n, _, a in self.ami.sent if n == "Originate"][-1]
        self.ami.emit(originate_response(aid, False, reason, "Local/8002@hotline-agent"))
        await self.settle()

    async def hangup(self, fields: dict[str, str]) -> None:
        if self.model.channel(fields["Uniqueid"]) is not None:
            self.model.handle(ev("Hangup", **fields, Cause="16"))
        await self.settle()

    def actions(self) -> list[tuple[str, dict[str, Any]]]:
        return [(n, h) for n, h, _ in self.ami.sent]

    def caller_placement(self) -> str:
        for n, h in reversed(self.actions()):
            if n == "Bridge" and CALLER["Channel"] in (h["Channel1"], h["Channel2"]):
                return "agent"
            if n == "Redirect" and h["Channel"] == CALLER["Channel"]:
                return {"hotline-ivr": "ivr", "hotline-conference": "conference"}.get(h["Context"], h["Context"])
        return ""


async def test_three_way_then_agent_leaves_then_caller_hangs_up() -> None:
    rig = Rig()
    m = await rig.start()
    assert m.state.name == "inviting"
    redirect, originate = rig.actions()[:2]
    assert redirect == ("Redirect", {
        "Channel": "PJSIP/trunk-00000011", "Context": "hotline-conference", "Exten": "conf-room42", "Priority": "1",
        "ExtraChannel": "PJSIP/8001-00000012", "ExtraContext": "hotline-conference", "ExtraExten": "conf-room42", "ExtraPriority": "1",
    })
    assert originate[1]["Channel"] == "Local/8002@hotline-agent"
    assert (originate[1]["Context"], originate[1]["Exten"]) == ("hotline-conference", "conf-room42")
    assert "HOTLINE_CALL=20.1" in originate[1]["Variable"] and originate[1]["ChannelId"] == m.guest_id
    await rig.guest_rings()
    await rig.guest_answers()
    assert m.state.name == "conferenced"
    await m.mute("caller")
    await m.unmute("caller")
    assert rig.actions()[-2:] == [
        ("ConfbridgeMute", {"Conference": "room42", "Channel": "PJSIP/trunk-00000011"}),
        ("ConfbridgeUnmute", {"Conference": "room42", "Channel": "PJSIP/trunk-00000011"}),
    ]
    await m.agent_leave()
    assert m.state.name == "two_party"
    assert rig.actions()[-1] == ("ConfbridgeKick", {"Conference": "room42", "Channel": "PJSIP/8001-00000012"})
    await rig.hangup(AGENT)  # the kicked agent's channel ends in the dialplan
    assert m.state.name == "two_party"
    await rig.hangup(CALLER)
    assert m.state.name == "ended"
    assert rig.actions()[-1] == ("Hangup", {"Channel": "Local/8002@hotline-agent-00000013;1", "Cause": "16"})
    states = [e.new_state for e in rig.bus.of(E.TransferStateChanged) if e.machine == "conference"]
    assert states == ["inviting", "conferenced", "two_party", "ended"]
    assert not rig.svc.active


async def test_guest_does_not_answer_reverts_to_the_agent() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.guest_fails(reason=3)
    assert m.state.name == "reverted"
    assert rig.caller_placement() == "agent"
    assert "did not join" in m.reason


async def test_agent_hangs_up_while_guest_rings_then_guest_fails() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.guest_rings()
    await rig.hangup(AGENT)
    assert m.state.name == "caller_waiting"
    await rig.guest_fails()
    assert m.state.name == "failed"
    assert rig.caller_placement() == "ivr"


async def test_agent_hangs_up_while_guest_rings_then_guest_answers() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.guest_rings()
    await rig.hangup(AGENT)
    await rig.guest_answers()
    assert m.state.name == "two_party"
    await rig.hangup(rig.guest_fields())
    assert m.state.name == "ended"
    assert rig.caller_placement() == "ivr"  # caller left alone: the IVR takes over (survey or goodbye)


async def test_caller_hangs_up_during_the_conference_agent_and_guest_finish() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.guest_rings()
    await rig.guest_answers()
    await rig.hangup(CALLER)
    assert m.state.name == "agent_with_guest"
    await rig.hangup(rig.guest_fields())
    assert m.state.name == "ended"
    assert rig.actions()[-1] == ("ConfbridgeKick", {"Conference": "room42", "Channel": "PJSIP/8001-00000012"})


async def test_start_refused_gives_the_caller_back() -> None:
    rig = Rig()
    rig.ami.errors["Redirect"] = "Channel does not exist: PJSIP/trunk-00000011"
    m = await rig.start()
    assert m.state.name == "failed"
    assert rig.caller_placement() == "agent"


async def test_cancel_and_end() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.guest_rings()
    await m.cancel()
    assert m.state.name == "cancelled"
    assert [n for n, _ in rig.actions()][-2:] == ["Hangup", "Bridge"]
    with pytest.raises(InvalidTransfer):
        await m.agent_leave()
    rig2 = Rig()
    m2 = await rig2.start()
    await rig2.guest_rings()
    await rig2.guest_answers()
    await m2.end()
    assert m2.state.name == "reverted" and rig2.caller_placement() == "agent"


async def _reach(rig: Rig, state: str) -> ThreeWayCall:
    m = await rig.start()
    await rig.guest_rings()
    if state in ("conferenced", "two_party", "agent_with_guest"):
        await rig.guest_answers()
    if state == "two_party":
        await m.agent_leave()
        await rig.hangup(AGENT)
    elif state == "agent_with_guest":
        await rig.hangup(CALLER)
    elif state == "caller_waiting":
        await rig.hangup(AGENT)
    assert m.state.name == state
    return m


LIVE = ("inviting", "conferenced", "caller_waiting", "two_party", "agent_with_guest")
GONE = {"caller_waiting": "agent", "two_party": "agent", "agent_with_guest": "caller"}


@pytest.mark.parametrize("state,who", [(s, w) for s in LIVE for w in ("caller", "agent", "guest") if GONE.get(s) != w])
async def test_every_state_handles_every_hangup(state: str, who: str) -> None:
    rig = Rig()
    m = await _reach(rig, state)
    fields = {"caller": CALLER, "agent": AGENT, "guest": rig.guest_fields()}[who]
    await rig.hangup(fields)
    assert m.state.name != state or who == "agent" and state == "two_party"
    caller_alive = rig.model.channel(CALLER["Uniqueid"]) is not None
    if caller_alive:
        if m.done:
            assert rig.caller_placement() in ("agent", "ivr")
        else:
            # still talking with someone in the room
            assert m.state.name in ("caller_waiting", "two_party", "conferenced")
    else:
        assert m.state.name in ("ended", "agent_with_guest")


def test_states_answer_every_hangup() -> None:
    for st in STATES:
        for e in ("guest_answered", "guest_hangup", "caller_hangup", "agent_hangup", "agent_leave", "end", "cancel"):
            assert callable(getattr(st, e))


@needs_traces
async def test_room_listing_from_capture() -> None:
    rig = Rig()
    m = await rig.start()
    rig.ami.lists["ConfbridgeList"] = [x for x in messages("three_way_confbridge") if x.name == "ConfbridgeList"][:3]
    members = await m.members()
    assert len(members) == 3 and all(x.conference == "room42" for x in members)


@needs_traces
async def test_three_way_follows_the_captured_conference() -> None:
    """The capture's events drive the machine: caller+agent redirected, expert answers, the agent is
    kicked, caller and expert talk, the caller hangs up."""
    from cti.ami.protocol import Message
    from cti.model import ModelConfig

    ami, model, bus, control = setup(ModelConfig(inbound_contexts=frozenset({"from-caller"})))
    svc = ConferenceService(control, model, bus, clock=StepClock())
    msgs = messages("three_way_confbridge")
    cut = next(i for i, m in enumerate(msgs) if m.kind == "Response" and m.fields.get("ActionID") == "three-way-confbridge-3")
    for m in msgs[:cut]:
        model.handle(m)
    seen = len(bus.events)
    t = await svc.start_three_way("PJSIP/8001-00000005", "8002", guest_context="hotline-agent", room="room42")
    assert t.state.name == "inviting" and t.caller == "PJSIP/1001-00000004"
    ours = [a for n, _, a in ami.sent if n == "Originate"][-1]
    for m in msgs[cut:]:
        if m.name == "OriginateResponse":
            m = Message("Event", m.name, dict(m.fields, ActionID=ours))
            ami.emit(m)
        model.handle(m)
        while seen < len(bus.events):
            seen += 1
            await svc.on_event(bus.events[seen - 1])
        await asyncio.sleep(0)
        if m.kind == "Response" and m.fields.get("ActionID") == "three-way-confbridge-10":
            assert t.state.name == "conferenced"
            await t.agent_leave()
    assert [h[1] for h in t.history] == ["inviting", "conferenced", "two_party", "ended"]
    assert t.guest_id == "1795266482.12"
    assert ("ConfbridgeKick", {"Conference": "room42", "Channel": "PJSIP/8001-00000005"}) in [(n, h) for n, h, _ in ami.sent]
    assert not svc.active
