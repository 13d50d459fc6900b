"""Replay the captured clients' requests (sent.ami) against the simulator running the capture rig's own
dialplan (from ../shared/asterisk/INDEX.md) and compare every Response with the captured one:
status, Message, header names in order, and the values that carry meaning.

Channel names are adapted: the n-th Newchannel of the capture stands for the n-th Newchannel of the
simulator. Before each request the replay waits until the simulator has produced as many Newchannel and
OriginateResponse events as Asterisk had at that point, like the capturing client that waited for events.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cti.ami.protocol import Framer
from pbxsim.config import AgentBehaviour, SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi

SHARED = Path(__file__).resolve().parents[3] / "shared" / "asterisk"
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="capture corpus not present")

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
    cfg = SimConfig(port=0, speed=20, dialplan_path=dp, agent_context="agents", recordings_dir=tmp_path,
                    **(sim_cfg or {}))
    sim = PbxSimulator(cfg)
    for k, v in (agents or {}).items():
        sim.agents[k] = v
    await sim.start()
    base = SHARED / "ami" / scenario
    cap = messages(base / "received.ami")
    ours_client = await RawAmi.connect(sim.ami_port)
    cap_chans = [m["Channel"] for m in cap if m.kind == "Event" and m.name == "Newchannel"]
    try:
        for block in requests(base / "sent.ami"):
            aid = _aid(block)
            idx = next((i for i, m in enumerate(cap) if m.kind == "Response" and m.get("ActionID") == aid), None)
            if idx is not None:
                want_orig = sum(1 for m in cap[:idx] if m.kind == "Event" and m.name == "OriginateResponse")
                want_chan = sum(1 for m in cap[:idx] if m.kind == "Event" and m.name == "Newchannel")
                for _ in range(1000):
                    if (len(ours_client.events("OriginateResponse")) >= want_orig
                            and len(ours_client.events("Newchannel")) >= want_chan):
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
        await asyncio.sleep(0.05)
    finally:
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
