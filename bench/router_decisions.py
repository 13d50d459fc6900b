"""Routing decisions per second and per-decision latency, by size.

For 100 and 1,000 agents with 1,000 and 5,000 waiting calls (8 queues, 3
priority lanes, 5 sites, 40 groups, targets group -> site -> all sites, each
agent with 2-3 skills) it measures, one timed call at a time:

* ``agent_frees``: an agent's call ends (no wrap-up) and the engine picks the
  next call for that agent from every lane it serves (the hot path at peak);
* ``call_arrives``: a call arrives while every agent is busy (rings checked,
  call queued);
* ``call_arrives_agents_free`` (once per agent count, nobody waiting): a call
  arrives and the engine picks the best free agent across the heaps in scope.

Next to them, in the same run, the raw limit: a bare ``heapq.heappop`` plus a
dict lookup per operation, timed the same way, on a heap as big as the queue.
The ratio engine/raw says how far a decision is from the least it could cost;
the growth columns compare 1,000 with 100 agents and 5,000 with 1,000 calls.
"""

from __future__ import annotations

import gc
import heapq
import os
import json
import random
import statistics
import time

from router.engine import Engine
from router.models import Agent, Decision, Group, QueueConfig, RoutingConfig, Site, Target

SITES = ("centre", "d1", "d2", "d3", "d4")
N_GROUPS = 40
N_QUEUES = 8
LANES = ("enterprise", "repeat", "normal")


class _Clock:
    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def build(n_agents: int, seed: int = 1) -> tuple[Engine, _Clock]:
    rnd = random.Random(seed)
    sites = tuple(Site(s, centre=(s == "centre")) for s in SITES)
    groups = tuple(Group(f"g{i}", SITES[i % len(SITES)]) for i in range(N_GROUPS))
    queues = []
    for qi in range(N_QUEUES):
        home = (f"g{qi}", f"g{qi + N_QUEUES}", f"g{qi + 2 * N_QUEUES}")
        queues.append(
            QueueConfig(
                f"q{qi}",
                f"s{qi}",
                (
                    Target(0, groups=home),
                    Target(30, sites=(groups[qi].site_id,)),
                    Target(60, all_sites=True),
                ),
                wrapup=0.0,
            )
        )
    agents = []
    for i in range(n_agents):
        g = groups[i % N_GROUPS]
        skills = {f"s{q}": rnd.randint(1, 10) for q in rnd.sample(range(N_QUEUES), rnd.randint(2, 3))}
        agents.append(Agent(f"a{i}", f"8{i:04d}", g.id, g.site_id, skills))
    clock = _Clock()
    return Engine(RoutingConfig(sites, groups, tuple(agents), tuple(queues)), clock), clock


def _percentiles(ns: list[int]) -> dict[str, float]:
    s = sorted(ns)
    n = len(s)
    return {
        "p50_us": round(s[n // 2] / 1000, 2),
        "p99_us": round(s[min(n - 1, int(n * 0.99))] / 1000, 2),
        "max_us": round(s[-1] / 1000, 2),
        "mean_us": round(statistics.fmean(s) / 1000, 2),
        "per_second": round(1e9 / statistics.fmean(s)),  # from the mean: every stall counts
        "per_second_at_p50": round(1e9 / s[n // 2]),
    }


def _fill(eng: Engine, clock: _Clock, n_waiting: int, rnd: random.Random) -> list[str]:
    """Log everyone in, give each agent a call, then queue ``n_waiting`` more."""
    for aid in eng.seats.by_id:
        eng.login(aid)
    k = 0
    connected: list[str] = []

    def take(acts: list) -> None:
        for a in acts:
            if isinstance(a, Decision):
                eng.connected(a.call_id)
                connected.append(a.call_id)

    def free() -> int:
        return sum(1 for s in eng.seats.by_id.values() if s.state.value == "available")

    while free():
        for _ in range(max(50, n_waiting // 4)):
            clock.now += 0.001
            _, acts = eng.enqueue(f"c{k}", f"q{k % N_QUEUES}", LANES[rnd.randrange(3)])
            k += 1
            take(acts)
        clock.now += 61.0  # rings widen to all sites
        take(eng.advance())
    extra = sum(q.waiting for q in eng.queues.values()) - n_waiting
    if extra > 0:  # the fill overshot: the newest callers hang up
        newest = sorted((c for c in eng.calls.values() if c.state.value == "waiting"), key=lambda c: c.seq)
        for c in newest[len(newest) - extra:]:
            eng.abandon(c.id)
    while sum(q.waiting for q in eng.queues.values()) < n_waiting:
        clock.now += 0.001
        _, acts = eng.enqueue(f"c{k}", f"q{k % N_QUEUES}", LANES[rnd.randrange(3)])
        k += 1
        take(acts)
    return connected


def measure_grid(n_agents: int, n_waiting: int, ops: int, seed: int = 7) -> dict[str, object]:
    rnd = random.Random(seed)
    eng, clock = build(n_agents)
    connected = _fill(eng, clock, n_waiting, rnd)
    clock.now += 60.0  # everyone waiting has reached the all-sites ring
    eng.advance()
    free_ns: list[int] = []
    arrive_ns: list[int] = []
    idle_after_free = 0
    k = 10_000_000
    pc = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for n in range(ops):
            if not connected:
                break
            clock.now += 0.01
            if n % 500 == 499:
                for a in eng.advance():  # rings widen (not timed)
                    eng.connected(a.call_id)
                    connected.append(a.call_id)
            i = rnd.randrange(len(connected))
            cid = connected[i]
            queue = eng.calls[cid].queue_id
            t0 = pc()
            acts = eng.call_ended(cid)
            t1 = pc()
            free_ns.append(t1 - t0)
            connected[i] = connected[-1]
            connected.pop()
            if not acts:
                idle_after_free += 1
            for a in acts:
                eng.connected(a.call_id)
                connected.append(a.call_id)
            k += 1
            # the next caller arrives in the queue that just lost one, so every queue stays loaded
            t0 = pc()
            _, acts = eng.enqueue(f"c{k}", queue, LANES[k % 3])
            t1 = pc()
            arrive_ns.append(t1 - t0)
            for a in acts:
                eng.connected(a.call_id)
                connected.append(a.call_id)
    finally:
        gc.enable()
    waiting_now = sum(q.waiting for q in eng.queues.values())
    assert eng.check_invariants() == [], "engine invariants broken during the benchmark"
    return {
        "agents": n_agents,
        "waiting": n_waiting,
        "waiting_after": waiting_now,
        "decisions_timed": len(free_ns) + len(arrive_ns),
        "agent_found_no_call": idle_after_free,
        "agent_frees": _percentiles(free_ns),
        "call_arrives": _percentiles(arrive_ns),
    }


def measure_agents_free(n_agents: int, ops: int, seed: int = 11) -> dict[str, object]:
    """Nobody waiting, half the agents free: a call arrives and takes the best free agent."""
    rnd = random.Random(seed)
    eng, clock = build(n_agents)
    ids = list(eng.seats.by_id)
    for aid in ids:
        eng.login(aid)
    busy: list[str] = []
    for k in range(n_agents // 2):  # half of them on calls
        clock.now += 0.001
        _, acts = eng.enqueue(f"w{k}", f"q{k % N_QUEUES}")
        for a in acts:
            eng.connected(a.call_id)
            busy.append(a.call_id)
    lat: list[int] = []
    pc = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for k in range(ops):
            clock.now += 0.01
            t0 = pc()
            _, acts = eng.enqueue(f"n{k}", f"q{rnd.randrange(N_QUEUES)}", "normal")
            t1 = pc()
            lat.append(t1 - t0)
            if not acts:  # no free agent in the call's first ring: keep nobody waiting
                eng.abandon(f"n{k}")
            for a in acts:
                eng.connected(a.call_id)
                busy.append(a.call_id)
            # keep the number of free agents steady: end the oldest call
            if len(busy) > n_agents // 2:
                for a in eng.call_ended(busy.pop(0)):
                    eng.connected(a.call_id)
                    busy.append(a.call_id)
    finally:
        gc.enable()
    return {"agents": n_agents, "waiting": 0, "call_arrives_agents_free": _percentiles(lat)}


def measure_raw(size: int, ops: int, seed: int = 3) -> dict[str, float]:
    """The floor: heappop + dict lookup (+ push back to keep the size), timed per operation."""
    rnd = random.Random(seed)
    heap = [(rnd.random(), i) for i in range(size)]
    heapq.heapify(heap)
    table = {i: i for i in range(size)}
    lat: list[int] = []
    pc = time.perf_counter_ns
    gc.disable()
    try:
        for _ in range(ops):
            t0 = pc()
            key, i = heapq.heappop(heap)
            table[i]
            t1 = pc()
            lat.append(t1 - t0)
            heapq.heappush(heap, (key + 1.0, i))
    finally:
        gc.enable()
    return _percentiles(lat)


def run(quick: bool = False) -> dict:
    ops = 2_000 if quick else 20_000
    load_before = os.getloadavg()
    grid = []
    for n_agents in (100, 1000):
        for n_waiting in (1000, 5000):
            row = measure_grid(n_agents, n_waiting, ops)
            raw = measure_raw(n_waiting, ops)
            row["raw_heappop_dict"] = raw
            row["ratio_p50_vs_raw"] = round(row["agent_frees"]["p50_us"] / max(raw["p50_us"], 0.01), 1)  # type: ignore[index]
            grid.append(row)
    free = [measure_agents_free(n, ops) for n in (100, 1000)]

    def cell(a: int, w: int) -> dict:
        return next(r for r in grid if r["agents"] == a and r["waiting"] == w)

    growth = {
        "agents_x10_at_5000_waiting_p50": round(
            cell(1000, 5000)["agent_frees"]["p50_us"] / cell(100, 5000)["agent_frees"]["p50_us"], 2
        ),
        "waiting_x5_at_1000_agents_p50": round(
            cell(1000, 5000)["agent_frees"]["p50_us"] / cell(1000, 1000)["agent_frees"]["p50_us"], 2
        ),
    }
    target = cell(1000, 5000)
    worst_p99 = max(target["agent_frees"]["p99_us"], target["call_arrives"]["p99_us"])
    min_rate = min(target["agent_frees"]["per_second"], target["call_arrives"]["per_second"])
    return {
        "ops_per_cell": ops,
        "note": "one timed call per decision; the machine is shared, so read the p50s and the ratios to the "
                "raw floor; per_second comes from the mean and includes every scheduler stall",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "grid": grid,
        "agents_free": free,
        "growth": growth,
        "goal": {
            "at": "1,000 agents x 5,000 waiting",
            "decisions_per_second": min_rate,
            "p99_us": worst_p99,
            "met": min_rate >= 20_000 and worst_p99 <= 1000,
        },
    }


if __name__ == "__main__":
    import sys

    from bench.run import write_result

    quick = "--quick" in sys.argv
    figures = run(quick=quick)
    print(json.dumps(figures, indent=2))
    print(f"-> {write_result('router_decisions', figures, quick)}")
