"""The call model, fed the real Asterisk 22 captures (../shared/asterisk/ami/*/received.ami)."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

import pytest

from cti import events as E
from cti.ami.protocol import Framer, Message
from cti.model import CallModel, ModelConfig, seat_of

TRACES = Path(os.environ.get("HOTLINE_TRACES", Path(__file__).resolve().parents[3] / "shared" / "asterisk"))
AMI = TRACES / "ami"
RIG = ModelConfig(inbound_contexts=frozenset({"from-caller", "hotline-inbound"}))

needs_traces = pytest.mark.skipif(not AMI.is_dir(), reason="Asterisk captures not available")


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[object] = []

    def publish(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class StepClock:
    """A deterministic clock: every reading is 10 ms after the previous one."""

    def __init__(self, start: datetime | None = None, step: float = 0.01) -> None:
        self.t = start or datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)
        self.step = timedelta(seconds=step)

    def __call__(self) -> datetime:
        self.t += self.step
        return self.t


def messages(scenario: str) -> list[Message]:
    return Framer().feed((AMI / scenario / "received.ami").read_bytes())


def ev(name: str, **fields: str) -> Message:
    f = {"Event": name}
    f.update({k.replace("_", "-") if k == "Cause_txt" else k: v for k, v in fields.items()})
    return Message("Event", name, f)


def new_model(config: ModelConfig = RIG, sink=None) -> tuple[CallModel, RecordingBus]:
    bus = RecordingBus()
    return CallModel(bus, sink, config=config, clock=StepClock()), bus


def replay(
    scenario: str,
    until: Callable[[Message], bool] | None = None,
    model: CallModel | None = None,
    bus: RecordingBus | None = None,
) -> tuple[CallModel, RecordingBus, list[Message]]:
    """Feed a capture to a model; stop right after the first message ``until`` matches."""
    if model is None:
        model, bus = new_model()
    assert bus is not None
    msgs = messages(scenario)
    rest: list[Message] = []
    for i, m in enumerate(msgs):
        model.handle(m)
        if until is not None and until(m):
            rest = msgs[i + 1 :]
            break
    return model, bus, rest


def feed(model: CallModel, msgs: Iterable[Message]) -> None:
    for m in msgs:
        model.handle(m)


def is_event(name: str, **match: str) -> Callable[[Message], bool]:
    def pred(m: Message) -> bool:
        return m.name == name and all(m.fields.get(k) == v for k, v in match.items())

    return pred


def cdrs(bus: RecordingBus) -> list[E.CallRecord]:
    return [e.cdr for e in bus.of(E.CallEnded)]


ALL_SCENARIOS = sorted(p.parent.name for p in AMI.glob("*/received.ami")) if AMI.is_dir() else []


# ---------------------------------------------------------------------------
# invariants over every capture
# ---------------------------------------------------------------------------
@needs_traces
@pytest.mark.parametrize("scenario", ALL_SCENARIOS)
def test_every_capture_closes_every_call_with_exactly_one_cdr(scenario: str) -> None:
    model, bus, _ = replay(scenario)
    started = {e.call_id for e in bus.of(E.CallStarted)} - {e.call_id for e in bus.of(E.CallMerged)}
    ended = [r.call_id for r in cdrs(bus)]
    assert sorted(ended) == sorted(started)
    assert len(ended) == len(set(ended))
    assert model.calls == {} and model.channels == {}
    assert model.stats.calls_started == model.stats.calls_ended
    for rec in cdrs(bus):
        assert rec.ended_at >= rec.started_at
        assert rec.legs and rec.legs[0].role == "caller"
        assert all(leg.hungup_at is not None for leg in rec.legs)
        assert not rec.lost


@needs_traces
def test_bulk_events_twenty_calls_all_closed_with_cdrs() -> None:
    model, bus, _ = replay("bulk_events")
    records = cdrs(bus)
    assert len(records) == 20
    assert len({r.call_id for r in records}) == 20
    assert all(r.dnis == "12345" and r.direction == "inbound" for r in records)
    assert all(r.disposition == "ANSWERED" for r in records)
    assert all(r.caller_name == "SIPp" for r in records)
    assert len(bus.of(E.CallStarted)) == 20
    assert model.live_calls == 0


@needs_traces
def test_bulk_events_all_twenty_live_at_peak() -> None:
    model, bus, msgs = replay("bulk_events", until=lambda m: m.name == "Hangup")
    # the first hang-up: 19 calls still live, one closed
    assert model.live_calls == 19
    assert len(cdrs(bus)) == 1


# ---------------------------------------------------------------------------
# caller id, DNIS
# ---------------------------------------------------------------------------
@needs_traces
def test_chinese_caller_name_and_dnis() -> None:
    model, bus, _ = replay("chinese_callerid")
    records = {r.call_id: r for r in cdrs(bus)}
    a = records["1795266134.65"]  # Originate Local/12345@from-caller with CallerID "张三" <13800138000>
    assert a.caller_name == "张三"
    assert a.caller_num == "13800138000"
    assert a.dnis == "12345"
    assert [leg.role for leg in a.legs] == ["caller", "local"]
    b = records["1795266137.67"]  # SIPp From: "张三"
    assert b.caller_name == "张三"
    assert b.dnis == "12345"
    assert b.legs[0].channel == "PJSIP/utf8caller-00000024"


@needs_traces
def test_chinese_caller_live_call_view() -> None:
    model, bus, _ = replay("chinese_callerid", until=is_event("AsyncAGIStart"))
    call = model.call("1795266134.65")
    assert call is not None
    assert call.caller_name == "张三" and call.dnis == "12345"
    assert set(call.channels) == {"1795266134.65", "1795266134.66"}
    assert call.answered_at is not None
    one = model.channel_by_name("Local/12345@from-caller-0000000c;1")
    two = model.channel_by_name("Local/12345@from-caller-0000000c;2")
    assert one is not None and two is not None
    assert one.local_peer == two.uniqueid and two.local_peer == one.uniqueid
    assert two.state_name == "up"


def test_dnis_from_hotline_dnis_variable_and_inbound_context() -> None:
    model, bus = new_model(ModelConfig())
    base = dict(Channel="PJSIP/trunk-00000001", Uniqueid="100.1", Linkedid="100.1", ChannelState="4",
                CallerIDNum="13800138000", CallerIDName="", Context="hotline-inbound", Exten="12345")
    model.handle(ev("Newchannel", **base))
    assert model.call("100.1").dnis == "12345"
    model.handle(ev("VarSet", **base, Variable="__HOTLINE_DNIS", Value="12319"))
    assert model.call("100.1").dnis == "12319"
    assert bus.of(E.CallDnisKnown)[-1].dnis == "12319"
    # a call that starts elsewhere has no DNIS until HOTLINE_DNIS says so
    other = dict(base, Uniqueid="100.2", Linkedid="100.2", Channel="PJSIP/8001-00000002", Context="hotline-agent", Exten="s")
    model.handle(ev("Newchannel", **other))
    assert model.call("100.2").dnis == ""
    assert model.call("100.2").direction == "outbound"


# ---------------------------------------------------------------------------
# queues, bridges, who is connected to whom
# ---------------------------------------------------------------------------
@needs_traces
def test_queue_agent_answers_bridged_peers_and_cdr() -> None:
    model, bus, rest = replay("queue_agent_answers", until=lambda m: m.name == "BridgeEnter" and m.fields.get("BridgeNumChannels") == "2")
    caller = model.channel("1795266021.38")
    assert caller is not None and caller.bridge_id is not None
    peers = model.peers(caller.name)
    assert [p.name for p in peers] == ["PJSIP/8001-00000012"]
    assert model.is_bridged("PJSIP/8001-00000012")
    assert peers[0].role == "agent"
    assert peers[0].call_id == caller.call_id
    assert bus.of(E.CallBridged)
    feed(model, rest)
    (rec,) = cdrs(bus)
    assert rec.dnis == "7100"
    assert rec.agent == "8001"
    assert rec.connected_at is not None and rec.talk_time > 0
    assert rec.disposition == "ANSWERED"
    assert rec.hangup_cause == 16


@needs_traces
def test_queue_caller_abandons_never_connected() -> None:
    model, bus, _ = replay("queue_caller_abandons")
    (rec,) = cdrs(bus)
    assert rec.connected_at is None and rec.talk_time == 0
    assert rec.agent == ""
    agent_leg = rec.legs[1]
    assert agent_leg.role == "agent" and agent_leg.dial_status == "CANCEL"


@needs_traces
def test_queue_ring_no_answer_keeps_first_dial_status() -> None:
    model, bus, _ = replay("queue_ring_no_answer")
    (rec,) = cdrs(bus)
    statuses = {leg.channel: leg.dial_status for leg in rec.legs}
    # DialEnd came twice for the silent agent (NOANSWER, then CANCEL): the first one counts
    assert statuses["PJSIP/8001-00000014"] == "NOANSWER"
    assert statuses["Local/8002@agents-robot-00000008;1"] == "ANSWER"
    assert rec.agent == "8002"
    dial_ends = [e for e in bus.of(E.DialEnded) if e.dest_channel == "PJSIP/8001-00000014"]
    assert len(dial_ends) == 1


@needs_traces
def test_redirect_to_queue_keeps_channel_and_dnis() -> None:
    model, bus, _ = replay("redirect_to_queue")
    (rec,) = cdrs(bus)
    assert rec.dnis == "12345"
    assert rec.legs[0].channel == "PJSIP/1001-00000017"
    assert rec.agent == "8001"
    assert rec.talk_time > 0
    assert not bus.of(E.TransferCompleted)


# ---------------------------------------------------------------------------
# transfers
# ---------------------------------------------------------------------------
@needs_traces
def test_blind_transfer_outcome() -> None:
    model, bus, rest = replay("blind_transfer", until=is_event("BlindTransfer"))
    (done,) = bus.of(E.TransferCompleted)
    assert done.kind == "blind"
    assert done.target == "legacy-hotlines,12319"
    assert done.transferee == "PJSIP/1002-00000018"
    assert done.call_id == "1795266074.49"
    feed(model, rest)
    (rec,) = cdrs(bus)
    assert rec.transfers == 1
    agent = next(leg for leg in rec.legs if leg.channel == "PJSIP/8001-00000019")
    assert agent.hangup_cause == 16
    assert agent.hungup_at < rec.ended_at  # the caller went on to 12319 after the agent left
    assert rec.legs[0].exten == "7100"


@needs_traces
def test_attended_transfer_consultation_then_completion() -> None:
    model, bus, rest = replay(
        "attended_transfer",
        until=is_event("BridgeEnter", Channel="PJSIP/8001-00000001", BridgeUniqueid="a108366d-2446-419e-a3a5-257faad5a206"),
    )
    caller = model.channel_by_name("PJSIP/1003-00000000")
    agent = model.channel_by_name("PJSIP/8001-00000001")
    assert caller is not None and agent is not None
    assert caller.moh_class == "default"  # the caller hears music while the agent consults
    assert agent.on_hold
    assert agent.bridge_id != caller.bridge_id
    assert [p.name for p in model.peers(agent.name)] == ["Local/12333@legacy-hotlines-00000001;1"]
    assert model.peers(caller.name) == []
    feed(model, rest)
    (done,) = bus.of(E.TransferCompleted)
    assert done.kind == "attended"
    assert done.target == "Local/12333@legacy-hotlines-00000001;1"
    (rec,) = cdrs(bus)
    assert rec.transfers == 1
    assert {leg.channel for leg in rec.legs} == {
        "PJSIP/1003-00000000",
        "PJSIP/8001-00000001",
        "Local/12333@legacy-hotlines-00000001;1",
        "Local/12333@legacy-hotlines-00000001;2",
    }
    assert bus.of(E.BridgesMerged)
    assert [d.digit for d in bus.of(E.DtmfReceived)] == ["*", "2", "1", "2", "3", "3", "3"]


@needs_traces
def test_attended_transfer_caller_bridged_with_target_after_merge() -> None:
    model, bus, _ = replay("attended_transfer", until=is_event("AttendedTransfer"))
    caller = model.channel_by_name("PJSIP/1003-00000000")
    assert caller is not None
    assert [p.name for p in model.peers(caller.name)] == ["Local/12333@legacy-hotlines-00000001;1"]
    assert caller.moh_class is None


# ---------------------------------------------------------------------------
# conference, recording, originate
# ---------------------------------------------------------------------------
@needs_traces
def test_three_way_conference_membership() -> None:
    model, bus, rest = replay("three_way_confbridge", until=is_event("ConfbridgeMute"))
    conf = model.conferences["room42"]
    assert len(conf.members) == 3  # the announcer channel is not a party
    assert conf.members["1795266477.8"] is True  # caller muted
    caller = model.channel("1795266477.8")
    assert caller is not None and caller.conference == "room42" and caller.muted
    assert {p.name for p in model.peers(caller.name)} == {"PJSIP/8001-00000005", "PJSIP/8002-00000006"}
    feed(model, rest)
    assert "room42" not in model.conferences
    assert bus.of(E.ConferenceEnded)
    left = [e.channel for e in bus.of(E.ConferenceLeft)]
    assert left == ["PJSIP/8001-00000005", "PJSIP/1001-00000004", "PJSIP/8002-00000006"]
    records = {r.call_id: r for r in cdrs(bus)}
    assert records["1795266477.8"].talk_time > 0
    assert len(records) == 2  # the expert was originated without HOTLINE_CALL in the rig: its own call


@needs_traces
def test_mixmonitor_recording_path_in_cdr() -> None:
    model, bus, _ = replay("mixmonitor")
    (start,) = bus.of(E.RecordingStarted)
    (stop,) = bus.of(E.RecordingStopped)
    assert start.path.endswith("/monitor/corpus-mixmon-1795266118.wav")
    assert stop.path == start.path
    (rec,) = cdrs(bus)
    assert rec.recordings == (start.path,)
    assert rec.dnis == "8004"


@needs_traces
def test_originate_failures_dispositions() -> None:
    model, bus, _ = replay("originate_async_fail")
    records = {r.call_id: r for r in cdrs(bus)}
    assert records["orig-busy-0001"].disposition == "BUSY"  # ChannelId became the Uniqueid and call id
    assert records["1795265967.22"].disposition == "BUSY"
    assert records["1795265975.26"].disposition == "CONGESTION"
    assert records["1795265968.23"].disposition == "NO ANSWER"
    assert all(r.answered_at is None for r in records.values())


@needs_traces
def test_originate_ok_outbound_calls_answered() -> None:
    model, bus, _ = replay("originate_async_ok")
    records = cdrs(bus)
    assert len(records) == 3
    assert all(r.disposition == "ANSWERED" and r.direction == "outbound" for r in records)
    first = next(r for r in records if r.call_id == "1795265953.16")
    assert first.caller_num == "12345" and first.caller_name == "12345 Hotline"


@needs_traces
def test_reconnect_capture_state_after_restart() -> None:
    model, bus = new_model()
    for part in ("1_before_restart", "2_after_restart"):
        feed(model, Framer().feed((AMI / "reconnect" / part / "received.ami").read_bytes()))
    assert model.live_calls == 0
    assert [r.call_id for r in cdrs(bus)] == ["1795266311.0"]


# ---------------------------------------------------------------------------
# synthetic sequences: merge, late events, renames, timestamps
# ---------------------------------------------------------------------------
def _chan(uid: str, name: str, linkedid: str, state: str = "6", context: str = "hotline-inbound", exten: str = "12345") -> dict[str, str]:
    return dict(Channel=name, Uniqueid=uid, Linkedid=linkedid, ChannelState=state, CallerIDNum="13800138000",
                CallerIDName="张三", Context=context, Exten=exten, Priority="1")


def test_originated_agent_leg_joins_the_call_it_serves() -> None:
    model, bus = new_model(ModelConfig())
    caller = _chan("1.1", "PJSIP/trunk-00000001", "1.1")
    agent = _chan("1.2", "PJSIP/8001-00000002", "1.2", state="0", context="hotline-agent", exten="s")
    model.handle(ev("Newchannel", **caller))
    model.handle(ev("Newchannel", **agent))
    assert model.live_calls == 2
    model.handle(ev("VarSet", **agent, Variable="HOTLINE_CALL", Value="1.1"))
    assert model.live_calls == 1
    call = model.call("1.1")
    assert call is not None and set(call.channels) == {"1.1", "1.2"}
    assert model.call("1.2") is call  # the alias resolves
    (merged,) = bus.of(E.CallMerged)
    assert merged.call_id == "1.2" and merged.into_call_id == "1.1"
    model.handle(ev("Newstate", **dict(agent, ChannelState="6")))
    model.handle(ev("BridgeEnter", **caller, BridgeUniqueid="b1", BridgeType="basic", BridgeNumChannels="1"))
    model.handle(ev("BridgeEnter", **dict(agent, ChannelState="6"), BridgeUniqueid="b1", BridgeType="basic", BridgeNumChannels="2"))
    assert [p.uniqueid for p in model.peers("PJSIP/trunk-00000001")] == ["1.2"]
    model.handle(ev("Hangup", **agent, Cause="16", **{"Cause-txt": "Normal Clearing"}))
    model.handle(ev("Hangup", **caller, Cause="16", **{"Cause-txt": "Normal Clearing"}))
    (rec,) = cdrs(bus)
    assert rec.call_id == "1.1"
    assert [leg.role for leg in rec.legs] == ["caller", "agent"]
    assert rec.agent == "8001"
    assert rec.talk_time > 0


def test_server_transfers_count_once_beside_asterisks_own() -> None:
    """A transfer the server completes itself (Redirect, Bridge) has no BlindTransfer/AttendedTransfer
    event: count_transfer counts it, once per transfer id, also through a merged call's id."""
    model, bus = new_model(ModelConfig())
    caller = _chan("3.1", "PJSIP/trunk-00000005", "3.1")
    agent = _chan("3.2", "PJSIP/8001-00000006", "3.2", context="hotline-agent", exten="connect")
    model.handle(ev("Newchannel", **caller))
    model.handle(ev("Newchannel", **agent))
    model.handle(ev("VarSet", **agent, Variable="HOTLINE_CALL", Value="3.1"))
    assert model.call_id_of("3.2") == "3.1"
    assert model.call_id_of("gone", "3.2") == "3.1"  # an unknown leg: its Linkedid through the merge
    assert model.call_id_of("gone", "9.9") == "9.9"
    assert model.count_transfer("3.1", "xfer-1")
    assert not model.count_transfer("3.1", "xfer-1")  # reported twice: counted once
    assert model.count_transfer("3.2", "blind-1")  # the merged call's id names the same call
    assert not model.count_transfer("no-such-call", "blind-2")
    # Asterisk's own transfer is counted from its event, not by count_transfer
    model.handle(ev("BlindTransfer", Result="Success", **{f"Transferer{k}": v for k, v in agent.items()},
                    **{f"Transferee{k}": v for k, v in caller.items()}, Context="hotline-outbound", Extension="12319"))
    model.handle(ev("Hangup", **agent, Cause="16"))
    model.handle(ev("Hangup", **caller, Cause="16"))
    (rec,) = cdrs(bus)
    assert rec.transfers == 3
    assert not model.count_transfer("3.1", "xfer-2")  # the call has ended


def test_late_events_never_resurrect_or_duplicate_a_call() -> None:
    model, bus = new_model(ModelConfig())
    c = _chan("2.1", "PJSIP/trunk-00000003", "2.1")
    model.handle(ev("Newchannel", **c))
    model.handle(ev("Hangup", **c, Cause="16"))
    model.handle(ev("NewCallerid", **c))
    model.handle(ev("Newchannel", **c))
    model.handle(ev("Hangup", **c, Cause="16"))
    assert len(cdrs(bus)) == 1
    assert model.live_calls == 0
    assert model.stats.late_events >= 2


def test_events_for_unknown_live_channels_adopt_them() -> None:
    """Connected mid-call: the first event of a channel we never saw created adopts it."""
    model, bus = new_model(ModelConfig())
    c = _chan("3.1", "PJSIP/trunk-00000004", "3.1")
    model.handle(ev("Newexten", **c, Application="AGI", AppData="agi:async"))
    ch = model.channel("3.1")
    assert ch is not None and ch.adopted
    assert model.call("3.1").dnis == "12345"
    model.handle(ev("Hangup", **c, Cause="16"))
    assert len(cdrs(bus)) == 1


def test_rename_keeps_identity() -> None:
    model, bus = new_model(ModelConfig())
    c = _chan("4.1", "PJSIP/trunk-00000005", "4.1")
    model.handle(ev("Newchannel", **c))
    model.handle(ev("Rename", **c, Newname="PJSIP/trunk-00000005<ZOMBIE>"))
    assert model.channel_by_name("PJSIP/trunk-00000005") is None
    assert model.channel_by_name("PJSIP/trunk-00000005<ZOMBIE>").uniqueid == "4.1"
    assert bus.of(E.LegRenamed)


def test_timestamp_header_wins_over_the_clock() -> None:
    model, bus = new_model(ModelConfig())
    c = _chan("5.1", "PJSIP/trunk-00000006", "5.1", state="4")
    model.handle(ev("Newchannel", **c, Timestamp="1795266000.250000"))
    model.handle(ev("Newstate", **dict(c, ChannelState="6"), Timestamp="1795266002.250000"))
    model.handle(ev("Hangup", **c, Cause="16", Timestamp="1795266012.250000"))
    (rec,) = cdrs(bus)
    assert rec.started_at == datetime.fromtimestamp(1795266000.25, timezone.utc)
    assert rec.duration == pytest.approx(12.0)
    assert rec.answered_at == datetime.fromtimestamp(1795266002.25, timezone.utc)


def test_unanswered_call_dispositions() -> None:
    model, bus = new_model(ModelConfig())
    for uid, cause in (("6.1", "17"), ("6.2", "34"), ("6.3", "21"), ("6.4", "16")):
        c = _chan(uid, f"PJSIP/trunk-{uid}", uid, state="4")
        model.handle(ev("Newchannel", **c))
        model.handle(ev("Hangup", **c, Cause=cause))
    assert [r.disposition for r in cdrs(bus)] == ["BUSY", "CONGESTION", "FAILED", "NO ANSWER"]


def test_seat_of() -> None:
    assert seat_of("PJSIP/8001-00000019") == "8001"
    assert seat_of("Local/8001@agents-robot-00000009;1") == "8001"
    assert seat_of("SIP/trunk") == "trunk"


def test_responses_and_list_items_are_not_events() -> None:
    model, bus = new_model(ModelConfig())
    item = Message("Event", "Newchannel", {"Event": "Newchannel", "ActionID": "x", **_chan("7.1", "PJSIP/a-1", "7.1")})
    model.handle(item)
    model.handle(Message("Response", "Success", {"Response": "Success"}))
    assert model.live_calls == 0


@needs_traces
def test_events_published_per_call_in_order() -> None:
    model, bus, _ = replay("queue_agent_answers")
    kinds = [type(e).__name__ for e in bus.events if getattr(e, "call_id", None) == "1795266021.38"]
    assert kinds[0] == "CallStarted"
    assert kinds[-1] == "CallEnded"
    c = Counter(kinds)
    assert c["CallStarted"] == 1 and c["CallEnded"] == 1 and c["CallAnswered"] == 1


def test_agent_leg_naming_a_call_that_already_ended_is_part_of_it() -> None:
    """The citizen hangs up as the agent's phone is answered: HOTLINE_CALL names a closed call. The
    agent leg's call cannot be merged into it and keeps its own CDR, which says whose legs these are."""
    model, bus = new_model(ModelConfig())
    caller = _chan("5.1", "PJSIP/trunk-00000007", "5.1")
    model.handle(ev("Newchannel", **caller))
    model.handle(ev("Hangup", **caller, Cause="16"))
    agent = _chan("5.2", "PJSIP/8001-00000008", "5.2", state="0", context="hotline-agent", exten="connect")
    model.handle(ev("Newchannel", **agent))
    model.handle(ev("VarSet", **agent, Variable="HOTLINE_CALL", Value="5.1"))
    model.handle(ev("VarSet", **agent, Variable="HOTLINE_ROLE", Value="agent"))
    assert model.live_calls == 1 and not bus.of(E.CallMerged)
    model.handle(ev("Newstate", **dict(agent, ChannelState="6")))
    model.handle(ev("Hangup", **dict(agent, ChannelState="6"), Cause="16"))
    first, late = cdrs(bus)
    assert first.call_id == "5.1" and first.part_of == ""
    assert late.call_id == "5.2" and late.part_of == "5.1"
    assert [leg.role for leg in late.legs] == ["agent"] and late.agent == "8001"


def test_a_leg_without_its_role_is_an_agent_of_the_ended_call() -> None:
    model, bus = new_model(ModelConfig())
    caller = _chan("6.1", "PJSIP/trunk-00000009", "6.1")
    model.handle(ev("Newchannel", **caller))
    model.handle(ev("Hangup", **caller, Cause="16"))
    other = _chan("6.2", "PJSIP/8002-0000000a", "6.2", context="hotline-agent", exten="connect")
    model.handle(ev("Newchannel", **other))
    model.handle(ev("VarSet", **other, Variable="HOTLINE_CALL", Value="6.1"))
    model.handle(ev("Hangup", **other, Cause="16"))
    (_, late) = cdrs(bus)
    assert late.part_of == "6.1" and [leg.role for leg in late.legs] == ["agent"]
