"""Resync and reconcile: calls that ended while disconnected are closed and accounted, none leaked, none duplicated."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from cti import events as E
from cti.ami.errors import AmiActionError, AmiNotConnected
from cti.ami.protocol import Message
from cti.model import LOST_CAUSE_TXT, CallModel, Conference, ModelConfig
from cti.resync import Resync
from tests.cti.test_control import FakeAmi, response
from tests.cti.test_model import AMI, RIG, RecordingBus, StepClock, cdrs, ev, feed, messages, needs_traces, new_model


def chan(uid: str, name: str, linkedid: str, state: str = "6", bridge: str = "") -> dict[str, str]:
    return dict(Channel=name, Uniqueid=uid, Linkedid=linkedid, ChannelState=state, CallerIDNum="13800138000",
                CallerIDName="张三", Context="hotline-inbound", Exten="12345", Priority="1", BridgeId=bridge)


def item(fields: dict[str, str]) -> Message:
    return Message("Event", "CoreShowChannel", {"Event": "CoreShowChannel", "ActionID": "r-1", **fields})


# ---------------------------------------------------------------------------
# reconcile
# ---------------------------------------------------------------------------
def test_channels_gone_while_disconnected_close_their_calls() -> None:
    model, bus = new_model(ModelConfig())
    a1, a2 = chan("1.1", "PJSIP/trunk-1", "1.1"), chan("1.2", "PJSIP/8001-2", "1.1")
    b1 = chan("2.1", "PJSIP/trunk-3", "2.1")
    for c in (a1, a2, b1):
        model.handle(ev("Newchannel", **c))
    mark = model.mark()
    res = model.reconcile([item(b1)], since=mark)
    assert (res.closed, res.added, res.lost_legs) == (1, 0, 2)
    assert res.closed_calls == ["1.1"]
    (rec,) = cdrs(bus)
    assert rec.call_id == "1.1" and rec.lost
    assert rec.hangup_cause is None and rec.hangup_cause_txt == LOST_CAUSE_TXT
    assert {leg.hangup_cause_txt for leg in rec.legs} == {LOST_CAUSE_TXT}
    assert model.live_calls == 1
    # late events of the closed call change nothing
    model.handle(ev("Hangup", **a1, Cause="16"))
    assert len(cdrs(bus)) == 1


def test_unknown_channels_in_the_snapshot_are_added_once() -> None:
    model, bus = new_model(ModelConfig())
    c1, c2 = chan("3.1", "PJSIP/trunk-4", "3.1", bridge="br-9"), chan("3.2", "PJSIP/8001-5", "3.1", bridge="br-9")
    for _ in range(2):
        res = model.reconcile([item(c1), item(c2)], since=model.mark())
    assert model.live_calls == 1
    call = model.call("3.1")
    assert call is not None and set(call.channels) == {"3.1", "3.2"}
    assert call.dnis == "12345" and call.caller_name == "张三"
    assert [p.uniqueid for p in model.peers("PJSIP/trunk-4")] == ["3.2"]
    assert res.added == 0  # second pass: nothing new
    model.handle(ev("Hangup", **c2, Cause="16"))
    model.handle(ev("Hangup", **c1, Cause="16"))
    assert [r.call_id for r in cdrs(bus)] == ["3.1"]
    assert len(bus.of(E.CallStarted)) == 1


def test_channel_created_after_the_snapshot_is_not_hung_up() -> None:
    model, bus = new_model(ModelConfig())
    mark = model.mark()
    model.handle(ev("Newchannel", **chan("4.1", "PJSIP/trunk-6", "4.1")))  # arrives after the snapshot was taken
    res = model.reconcile([], since=mark)
    assert res.closed == 0 and model.live_calls == 1


def test_channel_hung_up_after_the_snapshot_is_not_re_added() -> None:
    model, bus = new_model(ModelConfig())
    c = chan("5.1", "PJSIP/trunk-7", "5.1")
    model.handle(ev("Newchannel", **c))
    mark = model.mark()
    model.handle(ev("Hangup", **c, Cause="16"))  # hung up after the snapshot listed it
    res = model.reconcile([item(c)], since=mark)
    assert res.added == 0 and model.live_calls == 0
    assert len(cdrs(bus)) == 1 and not cdrs(bus)[0].lost


def test_snapshot_corrects_state_and_bridge() -> None:
    model, bus = new_model(ModelConfig())
    c = chan("6.1", "PJSIP/trunk-8", "6.1", state="4")
    model.handle(ev("Newchannel", **c))
    model.handle(ev("BridgeEnter", **c, BridgeUniqueid="br-old"))
    res = model.reconcile([item(dict(c, ChannelState="6", BridgeId=""))], since=model.mark())
    ch = model.channel("6.1")
    assert res.updated == 1 and ch is not None and ch.state_name == "up" and ch.bridge_id is None
    assert model.call("6.1").answered_at is not None
    assert "br-old" not in model.bridges


@needs_traces
def test_captured_snapshot_adopts_three_calls() -> None:
    model, bus = new_model()
    items = [m for m in messages("core_show_channels_status") if m.name == "CoreShowChannel"][:3]
    res = model.reconcile(items, since=model.mark())
    assert res.added == 3 and model.live_calls == 3
    assert {c.dnis for c in model.calls.values()} == {"600", "601", "12345"}
    assert model.channel_by_name("PJSIP/1003-00000022").application == "AGI"


@needs_traces
def test_asterisk_restart_closes_every_call_exactly_once() -> None:
    """Calls live before the restart (captures), then the empty snapshot after it (reconnect capture)."""
    model, bus = new_model()
    for scenario in ("queue_agent_answers", "three_way_confbridge", "bulk_events"):
        msgs = messages(scenario)
        # stop each capture half-way: its calls are live when Asterisk goes away
        feed(model, msgs[: len(msgs) // 2])
    live = set(model.calls)
    assert live
    ended_before = {r.call_id for r in cdrs(bus)}
    after = [m for m in Framer_feed(AMI / "reconnect" / "2_after_restart" / "received.ami") if m.name == "CoreShowChannel"]
    res = model.reconcile(after, since=model.mark())
    assert res.closed == len(live)
    ids = [r.call_id for r in cdrs(bus)]
    assert len(ids) == len(set(ids))
    assert set(ids) == live | ended_before
    assert model.live_calls == 0 and model.channels == {}
    assert all(r.lost for r in cdrs(bus) if r.call_id in live)


def Framer_feed(path) -> list[Message]:
    from cti.ami.protocol import Framer

    return Framer().feed(path.read_bytes())


# ---------------------------------------------------------------------------
# Resync.run against a scripted peer
# ---------------------------------------------------------------------------
@needs_traces
async def test_resync_run_publishes_snapshot_and_counts() -> None:
    ami = FakeAmi()
    bus = RecordingBus()
    model = CallModel(bus, config=RIG, clock=StepClock())
    gone = chan("7.1", "PJSIP/trunk-9", "7.1")
    model.handle(ev("Newchannel", **gone))
    csc = messages("core_show_channels_status")
    ami.lists["CoreShowChannels"] = [m for m in csc if m.name == "CoreShowChannel"][:3]
    qsa = messages("queue_caller_abandons")
    ami.lists["QueueStatus"] = [m for m in qsa if m.name in ("QueueParams", "QueueMember", "QueueEntry") and m.fields.get("ActionID")]
    ami.lists["ConfbridgeListRooms"] = AmiActionError("ConfbridgeListRooms", response("Error", "", Message="No active conferences."))
    rs = Resync(ami, model, bus, clock=StepClock())
    rs.attach()
    assert ami.connect_hooks == [rs.run]
    res = await rs.run()
    assert (res.closed, res.added, res.live_calls) == (1, 3, 3)
    assert res.queues == 1 and res.conferences == 0 and res.errors == ()
    (snap,) = bus.of(E.QueueSnapshot)
    assert snap.queues == ("q-general",) and snap.waiting == 1
    assert snap.members and snap.members[0].interface == "PJSIP/8001"
    assert bus.of(E.AmiLinkUp) and bus.of(E.ModelResynced) == [res]
    ami.disconnect_hooks[0](ConnectionResetError("peer closed"))
    assert bus.of(E.AmiLinkDown)[0].reason == "peer closed"
    rs.detach()
    assert ami.connect_hooks == []


async def test_resync_without_a_snapshot_closes_nothing() -> None:
    ami = FakeAmi()
    bus = RecordingBus()
    model = CallModel(bus, config=ModelConfig(), clock=StepClock())
    model.handle(ev("Newchannel", **chan("8.1", "PJSIP/trunk-10", "8.1")))
    ami.lists["CoreShowChannels"] = AmiNotConnected("link lost again")
    res = await Resync(ami, model, bus).run()
    assert res.closed == 0 and model.live_calls == 1 and res.errors


@needs_traces
async def test_resync_rebuilds_conferences() -> None:
    ami = FakeAmi()
    bus = RecordingBus()
    model = CallModel(bus, config=RIG, clock=StepClock())
    msgs = messages("three_way_confbridge")
    cut = next(i for i, m in enumerate(msgs) if m.name == "ConfbridgeMute")
    feed(model, msgs[:cut])
    model.conferences.clear()  # pretend the room events were missed, and a room ended unseen
    model.conferences["stale"] = Conference("stale", "br-x", model._clock())
    ami.lists["CoreShowChannels"] = [
        item(dict(Channel=c.name, Uniqueid=c.uniqueid, Linkedid=c.call_id, ChannelState="6", BridgeId=c.bridge_id or ""))
        for c in model.channels.values()
    ]
    ami.lists["ConfbridgeListRooms"] = [m for m in msgs if m.name == "ConfbridgeListRooms"]
    ami.lists["ConfbridgeList"] = [m for m in msgs if m.name == "ConfbridgeList"][3:6]
    res = await Resync(ami, model, bus).run()
    assert res.conferences == 1 and res.closed == 0
    assert set(model.conferences["room42"].members) == {"1795266477.8", "1795266477.9", "1795266482.12"}
    assert model.channel("1795266477.8").muted
    assert "stale" not in model.conferences


# ---------------------------------------------------------------------------
# seeded random disconnections over synthetic call traffic
# ---------------------------------------------------------------------------
@dataclass
class Truth:
    """What the PBX really has: live channels with their current fields."""

    live: dict[str, dict[str, str]] = field(default_factory=dict)
    vars: dict[str, list[str]] = field(default_factory=dict)

    def apply(self, m: Message) -> None:
        f = m.fields
        uid = f.get("Uniqueid", "")
        if m.name == "Newchannel":
            self.live[uid] = dict(f, BridgeId="")
        elif m.name == "Hangup":
            self.live.pop(uid, None)
            self.vars.pop(uid, None)
        elif m.name == "VarSet" and uid in self.live:
            self.vars.setdefault(uid, []).append(f"{f['Variable']}={f['Value']}")
        elif uid in self.live:
            if m.name == "Newstate":
                self.live[uid]["ChannelState"] = f["ChannelState"]
            elif m.name == "BridgeEnter":
                self.live[uid]["BridgeId"] = f["BridgeUniqueid"]
            elif m.name == "BridgeLeave":
                self.live[uid]["BridgeId"] = ""

    def snapshot(self) -> list[Message]:
        return [item(dict(v)) for v in self.live.values()]

    def status(self) -> list[Message]:
        """``Status`` items with ``Variables:`` (repeated ``Variable`` headers)."""
        out = []
        for uid, v in self.live.items():
            order = [("Event", "Status"), ("Uniqueid", uid), ("Channel", v["Channel"])]
            order += [("Variable", kv) for kv in self.vars.get(uid, [])]
            fields = dict(order[:3])
            if len(order) > 3:
                fields["Variable"] = order[3][1]
            extra = order[4:] or None
            out.append(Message("Event", "Status", fields, extra, order if extra else None))
        return out


def call_script(rng: random.Random, i: int) -> list[list[Message]]:
    """One call as ordered steps: caller arrives, IVR answers, maybe an agent leg (own Linkedid +
    HOTLINE_CALL), bridge, hang-ups in a random order."""
    cid = f"17952{i:05d}.{i}"
    caller = chan(cid, f"PJSIP/trunk-{i:08x}", cid, state="4")
    steps: list[list[Message]] = [[ev("Newchannel", **caller)], [ev("Newstate", **dict(caller, ChannelState="6"))]]
    legs = [caller]
    if rng.random() < 0.7:
        aid = f"{cid}a"
        agent = chan(aid, f"PJSIP/80{i % 100:02d}-{i:08x}", aid, state="0")
        steps.append([ev("Newchannel", **agent), ev("VarSet", **agent, Variable="HOTLINE_CALL", Value=cid)])
        agent = dict(agent, ChannelState="6")
        steps.append([ev("Newstate", **agent)])
        br = f"br-{i}"
        steps.append([ev("BridgeEnter", **caller, BridgeUniqueid=br), ev("BridgeEnter", **agent, BridgeUniqueid=br)])
        legs.append(agent)
        rng.shuffle(legs)
        for leg in legs:
            steps.append([ev("BridgeLeave", **leg, BridgeUniqueid=br), ev("Hangup", **leg, Cause="16")])
    else:
        steps.append([ev("Hangup", **caller, Cause=rng.choice(["16", "0", "17"]))])
    return steps


def traffic(rng: random.Random, calls: int) -> list[Message]:
    scripts = [call_script(rng, i) for i in range(calls)]
    cursors = [0] * calls
    out: list[Message] = []
    active: list[int] = []
    pending = list(range(calls))
    while pending or active:
        if pending and (not active or rng.random() < 0.3):
            active.append(pending.pop(0))
        k = rng.choice(active)
        out.extend(scripts[k][cursors[k]])
        cursors[k] += 1
        if cursors[k] == len(scripts[k]):
            active.remove(k)
    return out


def run_with_drops(seed: int) -> None:
    rng = random.Random(seed)
    stream = traffic(rng, rng.randint(5, 25))
    n = len(stream)
    cuts: list[tuple[int, int]] = []
    pos = 0
    for _ in range(rng.randint(1, 3)):
        a = rng.randint(pos, n)
        b = rng.randint(a, min(n, a + rng.randint(0, n // 3 + 1)))
        cuts.append((a, b))
        pos = b
    model, bus = new_model(ModelConfig())
    truth = Truth()
    observed: set[str] = set()
    i = 0
    for a, b in cuts:
        while i < a:
            truth.apply(stream[i])
            model.handle(stream[i])
            i += 1
        while i < b:  # link down: the PBX goes on, the model sees nothing
            truth.apply(stream[i])
            i += 1
        mark = model.mark()
        snap = truth.snapshot()
        # a few events that follow the snapshot reach the model before the reconcile runs
        for _ in range(rng.randint(0, 3)):
            if i < n:
                truth.apply(stream[i])
                model.handle(stream[i])
                i += 1
        status = truth.status()
        res = model.reconcile(snap, since=mark)
        if res.added:
            model.apply_variables(status)
        observed |= set(model.calls)
    while i < n:
        truth.apply(stream[i])
        model.handle(stream[i])
        i += 1
    started = {e.call_id for e in bus.of(E.CallStarted)} - {e.call_id for e in bus.of(E.CallMerged)}
    ids = [r.call_id for r in cdrs(bus)]
    assert len(ids) == len(set(ids)), f"seed {seed}: duplicated CDR"
    assert set(ids) == started, f"seed {seed}: calls not accounted {started ^ set(ids)}"
    assert model.live_calls == 0 and not model.channels, f"seed {seed}: leaked {list(model.calls)}"
    assert not truth.live
    for r in cdrs(bus):
        assert r.legs[0].leg_id == r.call_id, f"seed {seed}: a merged leg became a call"


@pytest.mark.parametrize("seed", range(200))
def test_random_disconnections_every_call_accounted(seed: int) -> None:
    run_with_drops(seed)


# ---------------------------------------------------------------------------
# restart detection
# ---------------------------------------------------------------------------
async def test_restart_detected_by_start_time_forgets_old_ids() -> None:
    ami = FakeAmi()
    bus = RecordingBus()
    model = CallModel(bus, config=ModelConfig(), clock=StepClock())
    rs = Resync(ami, model, bus)
    ami.reply_fields["CoreStatus"] = {"CoreStartupDate": "2026-11-21", "CoreStartupTime": "13:03:38"}
    await rs.run()
    c = chan("9.0", "PJSIP/trunk-00000000", "9.0")
    model.handle(ev("Newchannel", **c))
    model.handle(ev("Hangup", **c, Cause="16"))
    await rs.run()  # same Asterisk process: ids are remembered
    model.handle(ev("Newchannel", **c))
    assert model.live_calls == 0 and rs.restarts == 0
    ami.reply_fields["CoreStatus"] = {"CoreStartupDate": "2026-11-21", "CoreStartupTime": "13:05:09"}
    await rs.run()
    assert rs.restarts == 1
    model.handle(ev("Newchannel", **c))  # a new process may hand out the same Uniqueid again
    assert model.live_calls == 1


async def test_restart_announced_by_shutdown_event() -> None:
    ami = FakeAmi()
    bus = RecordingBus()
    model = CallModel(bus, config=ModelConfig(), clock=StepClock())
    rs = Resync(ami, model, bus)
    await rs.run()
    model.handle(ev("Shutdown", Shutdown="Cleanly", Restart="True"))
    assert model.restart_pending
    await rs.run()
    assert rs.restarts == 1 and not model.restart_pending


def test_snapshot_older_than_the_models_view_does_not_regress_it() -> None:
    model, bus = new_model(ModelConfig())
    c = chan("12.1", "PJSIP/trunk-12", "12.1", state="4")
    model.handle(ev("Newchannel", **c))
    mark = model.mark()
    model.handle(ev("Newstate", **dict(c, ChannelState="6")))  # after the snapshot was taken
    model.handle(ev("BridgeEnter", **c, BridgeUniqueid="br-new"))
    res = model.reconcile([item(dict(c, ChannelState="4", BridgeId=""))], since=mark)
    ch = model.channel("12.1")
    assert res.updated == 0 and ch.state_name == "up" and ch.bridge_id == "br-new"
