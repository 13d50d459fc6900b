"""Conformance with the Asterisk 22.10.1 captures in ../shared/asterisk.

Every event the simulator sends must carry exactly one of the header-name sets
Asterisk sent for that event type somewhere in the corpus, and for the AsyncAGI
scenarios the per-channel event sequence from AsyncAGIStart to Hangup must be
the captured one.

Known differences: see KNOWN_DIFFERENCES below (each one is a deliberate simplification).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from cti.ami.protocol import Framer
from pbxsim.callers import CallerScript
from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "asterisk" / "ami"

KNOWN_DIFFERENCES = {
    "RTCPSent": "RTP statistics are not simulated",
    "RTCPReceived": "RTP statistics are not simulated",
    "ChallengeSent": "PJSIP registration security events are not simulated",
    "PeerStatus": "no SIP registrations",
    "ContactStatus": "no SIP registrations",
    "DeviceStateChange Local/*, Queue:*": "device states only for PJSIP endpoints",
    "VarSet RTPAUDIOQOS* values": "the five variables are sent, with plausible but invented statistics",
    "VarSet BRIDGEPVTCALLID, Dial VarSets RINGTIME*": "SIP call-ids not simulated; ring times are constants",
    "Action Bridge": "a bridged channel is not masqueraded (no yank/Rename events)",
    "Queue() application": "not in the shipped dialplan; simulated for PJSIP members only (Local/... members "
                           "are never rung), one member at a time, no announcements, no per-call VarSets",
    "Atxfer": "consultation target is a Local channel running hotline-outbound; DTMF feature digits are "
              "injected as DTMFEnd exactly as captured, but DurationMs is a constant",
    "Hangup action": "no event of its own (ast_softhangup_nolock, as in getvar_setvar); only a Local ;1 was "
                     "hung up that way in the corpus, so the PJSIP case follows Asterisk's source, not a capture",
    "agi_threadid": "a stable fake number per channel",
    "Action: AGI outside AsyncAGI": "accepted and dropped; Asterisk keeps it in the channel's queue and would run "
                                    "it if the channel entered AsyncAGI again",
}
NOISE = {"RTCPSent", "RTCPReceived", "ChallengeSent", "PeerStatus", "ContactStatus", "DeviceStateChange"}


def _load(path: Path) -> list:
    f = Framer()
    return f.feed(path.read_bytes())


def corpus_field_sets() -> dict[str, set[tuple[str, ...]]]:
    """Per event type, every header-name sequence (in wire order, repeats collapsed) Asterisk sent."""
    out: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for p in CORPUS.rglob("received.ami"):
        for m in _load(p):
            if m.kind == "Event":
                out[m.name].add(_names(m))
    return out


def _names(m) -> tuple[str, ...]:
    names: list[str] = []
    for k, _ in m.headers:
        if not names or names[-1] != k:
            names.append(k)
    return tuple(names)


pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="capture corpus not present")


def _seq(messages, channel: str) -> list[str]:
    out = []
    on = False
    for m in messages:
        if m.kind != "Event" or m.get("Channel") != channel or m.name in NOISE:
            continue
        if m.name == "AsyncAGIStart":
            on = True
        if not on:
            continue
        if m.name == "VarSet":
            v = m.get("Variable") or ""
            if v.startswith("RTPAUDIOQOS"):
                continue
            out.append(f"VarSet:{v}")
        elif m.name in ("SoftHangupRequest", "Hangup"):
            out.append(f"{m.name}:{m.get('Cause')}")
        else:
            out.append(m.name)
    return out


def _captured(scenario: str) -> tuple[list, str]:
    msgs = _load(CORPUS / scenario / "received.ami")
    start = next(m for m in msgs if m.kind == "Event" and m.name == "AsyncAGIStart")
    return msgs, start["Channel"]


def _check_fields(messages, sets) -> list[str]:
    """Events whose header names (in order) match none of the captured variants of that event type."""
    bad = []
    for m in messages:
        if m.kind != "Event":
            continue
        got = _names(m)
        if got not in sets.get(m.name, set()):
            bad.append(f"{m.name}: {list(got)}")
    return bad


@pytest.fixture(scope="module")
def field_sets():
    return corpus_field_sets()


async def _agi(ami: RawAmi, ch: str, cmds: list[str]) -> None:
    for i, c in enumerate(cmds):
        ami.send("AGI", {"Channel": ch, "Command": c, "CommandID": f"c{i}"})


async def test_asyncagi_timeout_sequence_and_fields(sim, ami, field_sets):
    msgs, cap_ch = _captured("asyncagi_timeout")
    call = await sim.place_call(CallerScript(keys=["", "", "42", "7#"], think_time=0.5))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    await _agi(ami, ch, ["GET DATA beep 3000 4", "WAIT FOR DIGIT 2000", "GET DATA beep 3000 4",
                         "GET DATA beep 5000 6", "HANGUP"])
    await ami.event("Hangup", Channel=ch)
    assert _seq(ami.messages, ch) == _seq(msgs, cap_ch)
    assert _check_fields(ami.messages, field_sets) == []


async def test_caller_hangs_up_midcommand_sequence(sim, ami, field_sets):
    msgs, cap_ch = _captured("asyncagi_caller_hangs_up_midcommand")
    call = await sim.place_call(CallerScript(hangup_after=1.0))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    await _agi(ami, ch, ['STREAM FILE demo-congrats ""', "GET DATA beep 3000 1"])
    await ami.event("Hangup", Channel=ch)
    assert _seq(ami.messages, ch) == _seq(msgs, cap_ch)
    assert _check_fields(ami.messages, field_sets) == []


async def test_break_dialplan_continues_sequence(sim, ami, field_sets):
    msgs, cap_ch = _captured("asyncagi_break_dialplan_continues")
    call = await sim.place_call(CallerScript())
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    await _agi(ami, ch, ['STREAM FILE beep ""', "SET VARIABLE IVR_RESULT done", "ASYNCAGI BREAK"])
    await ami.event("Hangup", Channel=ch)
    ours = _seq(ami.messages, ch)
    theirs = _seq(msgs, cap_ch)
    # the rig runs NoOp then Hangup() after AGI; the shipped dialplan runs GotoIf then Hangup(): same events
    assert ours == theirs
    assert _check_fields(ami.messages, field_sets) == []


async def test_ivr_dtmf_results_and_fields(sim, ami, field_sets):
    msgs, cap_ch = _captured("asyncagi_ivr_dtmf")
    call = await sim.place_call(CallerScript(keys=["1"], think_time=0.3))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    cmds = ['STREAM FILE hello-world ""', "GET DATA beep 5000 1", "SET VARIABLE IVR_CHOICE 1",
            "GET VARIABLE IVR_CHOICE", "SET CONTEXT hotline-hold", "SET EXTENSION moh", "SET PRIORITY 1",
            "ASYNCAGI BREAK"]
    await _agi(ami, ch, cmds)
    await ami.event("AsyncAGIEnd", Channel=ch)
    ours = [m["Result"] for m in ami.events("AsyncAGIExec", Channel=ch)]
    theirs = [m["Result"] for m in msgs if m.kind == "Event" and m.name == "AsyncAGIExec"]
    assert ours[1:] == theirs[1:]  # the first is STREAM FILE's endpos: prompt lengths differ
    assert ours[0].startswith("200%20result%3D0%20endpos%3D")
    late = await ami.action("AGI", {"Channel": ch, "Command": 'STREAM FILE beep ""', "CommandID": "after-break-1"})
    assert late.get("Message") == "Added AGI command to queue"
    sim.hangup(call)
    await ami.event("Hangup", Channel=ch)
    seq = _seq(ami.messages, ch)
    cap = _seq(msgs, cap_ch)
    # both: ... AsyncAGIEnd, VarSet:AGISTATUS, then the dialplan at the SET location; BYE -> HangupRequest, 16, 0
    assert seq[: seq.index("AsyncAGIEnd") + 2] == cap[: cap.index("AsyncAGIEnd") + 2]
    assert seq[-3:] == cap[-3:] == ["HangupRequest", "SoftHangupRequest:16", "Hangup:0"] or seq[-3:] == [
        "MusicOnHoldStop", "SoftHangupRequest:16", "Hangup:0"]
    assert _check_fields(ami.messages, field_sets) == []


async def test_login_and_unknown_action_fields(sim, ami, field_sets):
    ami.send_raw(b"Action: FooBar\r\nActionID: ua-1\r\n\r\n")
    await ami.event("RequestBadFormat")
    assert _check_fields(ami.messages, field_sets) == []


async def test_originate_and_bridge_fields(sim, ami, field_sets):
    from pbxsim.config import AgentBehaviour
    sim.agents["8002"] = AgentBehaviour(mode="busy")
    sim.agents["8003"] = AgentBehaviour(mode="ring")
    call = await sim.place_call(CallerScript(caller_name="张三"))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    for dial in ("PJSIP/8002", "PJSIP/8003", "PJSIP/9999"):
        aid = ami.send("Originate", {"Channel": dial, "Context": "hotline-agent", "Exten": "connect",
                                     "Priority": "1", "Async": "true", "Timeout": "1000", "CallerID": "12345 <12345>"})
        await ami.event("OriginateResponse", ActionID=aid)
    aid = ami.send("Originate", {"Channel": "PJSIP/8001", "Context": "hotline-agent", "Exten": "connect",
                                 "Priority": "1", "Async": "true", "Variable": "HOTLINE_CALL=1"})
    agent = (await ami.event("OriginateResponse", ActionID=aid))["Channel"]
    await ami.event("Newexten", Channel=agent, Application="Wait")
    await ami.action("Bridge", {"Channel1": ch, "Channel2": agent})
    await ami.event("BridgeEnter", Channel=ch)
    await ami.action("MixMonitor", {"Channel": ch, "File": "conf.wav"})
    await ami.action("StopMixMonitor", {"Channel": ch})
    await ami.action("Hangup", {"Channel": agent})
    await ami.event("Hangup", Channel=ch)
    assert _check_fields(ami.messages, field_sets) == []


NOT_IN_CORPUS = {"QueueMemberPenalty"}  # sent by Asterisk 22 but never captured: nothing to compare with


async def test_feature_flows_fields(sim, ami, field_sets):
    from pbxsim.config import AgentBehaviour, TrunkBehaviour

    from .test_core import _bridged_call

    await ami.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8001", "MemberName": "Agent 8001"})
    await ami.action("QueuePause", {"Queue": "q-general", "Interface": "PJSIP/8001", "Paused": "true"})
    await ami.action("QueuePenalty", {"Queue": "q-general", "Interface": "PJSIP/8001", "Penalty": "2"})
    await ami.list_action("QueueStatus", {})
    await ami.list_action("QueueSummary", {})
    sim.config.trunk_numbers["12333"] = TrunkBehaviour(answer_after=0.2)
    call, ch, agent = await _bridged_call(sim, ami, seat="8001")
    await ami.action("Atxfer", {"Channel": agent, "Context": "hotline-outbound", "Exten": "12333"})
    one = (await ami.wait_for(lambda m: m.name == "Newchannel" and m["Channel"].endswith(";1")))["Channel"]
    consult = (await ami.event("BridgeEnter", Channel=one))["BridgeUniqueid"]
    await ami.event("BridgeEnter", Channel=agent, BridgeUniqueid=consult)
    sim.hangup(agent)
    await ami.event("AttendedTransfer")
    sim.hangup(call)
    await ami.event("Hangup", Channel=ch)
    call2, ch2, agent2 = await _bridged_call(sim, ami, seat="8002")
    await ami.action("BlindTransfer", {"Channel": agent2, "Context": "hotline-outbound", "Exten": "12319"})
    await ami.event("BlindTransfer")
    sim.hangup(call2)
    await ami.event("Hangup", Channel=ch2)
    call3, ch3, agent3 = await _bridged_call(sim, ami, seat="8003")
    await ami.action("Redirect", {"Channel": ch3, "ExtraChannel": agent3, "Context": "hotline-conference",
                                  "Exten": "conf-42", "Priority": "1"})
    await ami.event("ConfbridgeJoin", Channel=agent3)
    await ami.list_action("ConfbridgeList", {"Conference": "42"})
    await ami.list_action("ConfbridgeListRooms")
    await ami.action("ConfbridgeMute", {"Conference": "42", "Channel": ch3})
    await ami.action("ConfbridgeUnmute", {"Conference": "42", "Channel": ch3})
    await ami.action("ConfbridgeKick", {"Conference": "42", "Channel": agent3})
    sim.hangup(call3)
    await ami.event("ConfbridgeEnd")
    sim.agents["8004"] = AgentBehaviour(answer_after=0.2, talk_time=0.5)
    call4 = await sim.place_call(CallerScript())
    await ami.event("AsyncAGIStart", Channel=call4.channel.name)
    await ami.action("Redirect", {"Channel": call4.channel.name, "Context": "hotline-agent", "Exten": "8004",
                                  "Priority": "1"})
    await call4.wait(10)
    oid = ami.send("Originate", {"Channel": "Local/12345@hotline-inbound", "Application": "Wait", "Data": "1",
                                 "Async": "true", "CallerID": "张三 <13800000000>"})
    await ami.event("OriginateResponse", ActionID=oid)
    bad = [b for b in _check_fields(ami.messages, field_sets) if b.split(":")[0] not in NOT_IN_CORPUS]
    assert bad == []


def _originate_seq(messages, action_id: str) -> list[str]:
    resp = next(m for m in messages if m.kind == "Event" and m.name == "OriginateResponse"
                and m.get("ActionID") == action_id)
    uid = resp["Uniqueid"]
    names = []
    for m in messages:
        if m.kind != "Event":
            continue
        if m is resp:
            names.append("OriginateResponse")
        elif uid != "<unknown>" and (m.get("Uniqueid") == uid or m.get("DestUniqueid") == uid) \
                and m.name not in NOISE and not (m.name == "VarSet" and (m.get("Variable") or "").startswith("RTP")):
            names.append(m.name)
    return names


async def test_originate_busy_sequence(sim, ami):
    """Case j of originate_async_fail: the busy seat with ChannelId, event for event."""
    from pbxsim.config import AgentBehaviour
    msgs = _load(CORPUS / "originate_async_fail" / "received.ami")
    theirs = _originate_seq(msgs, "originate-async-fail-11")
    sim.agents["8002"] = AgentBehaviour(mode="busy")
    aid = ami.send("Originate", {"Channel": "PJSIP/8002", "Context": "legacy-hotlines", "Exten": "12399",
                                 "Priority": "1", "ChannelId": "orig-busy-0001", "OtherChannelId": "orig-busy-0001-b",
                                 "CallerID": '"IVR" <12345>', "Async": "true"})
    await ami.event("OriginateResponse", ActionID=aid)
    await ami.event("Hangup", Uniqueid="orig-busy-0001")
    assert _originate_seq(ami.messages, aid) == theirs


def _local_causes(msgs, exten: str) -> dict[tuple[str, str], str]:
    """Hangup / HangupRequest causes of the two halves of Local/<exten>@rig-fail (";1" / ";2")."""
    out = {}
    for m in msgs:
        ch = m.get("Channel") or ""
        if m.kind == "Event" and m.name in ("Hangup", "HangupRequest") and ch.startswith(f"Local/{exten}@rig-fail-"):
            out[(m.name, ch[-2:])] = m.get("Cause")
    return out


async def test_local_pair_hangup_causes(tmp_path):
    """Cases f-i of originate_async_fail: each half of the Local pair ends with the cause Asterisk gave
    it (Busy()/Congestion() keep theirs when ;1 hangs up with 0; Hangup(21) and a ring timeout's 19
    reach the other half)."""
    from .test_agi_more import RIG
    msgs = _load(CORPUS / "originate_async_fail" / "received.ami")
    dp = tmp_path / "extensions.conf"
    dp.write_text(RIG)
    s = PbxSimulator(SimConfig(port=0, speed=50, dialplan_path=dp))
    await s.start()
    ami = await RawAmi.connect(s.ami_port)
    try:
        await ami.login()
        for n, exten in enumerate(("busy", "congestion", "reject", "ringforever"), 1):
            aid = ami.send("Originate", {"Channel": f"Local/{exten}@rig-fail", "Application": "Wait", "Data": "1",
                                         "Timeout": "4000", "Async": "true"})
            await ami.event("OriginateResponse", ActionID=aid)
            await ami.wait_for(lambda m, n=n: len(ami.events("Hangup")) >= 2 * n)  # both halves gone
            assert _local_causes(ami.messages, exten) == _local_causes(msgs, exten), exten
    finally:
        await ami.close()
        await s.stop()


async def test_originate_answered_sequence(sim, ami):
    """The first originate of originate_async_ok (seat answers, dialplan runs) up to the first Newexten there."""
    msgs = _load(CORPUS / "originate_async_ok" / "received.ami")
    resp = next(m for m in msgs if m.kind == "Event" and m.name == "OriginateResponse")
    uid = resp["Uniqueid"]
    theirs = [m.name for m in msgs if m.kind == "Event" and (m.get("Uniqueid") == uid or m.get("DestUniqueid") == uid
                                                              or m is resp) and m.name not in NOISE]
    theirs = theirs[: theirs.index("DialEnd") + 2]
    aid = ami.send("Originate", {"Channel": "PJSIP/8001", "Context": "hotline-agent", "Exten": "connect",
                                 "Priority": "1", "CallerID": '"12345 Hotline" <12345>', "Timeout": "15000",
                                 "Variable": ["CASE_ID=WO-0001", "CALLBACK=yes"], "Async": "true"})
    ev = await ami.event("OriginateResponse", ActionID=aid)
    await ami.event("Newexten", Channel=ev["Channel"], Application="NoOp")
    ours = [m.name for m in ami.messages if m.kind == "Event" and (
        m.get("Uniqueid") == ev["Uniqueid"] or m.get("DestUniqueid") == ev["Uniqueid"] or m is ev)]
    ours = ours[: ours.index("DialEnd") + 2]
    assert ours == theirs


def _chan_names(messages, channel: str, stop: str | None = None) -> list[str]:
    out = []
    for m in messages:
        if m.kind != "Event" or m.name in NOISE:
            continue
        if m.get("Channel") != channel and m.get("DestChannel") != channel:
            continue
        v = m.get("Variable") or ""
        if m.name == "VarSet" and (v.startswith("RTPAUDIOQOS") or v in ("BRIDGEPVTCALLID", "SIPDOMAIN")):
            continue
        out.append(f"VarSet:{v}" if m.name == "VarSet" else m.name)
        if stop is not None and m.name == stop:
            break
    return out


async def test_dial_to_seat_sequence(sim, ami):
    """mixmonitor capture: caller dials a seat (Dial(PJSIP/8004,30,tT)); the seat leg's events until bridged."""
    from pbxsim.config import AgentBehaviour
    msgs = _load(CORPUS / "mixmonitor" / "received.ami")
    theirs = _chan_names(msgs, "PJSIP/8004-00000020", stop="BridgeEnter")
    sim.agents["8004"] = AgentBehaviour(answer_after=0.5)
    call = await sim.place_call(CallerScript())
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    await ami.action("Redirect", {"Channel": ch, "Context": "hotline-agent", "Exten": "8004", "Priority": "1"})
    begin = await ami.event("DialBegin", Channel=ch)
    await ami.event("BridgeEnter", Channel=ch)
    assert _chan_names(ami.messages, begin["DestChannel"], stop="BridgeEnter") == theirs
    sim.hangup(call)
    await ami.event("Hangup", Channel=begin["DestChannel"])


async def test_music_on_hold_hangup_sequence(sim, ami):
    """core_show_channels_status capture: a caller in MusicOnHold hangs up."""
    msgs = _load(CORPUS / "core_show_channels_status" / "received.ami")
    cap = _chan_names(msgs, "PJSIP/1002-00000023")
    theirs = cap[cap.index("MusicOnHoldStart"):]
    theirs = [n for n in theirs if n not in ("CoreShowChannel", "Status")]
    call = await sim.place_call(CallerScript())
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    await ami.action("Redirect", {"Channel": ch, "Context": "hotline-hold", "Exten": "moh", "Priority": "1"})
    await ami.event("MusicOnHoldStart", Channel=ch)
    sim.hangup(call)
    await ami.event("Hangup", Channel=ch)
    ours = _chan_names(ami.messages, ch)
    assert ours[ours.index("MusicOnHoldStart"):] == theirs
