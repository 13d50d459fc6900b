"""Waiting calls and available agents, in structures that keep a decision cheap.

* ``Lane``: the calls of one priority class of one queue, ordered by ``seq``
  (enqueue time, then arrival counter). A sorted list of keys: head in O(1),
  insert/remove by bisection, and a caller's position in O(log n) for the
  announcements.
* ``AgentHeap``: available agents of one queue in one group or one site, as a
  heap keyed by the queue's strategy (default: proficiency desc, idle since asc).
  Entries carry the seat's availability version; an agent who stops being
  available is dropped lazily when it reaches the top, so taking an agent out
  of all its heaps costs O(1). Heaps are compacted when stale entries pile up.
* ``QueueRuntime``: one queue's lanes, heaps, target rings, overflow / surge
  modes, per-site counts for the caps, and its EWT inputs.

A call's eligibility only widens with its wait, and the calls of a lane are in
wait order, so the head of each lane is the only call an agent needs to look at.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from typing import Any

from router.estimate import HandleTimes, ewt
from router.models import INF, Agent, PriorityClass, QueueConfig, Strategy, Target, WaitingCall
from router.seats import Seat

Seq = tuple[float, int]


class Lane:
    __slots__ = ("name", "rank", "seqs", "calls")

    def __init__(self, cls: PriorityClass):
        self.name = cls.name
        self.rank = cls.rank
        self.seqs: list[Seq] = []
        self.calls: dict[Seq, WaitingCall] = {}

    def __len__(self) -> int:
        return len(self.seqs)

    def push(self, call: WaitingCall) -> None:
        seqs = self.seqs
        if not seqs or seqs[-1] < call.seq:
            seqs.append(call.seq)
        else:
            insort(seqs, call.seq)
        self.calls[call.seq] = call

    def head(self) -> WaitingCall | None:
        return self.calls[self.seqs[0]] if self.seqs else None

    def pop_head(self) -> WaitingCall:
        return self.calls.pop(self.seqs.pop(0))

    def remove(self, call: WaitingCall) -> bool:
        i = bisect_left(self.seqs, call.seq)
        if i < len(self.seqs) and self.seqs[i] == call.seq:
            del self.seqs[i]
            del self.calls[call.seq]
            return True
        return False

    def index(self, seq: Seq) -> int:
        """How many calls of this lane are ahead of ``seq``."""
        return bisect_left(self.seqs, seq)

    def head_seq_before(self, counter: int) -> Seq:
        """A key that sorts before every call in the lane (for a call put back at the head)."""
        if self.seqs:
            return (self.seqs[0][0], -counter)
        return (-INF, -counter)


# heap entry: (key0, key1, token, proficiency, seat)
Entry = tuple[float, float, int, int, Seat]


class AgentHeap:
    __slots__ = ("heap", "site_id", "members", "label", "is_site")

    def __init__(self, site_id: str, label: str, is_site: bool):
        self.heap: list[Entry] = []
        self.site_id = site_id
        self.members = 0
        self.label = label
        self.is_site = is_site

    def push(self, entry: Entry) -> None:
        h = self.heap
        heapq.heappush(h, entry)
        if len(h) > 4 * self.members + 16:
            self.heap = [e for e in h if e[4].token == e[2]]
            heapq.heapify(self.heap)

    def top(self) -> Entry | None:
        h = self.heap
        while h:
            e = h[0]
            if e[4].token == e[2]:
                return e
            heapq.heappop(h)
        return None

    def best_with(self, min_proficiency: int) -> Entry | None:
        """Best valid entry with at least ``min_proficiency`` (linear; only for non-proficiency strategies)."""
        best = None
        for e in self.heap:
            if e[4].token == e[2] and e[3] >= min_proficiency and (best is None or e < best):
                best = e
        return best


Scope = tuple[AgentHeap, int]  # (heap, min proficiency)


class QueueRuntime:
    def __init__(self, cfg: QueueConfig, default_aht: float = 240.0):
        self.cfg = cfg
        self.id = cfg.id
        self.lanes = [Lane(c) for c in sorted(cfg.classes, key=lambda c: c.rank)]
        self.lane_by_name = {lane.name: lane for lane in self.lanes}
        self.group_heaps: dict[str, AgentHeap] = {}
        self.site_heaps: dict[str, AgentHeap] = {}
        self.after: dict[str, float] = {}  # agent id -> wait after which the agent may take calls
        self.ring_of: dict[str, int] = {}  # agent id -> index of the first target that includes the agent
        self.overflow_members: list[set[str]] = [set() for _ in cfg.overflow]
        self.overflow_active: list[bool] = [False] * len(cfg.overflow)
        self.surge = False
        self.modes_on = False  # surge or an overflow rule is active
        self.site_active: dict[str, int] = {}
        self.caps = dict(cfg.site_caps)
        self.target_afters = [t.after for t in cfg.targets]
        self._scope_cache: dict[tuple[Any, ...], list[Scope]] = {}
        self.handle = HandleTimes(default_aht)
        self.staffed = 0.0
        self.callbacks: dict[str, WaitingCall] = {}  # call id -> call whose caller awaits a call-back
        self.mode_reasons: dict[str, str] = {}  # active mode -> reason (for the wallboard)
        self.proficiency_first = cfg.strategy is Strategy.BEST_PROFICIENCY_LONGEST_IDLE
        self._ring_labels = [f"target {i + 1} ({t.label()})" for i, t in enumerate(cfg.targets)]

    # ---------------------------------------------------------------- agents
    def add_agent(self, agent: Agent, proficiency: int) -> None:
        after, ring = INF, -1
        for i, t in enumerate(self.cfg.targets):
            if t.includes(agent, proficiency):
                after, ring = t.after, i
                break
        self.after[agent.id] = after
        self.ring_of[agent.id] = ring
        for i, rule in enumerate(self.cfg.overflow):
            if rule.as_target().includes(agent, proficiency):
                self.overflow_members[i].add(agent.id)
        g = self.group_heaps.get(agent.group_id)
        if g is None:
            g = self.group_heaps[agent.group_id] = AgentHeap(agent.site_id, f"group {agent.group_id}", False)
        g.members += 1
        s = self.site_heaps.get(agent.site_id)
        if s is None:
            s = self.site_heaps[agent.site_id] = AgentHeap(agent.site_id, f"site {agent.site_id}", True)
        s.members += 1
        self._scope_cache.clear()

    def serves(self, agent_id: str) -> bool:
        return self.after.get(agent_id, INF) < INF or any(agent_id in m for m in self.overflow_members)

    def eligible_after(self, agent_id: str) -> float:
        a = self.after.get(agent_id, INF)
        if self.surge and a < INF and self.cfg.surge is not None and self.cfg.surge.open_all_targets:
            a = 0.0
        if a > 0.0:
            for i, active in enumerate(self.overflow_active):
                if active and agent_id in self.overflow_members[i]:
                    return 0.0
        return a

    def entry(self, seat: Seat, proficiency: int) -> Entry:
        st = self.cfg.strategy
        if st is Strategy.BEST_PROFICIENCY_LONGEST_IDLE:
            return (-proficiency, seat.idle_since, seat.token, proficiency, seat)
        if st is Strategy.LONGEST_IDLE:
            return (seat.idle_since, 0.0, seat.token, proficiency, seat)
        return (float(seat.calls_handled), seat.idle_since, seat.token, proficiency, seat)

    def push_available(self, seat: Seat, proficiency: int) -> None:
        e = self.entry(seat, proficiency)
        a = seat.agent
        self.group_heaps[a.group_id].push(e)
        self.site_heaps[a.site_id].push(e)

    def site_open(self, site_id: str | None) -> bool:
        cap = self.caps.get(site_id) if site_id is not None else None
        return cap is None or self.site_active.get(site_id, 0) < cap  # type: ignore[arg-type]

    # ---------------------------------------------------------------- rings
    def ring_index(self, wait: float) -> int:
        if self.surge and self.cfg.surge is not None and self.cfg.surge.open_all_targets:
            return len(self.target_afters) - 1
        i = -1
        for a in self.target_afters:
            if a <= wait:
                i += 1
            else:
                break
        return i

    def next_widening(self, enqueued_at: float, wait: float) -> float | None:
        for a in self.target_afters:
            if a > wait:
                return enqueued_at + a
        return None

    def scopes(self, ring: int) -> list[Scope]:
        key = (ring, self.surge, tuple(self.overflow_active))
        cached = self._scope_cache.get(key)
        if cached is not None:
            return cached
        targets: list[Target] = list(self.cfg.targets[: ring + 1])
        targets += [r.as_target() for r, on in zip(self.cfg.overflow, self.overflow_active) if on]
        best: dict[int, Scope] = {}
        for t in targets:
            heaps: list[AgentHeap] = []
            if t.all_sites:
                heaps.extend(self.site_heaps.values())
            else:
                heaps.extend(self.group_heaps[g] for g in t.groups if g in self.group_heaps)
                heaps.extend(self.site_heaps[s] for s in t.sites if s in self.site_heaps)
            for h in heaps:
                prev = best.get(id(h))
                if prev is None or t.min_proficiency < prev[1]:
                    best[id(h)] = (h, t.min_proficiency)
        # a group heap is redundant when its site's heap is in scope with no stricter proficiency
        site_min = {h.site_id: m for h, m in best.values() if h.is_site}
        scopes = [
            (h, m)
            for h, m in best.values()
            if h.is_site or not (h.site_id in site_min and site_min[h.site_id] <= m)
        ]
        self._scope_cache[key] = scopes
        return scopes

    def ring_label(self, ring: int) -> str:
        return self._ring_labels[ring] if ring >= 0 else "no target yet"

    # ---------------------------------------------------------------- waiting
    @property
    def waiting(self) -> int:
        n = 0
        for lane in self.lanes:
            n += len(lane.seqs)
        return n

    def ahead_of(self, call: WaitingCall) -> int:
        """Calls that will be answered before ``call``: higher lanes, then earlier in its own lane,
        counting callers awaiting a call-back at the places they kept."""
        n = 0
        for lane in self.lanes:
            if lane.rank < call.rank:
                n += len(lane.seqs)
            elif lane.name == call.priority:
                n += lane.index(call.seq)
        for cb in self.callbacks.values():
            if cb is not call and (cb.rank < call.rank or (cb.rank == call.rank and cb.seq < call.seq)):
                n += 1
        return n

    def longest_wait(self, now: float) -> float:
        oldest = math.inf
        for lane in self.lanes:
            for seq in lane.seqs[:1]:
                oldest = min(oldest, lane.calls[seq].enqueued_at)
        return 0.0 if oldest == math.inf else now - oldest

    def ewt_position(self, position: int, now: float) -> float:
        return ewt(position, self.handle.aht(now), self.staffed)

    def queue_ewt(self, now: float) -> float:
        """Expected wait of a call arriving now in the lowest lane."""
        return self.ewt_position(self.waiting + 1, now)
