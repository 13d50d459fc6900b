import math

import pytest

from router import erlang
from router.erlang import agents_needed, erlang_a_metrics, erlang_c_metrics


def test_erlang_c_known_values():
    # 360 calls in 30 minutes, 240 s AHT, 55 agents, 15 s target
    r = erlang_c_metrics(360, 1800, 240, 55, 15)
    assert r.traffic == pytest.approx(48.0)
    assert round(r.p_wait, 4) == 0.2387
    assert round(r.asa, 2) == 8.18
    assert round(r.service_level * 100, 2) == 84.59
    assert r.occupancy == pytest.approx(48 / 55)


def test_erlang_b_textbook_value():
    # Erlang B tables: 10 Erlangs on 15 trunks -> 3.65 % blocking
    assert erlang.erlang_b(15, 10.0) == pytest.approx(0.0365, abs=5e-5)


def test_agents_needed_erlang_c_is_minimal():
    s = agents_needed(360, 1800, 240, 15, 0.8)
    assert s.agents == 55  # 54 agents give 79.29 %
    assert s.result.service_level >= 0.8
    below = erlang_c_metrics(360, 1800, 240, s.agents - 1, 15)
    assert below.service_level < 0.8


def test_understaffed_erlang_c():
    r = erlang_c_metrics(360, 1800, 240, 48, 15)
    assert r.p_wait == 1.0 and math.isinf(r.asa) and r.service_level == 0.0


@pytest.mark.parametrize("agents", [55, 60])
def test_erlang_a_tends_to_erlang_c_with_infinite_patience(agents):
    c = erlang_c_metrics(360, 1800, 240, agents, 15)
    a = erlang_a_metrics(360, 1800, 240, agents, 15, patience=1e8)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-4)
    assert a.asa == pytest.approx(c.asa, rel=1e-3)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-4)
    assert a.p_abandon < 1e-6


def test_erlang_a_abandonment_consistent_and_monotone():
    prev = None
    for patience in (30, 60, 180, 600):
        r = erlang_a_metrics(360, 1800, 240, 50, 15, patience)
        assert 0 < r.p_abandon < 1
        # Little's law: abandonment rate θ·E[Lq] equals λ·P(abandon); mean wait = E[Lq]/λ
        assert r.p_abandon == pytest.approx(r.mean_wait / patience, rel=1e-9)
        if prev is not None:
            assert r.p_abandon < prev  # more patient callers abandon less
        prev = r.p_abandon


def test_erlang_a_overloaded_queue_is_stable():
    # more traffic than agents: Erlang C has no steady state, Erlang A does (callers leave)
    r = erlang_a_metrics(7200, 3600, 240, 400, 20, patience=60)
    assert 0.1 < r.p_abandon < 0.3
    assert 0.99 < r.occupancy <= 1.0
    assert 0 <= r.service_level <= 1


@pytest.mark.parametrize("agents", [500, 1000, 2000])
def test_numerically_stable_for_hundreds_of_agents(agents):
    calls = agents * 0.95 * 3600 / 240  # 95 % load
    c = erlang_c_metrics(calls, 3600, 240, agents, 20)
    a = erlang_a_metrics(calls, 3600, 240, agents, 20, patience=180)
    for v in (c.p_wait, c.service_level, a.p_wait, a.service_level, a.p_abandon):
        assert math.isfinite(v) and 0 <= v <= 1
    assert a.p_wait < c.p_wait  # abandonment shortens the queue
    s = agents_needed(calls, 3600, 240, 20, 0.8, patience=180)
    assert s.result.service_level >= 0.8
    assert erlang_a_metrics(calls, 3600, 240, s.agents - 1, 20, 180).service_level < 0.8


def test_agents_needed_with_limits():
    s = agents_needed(360, 1800, 240, 15, 0.8, max_asa=2.0)
    assert s.result.asa <= 2.0 and s.result.service_level >= 0.8
    s2 = agents_needed(360, 1800, 240, 15, 0.8, patience=120, max_abandon=0.01)
    assert s2.result.p_abandon <= 0.01


def test_bad_inputs():
    with pytest.raises(ValueError):
        agents_needed(360, 1800, 240, 15, 1.5)
    with pytest.raises(ValueError):
        erlang_c_metrics(360, 0, 240, 10, 15)
    with pytest.raises(ValueError):
        erlang_a_metrics(360, 1800, 240, 10, 15, patience=0)
