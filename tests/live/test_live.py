"""Conformance scenarios against a real Asterisk 22 and, in the same test, the simulator.

Everything goes through the product: AmiClient, AgiManager, CallModel, CallControl,
Resync. Calls are Local channels into the product's dialplan (no SIP phone):
``Local/12345@hotline-inbound`` is a citizen's call, ``Local/8001@live-robot`` an
agent seat that answers (tests/live/asterisk/extensions_live.conf).

Each test asserts the product's expectations on both rigs, records the structured
event difference (see conftest: summary at the end, JSON in HOTLINE_LIVE_REPORT),
and fails on differences in what the product reads (harness.RELIED).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from cti.agi import AgiError, AgiHangup, AgiResult
from cti.control import ControlError

from .harness import Rig, cdr_summary, event_diff, item_diff, live_settings, open_rig, open_sim_rig

Scenario = Callable[[Rig], Awaitable[dict[str, Any]]]

# Never produced by the simulator, by design, and not read by the product.
NOISE = ("RTCPSent", "RTCPReceived", "DeviceStateChange", "SuccessfulAuth", "ChallengeSent")


async def run_both(asterisk: Rig, pbxsim: Rig, scenario: Scenario, name: str, record_diff,
                   ignore: tuple[str, ...] = NOISE) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    spans = {}
    cdrs = {}
    for rig in (asterisk, pbxsim):
        m, c = rig.mark(), len(rig.cdrs)
        out[rig.kind] = await scenario(rig)
        await rig.settle(0.5)
        await rig.model.flush()
        spans[rig.kind] = rig.since(m)
        cdrs[rig.kind] = cdr_summary(rig.cdrs[c:])
    diff = event_diff(spans["asterisk"], spans["pbxsim"], ignore=ignore)
    diff["notes"] = []
    if cdrs["asterisk"] != cdrs["pbxsim"]:
        # (dnis, direction, caller, disposition, cause, legs, agent, connected, talked, recordings, transfers, lost)
        diff["notes"].append(f"CDR: asterisk={cdrs['asterisk']} pbxsim={cdrs['pbxsim']}")
    for key in sorted(set(out["asterisk"]) | set(out["pbxsim"])):
        a, s = out["asterisk"].get(key), out["pbxsim"].get(key)
        if a != s:
            diff["notes"].append(f"{key}: asterisk={a!r} pbxsim={s!r}")
    record_diff(name, diff)
    return out["asterisk"], out["pbxsim"], diff


def names(events: list[Any]) -> list[str]:
    return [m.name for m in events]


# ---------------------------------------------------------------------------
async def test_login_fullybooted_ping(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    async def scenario(rig: Rig) -> dict[str, Any]:
        boot = [m for m in rig.events if m.name == "FullyBooted"]
        pong = await rig.client.action("Ping", timeout=5)
        return {
            "connected": rig.client.connected,
            "fully_booted": bool(boot),
            "fully_booted_status": boot[0].get("Status") if boot else None,
            "ping": pong.get("Ping"),
            "pong_has_timestamp": pong.get("Timestamp") is not None,
        }

    # the login events came before the scenario started: compare from the first event
    a_m, s_m = asterisk.mark(), pbxsim.mark()
    a, s, _ = await run_both(asterisk, pbxsim, scenario, "login_ping", record_diff)
    diff = event_diff(asterisk.events[:a_m], pbxsim.events[:s_m], ignore=NOISE)
    record_diff("login_events", diff)
    for r in (a, s):
        assert r["connected"] and r["fully_booted"] and r["ping"] == "Pong" and r["pong_has_timestamp"], r
    assert not diff["relied"], diff


async def test_product_user_receives_call_events(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """The product's AMI user must see the call events its model and AsyncAGI layer consume."""

    async def scenario(rig: Rig) -> dict[str, Any]:
        m = rig.mark()
        pending = await rig.control.start_originate(
            "Local/12345@hotline-inbound", application="Wait", data="3600", ring_timeout=10)
        res = await pending.result()
        try:
            await rig.event("AsyncAGIStart", m, timeout=5)
        except AssertionError:
            pass
        await rig.hangup_all()
        await rig.quiet()
        await rig.settle(0.2)
        got = set(names(rig.since(m)))
        varsets = sorted({e.get("Variable") or "" for e in rig.since(m) if e.name == "VarSet"})
        return {"originate": res.outcome, "events": sorted(got), "varsets": varsets}

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "event_stream", record_diff)
    need = {"OriginateResponse", "Newchannel", "Newexten", "AsyncAGIStart", "Hangup"}
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["originate"] == "answered", (kind, r)
        assert need <= set(r["events"]), f"[{kind}] missing events {sorted(need - set(r['events']))}: got {r['events']}"
        assert {"HOTLINE_DNIS", "__HOTLINE_DNIS"} & set(r["varsets"]), (kind, r["varsets"])
    assert not diff["relied"], diff


# ---------------------------------------------------------------------------
async def test_asyncagi_commands_and_break(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        r: dict[str, Any] = {
            "channel_is_local_2": sess.channel.startswith("Local/12345@hotline-inbound-") and sess.channel.endswith(";2"),
            "env_context": sess.env.get("agi_context"),
            "env_extension": sess.env.get("agi_extension"),
            "env_callerid": sess.env.get("agi_callerid"),
            "env_calleridname": sess.env.get("agi_calleridname"),
        }
        call = rig.model.call_of(sess.channel)
        r["model_dnis"] = call.dnis if call else None
        st: AgiResult = await sess.command('STREAM FILE hotline/welcome ""', timeout=20)
        r["stream"] = (st.code, st.result, st.endpos is not None and st.endpos > 0)
        digits, timed_out = await sess.get_data("hotline/noinput_1", 300, 2, timeout=20)
        r["get_data"] = (digits, timed_out)
        await sess.set_variable("HOTLINE_LIVE", "值 1")
        r["get_variable"] = await sess.get_variable("HOTLINE_LIVE")
        m = rig.mark()
        br = await sess.break_(timeout=10)
        r["break"] = br.raw
        await rig.event("AsyncAGIEnd", m)
        await rig.settle(0.2)
        r["session_active_after_break"] = sess.active
        try:
            await sess.command("NOOP", timeout=3)
            r["command_after_break"] = "accepted"
        except AgiHangup:
            r["command_after_break"] = "AgiHangup"
        # dialplan continues: GotoIf(HOTLINE_AFTER = survey) is false -> Hangup()
        h = await rig.event("Hangup", m, where=lambda e: e.get("Channel") == sess.channel)
        r["hangup_cause"] = h.get("Cause")
        await rig.quiet()
        await rig.settle(0.2)
        r["model_live_calls"] = rig.model.live_calls
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "asyncagi_commands", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["channel_is_local_2"], (kind, r)
        assert r["env_context"] == "hotline-inbound" and r["env_extension"] == "12345", (kind, r)
        assert r["model_dnis"] == "12345", (kind, r)
        assert r["stream"] == (200, "0", True), (kind, r)
        assert r["get_data"] == ("", True), (kind, r)
        assert r["get_variable"] == "值 1", (kind, r)
        assert r["session_active_after_break"] is False and r["command_after_break"] == "AgiHangup", (kind, r)
        assert r["hangup_cause"] == "16", (kind, r)
        assert r["model_live_calls"] == 0, (kind, r)
    assert not diff["relied"], diff


async def test_stream_missing_prompt(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """A prompt file that does not exist: what the IVR's STREAM FILE gets and whether the session survives."""

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        m = rig.mark()
        res = await sess.command('STREAM FILE hotline/no-such-prompt ""', timeout=10)
        await rig.settle(1.0)
        agistatus = [e.get("Value") for e in rig.since(m) if e.name == "VarSet" and e.get("Variable") == "AGISTATUS"]
        r = {
            "result": res.raw,
            "session_active": sess.active,
            "agistatus": agistatus,
            "hung_up": any(e.name == "Hangup" and e.get("Channel") == sess.channel for e in rig.since(m)),
        }
        await rig.hangup_all()
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "stream_missing_prompt", record_diff)
    # the product plays prompts by name; the simulator must behave as Asterisk does when one is missing
    assert a == s, {"asterisk": a, "pbxsim": s}
    assert not diff["relied"], diff


async def test_asyncagi_break_to_survey(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """docs/ARCHITECTURE.md: HOTLINE_AFTER=survey sends the caller to hotline-ivr,survey (AGI again)."""

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        await sess.set_variable("HOTLINE_AFTER", "survey")
        m = rig.mark()
        await sess.break_(timeout=10)
        r: dict[str, Any] = {}
        try:
            s2 = await rig.session(timeout=5)
            r["second_session"] = (s2.env.get("agi_context"), s2.env.get("agi_extension"), s2.seq)
            await s2.hangup(timeout=5)
        except AssertionError:
            r["second_session"] = None
        await rig.quiet()
        r["newexten"] = [(e.get("Context"), e.get("Exten"), e.get("Application"))
                         for e in rig.since(m) if e.name == "Newexten" and e.get("Channel") == sess.channel]
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "asyncagi_survey", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["second_session"] == ("hotline-ivr", "survey", 2), (kind, r)
    assert not diff["relied"], diff


async def test_hangup_mid_command(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        t1 = asyncio.create_task(sess.command('STREAM FILE hotline/hold_music ""', timeout=20))
        await asyncio.sleep(0.3)
        t2 = asyncio.create_task(sess.command('STREAM FILE hotline/welcome ""', timeout=20))
        await asyncio.sleep(1.0)
        m = rig.mark()
        await rig.control.hangup(sess.channel)
        r: dict[str, Any] = {}
        for key, t in (("running", t1), ("queued", t2)):
            try:
                res = await asyncio.wait_for(t, 10)
                r[key] = f"result={res.result} endpos={'set' if res.endpos is not None else None}"
            except AgiHangup:
                r[key] = "AgiHangup"
            except AgiError as e:
                r[key] = f"AgiError {e}"
        try:
            await sess.command("NOOP", timeout=3)
            r["after"] = "accepted"
        except AgiHangup:
            r["after"] = "AgiHangup"
        await rig.quiet()
        await rig.settle(0.2)
        seq = [e.name for e in rig.since(m) if e.get("Channel") == sess.channel
               and e.name in ("AsyncAGIExec", "AsyncAGIEnd", "SoftHangupRequest", "HangupRequest", "Hangup")]
        r["sequence"] = seq
        r["pending_commands"] = rig.agi.pending_commands
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "hangup_mid_command", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["running"] in ("AgiHangup", "result=-1 endpos=set"), (kind, r)
        assert r["queued"] == "AgiHangup" and r["after"] == "AgiHangup", (kind, r)
        assert r["pending_commands"] == 0, (kind, r)
        assert r["sequence"].count("AsyncAGIExec") == 1 and "AsyncAGIEnd" in r["sequence"], (kind, r)
    assert not diff["relied"], diff


# ---------------------------------------------------------------------------
FAILURES = (
    ("Local/busy@live-fail", 5, "busy"),
    ("Local/congestion@live-fail", 8, "congestion"),
    ("Local/reject@live-fail", 0, "failed"),
    ("Local/99999@live-fail", 0, "failed"),  # no such extension
    ("Local/ringforever@live-fail", 3, "no_answer"),
)


async def test_originate_failures(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    async def scenario(rig: Rig) -> dict[str, Any]:
        r: dict[str, Any] = {}
        for dial, _, _ in FAILURES:
            cid = f"live-{uuid.uuid4().hex[:12]}"
            m, c = rig.mark(), len(rig.cdrs)
            res = await rig.control.originate(dial, application="Wait", data="1", ring_timeout=3,
                                              channel_id=cid)
            r[dial] = (res.success, res.reason, res.outcome, res.channel, res.uniqueid == cid)
            await rig.settle(0.5)
            await rig.model.flush()
            # what the product's CDR and the far end's events say about the failure
            r[f"{dial} cdr"] = [(x[3], x[4]) for x in cdr_summary(rig.cdrs[c:])]
            r[f"{dial} events"] = [
                f"{e.name}:{(e.get('Channel') or e.get('DestChannel') or '').rsplit(';', 1)[-1]}"
                f":{e.get('Cause') or e.get('DialStatus') or e.get('Reason') or ''}"
                for e in rig.since(m) if e.name in ("Hangup", "DialEnd", "DialState", "OriginateResponse")]
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "originate_failures", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        for dial, reason, outcome in FAILURES:
            ok, got_reason, got_outcome, channel, uid_echo = r[dial]
            assert (ok, got_reason, got_outcome) == (False, reason, outcome), (kind, dial, r[dial])
            assert channel == dial, (kind, dial, r[dial])
    assert not diff["relied"], diff


# ---------------------------------------------------------------------------
async def test_redirect_out_of_agi(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        t = asyncio.create_task(sess.command('STREAM FILE hotline/hold_music ""', timeout=20))
        await asyncio.sleep(0.8)
        m = rig.mark()
        await rig.control.redirect(sess.channel, "hotline-hold", "park")
        r: dict[str, Any] = {}
        try:
            res = await asyncio.wait_for(t, 10)
            r["running"] = f"result={res.result}"
        except AgiHangup:
            r["running"] = "AgiHangup"
        await rig.event("AsyncAGIEnd", m)
        ne = await rig.event("Newexten", m, where=lambda e: e.get("Channel") == sess.channel
                             and e.get("Context") == "hotline-hold")
        r["new_location"] = (ne.get("Context"), ne.get("Exten"), ne.get("Priority"), ne.get("Application"))
        await rig.settle(0.3)
        ch = rig.model.resolve(sess.channel)
        r["model_location"] = (ch.context, ch.exten) if ch else None
        r["session_active"] = sess.active
        try:
            await rig.control.redirect("Local/nosuch@hotline-hold-00000000;2", "hotline-hold", "park")
            r["redirect_missing"] = "ok"
        except ControlError as e:
            r["redirect_missing"] = e.kind
        await rig.hangup_all()
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "redirect", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["running"] in ("result=-1", "AgiHangup"), (kind, r)
        assert r["new_location"][:3] == ("hotline-hold", "park", "1"), (kind, r)
        assert r["model_location"] == ("hotline-hold", "park"), (kind, r)
        assert r["session_active"] is False and r["redirect_missing"] == "error", (kind, r)
    assert not diff["relied"], diff


async def test_bridge_hold_unhold(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        call = rig.model.call_of(sess.channel)
        assert call is not None
        agent = await rig.robot_agent("8001", call_id=call.call_id)
        m = rig.mark()
        await rig.control.bridge(agent, sess.channel)
        await rig.until(lambda: [p.name for p in rig.model.peers(sess.channel)] == [agent], what="bridged")
        r: dict[str, Any] = {"agent_in_call": rig.model.call_of(agent) is call}
        # the product expects the bridged caller to have left AsyncAGI (AgiHangup for new commands)
        try:
            await rig.event("AsyncAGIEnd", m, timeout=3)
        except AssertionError:
            pass
        r["session_active"] = sess.active
        try:
            await sess.command("NOOP", timeout=3)
            r["command_while_bridged"] = "result"
        except AgiHangup:
            r["command_while_bridged"] = "AgiHangup"
        except AgiError as e:
            r["command_while_bridged"] = type(e).__name__
        enters = [e for e in rig.since(m) if e.name == "BridgeEnter"]
        r["bridge_enter"] = sorted({e.get("Channel") == agent or e.get("Channel") == sess.channel for e in enters})
        # hold: dual Redirect (caller to music, agent parked), unhold: Bridge again
        peer = await rig.control.hold(sess.channel)
        r["hold_peer"] = peer == agent
        await rig.settle(1.0)
        ch = rig.model.resolve(sess.channel)
        r["held_location"] = (ch.context, ch.exten) if ch else None
        r["held_alive"] = ch is not None and ch.alive
        ag = rig.model.resolve(agent)
        r["agent_location"] = (ag.context, ag.exten) if ag else None
        await rig.control.unhold(sess.channel)
        await rig.until(lambda: [p.name for p in rig.model.peers(sess.channel)] == [agent], what="re-bridged")
        r["rebridged"] = True
        await rig.control.hangup(agent)
        await rig.hangup_all()
        await rig.quiet()
        await rig.settle(0.3)
        r["live_calls"] = rig.model.live_calls
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "bridge_hold", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["agent_in_call"], (kind, r)
        assert r["hold_peer"] and r["held_alive"], (kind, r)
        assert r["held_location"] == ("hotline-hold", "moh"), (kind, r)
        assert r["agent_location"] == ("hotline-agent", "connect"), (kind, r)
        assert r["rebridged"] and r["live_calls"] == 0, (kind, r)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["session_active"] is False and r["command_while_bridged"] == "AgiHangup", (kind, r)
    assert not diff["relied"], diff


async def test_core_show_channels_and_status(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    lists: dict[str, dict[str, list[Any]]] = {}

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        call = rig.model.call_of(sess.channel)
        agent = await rig.robot_agent("8002", call_id=call.call_id if call else None)
        await rig.control.bridge(agent, sess.channel)
        await rig.until(lambda: rig.model.is_bridged(sess.channel), what="bridged")
        csc = await rig.client.list_action("CoreShowChannels", timeout=10)
        st = await rig.client.list_action("Status", {"Variables": "HOTLINE_CALL,HOTLINE_DNIS,HOTLINE_ROLE"}, timeout=10)
        one = await rig.client.list_action("Status", {"Channel": sess.channel}, timeout=10)
        lists[rig.kind] = {"csc": csc, "status": st, "one": one}
        r: dict[str, Any] = {
            "csc_channels": len(csc),
            "csc_names": sorted(m.name for m in csc),
            "status_items": len(st),
            "status_one": [m.get("Channel") for m in one],
            "caller_bridge_id_set": any(m.get("Channel") == sess.channel and m.get("BridgeId") for m in csc),
            "agent_vars": sorted(v for m in st if m.get("Channel") == agent for v in m.get_all("Variable")),
        }
        await rig.hangup_all()
        await rig.quiet()
        empty = await rig.client.list_action("CoreShowChannels", timeout=10)
        r["empty_list"] = empty
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "core_show_channels_status", record_diff)
    for key in ("csc", "status", "one"):
        d = item_diff(lists["asterisk"][key], lists["pbxsim"][key])
        record_diff(f"list_items_{key}", d)
        assert not d["relied"], (key, d)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["csc_channels"] == 4 and r["status_items"] == 4, (kind, r)
        assert r["status_one"] and r["caller_bridge_id_set"], (kind, r)
        assert r["empty_list"] == [], (kind, r)
        assert any(v.startswith("HOTLINE_CALL=") for v in r["agent_vars"]), (kind, r)
    assert not diff["relied"], diff


# ---------------------------------------------------------------------------
async def test_resync_after_link_cut(tmp_path: Path, record_diff) -> None:
    """The client's link is cut; while it is down one call ends and another starts."""
    slow = dict(reconnect_initial=3.0, reconnect_max=3.0)
    rigs = [await open_rig("asterisk", live_settings(**slow))]
    rigs.append(await open_sim_rig(tmp_path, live_settings(**slow)))
    out: dict[str, dict[str, Any]] = {}
    try:
        for rig in rigs:
            await rig.hangup_all()
            await rig.quiet()
            side = await open_rig(f"{rig.kind}-side", rig.client.settings)
            try:
                sess_a, _ = await rig.inbound("12345", caller='"A" <13800000001>')
                sess_b, _ = await rig.inbound("12319", caller='"B" <13800000002>')
                call_a = rig.model.call_of(sess_a.channel)
                call_b = rig.model.call_of(sess_b.channel)
                runs = rig.resync.runs
                proto = rig.client._protocol  # the product offers no public "cut": abort the transport
                assert proto is not None
                proto.abort()
                await rig.until(lambda: not rig.client.connected, what="link down")
                await side.control.hangup(sess_a.channel)
                pend = await side.control.start_originate(
                    "Local/12333@hotline-inbound", application="Wait", data="3600",
                    caller_id='"C" <13800000003>', ring_timeout=10)
                res_c = await pend.result()
                await side.session()
                await rig.until(lambda: rig.resync.runs > runs, timeout=20, what="resync after reconnect")
                await rig.settle(0.5)
                last = rig.resync.last
                r: dict[str, Any] = {
                    "closed": last.closed if last else None,
                    "added": last.added if last else None,
                    "errors": list(last.errors) if last else None,
                    "call_a_open": call_a is not None and rig.model.call(call_a.call_id) is not None
                    and rig.model.call(call_a.call_id).ended_at is None,
                    "call_b_open": call_b is not None and rig.model.call_of(sess_b.channel) is not None,
                    "call_c_adopted": rig.model.resolve(res_c.channel) is not None,
                    "session_a": sess_a.ended_reason,
                    "session_b_active": sess_b.active,
                    "live_calls": rig.model.live_calls,
                }
                out[rig.kind] = r
            finally:
                await rig.hangup_all()
                await side.close()
    finally:
        for rig in rigs:
            await rig.close()
    a, s = out.get("asterisk", {}), out.get("pbxsim", {})
    record_diff("resync", {"only_asterisk": [], "only_pbxsim": [], "headers": {}, "relied": [],
                           "notes": [f"{k}: asterisk={a.get(k)!r} pbxsim={s.get(k)!r}" for k in sorted(a) if a.get(k) != s.get(k)]})
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["closed"] >= 1 and r["added"] >= 1, (kind, r)
        assert not r["call_a_open"] and r["call_b_open"] and r["call_c_adopted"], (kind, r)
        assert r["session_a"] == "channel gone after reconnect" and r["session_b_active"], (kind, r)
        assert r["live_calls"] == 2, (kind, r)


# ---------------------------------------------------------------------------
async def test_confbridge_room(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    room = "4201"

    async def scenario(rig: Rig) -> dict[str, Any]:
        m = rig.mark()
        legs = []
        for n in range(2):
            res = await rig.control.originate(f"Local/{room}@hotline-conference", application="Wait",
                                              data="3600", caller_id=f'"P{n}" <1380000010{n}>', ring_timeout=10)
            assert res.success, res
            legs.append(res.channel)
        joins = await rig.until(lambda: [e for e in rig.since(m) if e.name == "ConfbridgeJoin"][:2]
                                if len([e for e in rig.since(m) if e.name == "ConfbridgeJoin"]) >= 2 else None,
                                what="two ConfbridgeJoin")
        members = [j.get("Channel") for j in joins]
        r: dict[str, Any] = {"start": "ConfbridgeStart" in names(rig.since(m))}
        rooms = await rig.control.conference_rooms()
        r["rooms"] = [(x.name, x.parties) for x in rooms]
        lst = await rig.control.conference_list(room)
        r["list"] = sorted(x.caller_num for x in lst)
        await rig.control.conference_mute(room, members[0])
        await rig.event("ConfbridgeMute", m)
        await rig.control.conference_unmute(room, members[0])
        await rig.event("ConfbridgeUnmute", m)
        await rig.control.conference_kick(room, members[0])
        await rig.event("ConfbridgeLeave", m)
        await rig.settle(0.3)
        conf = rig.model.conferences.get(room)
        r["model_parties_after_kick"] = len(conf.members) if conf is not None and hasattr(conf, "members") else None
        await rig.hangup_all()
        await rig.event("ConfbridgeEnd", m)
        await rig.quiet()
        r["end"] = True
        try:
            r["rooms_after"] = [x.name for x in await rig.control.conference_rooms()]
        except ControlError as e:
            r["rooms_after"] = e.kind
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "confbridge", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["start"] and r["end"], (kind, r)
        assert r["rooms"] == [(room, 2)], (kind, r)
        assert r["list"] == ["13800000100", "13800000101"], (kind, r)
        assert r["rooms_after"] == [], (kind, r)
    assert not diff["relied"], diff


async def test_mixmonitor_start_stop(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    rec_dir = Path(os.environ.get("HOTLINE_LIVE_RECORDINGS", "/tmp/hotline-live-rec"))

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        name = f"live-{uuid.uuid4().hex[:8]}.wav"
        path = str(rec_dir / name) if rig.kind == "asterisk" else str(rig.sim.config.recordings_dir / name)
        m = rig.mark()
        await rig.control.mixmonitor_start(sess.channel, path)
        await rig.event("MixMonitorStart", m)
        await sess.command('STREAM FILE hotline/welcome ""', timeout=20)
        await rig.control.mixmonitor_stop(sess.channel)
        await rig.event("MixMonitorStop", m)
        await rig.settle(0.3)
        varsets = {e.get("Variable"): e.get("Value") for e in rig.since(m) if e.name == "VarSet"}
        r: dict[str, Any] = {
            "filename_var": varsets.get("MIXMONITOR_FILENAME") == path,
            "file_written": Path(path).exists() and Path(path).stat().st_size > 44,
        }
        try:
            await rig.control.mixmonitor_stop(sess.channel)
            r["stop_again"] = "ok"
        except ControlError as e:
            r["stop_again"] = e.kind
        await rig.hangup_all()
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "mixmonitor", record_diff)
    local = (live_settings().host in ("127.0.0.1", "localhost", "::1"))
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["filename_var"], (kind, r)
        if kind == "pbxsim" or local:
            assert r["file_written"], (kind, r)
    assert not diff["relied"], diff


# ---------------------------------------------------------------------------
async def test_blind_transfer_of_bridged_caller(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """CallControl.blind_transfer: BlindTransfer on the agent leg sends the caller to the target."""

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        call = rig.model.call_of(sess.channel)
        agent = await rig.robot_agent("8003", call_id=call.call_id if call else None)
        await rig.control.bridge(agent, sess.channel)
        await rig.until(lambda: rig.model.is_bridged(sess.channel), what="bridged")
        m = rig.mark()
        out = await rig.control.blind_transfer(sess.channel, "hotline-hold", "park")
        r: dict[str, Any] = {"kind": out.kind}
        ne = await rig.event("Newexten", m, where=lambda e: e.get("Channel") == sess.channel
                             and e.get("Context") == "hotline-hold")
        r["caller_at"] = (ne.get("Context"), ne.get("Exten"))
        bt = [e for e in rig.since(m) if e.name == "BlindTransfer"]
        r["blind_transfer_event"] = [(e.get("Result"), e.get("Extension"), e.get("Context")) for e in bt]
        await rig.settle(1.0)
        ag = rig.model.resolve(agent)
        r["agent_alive"] = ag is not None and ag.alive
        r["caller_bridged"] = rig.model.is_bridged(sess.channel)
        await rig.hangup_all()
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "blind_transfer", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["kind"] == "blind" and r["caller_at"] == ("hotline-hold", "park"), (kind, r)
        assert r["blind_transfer_event"] and r["blind_transfer_event"][0][0] == "Success", (kind, r)
        assert not r["caller_bridged"], (kind, r)
    assert not diff["relied"], diff


async def test_three_way_conference_from_bridged_call(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """CallControl.conference_join: dual Redirect of a bridged caller + agent into hotline-conference."""
    room = "4302"

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345")
        call = rig.model.call_of(sess.channel)
        agent = await rig.robot_agent("8004", call_id=call.call_id if call else None)
        await rig.control.bridge(agent, sess.channel)
        await rig.until(lambda: rig.model.is_bridged(sess.channel), what="bridged")
        m = rig.mark()
        await rig.control.conference_join(room, sess.channel, extra_channel=agent)
        joins = await rig.until(lambda: (lambda js: js if len(js) >= 2 else None)(
            [e.get("Channel") for e in rig.since(m) if e.name == "ConfbridgeJoin"]), what="two ConfbridgeJoin")
        r: dict[str, Any] = {"joined": sorted(j == sess.channel or j == agent for j in joins)}
        guest = await rig.control.originate(f"Local/{room}@hotline-conference", application="Wait", data="3600",
                                            caller_id='"Guest" <12333>', call_id=call.call_id if call else None,
                                            ring_timeout=10)
        r["guest"] = guest.outcome
        await rig.until(lambda: len([e for e in rig.since(m) if e.name == "ConfbridgeJoin"]) >= 3, what="guest join")
        rooms = await rig.control.conference_rooms()
        r["rooms"] = [(x.name, x.parties) for x in rooms]
        first_new = [e for e in rig.since(m) if e.name == "Newexten" and e.get("Channel") == sess.channel][:1]
        r["first_newexten_after_redirect"] = [(e.get("Context"), e.get("Priority"), e.get("Application"))
                                              for e in first_new]
        await rig.hangup_all()
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "three_way_conference", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["joined"] == [True, True] and r["guest"] == "answered", (kind, r)
        assert r["rooms"] == [(room, 3)], (kind, r)
    assert not diff["relied"], diff


async def test_queue_membership(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """QueueAdd / QueuePause / QueueStatus / QueueRemove on the shipped queue (deploy/asterisk/queues.conf)."""
    queue = "q-fallback"
    member = "Local/8005@live-robot/n"
    lists: dict[str, list[Any]] = {}

    async def scenario(rig: Rig) -> dict[str, Any]:
        r: dict[str, Any] = {}
        try:
            await rig.control.queue_remove(queue, member)
        except ControlError:
            pass
        try:
            await rig.control.queue_add(queue, member, member_name="Seat 8005")
            r["add"] = "ok"
        except ControlError as e:
            r["add"] = f"{e.kind}: {e.message}"
        try:
            await rig.control.queue_pause(member, True, queue=queue, reason="break")
            r["pause"] = "ok"
        except ControlError as e:
            r["pause"] = f"{e.kind}: {e.message}"
        items = await rig.control.queue_status(queue)
        lists[rig.kind] = items
        mem = [m for m in items if m.name == "QueueMember"]
        r["queues"] = sorted(m.get("Queue") for m in items if m.name == "QueueParams")
        r["member"] = [(m.get("Location") or m.get("Interface"), m.get("Name"), m.get("Paused"), m.get("PausedReason"))
                       for m in mem]
        try:
            await rig.control.queue_remove(queue, member)
            r["remove"] = "ok"
        except ControlError as e:
            r["remove"] = f"{e.kind}: {e.message}"
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "queue_membership", record_diff)
    d = item_diff(lists["asterisk"], lists["pbxsim"], {"QueueParams": {"Queue"}, "QueueMember": {
        "Queue", "Location", "Name", "Paused", "PausedReason", "Penalty", "Status", "InCall", "Membership"}})
    record_diff("list_items_queuestatus", d)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["add"] == "ok" and r["pause"] == "ok" and r["remove"] == "ok", (kind, r)
        assert r["queues"] == [queue], (kind, r)
        assert r["member"] == [(member, "Seat 8005", "1", "break")], (kind, r)
    assert not diff["relied"] and not d["relied"], (diff, d)


async def test_dtmf_into_get_data_and_utf8_callerid(asterisk: Rig, pbxsim: Rig, record_diff) -> None:
    """Keys reach the IVR: PlayDTMF on the ;1 half is heard by GET DATA on the ;2 half.
    A Chinese caller name arrives in the AGI environment and the model as UTF-8."""

    async def scenario(rig: Rig) -> dict[str, Any]:
        sess, outer = await rig.inbound("12345", caller='"张三" <13800138001>')
        call = rig.model.call_of(sess.channel)
        r: dict[str, Any] = {
            "env_name": sess.env.get("agi_calleridname"),
            "model_name": call.caller_name if call else None,
        }
        t = asyncio.create_task(sess.get_data("hotline/main_menu", 5000, 2, timeout=30))
        await asyncio.sleep(1.0)
        await rig.control.send_dtmf(outer, "4")
        await asyncio.sleep(0.5)
        await rig.control.send_dtmf(outer, "#")
        r["get_data"] = await t
        m = rig.mark()
        t = asyncio.create_task(sess.get_data("hotline/main_menu", 5000, 1, timeout=30))
        await asyncio.sleep(0.5)
        try:
            await rig.control.send_dtmf(sess.channel, "7")
            r["dtmf_on_agi_side"] = "sent"
        except ControlError as e:
            r["dtmf_on_agi_side"] = e.kind
        r["get_data_same_side"] = await t
        r["dtmf_events"] = sorted({(e.get("Channel", "").rsplit(";", 1)[-1], e.get("Direction"))
                                   for e in rig.since(m) if e.name == "DTMFEnd"})
        await rig.hangup_all()
        await rig.quiet()
        return r

    a, s, diff = await run_both(asterisk, pbxsim, scenario, "dtmf_utf8", record_diff)
    for r, kind in ((a, "asterisk"), (s, "pbxsim")):
        assert r["env_name"] == "张三" and r["model_name"] == "张三", (kind, r)
        assert r["get_data"] == ("4", False), (kind, r)
    assert not diff["relied"], diff
