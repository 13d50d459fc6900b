"""How many concurrent calls the PBX simulator sustains, with an AMI client driving AsyncAGI.

``python -m bench.sim_capacity [--quick]`` prints the result and writes
bench/results/sim_capacity.json: concurrent calls held, events/s seen by the AMI
client, and memory per live call (tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import os
from pathlib import Path
from urllib.parse import unquote

from cti.ami.protocol import Framer, encode_action
from pbxsim.callers import CallerScript
from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator

RESULTS = Path(__file__).resolve().parent / "results" / "sim_capacity.json"


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _drive(calls: int, speed: float, hold_s: float = 120.0) -> dict:
    sim = PbxSimulator(SimConfig(port=0, speed=speed))
    await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.ami_port)
    framer = Framer()
    events = 0
    started = 0
    ended = 0
    writer.write(encode_action("Login", {"Username": "ivr", "Secret": "ivrsecret"}, "login"))

    async def read() -> None:
        nonlocal events, started, ended
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            out = []
            for m in framer.feed(data):
                if m.kind != "Event":
                    continue
                events += 1
                if m.name == "AsyncAGIStart":
                    started += 1
                    ch = m.fields["Channel"]
                    out.append(encode_action("AGI", {"Channel": ch, "Command": "GET DATA welcome 2000 1",
                                                     "CommandID": ch + "-1"}, None))
                elif m.name == "AsyncAGIExec":
                    ch = m.fields["Channel"]
                    if unquote(m.fields["Result"]).startswith("200 result=1"):
                        out.append(encode_action("AGI", {"Channel": ch, "Command": "EXEC MusicOnHold default,90",
                                                         "CommandID": ch + "-2"}, None))
                    else:
                        out.append(encode_action("AGI", {"Channel": ch, "Command": "HANGUP"}, None))
                elif m.name == "Hangup" and m.fields.get("Channel", "").startswith("PJSIP/trunk-"):
                    ended += 1
            if out:
                writer.write(b"".join(out))

    rtask = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    base_mem = _rss()
    t0 = time.perf_counter()
    placed = []
    for i in range(calls):
        placed.append(await sim.place_call(CallerScript(caller_num=f"1380000{i:04d}", keys=["1"], think_time=0.5,
                                                        hangup_after=hold_s)))
        if i % 200 == 199:
            await asyncio.sleep(0)
    # wait until every call is in the IVR or on hold
    deadline = time.perf_counter() + 120
    while started < calls and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    ev0, t1 = events, time.perf_counter()
    peak_live = len(sim.pbx.registry)
    mem = _rss() - base_mem
    await asyncio.gather(*(c.wait(300) for c in placed))
    t2 = time.perf_counter()
    deadline = time.perf_counter() + 60
    while ended < calls and time.perf_counter() < deadline:  # let the client read the last events
        await asyncio.sleep(0.05)
    rtask.cancel()
    writer.close()
    m = sim.metrics()
    await sim.stop()
    return {
        "calls": calls,
        "speed": speed,
        "concurrent_channels_peak": peak_live,
        "all_answered_in_s": round(t1 - t0, 3),
        "total_wall_s": round(t2 - t0, 3),
        "events_seen_by_client": events,
        "events_per_second": round(events / (t2 - t0), 1),
        "events_until_all_in_ivr": ev0,
        "setup_events_per_second": round(ev0 / max(1e-6, t1 - t0), 1),
        "sim_events_total": m.events_total,
        "rss_per_call_bytes": int(mem / max(1, peak_live)),
        "note": "each call: AsyncAGI GET DATA with a scripted key, then music on hold until the caller hangs up; "
                "durations run at `speed` x real time; RSS delta includes the AMI client in the same process",
    }


def run(quick: bool = False) -> dict:
    calls = 300 if quick else 2000
    res = asyncio.run(_drive(calls, speed=10.0))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    return res


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    ns = p.parse_args()
    print(json.dumps(run(ns.quick), indent=2))


if __name__ == "__main__":
    main()
