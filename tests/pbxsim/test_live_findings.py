"""The simulator against findings on a live Asterisk 22.10.1 (tests/live)."""

from __future__ import annotations

from pathlib import Path

from pbxsim import audio

from .rawami import RawAmi, decode_agi


async def _inbound(ami: RawAmi) -> tuple[str, str]:
    """Local/12345@hotline-inbound: ;1 waits, ;2 runs the inbound dialplan into AsyncAGI."""
    oid = ami.send("Originate", {"Channel": "Local/12345@hotline-inbound", "Application": "Wait", "Data": "3600",
                                 "Async": "true", "CallerID": "\"Caller\" <13800138000>"})
    res = await ami.event("OriginateResponse", ActionID=oid)
    assert res["Response"] == "Success", res
    one = res["Channel"]
    start = await ami.event("AsyncAGIStart")
    two = start["Channel"]
    assert one.endswith(";1") and two.endswith(";2") and one[:-2] == two[:-2]
    return one, two


async def _agi(ami: RawAmi, ch: str, cmd: str, cid: str) -> str:
    await ami.action("AGI", {"Channel": ch, "Command": cmd, "CommandID": cid})
    return decode_agi((await ami.event("AsyncAGIExec", CommandId=cid))["Result"])


async def test_playdtmf_on_the_1_half_reaches_get_data_on_the_2_half(sim, ami) -> None:
    one, two = await _inbound(ami)
    ami.send("AGI", {"Channel": two, "Command": "GET DATA hotline/main_menu 5000 1", "CommandID": "gd"})
    await ami.event("AGIExecStart", Channel=two)
    r = await ami.action("PlayDTMF", {"Channel": one, "Digit": "4"})
    assert r.name == "Success"
    assert decode_agi((await ami.event("AsyncAGIExec", CommandId="gd"))["Result"]).startswith("200 result=4")
    # the digit goes to the channel's driver, not through ast_write: no event on the channel named,
    # Received on the Local pair's other half, which reads it (live 22.10.1, either direction)
    assert ami.events("DTMFEnd", Channel=two, Direction="Received", Digit="4")
    r = await ami.action("PlayDTMF", {"Channel": two, "Digit": "7", "Duration": "100"})
    assert r.name == "Success" and r["Message"] == "DTMF successfully queued"
    await ami.event("DTMFEnd", Channel=one, Direction="Received", Digit="7")
    assert not ami.events("DTMFBegin", Direction="Sent") and not ami.events("DTMFEnd", Direction="Sent")
    await ami.action("Hangup", {"Channel": one})


async def test_stream_file_of_a_missing_prompt_fails_and_the_dialplan_hangs_up(sim, ami, tmp_path: Path) -> None:
    audio.write_wav(tmp_path / "hotline" / "present.wav", audio.silence(0.2))
    sim.pbx.config.sounds_dir = tmp_path
    one, two = await _inbound(ami)
    assert await _agi(ami, two, 'STREAM FILE hotline/present ""', "ok") == "200 result=0 endpos=1600"
    assert await _agi(ami, two, f'STREAM FILE {tmp_path}/hotline/present ""', "abs") == "200 result=0 endpos=1600"
    assert await _agi(ami, two, 'STREAM FILE hotline/nosuch ""', "missing") == "200 result=-1 endpos=0"
    end = [m for m in ami.events("AGIExecEnd", Channel=two)][-1]
    assert (end["ResultCode"], end["Result"]) == ("-1", "Failure")
    await ami.event("AsyncAGIEnd", Channel=two)
    await ami.event("VarSet", Channel=two, Variable="AGISTATUS", Value="FAILURE")
    # the failure does not stop the dialplan: on to the next priorities, which hang up (Normal Clearing)
    assert (await ami.event("Newexten", Channel=two, Priority="5"))["Application"] == "GotoIf"
    assert (await ami.event("Newexten", Channel=two, Priority="6"))["Application"] == "Hangup"
    assert (await ami.event("Hangup", Channel=two))["Cause"] == "16"
    assert (await ami.event("Hangup", Channel=one))["Cause"] == "16"


async def test_stream_file_of_a_missing_absolute_path_fails_too(sim, ami, tmp_path: Path) -> None:
    sim.pbx.config.sounds_dir = tmp_path
    one, two = await _inbound(ami)
    assert await _agi(ami, two, f'STREAM FILE {tmp_path}/nosuch ""', "missing") == "200 result=-1 endpos=0"
    await ami.event("AsyncAGIEnd", Channel=two)
    await ami.event("Hangup", Channel=two)


async def test_without_a_sounds_dir_any_prompt_plays(sim, ami) -> None:
    one, two = await _inbound(ami)
    assert (await _agi(ami, two, 'STREAM FILE hotline/nosuch ""', "x")).startswith("200 result=0 endpos=")
    await ami.action("Hangup", {"Channel": one})


async def test_lone_conference_member_hears_music_on_hold(sim, ami) -> None:
    """hotline_user has music_on_hold_when_empty = yes (deploy/asterisk/confbridge.conf)."""
    chans = []
    for _ in range(2):
        oid = ami.send("Originate", {"Channel": "Local/777@hotline-conference", "Application": "Wait",
                                     "Data": "3600", "Async": "true"})
        res = await ami.event("OriginateResponse", ActionID=oid)
        two = res["Channel"][:-1] + "2"
        await ami.event("ConfbridgeJoin", Channel=two)
        chans.append((res["Channel"], two))
    (one_a, a), (one_b, b) = chans
    start = ami.events("MusicOnHoldStart", Channel=a)
    assert len(start) == 1 and start[0]["Class"] == "default"
    assert ami.events("MusicOnHoldStop", Channel=a)
    assert not ami.events("MusicOnHoldStart", Channel=b)
    names = [(m.name, m.get("Channel")) for m in ami.events() if m.name in ("ConfbridgeJoin", "MusicOnHoldStart",
                                                                            "MusicOnHoldStop", "BridgeEnter")]
    assert names.index(("ConfbridgeJoin", a)) < names.index(("MusicOnHoldStart", a)) \
        < names.index(("MusicOnHoldStop", a)) < names.index(("BridgeEnter", b))
    # b leaves: a is alone again and hears the music until it leaves too
    await ami.action("Hangup", {"Channel": one_b})
    await ami.event("ConfbridgeLeave", Channel=b)
    await ami.event("MusicOnHoldStart", Channel=a)
    await ami.action("Hangup", {"Channel": one_a})
    await ami.event("ConfbridgeEnd")
    assert len(ami.events("MusicOnHoldStop", Channel=a)) == 2


async def test_redirect_out_of_an_action_bridge_starts_a_fresh_dialplan(sim, ami) -> None:
    """Action: Bridge yanks a channel out of its PBX; a Redirect then runs the new place from its first
    step, reported as such (live 22.10.1: Newexten priority 1 NoOp in hotline-conference)."""
    one, two = await _inbound(ami)
    oid = ami.send("Originate", {"Channel": "Local/8001@hotline-conference", "Application": "Wait", "Data": "3600",
                                 "Async": "true"})
    other = (await ami.event("OriginateResponse", ActionID=oid))["Channel"]
    await ami.action("Bridge", {"Channel1": two, "Channel2": other})
    await ami.event("BridgeEnter", Channel=two)
    mark = len(ami.messages)
    r = await ami.action("Redirect", {"Channel": two, "Context": "hotline-conference", "Exten": "4302",
                                      "Priority": "1"})
    assert r["Message"] == "Redirect successful"
    first = await ami.event("Newexten", Channel=two, Context="hotline-conference")
    assert (first["Priority"], first["Application"], first["AppData"]) == ("1", "NoOp", "conference 4302")
    assert ami.messages.index(first) > mark
    await ami.event("ConfbridgeJoin", Channel=two)
    await ami.action("Hangup", {"Channel": one})


async def _live_fail_sim(tmp_path: Path):
    """The shipped dialplan plus the live suite's live-fail far ends, as the live suite's simulator rig."""
    from pbxsim.config import SimConfig
    from pbxsim.sim import PbxSimulator
    from tests.live.harness import combined_dialplan

    sim = PbxSimulator(SimConfig(port=0, speed=20, dialplan_path=combined_dialplan(tmp_path),
                                 recordings_dir=tmp_path / "rec"))
    await sim.start()
    ami = await RawAmi.connect(sim.ami_port)
    assert (await ami.login()).name == "Success"
    return sim, ami


def _outcome_events(ami: RawAmi, oid: str, resource: str) -> list[str]:
    out = []
    for m in ami.events():
        ch = m.get("DestChannel") or m.get("Channel") or ""
        if m.name == "OriginateResponse" and m.get("ActionID") == oid:
            out.append(f"OriginateResponse:{m['Reason']}")
        elif m.name in ("DialState", "DialEnd") and ch.startswith(resource):
            out.append(f"{m.name}:{ch[-1]}:{m['DialStatus']}")
        elif m.name in ("Hangup", "HangupRequest") and ch.startswith(resource):
            out.append(f"{m.name}:{ch[-1]}:{m.get('Cause', '')}")
    return out


async def test_local_originate_failures_report_before_the_first_half_goes(tmp_path: Path) -> None:
    """Originate of Local/<x>@live-fail (live 22.10.1): the dial's end and the OriginateResponse come
    before ;1 is hung up; a ;2 that just hangs up is NOANSWER; a ringing ;2 is a DialState RINGING."""
    sim, ami = await _live_fail_sim(tmp_path)
    try:
        seen = {}
        for exten, timeout in (("busy", 10000), ("reject", 10000), ("ringforever", 2000)):
            resource = f"Local/{exten}@live-fail-"
            oid = ami.send("Originate", {"Channel": f"Local/{exten}@live-fail", "Application": "Wait", "Data": "1",
                                         "Async": "true", "Timeout": str(timeout)})
            await ami.event("OriginateResponse", ActionID=oid)
            for name in [m["Channel"] for m in ami.events("Newchannel") if m["Channel"].startswith(resource)]:
                await ami.event("Hangup", Channel=name)
            seen[exten] = _outcome_events(ami, oid, resource)
        busy = seen["busy"]
        assert busy[:2] == ["DialEnd:1:BUSY", "OriginateResponse:5"] and "Hangup:2:17" in busy and "Hangup:1:0" in busy
        reject = seen["reject"]
        assert reject == ["HangupRequest:1:21", "Hangup:2:21", "DialEnd:1:NOANSWER", "OriginateResponse:0", "Hangup:1:21"]
        ring = seen["ringforever"]
        assert ring[:2] == ["DialState:1:RINGING", "OriginateResponse:3"]
        assert sorted(ring[2:]) == ["Hangup:1:19", "Hangup:2:19", "HangupRequest:2:19"]
    finally:
        await ami.close()
        await sim.stop()
