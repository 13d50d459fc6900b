"""The attended-transfer state machine: every state, every hang-up; the caller is never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cti import events as E
from cti.model import ModelConfig
from cti.transfer import (
    STATES,
    AttendedTransferMachine,
    InvalidTransfer,
    TransferService,
)
from tests.cti.test_control import bridged_call, chan, originate_response, setup
from tests.cti.test_model import StepClock, ev, messages, needs_traces

CALLER = chan("10.1", "PJSIP/trunk-00000001")
AGENT = chan("10.2", "PJSIP/8001-00000002", "10.1", context="hotline-agent", exten="connect")


def fields_of(ch: Any) -> dict[str, str]:
    return dict(Channel=ch.name, Uniqueid=ch.uniqueid, Linkedid=ch.call_id, ChannelState=str(ch.state),
                CallerIDNum=ch.caller_num, CallerIDName=ch.caller_name, Context=ch.context, Exten=ch.exten, Priority="1")


def echo_pbx(ami: Any, model: Any) -> None:
    """Make the fake peer emit what Asterisk emits for Redirect, Bridge and Hangup actions."""
    bridges = iter(range(100, 10_000))

    def redirect(h: dict[str, Any], aid: str) -> None:
        for name in (h.get("Channel"), h.get("ExtraChannel")):
            ch = model.resolve(name) if name else None
            if ch is not None and ch.bridge_id:
                model.handle(ev("BridgeLeave", **fields_of(ch), BridgeUniqueid=ch.bridge_id))

    def bridge(h: dict[str, Any], aid: str) -> None:
        bid = f"br-{next(bridges)}"
        for name in (h["Channel1"], h["Channel2"]):
            ch = model.resolve(name)
            if ch is not None:
                model.handle(ev("BridgeEnter", **fields_of(ch), BridgeUniqueid=bid, BridgeType="basic"))

    def hangup(h: dict[str, Any], aid: str) -> None:
        ch = model.resolve(h["Channel"])
        if ch is not None:
            model.handle(ev("Hangup", **fields_of(ch), Cause=h.get("Cause", "16")))

    ami.after.update({"Redirect": redirect, "Bridge": bridge, "Hangup": hangup})


class Rig:
    def __init__(self) -> None:
        self.ami, self.model, self.bus, self.control = setup()
        echo_pbx(self.ami, self.model)
        self.svc = TransferService(self.control, self.model, self.bus, clock=StepClock())
        self._seen = 0
        bridged_call(self.model, CALLER, AGENT)
        self.m: AttendedTransferMachine | None = None

    async def pump(self) -> None:
        """Deliver the model's domain events to the transfer service (what the bus does)."""
        while self._seen < len(self.bus.events):
            e = self.bus.events[self._seen]
            self._seen += 1
            await self.svc.on_event(e)
        await asyncio.sleep(0)

    async def start(self, mode: str = "server") -> AttendedTransferMachine:
        self._seen = len(self.bus.events)
        self.m = await self.svc.start_attended("PJSIP/8001-00000002", "8002", target_context="hotline-agent", mode=mode)
        return self.m

    def recipient_fields(self) -> dict[str, str]:
        assert self.m is not None
        rid = self.m.recipient_id
        return chan(rid, "Local/8002@hotline-agent-00000003;1", rid, state="0", context="hotline-agent", exten="connect")

    async def recipient_rings(self) -> None:
        f = self.recipient_fields()
        self.model.handle(ev("Newchannel", **f))
        self.model.handle(ev("VarSet", **f, Variable="HOTLINE_CALL", Value="10.1"))
        await self.pump()

    async def recipient_answers(self) -> None:
        f = dict(self.recipient_fields(), ChannelState="6")
        self.model.handle(ev("Newstate", **f))
        aid = [a for n, _, a in self.ami.sent if n == "Originate"][-1]
        self.ami.emit(originate_response(aid, True, 4, f["Channel"], f["Uniqueid"]))
        await self.settle()

    async def recipient_fails(self, reason: int = 0) -> None:
        aid = [a for n, _, a in self.ami.sent if n == "Originate"][-1]
        self.ami.emit(originate_response(aid, False, reason, "Local/8002@hotline-agent"))
        await self.settle()

    async def hangup(self, fields: dict[str, str], cause: str = "16") -> None:
        self.model.handle(ev("Hangup", **fields, Cause=cause, **{"Cause-txt": "Normal Clearing"}))
        await self.settle()

    async def settle(self) -> None:
        for _ in range(5):
            await self.pump()
            await asyncio.sleep(0)

    def actions(self) -> list[tuple[str, dict[str, Any]]]:
        return [(n, h) for n, h, _ in self.ami.sent]

    def caller_placement(self) -> str:
        """Where the last action put the caller: 'agent', 'recipient', 'ivr', 'hold' or ''."""
        for n, h in reversed(self.actions()):
            if n == "Bridge" and CALLER["Channel"] in (h["Channel1"], h["Channel2"]):
                other = h["Channel1"] if h["Channel2"] == CALLER["Channel"] else h["Channel2"]
                return "agent" if other == AGENT["Channel"] else "recipient"
            if n == "Redirect" and h["Channel"] == CALLER["Channel"]:
                return "ivr" if h["Context"] == "hotline-ivr" else "hold"
        return ""


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------
async def test_consult_then_complete() -> None:
    rig = Rig()
    m = await rig.start()
    assert m.state.name == "ringing"
    hold, orig = rig.actions()[:2]
    assert hold == ("Redirect", {
        "Channel": "PJSIP/trunk-00000001", "Context": "hotline-hold", "Exten": "moh", "Priority": "1",
        "ExtraChannel": "PJSIP/8001-00000002", "ExtraContext": "hotline-agent", "ExtraExten": "connect", "ExtraPriority": "1",
    })
    assert orig[0] == "Originate"
    assert orig[1]["Channel"] == "Local/8002@hotline-agent" and orig[1]["ChannelId"] == m.recipient_id
    assert "HOTLINE_CALL=10.1" in orig[1]["Variable"]
    await rig.recipient_rings()
    assert rig.model.call("10.1") is not None and m.recipient_id in rig.model.call("10.1").channels
    await rig.recipient_answers()
    assert m.state.name == "consulting"
    assert rig.actions()[-1] == ("Bridge", {"Channel1": "PJSIP/8001-00000002", "Channel2": "Local/8002@hotline-agent-00000003;1", "Tone": "no"})
    await m.complete()
    assert m.state.name == "completed"
    assert rig.caller_placement() == "recipient"
    assert rig.actions()[-1] == ("Hangup", {"Channel": "PJSIP/8001-00000002", "Cause": "16"})
    (done,) = [e for e in rig.bus.of(E.TransferCompleted) if e.transfer_id == m.transfer_id]
    assert done.kind == "attended"
    states = [(e.old_state, e.new_state, e.event) for e in rig.bus.of(E.TransferStateChanged)]
    assert states == [("ready", "ringing", "start"), ("ringing", "consulting", "recipient_answered"), ("consulting", "completed", "complete")]
    with pytest.raises(InvalidTransfer):
        await m.complete()


async def test_recipient_busy_gives_the_caller_back_to_the_agent() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_fails(reason=5)
    assert m.state.name == "failed"
    assert rig.caller_placement() == "agent"
    (failed,) = rig.bus.of(E.TransferFailed)
    assert failed.caller_returned_to == "agent" and "busy" in failed.reason


async def test_recipient_hangs_up_during_consultation() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    await rig.recipient_answers()
    await rig.hangup(rig.recipient_fields())
    assert m.state.name == "failed"
    assert rig.caller_placement() == "agent"


async def test_agent_hangs_up_during_consultation_completes() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    await rig.recipient_answers()
    await rig.hangup(AGENT)
    assert m.state.name == "completed"
    assert rig.caller_placement() == "recipient"


async def test_agent_hangs_up_while_ringing_then_recipient_answers() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    await rig.hangup(AGENT)
    assert m.state.name == "blonde"
    await rig.recipient_answers()
    assert m.state.name == "completed"
    assert rig.caller_placement() == "recipient"


async def test_agent_gone_and_recipient_fails_sends_caller_to_ivr() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.hangup(AGENT)
    await rig.recipient_fails(reason=3)
    assert m.state.name == "failed"
    assert rig.actions()[-1] == ("Redirect", {"Channel": "PJSIP/trunk-00000001", "Context": "hotline-ivr", "Exten": "12345", "Priority": "1"})
    assert rig.bus.of(E.TransferFailed)[0].caller_returned_to == "ivr"


async def test_caller_hangs_up_while_ringing_drops_the_recipient() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    await rig.hangup(CALLER)
    assert m.state.name == "abandoned"
    assert rig.actions()[-1] == ("Hangup", {"Channel": "Local/8002@hotline-agent-00000003;1", "Cause": "16"})


async def test_caller_hangs_up_during_consultation_leaves_agent_and_recipient() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    await rig.recipient_answers()
    n = len(rig.actions())
    await rig.hangup(CALLER)
    assert m.state.name == "abandoned"
    assert len(rig.actions()) == n


@pytest.mark.parametrize("answered", [False, True])
async def test_cancel(answered: bool) -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    if answered:
        await rig.recipient_answers()
    await m.cancel()
    assert m.state.name == "cancelled"
    names = [n for n, _ in rig.actions()]
    assert names[-2:] == ["Bridge", "Hangup"]  # the agent is taken back before the recipient is dropped
    assert rig.caller_placement() == "agent"


async def test_hold_refused_fails_without_touching_the_call() -> None:
    rig = Rig()
    rig.ami.errors["Redirect"] = "Channel does not exist: PJSIP/trunk-00000001"
    m = await rig.start()
    assert m.state.name == "failed"
    assert "Originate" not in [n for n, _ in rig.actions()]


async def test_completion_bridge_failure_never_drops_the_caller() -> None:
    rig = Rig()
    m = await rig.start()
    await rig.recipient_rings()
    await rig.recipient_answers()
    rig.ami.errors["Bridge"] = "Channel1 does not exist"
    await m.complete()
    assert m.state.name == "failed"
    assert rig.caller_placement() == "ivr"  # the agent bridge failed too: the IVR takes the caller
    assert rig.bus.of(E.TransferFailed)[0].caller_returned_to == "ivr"


async def test_agent_not_in_a_call_is_refused() -> None:
    rig = Rig()
    rig.model.handle(ev("Newchannel", **chan("11.1", "PJSIP/8009-00000009")))
    with pytest.raises(InvalidTransfer):
        await rig.svc.start_attended("PJSIP/8009-00000009", "8002")
    with pytest.raises(InvalidTransfer):
        await rig.svc.start_attended("PJSIP/nobody-1", "8002")


# ---------------------------------------------------------------------------
# exhaustive: every live state x every hang-up
# ---------------------------------------------------------------------------
async def _reach(rig: Rig, state: str) -> AttendedTransferMachine:
    m = await rig.start()
    await rig.recipient_rings()
    if state == "consulting":
        await rig.recipient_answers()
    elif state == "blonde":
        await m.complete()  # agent leaves before the recipient answers
        rig.model.handle(ev("Hangup", **AGENT, Cause="16"))
        await rig.settle()
    assert m.state.name == state
    return m


LIVE_PARTIES = [
    (state, who)
    for state in ("ringing", "consulting", "blonde")
    for who in ("caller", "agent", "recipient")
    if not (state == "blonde" and who == "agent")  # the agent is already gone in Blonde
]


@pytest.mark.parametrize("state,who", LIVE_PARTIES)
async def test_every_state_handles_every_hangup(state: str, who: str) -> None:
    rig = Rig()
    m = await _reach(rig, state)
    fields = {"caller": CALLER, "agent": AGENT, "recipient": rig.recipient_fields()}[who]
    await rig.hangup(fields)
    caller_alive = rig.model.channel("10.1") is not None
    if who == "caller":
        assert m.state.name == "abandoned"
    elif who == "recipient":
        assert m.state.name == "failed"
        assert rig.caller_placement() in ("agent", "ivr")
        assert rig.caller_placement() == ("ivr" if state == "blonde" else "agent")
    else:  # agent
        assert m.state.name in ("completed", "blonde")
        if m.state.name == "completed":
            assert rig.caller_placement() == "recipient"
    if caller_alive and m.done:
        assert rig.caller_placement() in ("agent", "ivr", "recipient")


def test_states_are_classes_with_one_method_per_event() -> None:
    events = ("recipient_answered", "recipient_hangup", "initiator_hangup", "transferred_hangup", "complete", "cancel")
    for st in STATES:
        for e in events:
            assert callable(getattr(st, e)), (st, e)


# ---------------------------------------------------------------------------
# Asterisk-driven (Atxfer), replayed from the capture
# ---------------------------------------------------------------------------
@needs_traces
async def test_atxfer_mode_follows_the_captured_transfer() -> None:
    from tests.cti.test_model import is_event

    ami, model, bus, control = setup(ModelConfig(inbound_contexts=frozenset({"from-caller"})))
    svc = TransferService(control, model, bus, clock=StepClock())
    msgs = messages("attended_transfer")
    cut = next(i for i, m in enumerate(msgs) if m.kind == "Response" and m.fields.get("ActionID") == "attended-transfer-3")
    for m in msgs[:cut]:
        model.handle(m)
    seen = len(bus.events)
    t = await svc.start_attended("PJSIP/8001-00000001", "12333", target_context="legacy-hotlines", mode="atxfer")
    assert ami.last("Atxfer") == {"Channel": "PJSIP/8001-00000001", "Context": "legacy-hotlines", "Exten": "12333"}
    assert t.state.name == "ringing"
    for m in msgs[cut:]:
        model.handle(m)
        while seen < len(bus.events):
            seen += 1
            await svc.on_event(bus.events[seen - 1])
        if t.state.name == "consulting" and is_event("BridgeEnter", Channel="PJSIP/8001-00000001")(m):
            assert t.recipient == "Local/12333@legacy-hotlines-00000001;1"
    assert t.state.name == "completed"
    assert [h[1] for h in t.history] == ["ringing", "consulting", "completed"]
    assert not svc.active
