"""Queues, ConfBridge, attended transfer."""

from __future__ import annotations

from pbxsim.config import AgentBehaviour, TrunkBehaviour

from .test_core import _bridged_call


async def test_queue_members_status_summary(sim, ami):
    r = await ami.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8001", "MemberName": "Agent 8001",
                                      "StateInterface": "PJSIP/8001", "Penalty": "0", "Paused": "false"})
    assert r.get("Message") == "Added interface to queue"
    added = await ami.event("QueueMemberAdded")
    assert [k for k, _ in added.headers] == [
        "Event", "Privilege", "Queue", "MemberName", "Interface", "StateInterface", "Membership", "Penalty",
        "CallsTaken", "LastCall", "LastPause", "LoginTime", "InCall", "Status", "Paused", "PausedReason",
        "Ringinuse", "Wrapuptime"]
    assert (added["Status"], added["Membership"]) == ("1", "dynamic")
    again = await ami.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8001"})
    assert again.name == "Error"
    resp, items, done = await ami.list_action("QueueStatus", {"Queue": "q-general"})
    assert resp.get("Message") == "Queue status will follow"
    assert [i.name for i in items] == ["QueueParams", "QueueMember"] and done["ListItems"] == "2"
    assert items[1].headers[-1][0] == "ActionID" and items[1]["Location"] == "PJSIP/8001"
    resp, items, done = await ami.list_action("QueueSummary", {"Queue": "q-general"})
    assert items[0]["LoggedIn"] == "1" and items[0]["Available"] == "1" and done.name == "QueueSummaryComplete"
    r = await ami.action("QueuePause", {"Queue": "q-general", "Interface": "PJSIP/8001", "Paused": "true",
                                        "Reason": "RONA"})
    assert r.get("Message") == "Interface paused successfully"
    p = await ami.event("QueueMemberPause")
    assert (p["Paused"], p["PausedReason"]) == ("1", "RONA")
    r = await ami.action("QueuePenalty", {"Queue": "q-general", "Interface": "PJSIP/8001", "Penalty": "3"})
    assert r.get("Message") == "Interface penalty set successfully"
    _, items, _ = await ami.list_action("QueueSummary", {"Queue": "q-general"})
    assert items[0]["Available"] == "0"
    # the seat gets a call outside the queue: QueueMemberStatus Status 2 (in use), InCall 0 (not a queue call)
    await ami.action("QueuePause", {"Interface": "PJSIP/8001", "Paused": "false"})
    oid = ami.send("Originate", {"Channel": "PJSIP/8001", "Context": "hotline-agent", "Exten": "connect",
                                 "Priority": "1", "Async": "true"})
    await ami.event("OriginateResponse", ActionID=oid)
    st = await ami.event("QueueMemberStatus", Status="2")
    assert st["InCall"] == "0"
    out = await ami.action("Command", {"Command": "queue show q-general"})
    assert out.get_all("Output")[0].startswith("q-general has 0 calls")
    r = await ami.action("QueueRemove", {"Queue": "q-general", "Interface": "PJSIP/8001"})
    assert r.get("Message") == "Removed interface from queue"
    await ami.event("QueueMemberRemoved")
    await sim.restart()


async def test_dynamic_members_gone_after_restart(sim, ami):
    await ami.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8002"})
    await sim.restart()
    from .rawami import RawAmi
    c = await RawAmi.connect(sim.ami_port)
    await c.login()
    _, items, _ = await c.list_action("QueueStatus", {})
    assert [i.name for i in items] == ["QueueParams"]
    await c.close()


async def test_three_way_confbridge(sim, ami):
    call, ch, agent = await _bridged_call(sim, ami)
    r = await ami.action("Redirect", {"Channel": ch, "ExtraChannel": agent, "Context": "hotline-conference",
                                      "Exten": "conf-room42", "Priority": "1", "ExtraContext": "hotline-conference",
                                      "ExtraExten": "conf-room42", "ExtraPriority": "1"})
    assert r.get("Message") == "Dual Redirect successful"
    start = await ami.event("ConfbridgeStart", Conference="room42")
    assert (start["BridgeType"], start["BridgeTechnology"], start["BridgeCreator"], start["BridgeName"]) == \
        ("base", "softmix", "ConfBridge", "room42")
    await ami.event("ConfbridgeJoin", Channel=ch)
    await ami.event("ConfbridgeJoin", Channel=agent)
    sim.agents["8002"] = AgentBehaviour(answer_after=0.2)
    oid = ami.send("Originate", {"Channel": "PJSIP/8002", "Context": "hotline-conference", "Exten": "conf-room42",
                                 "Priority": "1", "CallerID": '"12345 conference" <12345>', "Async": "true"})
    third = (await ami.event("OriginateResponse", ActionID=oid))["Channel"]
    j3 = await ami.event("ConfbridgeJoin", Channel=third)
    assert j3["BridgeNumChannels"] == "4"  # three parties + the hidden announcer
    _, rooms, _ = await ami.list_action("ConfbridgeListRooms")
    assert rooms[0]["Parties"] == "3"
    _, users, done = await ami.list_action("ConfbridgeList", {"Conference": "room42"})
    assert [u["Channel"] for u in users] == [ch, agent, third] and done["ListItems"] == "3"
    assert users[0].headers[1][0] == "ActionID"
    assert (await ami.action("ConfbridgeMute", {"Conference": "room42", "Channel": ch})).get("Message") == "User muted"
    await ami.event("ConfbridgeMute", Channel=ch)
    _, users, _ = await ami.list_action("ConfbridgeList", {"Conference": "room42"})
    assert users[0]["Muted"] == "Yes"
    assert (await ami.action("ConfbridgeUnmute", {"Conference": "room42", "Channel": ch})).get("Message") == \
        "User unmuted"
    assert (await ami.action("ConfbridgeKick", {"Conference": "room42", "Channel": agent})).get("Message") == \
        "User kicked"
    await ami.event("ConfbridgeLeave", Channel=agent)
    await ami.event("Newexten", Channel=agent, Application="Hangup")
    await ami.event("Hangup", Channel=agent)
    sim.hangup(call)
    sim.hangup(third)
    end = await ami.event("ConfbridgeEnd", Conference="room42")
    await ami.event("BridgeDestroy", BridgeUniqueid=end["BridgeUniqueid"])
    r = await ami.action("ConfbridgeList", {"Conference": "room42"})
    assert r.get("Message") == "No active conferences."


async def test_attended_transfer_completes(sim, ami):
    sim.config.trunk_numbers["12333"] = TrunkBehaviour(answer_after=0.5)
    call, ch, agent = await _bridged_call(sim, ami)
    r = await ami.action("Atxfer", {"Channel": agent, "Context": "hotline-outbound", "Exten": "12333"})
    assert r.get("Message") == "Atxfer successfully queued"
    digits = [m["Digit"] for m in ami.events("DTMFEnd", Channel=agent)]
    await ami.event("Hold", Channel=agent)
    await ami.event("MusicOnHoldStart", Channel=ch)
    one = (await ami.wait_for(lambda m: m.name == "Newchannel" and m["Channel"].endswith(";1")))["Channel"]
    assert one.startswith("Local/12333@hotline-outbound-")
    consult = (await ami.event("BridgeEnter", Channel=one))["BridgeUniqueid"]
    await ami.event("BridgeEnter", Channel=agent, BridgeUniqueid=consult)
    digits = [m["Digit"] for m in ami.events("DTMFEnd", Channel=agent)]
    assert digits == ["*", "2", "1", "2", "3", "3", "3"]
    sim.hangup(agent)  # the agent hangs up: transfer completes
    merge = await ami.event("BridgeMerge")
    at = await ami.event("AttendedTransfer")
    assert at["TransfereeChannel"] == ch and at["TransferTargetChannel"] == one and at["DestType"] == "Bridge"
    assert merge["ToBridgeUniqueid"] == at["DestBridgeUniqueid"]
    await ami.event("MusicOnHoldStop", Channel=ch)
    await ami.event("BridgeEnter", Channel=one, BridgeUniqueid=merge["ToBridgeUniqueid"])
    await ami.event("Hangup", Channel=agent)
    sim.hangup(call)
    await ami.event("Hangup", Channel=one)
    out = await call.wait(5)
    assert agent in out.bridged_with and one in out.bridged_with


async def test_attended_transfer_cancelled_by_target(sim, ami):
    sim.config.trunk_numbers["12334"] = TrunkBehaviour(answer_after=0.3, talk_time=1.0)
    call, ch, agent = await _bridged_call(sim, ami, seat="8031")
    orig = (await ami.event("BridgeEnter", Channel=agent))["BridgeUniqueid"]
    await ami.action("Atxfer", {"Channel": agent, "Context": "hotline-outbound", "Exten": "12334"})
    one = (await ami.wait_for(lambda m: m.name == "Newchannel" and m["Channel"].endswith(";1")))["Channel"]
    consult = (await ami.event("BridgeEnter", Channel=one))["BridgeUniqueid"]
    await ami.event("BridgeEnter", Channel=agent, BridgeUniqueid=consult)
    # the target hangs up after 1 s: the agent is back with the caller
    await ami.wait_for(lambda m: m.name == "BridgeEnter" and m.get("Channel") == agent
                       and len(ami.events("BridgeEnter", Channel=agent, BridgeUniqueid=orig)) >= 2, timeout=10)
    await ami.event("MusicOnHoldStop", Channel=ch)
    await ami.event("Unhold", Channel=agent)
    assert sim.channel(ch).bridge is sim.channel(agent).bridge
    sim.hangup(call)
    await call.wait(5)


async def test_local_originate_to_outside_number_and_teardown(sim, ami):
    """The product's transfer/conference pattern: Originate Local/<number>@hotline-outbound into
    hotline-agent,connect; the trunk leg answers; hanging up the outside party tears the pair down."""
    sim.config.trunk_numbers["12333"] = TrunkBehaviour(answer_after=0.5, talk_time=2.0)
    aid = ami.send("Originate", {"Channel": "Local/12333@hotline-outbound", "Context": "hotline-agent",
                                 "Exten": "connect", "Priority": "1", "ChannelId": "xfer-1",
                                 "OtherChannelId": "xfer-1b", "Variable": "HOTLINE_CALL=c9", "Async": "true"})
    ev = await ami.event("OriginateResponse", ActionID=aid)
    assert (ev["Response"], ev["Reason"], ev["Uniqueid"]) == ("Success", "4", "xfer-1")
    one = ev["Channel"]
    two = one[:-1] + "2"
    begin = await ami.event("DialBegin", Channel=two)
    assert begin["DialString"] == "trunk/12333"
    await ami.event("Newexten", Channel=one, Context="hotline-agent", AppData="agent leg for call c9")
    assert (await ami.event("Newchannel", Channel=two))["Uniqueid"] == "xfer-1b"
    await ami.event("Hangup", Channel=begin["DestChannel"])
    await ami.event("Hangup", Channel=two)
    await ami.event("Hangup", Channel=one)
    assert len(sim.pbx.registry) == 0


async def test_hold_and_resume_as_call_control_does(sim, ami):
    """Hold: one dual Redirect (caller to hotline-hold,moh; agent to hotline-agent,connect); resume: Bridge."""
    call, ch, agent = await _bridged_call(sim, ami, seat="8040")
    r = await ami.action("Redirect", {"Channel": ch, "ExtraChannel": agent, "Context": "hotline-hold",
                                      "Exten": "moh", "Priority": "1", "ExtraContext": "hotline-agent",
                                      "ExtraExten": "connect", "ExtraPriority": "1"})
    assert r.get("Message") == "Dual Redirect successful"
    await ami.event("MusicOnHoldStart", Channel=ch)
    await ami.event("Newexten", Channel=agent, Context="hotline-agent", Application="Wait")
    first = await ami.event("BridgeDestroy")
    r = await ami.action("Bridge", {"Channel1": ch, "Channel2": agent})
    assert r.name == "Success"
    await ami.event("MusicOnHoldStop", Channel=ch)
    again = await ami.wait_for(lambda m: m.name == "BridgeEnter" and m.get("Channel") == ch
                               and m.get("BridgeUniqueid") != first["BridgeUniqueid"])
    await ami.event("BridgeEnter", Channel=agent, BridgeUniqueid=again["BridgeUniqueid"])
    assert sim.channel(ch).bridge is sim.channel(agent).bridge
    sim.hangup(call)
    await ami.event("Hangup", Channel=ch)
