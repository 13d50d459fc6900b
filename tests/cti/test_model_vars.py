"""CallModel.apply_variables: the tracked variables read back with ``Status`` after a resync."""

from __future__ import annotations

from cti import events as E
from cti.ami.protocol import Framer, Message
from cti.model import CallModel

from tests.cti.test_model import RIG, RecordingBus, StepClock


def frames(text: str) -> list[Message]:
    return Framer().feed(text.replace("\n", "\r\n").encode())


def show_channel(channel: str, uid: str, linkedid: str, context: str, exten: str) -> str:
    return f"""Event: CoreShowChannel
ActionID: resync-1
Channel: {channel}
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 1003
CallerIDName: Caller 1003
ConnectedLineNum: <unknown>
ConnectedLineName: <unknown>
Language: en
AccountCode: 
Context: {context}
Exten: {exten}
Priority: 3
Uniqueid: {uid}
Linkedid: {linkedid}
BridgeId: 
Application: AGI
ApplicationData: agi:async
Duration: 00:00:02
BridgedChannel: 
BridgedUniqueID: 

"""


def status(channel: str, uid: str, linkedid: str, *variables: str) -> str:
    """A ``Status`` item as Asterisk 22 sends it for ``Variables: ...`` (see the capture
    core_show_channels_status: an unset variable reads ``NAME=(null)``)."""
    var_lines = "".join(f"Variable: {v}\n" for v in variables)
    return f"""Event: Status
Privilege: Call
Channel: {channel}
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 1003
CallerIDName: Caller 1003
ConnectedLineNum: <unknown>
ConnectedLineName: <unknown>
Language: en
AccountCode: 
Context: from-caller
Exten: 12345
Priority: 3
Uniqueid: {uid}
Linkedid: {linkedid}
Type: PJSIP
DNID: 12345
EffectiveConnectedLineNum: <unknown>
EffectiveConnectedLineName: <unknown>
TimeToHangup: 0
BridgeID: 
Application: AGI
Data: agi:async
Nativeformats: (ulaw)
Readformat: ulaw
Readtrans: 
Writeformat: ulaw
Writetrans: 
Callgroup: 0
Pickupgroup: 0
Seconds: 2
{var_lines}ActionID: resync-2

"""


def adopted(*channels: tuple[str, str, str, str, str]) -> tuple[CallModel, RecordingBus]:
    bus = RecordingBus()
    model = CallModel(bus, None, config=RIG, clock=StepClock())
    res = model.reconcile(frames("".join(show_channel(*c) for c in channels)), since=model.mark())
    assert res.added == len(channels)
    return model, bus


def test_null_values_of_unset_variables_are_not_stored() -> None:
    model, bus = adopted(("PJSIP/1003-00000022", "1795266128.63", "1795266128.63", "from-caller", "12345"))
    items = frames(status("PJSIP/1003-00000022", "1795266128.63", "1795266128.63",
                          "HOTLINE_CALL=(null)", "HOTLINE_DNIS=(null)", "HOTLINE_ROLE=(null)"))
    assert [m.name for m in items] == ["Status"]
    assert model.apply_variables(items) == 0
    ch = model.channel("1795266128.63")
    assert ch is not None
    assert ch.role == "caller"
    assert "(null)" not in (ch.vars or {}).values()
    call = model.call("1795266128.63")
    assert call is not None and call.dnis == "12345"
    assert not bus.of(E.CallMerged)


def test_empty_values_are_unset_too() -> None:
    model, _ = adopted(("PJSIP/1003-00000022", "1795266128.63", "1795266128.63", "from-caller", "12345"))
    model.apply_variables(frames(status("PJSIP/1003-00000022", "1795266128.63", "1795266128.63",
                                        "HOTLINE_CALL=", "HOTLINE_ROLE=")))
    ch = model.channel("1795266128.63")
    assert ch is not None and ch.role == "caller" and not (ch.vars or {})


def test_set_variables_still_merge_the_originated_leg_with_its_role() -> None:
    model, bus = adopted(
        ("PJSIP/1003-00000022", "1795266128.63", "1795266128.63", "from-caller", "12345"),
        ("PJSIP/8001-00000024", "1795266128.65", "1795266128.65", "hotline-agent", "connect"),
    )
    items = frames(
        status("PJSIP/1003-00000022", "1795266128.63", "1795266128.63",
               "HOTLINE_CALL=(null)", "HOTLINE_DNIS=(null)", "HOTLINE_ROLE=(null)")
        + status("PJSIP/8001-00000024", "1795266128.65", "1795266128.65",
                 "HOTLINE_CALL=1795266128.63", "HOTLINE_DNIS=(null)", "HOTLINE_ROLE=agent")
    )
    assert model.apply_variables(items) == 1
    agent = model.channel("1795266128.65")
    caller = model.channel("1795266128.63")
    assert agent is not None and caller is not None
    assert agent.role == "agent" and agent.call_id == "1795266128.63"
    assert caller.role == "caller"
    assert [e.into_call_id for e in bus.of(E.CallMerged)] == ["1795266128.63"]
    assert model.live_calls == 1


def test_null_role_after_a_known_role_keeps_the_known_one() -> None:
    model, _ = adopted(("PJSIP/8001-00000024", "1795266128.65", "1795266128.65", "hotline-agent", "connect"))
    model.apply_variables(frames(status("PJSIP/8001-00000024", "1795266128.65", "1795266128.65",
                                        "HOTLINE_ROLE=transfer")))
    model.apply_variables(frames(status("PJSIP/8001-00000024", "1795266128.65", "1795266128.65",
                                        "HOTLINE_ROLE=(null)")))
    ch = model.channel("1795266128.65")
    assert ch is not None and ch.role == "transfer" and (ch.vars or {}).get("HOTLINE_ROLE") == "transfer"
