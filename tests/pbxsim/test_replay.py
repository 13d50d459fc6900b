"""Replay the captured clients' requests (sent.ami) against the simulator running the capture rig's own
dialplan (from ../shared/asterisk/INDEX.md) and compare every Response with the captured one:
status, Message, header names in order, and the values that carry meaning.

Channel names are adapted: the n-th Newchannel of the capture stands for the n-th Newchannel of the
simulator. Before each request the replay waits until the simulator has produced as many Newchannel and
OriginateResponse events as Asterisk had at that point, like the capturing client that waited for events.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from cti.ami.protocol import Framer
from pbxsim import audio
from pbxsim.callers import CallerScript
from pbxsim.config import AgentBehaviour, SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi

SHARED = Path(__file__).resolve().parents[3] / "shared" / "asterisk"
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="capture corpus not present")

_CHAN = re.compile(r"\b(PJSIP|Local)/[^\s,]+?-[0-9a-f]{8}(;[12])?")  # names differ by design (mapped)

PROMPTS = {"beep": 3404, "hello-world": 11234, "demo-congrats": 48000}

VOLATILE = {"Timestamp", "Uptime", "LastReload", "CoreStartupDate", "CoreStartupTime", "CoreReloadDate",
            "CoreReloadTime", "CoreCurrentCalls", "CoreProcessedCalls", "Output", "EventTV", "SessionID",
            "LocalAddress", "RemoteAddress", "SessionTV"}


def rig_dialplan() -> str:
    text = (SHARED / "INDEX.md").read_text(encoding="utf-8")
    start = text.index("extensions.conf:\n```ini\n") + len("extensions.conf:\n```ini\n")
    return text[start: text.index("```", start)]


def requests(path: Path) -> list[bytes]:
    return [b for b in re.split(rb"\r?\n\r?\n", path.read_bytes()) if b.strip()]


def messages(path: Path) -> list:
    return Framer().feed(path.read_bytes())


def _aid(block: bytes) -> str | None:
    m = re.search(rb"(?im)^actionid:[ \t]*(.*?)\r?$", block)
    return m.group(1).decode() if m else None


async def replay(tmp_path, scenario: str, sim_cfg: dict | None = None, agents: dict | None = None):
    dp = tmp_path / "rig.conf"
    dp.write_text(rig_dialplan(), encoding="utf-8")
    sounds = tmp_path / "sounds"
    for name, samples in PROMPTS.items():  # the rig's prompt lengths, from the captured endpos values
        audio.write_wav(sounds / f"{name}.wav", b"\0\0" * samples)
    cfg = SimConfig(port=0, speed=20, dialplan_path=dp, agent_context="agents", trunk_context="from-caller",
                    recordings_dir=tmp_path, sounds_dir=sounds,
                    **(sim_cfg or {}))
    sim = PbxSimulator(cfg)
    for k, v in (agents or {}).items():
        sim.agents[k] = v
    await sim.start()
    base = SHARED / "ami" / scenario
    cap = messages(base / "received.ami")
    ours_client = await RawAmi.connect(sim.ami_port)
    speed = cfg.speed
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    outs = [json.loads(line) for line in (base / "timeline.jsonl").read_text().splitlines() if '"out"' in line]
    out_times = [o["t"] for o in outs if o["dir"] == "out"]
    stimuli = []
    if (base / "stimuli.jsonl").exists():
        stimuli = [json.loads(line) for line in (base / "stimuli.jsonl").read_text().splitlines() if line.strip()]
    cap_new = [m for m in cap if m.kind == "Event" and m.name == "Newchannel"]
    cap_chans = [m["Channel"] for m in cap_new]
    byes: set[str] = set()
    inbound_new = [m for m in cap_new if m["Channel"].startswith("PJSIP/") and m["ChannelState"] == "4"]
    placed: dict[str, object] = {}  # captured inbound channel -> SimCall
    tasks = []
    answered = 0  # request blocks sent and answered so far

    async def stimulus(t: float, what: str) -> None:
        await asyncio.sleep(max(0.0, t0 + t / speed - loop.time()))
        # causal order as captured: a stimulus comes after every request sent before it was, however
        # slowly this machine replays them (an event reaches only a logged-in session)
        while answered < sum(1 for x in out_times if x < t):
            await asyncio.sleep(0.005)
        inv = re.search(r"(?:phone (\d+)|SIPp) sends INVITE to (\d+)", what)
        if inv:
            m = inbound_new[len(placed)] if len(placed) < len(inbound_new) else None
            if m is not None:
                after = re.search(r"hangs up \(BYE\) ([\d.]+) s after", what)
                placed[m["Channel"]] = await sim.place_call(CallerScript(
                    dnis=m["Exten"], caller_num=m["CallerIDNum"], caller_name=m["CallerIDName"],
                    hangup_after=float(after.group(1)) if after else None))
            return
        dtmf = re.search(r'phone (\d+) starts sending RFC 4733 DTMF "(.)"', what)
        if dtmf:
            for name, call in placed.items():
                if name.startswith(f"PJSIP/{dtmf.group(1)}-"):
                    await sim.press(call, dtmf.group(2))
            return
        bye = re.search(r"phone (\d+) hangs up", what)
        if bye:
            for name, call in placed.items():
                if name.startswith(f"PJSIP/{bye.group(1)}-"):
                    sim.hangup(call)

    for st in stimuli:
        tasks.append(asyncio.ensure_future(stimulus(st["t"], st["what"])))
    try:
        blocks = requests(base / "sent.ami")
        paced = len(out_times) == len(blocks)
        for k, block in enumerate(blocks):
            if paced:
                await asyncio.sleep(max(0.0, t0 + out_times[k] / speed - loop.time()))
            aid = _aid(block)
            idx = next((i for i, m in enumerate(cap) if m.kind == "Response" and m.get("ActionID") == aid), None)
            if idx is not None:
                want_orig = sum(1 for m in cap[:idx] if m.kind == "Event" and m.name == "OriginateResponse")
                want_chan = sum(1 for m in cap[:idx] if m.kind == "Event" and m.name == "Newchannel")
                want_agi = sum(1 for m in cap[:idx] if m.kind == "Event" and m.name == "AsyncAGIStart")
                have = len(ours_client.events("Newchannel"))
                for m in cap_new[have:want_chan] if not stimuli else []:
                    if m["Channel"].startswith("PJSIP/") and m["ChannelState"] == "4":
                        # an external stimulus (a phone or SIPp calling in): a scripted caller stands in
                        await sim.place_call(CallerScript(dnis=m["Exten"], caller_num=m["CallerIDNum"],
                                                          caller_name=m["CallerIDName"]))
                inbound = {m["Channel"] for m in cap_new if m["Channel"].startswith("PJSIP/")
                           and m["ChannelState"] == "4"}
                ours_names = [m["Channel"] for m in ours_client.events("Newchannel")]
                for m in cap[:idx]:
                    # the phone hung up (BYE): the scripted caller standing in for it does the same
                    if not stimuli and m.kind == "Event" and m.name == "HangupRequest" \
                            and m["Channel"] in inbound and m["Channel"] not in byes and "Cause" not in m:
                        byes.add(m["Channel"])
                        pos = cap_chans.index(m["Channel"])
                        if pos < len(ours_names):
                            sim.hangup(ours_names[pos])
                want_hang = sum(1 for m in cap[:idx] if m.kind == "Event" and m.name == "Hangup")
                for _ in range(1000):
                    if (len(ours_client.events("Hangup")) >= want_hang
                            and len(ours_client.events("OriginateResponse")) >= want_orig
                            and len(ours_client.events("Newchannel")) >= want_chan
                            and len(ours_client.events("AsyncAGIStart")) >= want_agi):
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError(
                        f"before {aid}: {len(ours_client.events('OriginateResponse'))}/{want_orig} "
                        f"OriginateResponse, {len(ours_client.events('Newchannel'))}/{want_chan} Newchannel")
            text = block.decode("utf-8")
            ours_chans = [m["Channel"] for m in ours_client.events("Newchannel")]
            for cname, oname in sorted(zip(cap_chans, ours_chans), key=lambda p: -len(p[0])):
                text = text.replace(cname, oname)
            ours_client.send_raw(text.encode("utf-8") + (b"\n\n" if b"\r" not in block else b"\r\n\r\n"))
            if aid is not None:
                await ours_client.response(aid, timeout=30)
            answered = k + 1
        await asyncio.sleep(0.05)
        for t in tasks:
            if t.done() and t.exception() is not None:
                raise t.exception()
    finally:
        for t in tasks:
            t.cancel()
        await ours_client.close()
        await sim.stop()
    return cap, ours_client.messages


def _resp(msgs) -> list:
    return [m for m in msgs if m.kind == "Response"]


def _collapse(names: list[str]) -> list[str]:
    """Repeated headers (Output, Variable) count once: their number follows the content."""
    out: list[str] = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


def compare_responses(cap, ours, values: bool = True) -> list[str]:
    diffs = []
    cap_r, our_r = _resp(cap), _resp(ours)
    if len(cap_r) != len(our_r):
        diffs.append(f"{len(cap_r)} responses captured, {len(our_r)} from the simulator")
    for c, o in zip(cap_r, our_r):
        cn = _collapse([k for k, _ in c.headers])
        on = _collapse([k for k, _ in o.headers])
        if cn != on:
            diffs.append(f"{c.get('ActionID')}: headers {cn} != {on}")
            continue
        for (k, cv), (_, ov) in zip(c.headers, o.headers):
            if k in VOLATILE or not values:
                continue
            cv, ov = _CHAN.sub("<chan>", cv), _CHAN.sub("<chan>", ov)
            if cv != ov:
                diffs.append(f"{c.get('ActionID')}: {k} {cv!r} != {ov!r}")
    return diffs


@pytest.mark.parametrize("scenario", ["login_ok", "ping", "unknown_action", "action_on_missing_channel"])
async def test_replay_session_scenarios(tmp_path, scenario):
    cap, ours = await replay(tmp_path, scenario)
    assert compare_responses(cap, ours) == []


async def test_replay_getvar_setvar(tmp_path):
    cap, ours = await replay(tmp_path, "getvar_setvar")
    assert compare_responses(cap, ours) == []


async def test_replay_command_output(tmp_path):
    cap, ours = await replay(tmp_path, "command_output")
    assert compare_responses(cap, ours, values=False) == []
    assert [r.name for r in _resp(ours)] == [r.name for r in _resp(cap)]


async def test_replay_originate_async_fail(tmp_path):
    agents = {"8002": AgentBehaviour(mode="busy"), "8003": AgentBehaviour(mode="ring"),
              "8005": AgentBehaviour(mode="unregistered")}
    cap, ours = await replay(tmp_path, "originate_async_fail", agents=agents)
    assert compare_responses(cap, ours) == []

    def outcomes(msgs):
        return [(m["ActionID"], m["Response"], m["Reason"], m["Channel"], m["Uniqueid"] if not
                 re.match(r"^\d+\.\d+$", m["Uniqueid"]) else "<id>")
                for m in msgs if m.kind == "Event" and m.name == "OriginateResponse"]
    assert sorted(outcomes(ours)) == sorted(outcomes(cap))


async def test_replay_originate_async_ok(tmp_path):
    cap, ours = await replay(tmp_path, "originate_async_ok", agents={"8001": AgentBehaviour(answer_after=0.5)})
    assert compare_responses(cap, ours) == []
    res = [(m["ActionID"], m["Response"], m["Reason"]) for m in ours
           if m.kind == "Event" and m.name == "OriginateResponse"]
    assert res == [(m["ActionID"], m["Response"], m["Reason"]) for m in cap
                   if m.kind == "Event" and m.name == "OriginateResponse"]


async def test_replay_chinese_callerid(tmp_path):
    """UTF-8 caller names: raw in AMI headers, percent-encoded in AsyncAGI results, UTF-8 in AGI commands."""
    cap, ours = await replay(tmp_path, "chinese_callerid")
    assert compare_responses(cap, ours) == []

    def results(msgs):
        return [(m["CommandId"], m["Result"]) for m in msgs if m.kind == "Event" and m.name == "AsyncAGIExec"]
    assert results(ours) == results(cap)


@pytest.mark.parametrize("scenario", ["asyncagi_break_dialplan_continues", "core_show_channels_status"])
async def test_replay_with_inbound_calls(tmp_path, scenario):
    """Phones calling in are stood in for by scripted callers with the captured caller id and extension."""
    cap, ours = await replay(tmp_path, scenario)
    assert compare_responses(cap, ours) == []

    def items(msgs):
        return [(m.name, m.get("Application"), m.get("Context"), m.get("Exten"))
                for m in msgs if m.kind == "Event" and m.name in ("CoreShowChannel", "Status")]
    assert sorted(items(ours), key=str) == sorted(items(cap), key=str)


@pytest.mark.parametrize("scenario", ["asyncagi_ivr_dtmf", "asyncagi_timeout",
                                      "asyncagi_caller_hangs_up_midcommand", "asyncagi_break_dialplan_continues"])
async def test_replay_asyncagi(tmp_path, scenario):
    """The phone's DTMF and BYE at their captured times; every AGI result must be the captured one."""
    cap, ours = await replay(tmp_path, scenario)
    assert compare_responses(cap, ours) == []

    def results(msgs):
        return [(m["CommandId"], m["Result"]) for m in msgs if m.kind == "Event" and m.name == "AsyncAGIExec"]
    mine, theirs = results(ours), results(cap)
    # an interrupted prompt's endpos depends on the exact moment of the BYE: compare up to "endpos="
    strip = re.compile(r"(result%3D-1%20endpos%3D)\d+")
    assert [(c, strip.sub(r"\1N", r)) for c, r in mine] == [(c, strip.sub(r"\1N", r)) for c, r in theirs]
