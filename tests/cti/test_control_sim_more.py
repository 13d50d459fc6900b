"""Call control end to end on the PBX simulator, with the product's AMI client, call model,
call control and transfer / three-way machines: ConfBridge three-way calls with a legacy
hotline seat, MixMonitor recordings, blind and attended (Atxfer) transfers, long holds,
queue membership and originate outcomes. Every test asserts what really happened: the
simulator's channels, bridges and call outcomes, the model's calls and CDRs, and the
domain events on the bus."""

from __future__ import annotations

import asyncio
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest

from cti import events as E
from cti.conference import ThreeWayCall
from cti.control import ControlError
from pbxsim.config import AgentBehaviour, TrunkBehaviour

from tests.cti.test_control_sim import Stack, close_stack, make_stack

LEGACY = "12319"  # a merged legacy hotline, reached through the trunk


@pytest.fixture
async def stack():
    s = await make_stack(speed=20.0)
    try:
        yield s
    finally:
        await close_stack(s)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def sim_names(s: Stack) -> list[str]:
    return [c.name for c in s.sim.pbx.registry.channels.values()]


def trunk_legs(s: Stack, caller: str) -> list[str]:
    """Outbound trunk channels (the legacy seat's side), not the citizen's inbound one."""
    return [n for n in sim_names(s) if n.startswith("PJSIP/trunk-") and n != caller]


def peer_names(s: Stack, channel: str) -> list[str]:
    return sorted(p.name for p in s.model.peers(channel))


def sim_peer_names(s: Stack, channel: str) -> list[str]:
    ch = s.sim.channel(channel)
    if ch is None:
        return []
    return sorted(c.name for c in s.sim.pbx.bridge_peers(ch))


async def finish(s: Stack, call: Any) -> Any:
    """The caller hangs up if still there; every channel goes; returns the caller's outcome."""
    if call.channel is not None and not call.channel.hungup:
        s.sim.hangup(call)
    out = await call.wait(10)
    await s.quiet()
    return out


# ---------------------------------------------------------------------------
# 1. three-way call with ConfBridge and a legacy hotline seat
# ---------------------------------------------------------------------------
async def three_way(s: Stack, *, room: str | None, guest_rings: bool = False, num: str = "13800000101") -> tuple[Any, str, str, ThreeWayCall]:
    s.sim.config.trunk_numbers[LEGACY] = TrunkBehaviour(mode="ring" if guest_rings else "answer", answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num=num, caller_name="李四")
    agent = await s.agent_for(cid)
    m = await s.conferences.start_three_way(agent, LEGACY, room=room, ring_timeout=600)
    want = "inviting" if guest_rings else "conferenced"
    await s.until(lambda: m.state.name == want)
    if guest_rings:
        await s.until(lambda: len(trunk_legs(s, call.channel.name)) == 1)
    return call, cid, agent, m


async def test_three_way_with_a_legacy_seat(stack: Stack) -> None:
    s = stack
    call, cid, agent, m = await three_way(s, room="r100")
    caller = call.channel.name
    (seat,) = trunk_legs(s, caller)
    # everyone is in the room, on the simulator and in the model
    members = await m.members()
    assert sorted(x.channel for x in members) == sorted([caller, agent, m.guest])
    assert {x.uniqueid for x in members} == {m.caller_id, m.agent_id, m.guest_id}
    assert not any(x.muted for x in members)
    (me,) = [x for x in members if x.uniqueid == m.caller_id]
    assert (me.caller_num, me.caller_name) == ("13800000101", "李四")
    assert [r.name for r in await s.control.conference_rooms()] == ["r100"]
    assert set(s.model.conferences["r100"].members) == {m.caller_id, m.agent_id, m.guest_id}
    assert s.sim.pbx.conferences.confs["r100"].users.keys() == {caller, agent, m.guest}
    assert s.model.channel(m.guest_id).call_id == cid  # the guest is a leg of the citizen's call
    # the legacy seat hears the room through the Local pair
    assert sim_peer_names(s, seat) == [m.guest.replace(";1", ";2")]

    # mute and unmute the legacy seat
    await m.mute("guest")
    await s.until(lambda: s.model.channel(m.guest_id).muted)
    assert [x.muted for x in await m.members() if x.uniqueid == m.guest_id] == [True]
    assert s.sim.pbx.conferences.confs["r100"].users[m.guest].muted
    await m.unmute("guest")
    await s.until(lambda: not s.model.channel(m.guest_id).muted)
    assert not any(x.muted for x in await m.members())
    mutes = [(e.leg_id, e.muted) for e in s.seen.of(E.ConferenceMuteChanged)]
    assert mutes == [(m.guest_id, True), (m.guest_id, False)]

    # the agent leaves: caller and legacy seat stay connected
    await m.agent_leave()
    assert m.state.name == "two_party"
    await s.until(lambda: s.model.channel(m.agent_id) is None)
    assert sorted(x.channel for x in await m.members()) == sorted([caller, m.guest])
    assert s.sim.channel(caller) is not None and s.sim.channel(seat) is not None
    assert peer_names(s, caller) == [seat]  # through the Local pair, to the seat itself
    joined = {e.leg_id for e in s.seen.of(E.ConferenceJoined) if e.conference == "r100"}
    assert joined == {m.caller_id, m.agent_id, m.guest_id}
    assert [e.leg_id for e in s.seen.of(E.ConferenceLeft)] == [m.agent_id]

    out = await finish(s, call)
    assert m.state.name == "ended" and out.hung_up_by == "caller"
    assert [h[1] for h in m.history] == ["inviting", "conferenced", "two_party", "ended"]
    changes = [(e.old_state, e.new_state) for e in s.seen.of(E.TransferStateChanged) if e.machine_id == m.conf_id]
    assert changes == [("ready", "inviting"), ("inviting", "conferenced"), ("conferenced", "two_party"), ("two_party", "ended")]
    assert [e.conference for e in s.seen.of(E.ConferenceEnded)] == ["r100"]
    (rec,) = s.sink.records
    assert rec.call_id == cid and rec.agent == "8001" and rec.disposition == "ANSWERED"
    roles = [(leg.role, leg.channel) for leg in rec.legs]
    assert roles[:2] == [("caller", caller), ("agent", agent)]
    conf_legs = [leg for leg in rec.legs if leg.role == "conference"]
    assert {leg.channel for leg in conf_legs} == {m.guest, m.guest.replace(";1", ";2")}
    assert seat in [leg.channel for leg in rec.legs]  # the trunk leg to the legacy seat too
    assert all(leg.exten == LEGACY for leg in conf_legs)
    assert rec.talk_time > 0 and s.model.live_calls == 0


# Each live state, each party hanging up: the state reached and where the caller is then.
# "agent" = caller bridged with the agent again; "room" = caller still in the room with
# someone; "ivr" = caller back in the IVR; "" = the caller is gone.
HANGUPS = [
    ("inviting", "caller", "ended", ""),
    ("inviting", "agent", "caller_waiting", "room"),
    ("inviting", "guest", "reverted", "agent"),
    ("conferenced", "caller", "agent_with_guest", ""),
    ("conferenced", "agent", "two_party", "room"),
    ("conferenced", "guest", "reverted", "agent"),
    ("caller_waiting", "caller", "ended", ""),
    ("caller_waiting", "guest", "failed", "ivr"),
    ("two_party", "caller", "ended", ""),
    ("two_party", "guest", "ended", "ivr"),
    ("agent_with_guest", "agent", "ended", ""),
    ("agent_with_guest", "guest", "ended", ""),
]


@pytest.mark.parametrize("state,who,after,caller_at", HANGUPS, ids=[f"{a}-{b}" for a, b, _, _ in HANGUPS])
async def test_three_way_hangup_in_every_live_state(stack: Stack, state: str, who: str, after: str, caller_at: str) -> None:
    s = stack
    rings = state in ("inviting", "caller_waiting")
    call, cid, agent, m = await three_way(s, room=f"h-{state}-{who}", guest_rings=rings, num="13800000102")
    caller = call.channel.name
    (seat,) = trunk_legs(s, caller)
    if state == "caller_waiting":
        s.sim.hangup(agent)
    elif state == "two_party":
        await m.agent_leave()
    elif state == "agent_with_guest":
        s.sim.hangup(call)
    await s.until(lambda: m.state.name == state)

    party = {"caller": caller, "agent": agent, "guest": seat}[who]
    s.sim.hangup(call if who == "caller" else party)
    await s.until(lambda: m.state.name == after)
    assert m.history[-1][1] == after

    if caller_at:
        await s.until(lambda: s.model.channel(m.caller_id) is not None)
        if caller_at == "agent":
            await s.until(lambda: peer_names(s, caller) == [agent])
            assert sim_peer_names(s, caller) == [agent] and m.returned_to == "agent"
        elif caller_at == "room":
            assert s.model.channel(m.caller_id).conference == m.room
            assert caller in s.sim.pbx.conferences.confs[m.room].users
        elif caller_at == "ivr":
            await s.until(lambda: s.model.channel(m.caller_id).context == "hotline-ivr")
            assert m.returned_to == "ivr" and call.channel.agi is not None
    else:
        # the caller is gone: nobody is left behind in the room
        if who != "caller" or state in ("inviting", "caller_waiting", "two_party"):
            await s.until(lambda: not s.sim.pbx.conferences.confs)
    if after == "agent_with_guest":
        # agent and legacy seat finish their talk in the room; the agent hanging up ends it
        assert s.sim.pbx.conferences.confs[m.room].users.keys() == {agent, m.guest}
        s.sim.hangup(agent)
        await s.until(lambda: m.state.name == "ended")
    if after in ("ended", "reverted", "failed"):
        assert m.done and s.conferences.get(m.conf_id) is None
    out = await finish(s, call)
    assert out.hung_up_by == "caller"  # the PBX never hung up on the citizen
    assert not s.sim.pbx.conferences.confs and not s.model.conferences
    assert [e.conference for e in s.seen.of(E.ConferenceEnded)] == [m.room]
    (rec,) = s.sink.records
    assert rec.call_id == cid
    assert {leg.role for leg in rec.legs} >= {"caller", "agent", "conference"}


async def test_three_way_kick_the_guest_gives_the_caller_back_to_the_agent(stack: Stack) -> None:
    s = stack
    call, cid, agent, m = await three_way(s, room=None, num="13800000103")  # the room is named after the machine
    assert m.room == m.conf_id and m.room in s.sim.pbx.conferences.confs
    caller = call.channel.name
    await m.kick(m.guest_id)
    await s.until(lambda: m.state.name == "reverted")
    await s.until(lambda: peer_names(s, caller) == [agent])
    assert sim_peer_names(s, caller) == [agent]
    assert not s.sim.pbx.conferences.confs and not trunk_legs(s, caller)
    assert m.returned_to == "agent"
    # kicking someone who is not in the room is refused by the PBX
    with pytest.raises(ControlError) as ei:
        await s.control.conference_kick(m.room, agent)
    assert ei.value.kind == "error"
    out = await finish(s, call)
    assert out.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert [leg.role for leg in rec.legs].count("conference") == 2


async def test_three_way_legacy_seat_busy_gives_the_caller_back(stack: Stack) -> None:
    s = stack
    s.sim.config.trunk_numbers[LEGACY] = TrunkBehaviour(mode="busy")
    call, cid = await s.inbound(dnis="12345", caller_num="13800000104")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    m = await s.conferences.start_three_way(agent, LEGACY, room="b1")
    assert await m.wait(10) == "reverted"
    assert m.returned_to == "agent" and "third party did not join" in m.reason
    await s.until(lambda: peer_names(s, caller) == [agent] and not s.sim.pbx.conferences.confs)
    assert sim_peer_names(s, caller) == [agent]
    out = await finish(s, call)
    assert out.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert "BUSY" in [leg.dial_status for leg in rec.legs]  # the legacy seat's trunk leg


@pytest.mark.parametrize("how", ["cancel", "end"])
async def test_three_way_cancel_and_end_give_the_caller_back(stack: Stack, how: str) -> None:
    s = stack
    call, cid, agent, m = await three_way(s, room=f"c-{how}", guest_rings=how == "cancel", num="13800000105")
    caller = call.channel.name
    await (m.cancel() if how == "cancel" else m.end())
    assert m.state.name == ("cancelled" if how == "cancel" else "reverted")
    await s.until(lambda: peer_names(s, caller) == [agent] and not trunk_legs(s, caller))
    assert sim_peer_names(s, caller) == [agent] and not s.sim.pbx.conferences.confs
    await s.until(lambda: s.model.channel(m.guest_id) is None)
    out = await finish(s, call)
    assert out.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert rec.call_id == cid


async def test_three_way_room_members_carry_the_call_id(stack: Stack) -> None:
    s = stack
    call, cid, agent, m = await three_way(s, room="id1", num="13800000106")
    members = await m.members()
    assert {x.uniqueid: s.model.channel(x.uniqueid).call_id for x in members} == dict.fromkeys(
        (m.caller_id, m.agent_id, m.guest_id), cid)
    assert {x.call_id for x in members} == {cid}


# ---------------------------------------------------------------------------
# 2. MixMonitor
# ---------------------------------------------------------------------------
async def test_mixmonitor_records_the_bridged_call(stack: Stack, tmp_path: Path) -> None:
    s = stack
    call, cid = await s.inbound(dnis="12345", caller_num="13800000201")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    path = tmp_path / f"{cid}.wav"
    assert await s.control.mixmonitor_start(caller, str(path)) == str(path)
    await s.until(lambda: bool(s.seen.of(E.RecordingStarted)))
    await asyncio.sleep(0.2)  # 4 s of simulated talk
    await s.control.mixmonitor_stop(caller)
    await s.until(lambda: bool(s.seen.of(E.RecordingStopped)))
    await s.until(lambda: path.exists())  # written (atomically) off the event loop
    assert s.sim.mixmonitor.written == [path]
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        frames = w.readframes(w.getnframes())
        assert w.getnframes() > 0
    samples = array("h", frames)
    assert max(abs(x) for x in samples) > 1000  # speech, not silence
    (started,) = s.seen.of(E.RecordingStarted)
    (stopped,) = s.seen.of(E.RecordingStopped)
    assert started.path == stopped.path == str(path.resolve())
    assert started.call_id == cid and started.channel == caller
    assert s.model.call(cid).recordings == [str(path.resolve())]
    await finish(s, call)
    (rec,) = s.sink.records
    assert rec.recordings == (str(path.resolve()),)
    assert agent in [leg.channel for leg in rec.legs]


# ---------------------------------------------------------------------------
# 3. blind transfer to a legacy hotline
# ---------------------------------------------------------------------------
async def test_blind_transfer_of_a_bridged_call_to_a_legacy_hotline(stack: Stack) -> None:
    s = stack
    s.sim.config.trunk_numbers[LEGACY] = TrunkBehaviour(answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num="13800000301")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    out = await s.control.blind_transfer(caller, "hotline-outbound", LEGACY)
    assert out.kind == "blind" and out.transferee == caller and out.target == f"hotline-outbound,{LEGACY}"
    await s.until(lambda: len(trunk_legs(s, caller)) == 1 and peer_names(s, caller) == trunk_legs(s, caller))
    (seat,) = trunk_legs(s, caller)
    assert sim_peer_names(s, caller) == [seat] and seat in call.bridged_with
    await s.until(lambda: s.model.resolve(agent) is None)
    assert s.sim.channel(agent) is None  # the agent is released
    (done,) = [e for e in s.seen.of(E.TransferCompleted) if e.kind == "blind"]
    assert done.call_id == cid and done.transferee == caller and done.target == f"hotline-outbound,{LEGACY}"
    started = s.seen.of(E.TransferStarted)
    assert [(e.kind, e.transferer, e.transferee) for e in started] == [("blind", agent, caller)]
    outcome = await finish(s, call)
    assert outcome.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert rec.transfers == 1 and rec.agent == "8001"
    assert seat in [leg.channel for leg in rec.legs]


async def test_blind_transfer_of_an_unbridged_caller_redirects_and_is_counted(stack: Stack) -> None:
    s = stack
    s.sim.config.trunk_numbers[LEGACY] = TrunkBehaviour(answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num="13800000302")
    caller = call.channel.name
    out = await s.control.blind_transfer(caller, "hotline-outbound", LEGACY)
    assert out.kind == "redirect"
    await s.until(lambda: len(trunk_legs(s, caller)) == 1 and peer_names(s, caller) == trunk_legs(s, caller))
    (seat,) = trunk_legs(s, caller)
    assert sim_peer_names(s, caller) == [seat]
    (done,) = s.seen.of(E.TransferCompleted)
    assert (done.kind, done.call_id, done.transferee) == ("redirect", cid, caller)
    outcome = await finish(s, call)
    assert outcome.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert seat in [leg.channel for leg in rec.legs]
    assert rec.transfers == 1


# ---------------------------------------------------------------------------
# 4. attended transfer with Atxfer
# ---------------------------------------------------------------------------
async def test_atxfer_completes_with_bridge_merge(stack: Stack) -> None:
    s = stack
    s.sim.config.trunk_numbers["12333"] = TrunkBehaviour(answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num="13800000401")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    t = await s.transfers.start_attended(agent, "12333", mode="atxfer")
    await s.until(lambda: t.state.name == "consulting")
    assert s.model.resolve(caller).moh_class is not None  # the caller hears music
    assert t.recipient.startswith("Local/12333@hotline-outbound-")
    assert peer_names(s, agent) != [caller]  # the agent talks to the recipient
    await t.complete()
    assert t.state.name == "completed"
    await s.until(lambda: bool(s.seen.of(E.BridgesMerged)))
    (seat,) = trunk_legs(s, caller)
    await s.until(lambda: peer_names(s, caller) == [seat])
    assert s.model.resolve(caller).moh_class is None
    assert s.sim.channel(agent) is None
    kinds = [(e.kind, e.transfer_id == t.transfer_id) for e in s.seen.of(E.TransferCompleted)]
    assert ("attended", True) in kinds and ("attended", False) in kinds  # ours and the PBX's
    outcome = await finish(s, call)
    assert outcome.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert rec.transfers == 1 and rec.agent == "8001"


async def test_atxfer_cancel_gives_the_caller_back_to_the_agent(stack: Stack) -> None:
    s = stack
    s.sim.config.trunk_numbers["12333"] = TrunkBehaviour(answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num="13800000402")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    t = await s.transfers.start_attended(agent, "12333", mode="atxfer")
    await s.until(lambda: t.state.name == "consulting")
    await t.cancel()
    assert t.state.name == "cancelled"
    await s.until(lambda: peer_names(s, caller) == [agent] and not trunk_legs(s, caller))
    assert sim_peer_names(s, caller) == [agent]
    await s.until(lambda: s.model.resolve(caller).moh_class is None)
    assert not [e for e in s.seen.of(E.TransferCompleted)]
    outcome = await finish(s, call)
    assert outcome.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert rec.transfers == 0


@pytest.mark.parametrize("who", ["recipient_busy", "recipient", "caller", "agent"])
async def test_atxfer_hangups(stack: Stack, who: str) -> None:
    """Busy recipient or recipient hanging up: the agent gets the caller back; the caller
    hanging up: agent and recipient stay connected; the agent hanging up completes it."""
    s = stack
    s.sim.config.trunk_numbers["12333"] = TrunkBehaviour(mode="busy" if who == "recipient_busy" else "answer", answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num="13800000403")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    t = await s.transfers.start_attended(agent, "12333", mode="atxfer")
    if who == "recipient_busy":
        assert await t.wait(10) == "failed"
    else:
        await s.until(lambda: t.state.name == "consulting")
        (seat,) = trunk_legs(s, caller)
        s.sim.hangup({"recipient": seat, "caller": call, "agent": agent}[who])
        want = {"recipient": "failed", "caller": "abandoned", "agent": "completed"}[who]
        assert await t.wait(10) == want
    if t.state.name == "failed":
        assert t.returned_to == "agent"
        await s.until(lambda: peer_names(s, caller) == [agent] and not trunk_legs(s, caller))
        assert sim_peer_names(s, caller) == [agent]
        (failed,) = s.seen.of(E.TransferFailed)
        assert failed.transfer_id == t.transfer_id and failed.caller_returned_to == "agent"
        await s.until(lambda: s.model.resolve(caller).moh_class is None)
    elif t.state.name == "abandoned":
        (seat,) = trunk_legs(s, caller)
        assert sim_peer_names(s, agent) == [t.recipient]  # agent and recipient still talk
        s.sim.hangup(seat)
    else:
        (seat,) = trunk_legs(s, caller)
        await s.until(lambda: peer_names(s, caller) == [seat])
    out = await finish(s, call)
    assert out.hung_up_by == "caller"
    await s.until(lambda: s.sim.metrics().channels_live == 0)
    (rec,) = s.sink.records
    assert rec.transfers == (1 if who == "agent" else 0)


async def test_server_driven_attended_transfer_is_counted_on_the_cdr(stack: Stack) -> None:
    s = stack
    s.sim.config.trunk_numbers["12333"] = TrunkBehaviour(answer_after=1)
    call, cid = await s.inbound(dnis="12345", caller_num="13800000404")
    agent = await s.agent_for(cid)
    caller = call.channel.name
    t = await s.transfers.start_attended(agent, "12333")
    await s.until(lambda: t.state.name == "consulting")
    await t.complete()
    assert t.state.name == "completed"
    (seat,) = trunk_legs(s, caller)
    await s.until(lambda: peer_names(s, caller) == [seat] and s.sim.channel(agent) is None)
    assert [e.transfer_id for e in s.seen.of(E.TransferCompleted)] == [t.transfer_id]
    out = await finish(s, call)
    assert out.hung_up_by == "caller"
    (rec,) = s.sink.records
    assert rec.transfers == 1


# ---------------------------------------------------------------------------
# 5. a long hold
# ---------------------------------------------------------------------------
async def test_hold_longer_than_a_minute_keeps_the_agent() -> None:
    s = await make_stack(speed=100.0)
    try:
        call, cid = await s.inbound(dnis="12345", caller_num="13800000501")
        agent = await s.agent_for(cid)
        caller = call.channel.name
        assert await s.control.hold(caller) == agent
        await s.until(lambda: s.model.resolve(caller).moh_class is not None)
        t0 = s.sim.clock.now()
        await s.until(lambda: s.sim.clock.now() - t0 > 90, timeout=30)  # 90 s of simulated hold
        assert s.sim.channel(agent) is not None and s.model.resolve(agent) is not None
        assert s.model.resolve(agent).context == "hotline-agent"
        await s.control.unhold(caller)
        await s.until(lambda: peer_names(s, caller) == [agent])
        assert sim_peer_names(s, caller) == [agent]
        assert s.model.resolve(caller).moh_class is None
        assert [e.leg_id for e in s.seen.of(E.HoldStarted)] == [call.channel.uniqueid]
        assert [e.leg_id for e in s.seen.of(E.HoldEnded)] == [call.channel.uniqueid]
        outcome = await finish(s, call)
        assert outcome.hung_up_by == "caller"
        (rec,) = s.sink.records
        assert rec.agent == "8001" and [leg.role for leg in rec.legs] == ["caller", "agent"]
    finally:
        await close_stack(s)


# ---------------------------------------------------------------------------
# 6. queue membership
# ---------------------------------------------------------------------------
async def test_queue_membership_actions(stack: Stack) -> None:
    s = stack
    q = s.sim.config.queues[0]
    seen: list[Any] = []
    s.client.subscribe(seen.append, "QueueMemberAdded", "QueueMemberPause", "QueueMemberPenalty", "QueueMemberRemoved")

    def member(items: list[Any], iface: str) -> dict[str, str]:
        (m,) = [i.fields for i in items if i.name == "QueueMember" and i.fields.get("Location") == iface]
        return m

    await s.control.queue_add(q, "PJSIP/8001", member_name="王五", penalty=2)
    await s.control.queue_add(q, "PJSIP/8002", member_name="赵六", paused=True, reason="培训")
    items = await s.control.queue_status(q)
    assert [i.fields.get("Queue") for i in items if i.name == "QueueParams"] == [q]
    m1, m2 = member(items, "PJSIP/8001"), member(items, "PJSIP/8002")
    assert (m1["Name"], m1["Penalty"], m1["Paused"], m1["Status"]) == ("王五", "2", "0", "1")
    assert (m2["Name"], m2["Paused"], m2["PausedReason"]) == ("赵六", "1", "培训")

    await s.control.queue_pause("PJSIP/8001", True, queue=q, reason="午休")
    await s.control.queue_pause("PJSIP/8002", False)
    await s.control.queue_penalty("PJSIP/8002", 5, queue=q)
    items = await s.control.queue_status(q)
    m1, m2 = member(items, "PJSIP/8001"), member(items, "PJSIP/8002")
    assert (m1["Paused"], m1["PausedReason"]) == ("1", "午休")
    assert (m2["Paused"], m2["PausedReason"], m2["Penalty"]) == ("0", "", "5")

    await s.control.queue_remove(q, "PJSIP/8001")
    items = await s.control.queue_status(q)
    assert [i.fields.get("Location") for i in items if i.name == "QueueMember"] == ["PJSIP/8002"]
    await s.settle()
    names = [(e.name, e.fields.get("Interface")) for e in seen]
    assert names == [
        ("QueueMemberAdded", "PJSIP/8001"), ("QueueMemberAdded", "PJSIP/8002"),
        ("QueueMemberPause", "PJSIP/8001"), ("QueueMemberPause", "PJSIP/8002"),
        ("QueueMemberPenalty", "PJSIP/8002"), ("QueueMemberRemoved", "PJSIP/8001"),
    ]
    pause = seen[2].fields
    assert (pause["Paused"], pause["PausedReason"]) == ("1", "午休")

    # a member talking to a citizen shows in use
    call, cid = await s.inbound(dnis="12345", caller_num="13800000601")
    await s.agent_for(cid, seat="8002")
    items = await s.control.queue_status(q)
    assert member(items, "PJSIP/8002")["Status"] == "2"
    await finish(s, call)
    assert member(await s.control.queue_status(q), "PJSIP/8002")["Status"] == "1"

    # refusals come back as ControlError("error")
    for coro in (
        s.control.queue_add("no-such-queue", "PJSIP/8003"),
        s.control.queue_add(q, "PJSIP/8002"),
        s.control.queue_remove(q, "PJSIP/8001"),
        s.control.queue_pause("PJSIP/8009", True),
        s.control.queue_penalty("PJSIP/8009", 1),
    ):
        with pytest.raises(ControlError) as ei:
            await coro
        assert ei.value.kind == "error"
    assert [i.fields.get("Queue") for i in await s.control.queue_status() if i.name == "QueueParams"] == list(s.sim.config.queues)


# ---------------------------------------------------------------------------
# 7. originate outcomes
# ---------------------------------------------------------------------------
# (dial string, behaviour, ring timeout) ->
#   (outcome, Reason, CDR disposition (None: no channel was created), DialEnd status, hang-up cause)
ORIGINATES = {
    "answered": ("PJSIP/8011", AgentBehaviour(answer_after=1), 30, ("answered", 4, "ANSWERED", "ANSWER", 16)),
    # Asterisk 22 reports a SIP 486 as Reason 0: the product sees "failed"; DialEnd and the CDR say BUSY
    "busy_seat": ("PJSIP/8012", AgentBehaviour(mode="busy"), 30, ("failed", 0, "BUSY", "BUSY", 17)),
    # no DialEnd for a ring timeout (as captured): the CDR says NO ANSWER from cause 19
    "ring_timeout": ("PJSIP/8013", AgentBehaviour(mode="ring"), 3, ("no_answer", 3, "NO ANSWER", None, 19)),
    "unregistered": ("PJSIP/8014", AgentBehaviour(mode="unregistered"), 30, ("failed", 0, None, None, None)),
    "trunk_congestion": ("PJSIP/trunk/110", TrunkBehaviour(mode="congestion"), 30, ("failed", 0, "CONGESTION", "CONGESTION", 34)),
}


@pytest.mark.parametrize("case", list(ORIGINATES))
async def test_originate_outcomes(stack: Stack, case: str) -> None:
    s = stack
    dial, behaviour, ring, (outcome, reason, disposition, dial_status, cause) = ORIGINATES[case]
    if isinstance(behaviour, TrunkBehaviour):
        s.sim.config.trunk_numbers[dial.rsplit("/", 1)[1]] = behaviour
    else:
        s.sim.agents[dial.split("/")[1]] = behaviour
    uid = f"orig-{case}"
    res = await s.control.originate(dial, context="hotline-agent", exten="connect", channel_id=uid, ring_timeout=ring)
    assert (res.outcome, res.reason, res.success) == (outcome, reason, outcome == "answered")
    assert res.uniqueid == uid
    if outcome == "answered":
        assert res.channel.startswith(dial + "-")
        await s.until(lambda: s.model.channel(uid) is not None and s.model.channel(uid).state_name == "up")
        assert res.call_id == uid
        await s.control.hangup(res.channel)
    else:
        assert res.channel == dial  # a failure names the dial string
    assert [r.outcome for r in s.seen.of(E.OriginateResult)] == [outcome]
    await s.quiet()
    ends = [e.dial_status for e in s.seen.of(E.DialEnded) if e.dest_leg_id == uid]
    assert ends == ([dial_status] if dial_status else [])
    if disposition is None:
        assert s.sink.records == [] and s.sim.metrics().channels_created == 0
    else:
        (rec,) = s.sink.records
        assert (rec.call_id, rec.disposition, rec.direction) == (uid, disposition, "outbound")
        assert rec.hangup_cause == cause and [leg.leg_id for leg in rec.legs] == [uid]
        assert (rec.answered_at is not None) == (outcome == "answered")


@pytest.mark.parametrize("mode,cause,disposition", [("congestion", 34, "CONGESTION"), ("busy", 17, "BUSY")])
async def test_callback_through_a_failing_trunk(stack: Stack, mode: str, cause: int, disposition: str) -> None:
    s = stack
    s.sim.config.trunk_numbers["13800000701"] = TrunkBehaviour(mode=mode)
    uid = f"cb-{mode}"
    res = await s.control.originate("Local/13800000701@hotline-outbound", context="hotline-hold", exten="moh",
                                    channel_id=uid, ring_timeout=10)
    assert not res.success and res.channel == "Local/13800000701@hotline-outbound"
    await s.quiet()
    (rec,) = s.sink.records
    trunk = [leg for leg in rec.legs if leg.role == "dialled"]
    assert [leg.dial_status for leg in trunk] == [disposition]
    assert [leg.hangup_cause for leg in rec.legs] == [cause, cause, cause]
    assert rec.disposition == disposition
