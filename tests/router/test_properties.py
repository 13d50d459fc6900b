"""Property tests: whatever happens, no caller is lost, none is given to two agents, no agent is stuck."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.engine import RoutingError
from router.models import (
    AgentState,
    CallAbandoned,
    CallConnected,
    CallExited,
    CallOffered,
    CallState,
    OverflowRule,
    SurgePolicy,
    Target,
)

from tests.router.helpers import agent, make_engine, standard_queue

AGENTS = [agent("a1"), agent("a2", group="g2"), agent("a3", group="ge", prof=3),
          agent("a4", group="gw", prof=9, other=5), agent("a5", skill="other")]
QUEUES = [
    standard_queue(wrapup=5, overflow=(OverflowRule(ewt_above=200, sites=("west",)),),
                   surge=SurgePolicy(enter_ewt=400, exit_ewt=100, wrapup=1), site_caps={"east": 1}, max_wait=400),
    standard_queue(id="other", skill="other", wrapup=0, targets=(Target(0, all_sites=True),)),
]

op = st.one_of(
    st.tuples(st.just("login"), st.integers(0, 4)),
    st.tuples(st.just("logout"), st.integers(0, 4)),
    st.tuples(st.just("pause"), st.integers(0, 4)),
    st.tuples(st.just("unpause"), st.integers(0, 4)),
    st.tuples(st.just("ready"), st.integers(0, 4)),
    st.tuples(st.just("call"), st.integers(0, 1), st.sampled_from(["enterprise", "repeat", "normal"])),
    st.tuples(st.just("answer"), st.integers(0, 50)),
    st.tuples(st.just("rona"), st.integers(0, 50)),
    st.tuples(st.just("hangup"), st.integers(0, 50)),
    st.tuples(st.just("end"), st.integers(0, 50)),
    st.tuples(st.just("callback"), st.integers(0, 50)),
    st.tuples(st.just("cb_answer"), st.integers(0, 50)),
    st.tuples(st.just("tick"), st.floats(0, 120)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=80))
def test_no_caller_lost_none_doubled_no_agent_stuck(ops):
    eng, clock, rec = make_engine(AGENTS, QUEUES, default_aht=60)
    offered_to: dict[str, set[str]] = {}
    n = 0
    ids = [a.id for a in AGENTS]

    def pick(state, i):
        calls = sorted((c for c in eng.calls.values() if c.state is state), key=lambda c: c.id)
        return calls[i % len(calls)] if calls else None

    for o in ops:
        kind = o[0]
        try:
            if kind == "login":
                eng.login(ids[o[1]])
            elif kind == "logout":
                eng.logout(ids[o[1]])
            elif kind == "pause":
                eng.pause(ids[o[1]], "break")
            elif kind == "unpause":
                eng.unpause(ids[o[1]])
            elif kind == "ready":
                eng.ready(ids[o[1]])
            elif kind == "call":
                n += 1
                eng.enqueue(f"c{n}", ["general", "other"][o[1]], o[2])
            elif kind == "answer" and (c := pick(CallState.OFFERED, o[1])):
                eng.connected(c.id)
            elif kind == "rona" and (c := pick(CallState.OFFERED, o[1])):
                eng.ring_failed(c.id)
            elif kind == "hangup":
                c = pick(CallState.WAITING, o[1]) or pick(CallState.OFFERED, o[1]) or pick(CallState.CONNECTED, o[1])
                if c:
                    eng.abandon(c.id)
            elif kind == "end" and (c := pick(CallState.CONNECTED, o[1])):
                eng.call_ended(c.id)
            elif kind == "callback" and (c := pick(CallState.WAITING, o[1])):
                eng.accept_callback(c.id, "138")
            elif kind == "cb_answer" and (c := pick(CallState.CALLBACK, o[1])):
                eng.callback_answered(c.id, "Local/138")
            elif kind == "tick":
                clock.tick(o[1])
                eng.advance()
        except RoutingError:
            pass  # refused transitions (e.g. unpause while available) change nothing
        assert eng.check_invariants() == []
    for ev in rec.of(CallOffered):
        offered_to.setdefault(ev.call_id, set()).add(ev.agent_id)
    # a call is connected at most once, and only to an agent it was offered to
    connected = [ev.call_id for ev in rec.of(CallConnected)]
    assert len(connected) == len(set(connected))
    for ev in rec.of(CallConnected):
        assert ev.agent_id in offered_to[ev.call_id]
    # no caller lost: every call is still held by the router or has a recorded end
    ended = {ev.call_id for ev in rec.of(CallAbandoned)} | {ev.call_id for ev in rec.of(CallExited)}
    for i in range(1, n + 1):
        cid = f"c{i}"
        assert cid in eng.calls or cid in ended or cid in connected
    # no agent stuck: callers leave, every call ends, wrap-up runs out: every agent is free, paused or out
    for c in list(eng.calls.values()):
        if c.state is CallState.WAITING:
            eng.abandon(c.id)
        elif c.state is CallState.CALLBACK:
            eng.callback_failed(c.id, None)
    for _ in range(200):
        live = [c for c in eng.calls.values() if c.state in (CallState.CONNECTED, CallState.OFFERED)]
        if not live:
            break
        for c in live:
            if c.state is CallState.OFFERED:
                eng.connected(c.id)
            eng.call_ended(c.id)
        clock.tick(10)
        eng.advance()
    clock.tick(10)
    eng.advance()
    for seat in eng.seats.by_id.values():
        assert seat.state in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT), (seat.id, seat.state)
        assert seat.call_id is None
    assert eng.check_invariants() == []
