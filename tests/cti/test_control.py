"""Call control against a scripted AMI peer (responses and events taken from the captures)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Callable

import pytest

from cti import events as E
from cti.ami.errors import AmiActionError, AmiNotConnected, AmiTimeout
from cti.ami.protocol import Message, iter_headers
from cti.control import CallControl, ControlConfig, ControlError
from cti.model import CallModel, ModelConfig
from tests.cti.test_model import RecordingBus, StepClock, ev, messages, needs_traces


def response(name: str = "Success", action_id: str = "", **fields: str) -> Message:
    f = {"Response": name, "ActionID": action_id}
    f.update(fields)
    return Message("Response", name, f)


class FakeAmi:
    """Records actions; ``script`` decides each Response (a Message, or raise); ``emit`` delivers events."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.handlers: list[tuple[Callable[[Any], Any], tuple[str, ...]]] = []
        self.lists: dict[str, list[Message] | Exception] = {}
        self.errors: dict[str, str] = {}  # action -> error message
        self.after: dict[str, Callable[[dict[str, Any], str], None]] = {}  # action -> side effect
        self.reply_fields: dict[str, dict[str, str]] = {}  # action -> extra headers of its Response
        self.connected = True
        self._ids = itertools.count(1)
        self.connect_hooks: list[Any] = []
        self.disconnect_hooks: list[Any] = []

    async def action(self, name: str, headers: Any = None, timeout: float | None = None) -> Message:
        if not self.connected:
            raise AmiNotConnected("down")
        aid = f"fake-{next(self._ids)}"
        pairs = list(iter_headers(headers or ()))
        h: dict[str, Any] = {}
        for k, v in pairs:
            if k in h:
                h[k] = h[k] if isinstance(h[k], list) else [h[k]]
                h[k].append(v)
            else:
                h[k] = v
        self.sent.append((name, h, aid))
        if name in self.errors:
            raise AmiActionError(name, response("Error", aid, Message=self.errors[name]))
        if name == "Timeout":
            raise AmiTimeout(name, aid, 1.0)
        resp = response("Success", aid, **self.reply_fields.get(name, {}))
        if name == "Getvar":
            resp = response("Success", aid, Variable=h.get("Variable", ""), Value="噪音扰民")
        cb = self.after.get(name)
        if cb is not None:
            cb(h, aid)
        await asyncio.sleep(0)
        return resp

    async def list_action(self, name: str, headers: Any = None, timeout: float | None = None) -> list[Message]:
        if not self.connected:
            raise AmiNotConnected("down")
        self.sent.append((name, dict(iter_headers(headers or ())), ""))
        r = self.lists.get(name, [])
        if isinstance(r, Exception):
            raise r
        return list(r)

    def subscribe(self, handler: Callable[[Any], Any], *names: str) -> Callable[[], None]:
        entry = (handler, names)
        self.handlers.append(entry)
        return lambda: self.handlers.remove(entry)

    def on_connect(self, fn: Any) -> Callable[[], None]:
        self.connect_hooks.append(fn)
        return lambda: self.connect_hooks.remove(fn)

    def on_disconnect(self, fn: Any) -> Callable[[], None]:
        self.disconnect_hooks.append(fn)
        return lambda: self.disconnect_hooks.remove(fn)

    def emit(self, msg: Message) -> None:
        for h, names in list(self.handlers):
            if not names or msg.name in names:
                h(msg)

    def names(self) -> list[str]:
        return [n for n, _, _ in self.sent]

    def last(self, name: str) -> dict[str, Any]:
        return [h for n, h, _ in self.sent if n == name][-1]


def originate_response(action_id: str, ok: bool, reason: int, channel: str, uniqueid: str = "<unknown>") -> Message:
    return ev(
        "OriginateResponse",
        ActionID=action_id,
        Response="Success" if ok else "Failure",
        Channel=channel,
        Context="hotline-agent",
        Exten="connect",
        Reason=str(reason),
        Uniqueid=uniqueid,
        CallerIDNum="12345",
        CallerIDName="12345",
    )


def setup(config: ModelConfig | None = None) -> tuple[FakeAmi, CallModel, RecordingBus, CallControl]:
    ami = FakeAmi()
    bus = RecordingBus()
    model = CallModel(bus, config=config or ModelConfig(), clock=StepClock())
    control = CallControl(ami, model, bus, clock=StepClock())
    control.start()
    return ami, model, bus, control


def chan(uid: str, name: str, linkedid: str | None = None, state: str = "6", context: str = "hotline-inbound", exten: str = "12345") -> dict[str, str]:
    return dict(Channel=name, Uniqueid=uid, Linkedid=linkedid or uid, ChannelState=state, CallerIDNum="13800138000",
                CallerIDName="张三", Context=context, Exten=exten, Priority="1")


def bridged_call(model: CallModel, caller: dict[str, str], agent: dict[str, str], bridge: str = "br-1") -> None:
    model.handle(ev("Newchannel", **caller))
    model.handle(ev("Newchannel", **agent))
    model.handle(ev("BridgeEnter", **caller, BridgeUniqueid=bridge, BridgeType="basic"))
    model.handle(ev("BridgeEnter", **agent, BridgeUniqueid=bridge, BridgeType="basic"))


# ---------------------------------------------------------------------------
# Originate
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ok,reason,outcome",
    [(True, 4, "answered"), (False, 3, "no_answer"), (False, 5, "busy"), (False, 8, "congestion"), (False, 0, "failed"), (False, 1, "hungup")],
)
async def test_originate_is_async_and_maps_reason(ok: bool, reason: int, outcome: str) -> None:
    ami, model, bus, control = setup()
    ami.after["Originate"] = lambda h, aid: asyncio.get_running_loop().call_soon(
        ami.emit, originate_response(aid, ok, reason, "PJSIP/8001-00000007" if ok else "PJSIP/8001", "1795265953.16" if ok else "<unknown>")
    )
    res = await control.originate("PJSIP/8001", context="hotline-agent", exten="connect", caller_id='"12345" <12345>',
                                  variables={"CASE_ID": "WO-0001"}, call_id="100.1", ring_timeout=15)
    assert res.outcome == outcome and res.success is ok and res.reason == reason
    sent = ami.last("Originate")
    assert sent["Async"] == "true"
    assert sent["Timeout"] == "15000"
    assert sorted(sent["Variable"]) == ["CASE_ID=WO-0001", "HOTLINE_CALL=100.1"]
    assert res.uniqueid == ("1795265953.16" if ok else "")
    assert bus.of(E.OriginateResult) == [res]


async def test_originate_response_before_the_waiter_is_not_lost() -> None:
    ami, model, bus, control = setup()
    # the event is dispatched while the action is still awaiting its Response
    ami.after["Originate"] = lambda h, aid: ami.emit(originate_response(aid, True, 4, "Local/wait@rig-util-00000002;1", "x.1"))
    res = await control.originate("Local/wait@rig-util", application="Playback", data="beep")
    assert res.outcome == "answered"


async def test_originate_with_channel_id_correlates_failed_attempt() -> None:
    ami, model, bus, control = setup()
    ami.after["Originate"] = lambda h, aid: asyncio.get_running_loop().call_soon(
        ami.emit, originate_response(aid, False, 0, "PJSIP/8002", h["ChannelId"])
    )
    res = await control.originate("PJSIP/8002", context="x", exten="1", channel_id="orig-busy-0001")
    assert ami.last("Originate")["ChannelId"] == "orig-busy-0001"
    assert res.uniqueid == "orig-busy-0001" and res.outcome == "failed"


async def test_originate_refused_or_link_down_gives_error_result() -> None:
    ami, model, bus, control = setup()
    ami.errors["Originate"] = "Originate failed"
    res = await control.originate("PJSIP/9999", context="x", exten="1")
    assert res.outcome == "error" and not res.success
    ami.connected = False
    res = await control.originate("PJSIP/9999", context="x", exten="1")
    assert res.outcome == "not_connected"


async def test_originate_without_response_times_out() -> None:
    ami, model, bus, control = setup()
    control.config = ControlConfig(originate_margin=0.0)
    res = await control.originate("PJSIP/8003", context="x", exten="1", ring_timeout=0.01)
    assert res.outcome == "timeout"


def test_originate_needs_a_destination() -> None:
    ami, model, bus, control = setup()
    with pytest.raises(ValueError):
        asyncio.run(control.start_originate("PJSIP/8001"))


@needs_traces
async def test_originate_results_from_captured_events() -> None:
    """The captured OriginateResponse events, replayed as answers to our requests."""
    captured = [m for m in messages("originate_async_fail") + messages("originate_async_ok") if m.name == "OriginateResponse"]
    ami, model, bus, control = setup()
    results = []
    for cap in captured:
        def reply(h: dict[str, Any], aid: str, cap: Message = cap) -> None:
            f = dict(cap.fields)
            f["ActionID"] = aid
            asyncio.get_running_loop().call_soon(ami.emit, Message("Event", "OriginateResponse", f))

        ami.after["Originate"] = reply
        results.append(await control.originate(cap.fields["Channel"], context="c", exten="e"))
    by_reason = {(r.reason, r.outcome) for r in results}
    assert (4, "answered") in by_reason and (3, "no_answer") in by_reason
    assert (5, "busy") in by_reason and (8, "congestion") in by_reason and (0, "failed") in by_reason


# ---------------------------------------------------------------------------
# redirect, hangup, bridge, blind transfer
# ---------------------------------------------------------------------------
async def test_redirect_with_extra_channel() -> None:
    ami, model, bus, control = setup()
    await control.redirect("PJSIP/1001-00000004", "hotline-conference", "conf-room42", extra_channel="PJSIP/8001-00000005")
    h = ami.last("Redirect")
    assert h == {
        "Channel": "PJSIP/1001-00000004", "Context": "hotline-conference", "Exten": "conf-room42", "Priority": "1",
        "ExtraChannel": "PJSIP/8001-00000005", "ExtraContext": "hotline-conference", "ExtraExten": "conf-room42", "ExtraPriority": "1",
    }


async def test_action_errors_become_control_errors() -> None:
    ami, model, bus, control = setup()
    ami.errors["Hangup"] = "No such channel"
    with pytest.raises(ControlError) as e:
        await control.hangup("PJSIP/9999-0000abcd", 21)
    assert e.value.kind == "error" and e.value.message == "No such channel"
    assert ami.last("Hangup") == {"Channel": "PJSIP/9999-0000abcd", "Cause": "21"}
    ami.connected = False
    with pytest.raises(ControlError) as e:
        await control.bridge("a", "b")
    assert e.value.kind == "not_connected"


async def test_blind_transfer_of_bridged_caller_uses_blindtransfer_on_the_agent() -> None:
    ami, model, bus, control = setup()
    bridged_call(model, chan("1.1", "PJSIP/trunk-1"), chan("1.2", "PJSIP/8001-2", "1.1", context="hotline-agent", exten="connect"))
    out = await control.blind_transfer("PJSIP/trunk-1", "hotline-outbound", "12319")
    assert out.kind == "blind"
    assert ami.last("BlindTransfer") == {"Channel": "PJSIP/8001-2", "Context": "hotline-outbound", "Exten": "12319"}
    assert "Redirect" not in ami.names()
    assert bus.of(E.TransferStarted)[0].transferee == "PJSIP/trunk-1"


async def test_blind_transfer_of_unbridged_caller_redirects() -> None:
    ami, model, bus, control = setup()
    model.handle(ev("Newchannel", **chan("2.1", "PJSIP/trunk-3")))
    out = await control.blind_transfer("PJSIP/trunk-3", "hotline-outbound", "12319")
    assert out.kind == "redirect"
    assert ami.names() == ["Redirect"]
    assert bus.of(E.TransferCompleted)[0].kind == "redirect"


async def test_blind_transfer_refused_falls_back_to_redirect() -> None:
    ami, model, bus, control = setup()
    bridged_call(model, chan("3.1", "PJSIP/trunk-4"), chan("3.2", "PJSIP/8001-5", "3.1"))
    ami.errors["BlindTransfer"] = "Transfer invalid"
    out = await control.blind_transfer("PJSIP/trunk-4", "hotline-outbound", "12319")
    assert out.kind == "redirect"
    assert ami.names() == ["BlindTransfer", "Redirect"]
    assert ami.last("Redirect")["Channel"] == "PJSIP/trunk-4"


async def test_blind_transfer_failing_entirely_reports_failure() -> None:
    ami, model, bus, control = setup()
    model.handle(ev("Newchannel", **chan("4.1", "PJSIP/trunk-6")))
    ami.errors["Redirect"] = "Channel does not exist: PJSIP/trunk-6"
    with pytest.raises(ControlError):
        await control.blind_transfer("PJSIP/trunk-6", "hotline-outbound", "12319")
    assert bus.of(E.TransferFailed)


# ---------------------------------------------------------------------------
# hold, DTMF, recording, variables, queues, conferences
# ---------------------------------------------------------------------------
async def test_hold_redirects_to_music_and_unhold_rebridges() -> None:
    ami, model, bus, control = setup()
    bridged_call(model, chan("5.1", "PJSIP/trunk-7"), chan("5.2", "PJSIP/8001-8", "5.1"))
    peer = await control.hold("PJSIP/trunk-7")
    assert peer == "PJSIP/8001-8"
    # both leave the two-party bridge at once (it would dissolve and drop the agent otherwise)
    assert ami.last("Redirect") == {
        "Channel": "PJSIP/trunk-7", "Context": "hotline-hold", "Exten": "moh", "Priority": "1",
        "ExtraChannel": "PJSIP/8001-8", "ExtraContext": "hotline-agent", "ExtraExten": "connect", "ExtraPriority": "1",
    }
    assert control.held_with("PJSIP/trunk-7") == "5.2"
    await control.unhold("PJSIP/trunk-7")
    assert ami.last("Bridge") == {"Channel1": "PJSIP/8001-8", "Channel2": "PJSIP/trunk-7", "Tone": "no"}


async def test_unhold_when_the_peer_is_gone_raises() -> None:
    ami, model, bus, control = setup()
    agent = chan("6.2", "PJSIP/8001-10", "6.1")
    bridged_call(model, chan("6.1", "PJSIP/trunk-9"), agent)
    await control.hold("PJSIP/trunk-9")
    model.handle(ev("Hangup", **agent, Cause="16"))
    with pytest.raises(ControlError):
        await control.unhold("PJSIP/trunk-9")


async def test_send_dtmf_one_action_per_digit() -> None:
    ami, model, bus, control = setup()
    await control.send_dtmf("PJSIP/8001-1", "12#")
    assert [h["Digit"] for n, h, _ in ami.sent if n == "PlayDTMF"] == ["1", "2", "#"]
    with pytest.raises(ValueError):
        await control.send_dtmf("PJSIP/8001-1", "1x")


async def test_mixmonitor_start_stop_and_vars() -> None:
    ami, model, bus, control = setup()
    path = await control.mixmonitor_start("PJSIP/1004-0000001f", "/var/spool/asterisk/monitor/100.1.wav")
    await control.mixmonitor_stop("PJSIP/1004-0000001f")
    assert ami.last("MixMonitor") == {"Channel": "PJSIP/1004-0000001f", "File": path, "Options": ""}
    assert ami.last("StopMixMonitor") == {"Channel": "PJSIP/1004-0000001f"}
    await control.setvar("PJSIP/1-1", "HOTLINE_AFTER", "survey")
    assert await control.getvar("PJSIP/1-1", "TOPIC") == "噪音扰民"
    await control.setvar(None, "GLOBAL_X", "1")
    assert ami.last("Setvar") == {"Variable": "GLOBAL_X", "Value": "1"}


async def test_queue_membership_actions() -> None:
    ami, model, bus, control = setup()
    await control.queue_add("q-general", "PJSIP/8001", member_name="Agent 8001", penalty=2)
    await control.queue_pause("PJSIP/8001", True, queue="q-general", reason="RONA")
    await control.queue_pause("PJSIP/8001", False)
    await control.queue_penalty("PJSIP/8001", 5, queue="q-general")
    await control.queue_remove("q-general", "PJSIP/8001")
    assert ami.names() == ["QueueAdd", "QueuePause", "QueuePause", "QueuePenalty", "QueueRemove"]
    assert ami.sent[1][1] == {"Interface": "PJSIP/8001", "Paused": "true", "Queue": "q-general", "Reason": "RONA"}
    assert ami.sent[0][1]["Penalty"] == "2" and ami.sent[0][1]["MemberName"] == "Agent 8001"
    assert ami.last("QueuePenalty") == {"Interface": "PJSIP/8001", "Penalty": "5", "Queue": "q-general"}


async def test_conference_list_names_the_citizens_call_and_no_unknown_caller_id() -> None:
    """An agent leg or guest the server originated has a Linkedid of its own: the room list names the
    call the model has it in; Asterisk's "<unknown>" caller id is "" as in the model."""
    ami, model, bus, control = setup()
    caller = chan("5.1", "PJSIP/trunk-00000010")
    guest = dict(chan("5.2", "Local/12319@hotline-outbound-00000001;1", context="hotline-conference", exten="conf-r1"),
                 CallerIDNum="<unknown>", CallerIDName="<unknown>")
    model.handle(ev("Newchannel", **caller))
    model.handle(ev("Newchannel", **guest))
    model.handle(ev("VarSet", **guest, Variable="HOTLINE_CALL", Value="5.1"))

    def item(c: dict[str, str]) -> Message:
        return ev("ConfbridgeList", ActionID="1", Conference="r1", Muted="No", Admin="No", MarkedUser="No",
                  Talking="No", AnsweredTime="3", **c)

    gone = dict(guest, Uniqueid="5.3", Channel="PJSIP/8001-00000011", CallerIDNum="8001", CallerIDName="<unknown>")
    ami.lists["ConfbridgeList"] = [item(caller), item(guest), item(gone)]
    members = await control.conference_list("r1")
    # 5.3 is unknown to the model: its Linkedid (5.2, merged into 5.1) still names the citizen's call
    assert [(m.uniqueid, m.call_id) for m in members] == [("5.1", "5.1"), ("5.2", "5.1"), ("5.3", "5.1")]
    assert [(m.caller_num, m.caller_name) for m in members] == [("13800138000", "张三"), ("", ""), ("8001", "")]


@needs_traces
async def test_conference_list_and_rooms_from_capture() -> None:
    ami, model, bus, control = setup()
    msgs = messages("three_way_confbridge")
    ami.lists["ConfbridgeList"] = [m for m in msgs if m.name == "ConfbridgeList"][3:6]  # the listing taken while the caller was muted
    ami.lists["ConfbridgeListRooms"] = [m for m in msgs if m.name == "ConfbridgeListRooms"]
    rooms = await control.conference_rooms()
    assert [(r.name, r.parties) for r in rooms] == [("room42", 3)]
    members = await control.conference_list("room42")
    assert [(m.channel, m.muted) for m in members] == [
        ("PJSIP/1001-00000004", True), ("PJSIP/8001-00000005", False), ("PJSIP/8002-00000006", False)
    ]
    assert members[0].call_id == "1795266477.8"
    await control.conference_mute("room42", "PJSIP/1001-00000004")
    await control.conference_unmute("room42", "PJSIP/1001-00000004")
    await control.conference_kick("room42", "PJSIP/8001-00000005")
    assert ami.names()[-3:] == ["ConfbridgeMute", "ConfbridgeUnmute", "ConfbridgeKick"]
    ami.lists["ConfbridgeList"] = AmiActionError("ConfbridgeList", response("Error", "", Message="No active conferences."))
    assert await control.conference_list("nope") == []
