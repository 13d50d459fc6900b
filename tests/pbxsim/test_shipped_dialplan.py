"""The shipped dialplan's safety nets, run by the simulator (which parses deploy/asterisk/extensions.conf)."""

from __future__ import annotations

import pytest

from pbxsim.callers import CallerScript
from pbxsim.config import TrunkBehaviour

from .test_core import _ivr_call, decode_agi


async def test_blind_transfer_to_a_busy_line_returns_the_caller_to_the_ivr(sim, ami):
    sim.config.trunk_numbers["12333"] = TrunkBehaviour(mode="busy")
    call, _ = await _ivr_call(sim, ami, CallerScript(dnis="12345"))
    ch = call.channel.name
    await ami.action("Redirect", {"Channel": ch, "Context": "hotline-outbound", "Exten": "12333", "Priority": "1"})
    await ami.event("Newexten", Channel=ch, Context="hotline-ivr", Exten="transfer-failed", Application="AGI")
    await ami.wait_for(lambda m: len(ami.events("AsyncAGIStart", Channel=ch)) >= 2)
    env = decode_agi(ami.events("AsyncAGIStart", Channel=ch)[1]["Env"])
    assert "agi_context: hotline-ivr" in env and "agi_extension: transfer-failed" in env
    assert not call.done  # the citizen is still on the line
    ami.send("AGI", {"Channel": ch, "Command": "HANGUP", "CommandID": "h"})
    await ami.event("Hangup", Channel=ch)


async def test_answered_blind_transfer_ends_normally(sim, ami):
    sim.config.trunk_numbers["12319"] = TrunkBehaviour(answer_after=0.1, talk_time=0.5)
    call, _ = await _ivr_call(sim, ami, CallerScript(dnis="12345"))
    ch = call.channel.name
    await ami.action("Redirect", {"Channel": ch, "Context": "hotline-outbound", "Exten": "12319", "Priority": "1"})
    await ami.event("Hangup", Channel=ch)
    assert len(ami.events("AsyncAGIStart", Channel=ch)) == 1  # never back in the IVR


async def test_a_failed_call_back_leg_is_not_sent_into_the_ivr(sim, ami):
    """Legs the server originates carry HOTLINE_ROLE; a busy citizen ends the leg, it does not enter the IVR."""
    sim.config.trunk_numbers["13900000001"] = TrunkBehaviour(mode="busy")
    r = await ami.action("Originate", {"Channel": "Local/13900000001@hotline-outbound", "Context": "hotline-hold",
                                       "Exten": "moh", "Priority": "1", "Async": "true", "Timeout": "5000",
                                       "Variable": "HOTLINE_ROLE=callback", "ActionID": "cb-1"})
    assert r.name == "Success"
    resp = await ami.event("OriginateResponse")
    assert resp["Response"] == "Failure"
    assert not [m for m in ami.events("Newexten") if m.get("Context") == "hotline-ivr"]


@pytest.mark.parametrize("mode,cause", [("busy", "17"), ("congestion", "34")])
async def test_a_failed_call_back_ends_with_the_trunks_cause(sim, ami, mode, cause):
    """Dial gives the dialling ;2 the failed trunk leg's cause (app_dial), the dialplan's Hangup()
    keeps it (pbx_builtin_hangup) and the Local pair hands it to ;1 (ast_unreal_hangup)."""
    sim.config.trunk_numbers["13900000002"] = TrunkBehaviour(mode=mode)
    aid = ami.send("Originate", {"Channel": "Local/13900000002@hotline-outbound", "Context": "hotline-hold",
                                 "Exten": "moh", "Priority": "1", "Async": "true", "Timeout": "5000",
                                 "Variable": "HOTLINE_ROLE=callback"})
    resp = await ami.event("OriginateResponse", ActionID=aid)
    assert (resp["Response"], resp["Reason"]) == ("Failure", "0")  # a ;2 that hangs up: Reason 0, as Hangup(21)
    await ami.wait_for(lambda m: len(ami.events("Hangup")) >= 3)
    hangups = {m["Channel"].rsplit("-", 1)[0] if m["Channel"].startswith("PJSIP/") else m["Channel"][-2:]:
               m["Cause"] for m in ami.events("Hangup")}
    assert hangups == {"PJSIP/trunk": cause, ";2": cause, ";1": cause}
    (dial_end,) = [m for m in ami.events("DialEnd") if m.get("DestChannel", "").startswith("PJSIP/trunk-")]
    assert dial_end["DialStatus"] == mode.upper()
