"""Memory of the live call model per 1,000 calls, and the cost of ``CallModel.handle`` per event.

Each call is what the model holds for a caller talking to an agent: the inbound
trunk channel (DNIS, caller id), an agent leg originated with ``HOTLINE_CALL``
(merged into the call), both answered and in one bridge, a recording, the
tracked variables. Memory is measured with tracemalloc around building the calls
(the model's own structures only; the AMI messages are built beforehand).

    python -m bench.call_model_memory [--quick]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

from cti.ami.protocol import Framer, Message
from cti.model import CallModel, ModelConfig


def _ev(name: str, **f: str) -> Message:
    d = {"Event": name, "Privilege": "call,all"}
    d.update(f)
    return Message("Event", name, d)


def _chan(uid: str, name: str, linkedid: str, state: str, context: str, exten: str, num: str, cname: str) -> dict[str, str]:
    return dict(
        Channel=name, ChannelState=state, ChannelStateDesc="Up" if state == "6" else "Ring", CallerIDNum=num,
        CallerIDName=cname, ConnectedLineNum="<unknown>", ConnectedLineName="<unknown>", Language="zh",
        AccountCode="", Context=context, Exten=exten, Priority="1", Uniqueid=uid, Linkedid=linkedid,
    )


def call_events(i: int) -> list[Message]:
    cid = f"1795270000.{2 * i}"
    aid = f"1795270000.{2 * i + 1}"
    caller = _chan(cid, f"PJSIP/trunk-{i:08x}", cid, "4", "hotline-inbound", "12345", f"138{i:08d}", "张三")
    agent = _chan(aid, f"PJSIP/{8001 + i % 50}-{i:08x}", aid, "0", "hotline-agent", "s", "12345", "12345")
    up_c = dict(caller, ChannelState="6")
    up_a = dict(agent, ChannelState="6")
    br = f"b{i:08d}-0000-4000-8000-000000000000"
    return [
        _ev("Newchannel", **caller),
        _ev("Newexten", **caller, Extension="12345", Application="NoOp", AppData="hotline inbound 12345"),
        _ev("VarSet", **caller, Variable="__HOTLINE_DNIS", Value="12345"),
        _ev("Newstate", **up_c),
        _ev("Newexten", **up_c, Extension="12345", Application="AGI", AppData="agi:async"),
        _ev("Newchannel", **agent),
        _ev("VarSet", **agent, Variable="HOTLINE_CALL", Value=cid),
        _ev("Newstate", **up_a),
        _ev("BridgeCreate", BridgeUniqueid=br, BridgeType="basic", BridgeTechnology="simple_bridge",
            BridgeCreator="<unknown>", BridgeName="<unknown>", BridgeNumChannels="0", BridgeVideoSourceMode="none"),
        _ev("BridgeEnter", **up_c, BridgeUniqueid=br, BridgeType="basic", BridgeNumChannels="1"),
        _ev("BridgeEnter", **up_a, BridgeUniqueid=br, BridgeType="basic", BridgeNumChannels="2"),
        _ev("VarSet", **up_c, Variable="MIXMONITOR_FILENAME", Value=f"/var/spool/asterisk/monitor/{cid}.wav"),
        _ev("MixMonitorStart", **up_c),
        _ev("VarSet", **up_c, Variable="BRIDGEPEER", Value=agent["Channel"]),  # untracked: filtered early
    ]


def hangup_events(i: int) -> list[Message]:
    cid = f"1795270000.{2 * i}"
    aid = f"1795270000.{2 * i + 1}"
    caller = _chan(cid, f"PJSIP/trunk-{i:08x}", cid, "6", "hotline-inbound", "12345", f"138{i:08d}", "张三")
    agent = _chan(aid, f"PJSIP/{8001 + i % 50}-{i:08x}", cid, "6", "hotline-agent", "connect", "12345", "12345")
    br = f"b{i:08d}-0000-4000-8000-000000000000"
    return [
        _ev("BridgeLeave", **agent, BridgeUniqueid=br),
        _ev("Hangup", **agent, Cause="16", **{"Cause-txt": "Normal Clearing"}),
        _ev("BridgeLeave", **caller, BridgeUniqueid=br),
        _ev("BridgeDestroy", BridgeUniqueid=br),
        _ev("Hangup", **caller, Cause="16", **{"Cause-txt": "Normal Clearing"}),
    ]


class _CountingBus:
    def __init__(self) -> None:
        self.n = 0

    def publish(self, event: object) -> None:
        self.n += 1


class _Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 21, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(milliseconds=1)
        return self.t


def run(quick: bool = False) -> dict:
    calls = 1000 if quick else 10_000
    setup = [call_events(i) for i in range(calls)]
    teardown = [hangup_events(i) for i in range(calls)]

    # timing pass without tracemalloc (it slows allocation down several times)
    timing = CallModel(_CountingBus(), config=ModelConfig(), clock=_Clock())
    t0 = time.perf_counter()
    n_timed = 0
    for evs in setup:
        for m in evs:
            timing.handle(m)
        n_timed += len(evs)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    n_down = 0
    for evs in teardown:
        for m in evs:
            timing.handle(m)
        n_down += len(evs)
    down_s = time.perf_counter() - t1
    assert timing.live_calls == 0
    del timing

    gc.collect()
    bus = _CountingBus()
    model = CallModel(bus, config=ModelConfig(), clock=_Clock())
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    for evs in setup:
        for m in evs:
            model.handle(m)
    gc.collect()
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in snap.compare_to(base, "filename"))
    assert model.live_calls == calls, model.live_calls

    for evs in teardown:
        for m in evs:
            model.handle(m)
    assert model.live_calls == 0

    # handle() on a real capture: 20 concurrent calls (bulk_events), repeated
    per_event_us_capture = None
    try:
        from pathlib import Path

        p = Path(__file__).resolve().parents[2] / "shared" / "asterisk" / "ami" / "bulk_events" / "received.ami"
        msgs = [m for m in Framer().feed(p.read_bytes()) if m.kind == "Event"]
        reps = 20 if quick else 100
        times = []
        for _ in range(reps):
            mdl = CallModel(_CountingBus(), config=ModelConfig(inbound_contexts=frozenset({"from-caller"})))
            t = time.perf_counter()
            for m in msgs:
                mdl.handle(m)
            times.append((time.perf_counter() - t) / len(msgs))
        per_event_us_capture = round(statistics.median(times) * 1e6, 2)
    except OSError:
        pass

    per_1000 = used / calls * 1000
    return {
        "calls": calls,
        "legs_per_call": 2,
        "bytes_per_1000_calls": int(per_1000),
        "mib_per_1000_calls": round(per_1000 / 2**20, 3),
        "bytes_per_call": int(used / calls),
        "handle_us_per_event_build": round(build_s / n_timed * 1e6, 2),
        "handle_us_per_event_teardown": round(down_s / n_down * 1e6, 2),
        "handle_events_per_second": int(n_timed / build_s),
        "handle_us_per_event_bulk_capture": per_event_us_capture,
        "domain_events_published": bus.n,
    }


def main(argv: list[str] | None = None) -> int:
    from bench.run import run_one

    argv = sys.argv[1:] if argv is None else argv
    run_one("call_model_memory", "--quick" in argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
