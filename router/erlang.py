"""Erlang C and Erlang A staffing, numerically stable for thousands of agents.

Inputs are the planner's: calls per interval, interval length, average handle
time (AHT), the number of agents, a service target (answer within T seconds)
and, for Erlang A, the callers' mean patience.

Erlang C (M/M/N, nobody abandons)
    Erlang B by the recurrence B(0)=1, B(n) = A·B(n-1) / (n + A·B(n-1)), which never
    forms A^n or n! and is stable for any size; then
    C = N·B / (N - A·(1 - B)),  ASA = C·AHT / (N - A),  SL(T) = 1 - C·exp(-(N - A)·T / AHT).

Erlang A (M/M/N+M, Palm: callers abandon after an exponential patience)
    The birth-death chain is solved directly: log π_n = n·log A - log n! up to N,
    then log π_{N+k} = log π_N + Σ_{i≤k} log(λ / (Nμ + iθ)), summed in log space and
    truncated when the terms fall below 1e-18 of the largest. Then
    P(wait) = Σ_{n≥N} π_n, P(abandon) = θ·E[queue] / λ, mean wait = E[queue] / λ.
    A caller who finds k ahead is answered when the k ahead are gone and an agent
    frees: in state j the line moves at r_j = Nμ + jθ and the caller leaves at θ,
    which gives P(answered | k) and E[wait; answered | k] by a recurrence, and
    P(answered within T | k) by uniformisation of that small chain (numpy, one
    vector per step). Service level is answered within T over all callers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class ErlangResult:
    model: Literal["C", "A"]
    agents: int
    traffic: float  # offered load in Erlangs
    p_wait: float
    asa: float  # mean wait of answered calls, seconds
    service_level: float  # share answered within the target
    occupancy: float
    p_abandon: float = 0.0
    mean_wait: float = 0.0  # mean time in queue over all callers (Erlang A; = asa·p_wait/p_wait for C)

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Staffing:
    agents: int
    result: ErlangResult
    goal: float
    target: float


def offered_load(calls: float, interval: float, aht: float) -> float:
    if calls < 0 or interval <= 0 or aht <= 0:
        raise ValueError("calls must be >= 0, interval and aht > 0")
    return calls / interval * aht


def erlang_b(agents: int, traffic: float) -> float:
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller waits (M/M/N)."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1.0 - b))


def _c_result(agents: int, a: float, aht: float, target: float, c: float) -> ErlangResult:
    if agents <= a:
        return ErlangResult("C", agents, a, 1.0, math.inf, 0.0, 1.0, 0.0, math.inf)
    asa = c * aht / (agents - a)
    sl = 1.0 - c * math.exp(-(agents - a) * target / aht)
    return ErlangResult("C", agents, a, c, asa, max(0.0, sl), a / agents, 0.0, asa)


def erlang_c_metrics(calls: float, interval: float, aht: float, agents: int, target: float) -> ErlangResult:
    a = offered_load(calls, interval, aht)
    return _c_result(agents, a, aht, target, erlang_c(agents, a))


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + math.log(float(np.sum(np.exp(x - m))))


def _queue_log_terms(agents: int, lam: float, mu: float, theta: float) -> np.ndarray:
    """log(π_{N+k} / π_N) for k = 0.. until negligible."""
    size = 1024
    while True:
        k = np.arange(1, size + 1, dtype=float)
        steps = np.log(lam) - np.log(agents * mu + k * theta)
        logs = np.concatenate(([0.0], np.cumsum(steps)))
        # stop once the terms decrease and the last one is negligible
        if steps[-1] < 0 and logs[-1] < float(np.max(logs)) - 42.0:
            cut = np.nonzero(logs >= float(np.max(logs)) - 42.0)[0][-1] + 1
            return logs[: cut + 1]
        if size >= 1 << 24:
            raise ValueError("Erlang A does not converge: patience too long for an overloaded queue")
        size *= 4


def erlang_a_metrics(
    calls: float, interval: float, aht: float, agents: int, target: float, patience: float
) -> ErlangResult:
    if patience <= 0:
        raise ValueError("patience must be > 0")
    if agents < 1:
        raise ValueError("agents must be >= 1")
    lam = calls / interval
    mu = 1.0 / aht
    theta = 1.0 / patience
    a = offered_load(calls, interval, aht)
    n_idx = np.arange(agents + 1, dtype=float)
    log_low = n_idx * math.log(a) - np.array([math.lgamma(i + 1) for i in range(agents + 1)]) if a > 0 else None
    if log_low is None:  # no traffic
        return ErlangResult("A", agents, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    q_rel = _queue_log_terms(agents, lam, mu, theta)
    log_q = log_low[-1] + q_rel  # log π_{N+k}, k = 0..K (unnormalised)
    log_all = np.concatenate((log_low[:-1], log_q))
    log_z = _logsumexp(log_all)
    p_low = np.exp(log_low[:-1] - log_z)  # π_0..π_{N-1}
    p_q = np.exp(log_q - log_z)  # π_N.. (arrival finds k = 0.. in queue)
    kk = np.arange(len(p_q), dtype=float)
    p_wait = float(np.sum(p_q))
    lq = float(np.sum(kk * p_q))
    p_abandon = theta * lq / lam
    busy = float(np.sum(n_idx[:-1] * p_low)) + agents * p_wait
    occupancy = busy / agents

    # answered probability and E[wait; answered] given k ahead
    r = agents * mu + kk * theta  # r_j; r_0 = Nμ
    stay = r / (r + theta)
    p_ans = np.cumprod(stay)
    m = np.empty_like(p_ans)
    m[0] = p_ans[0] / (r[0] + theta)
    for j in range(1, len(m)):
        m[j] = p_ans[j] / (r[j] + theta) + stay[j] * m[j - 1]
    answered = float(np.sum(p_low)) + float(np.sum(p_q * p_ans))  # equals 1 - p_abandon
    asa = float(np.sum(p_q * m)) / answered if answered > 0 else math.inf

    sl = float(np.sum(p_low)) + _answered_within(p_q, r, theta, target)
    return ErlangResult("A", agents, a, p_wait, asa, float(min(1.0, sl)), occupancy, p_abandon, lq / lam)


def _answered_within(p_q: np.ndarray, r: np.ndarray, theta: float, t: float) -> float:
    """Σ_k π_{N+k}·P(answered within t | k ahead), by uniformisation."""
    if t <= 0:
        return 0.0
    lam_u = float(r[-1] + theta)
    lt = lam_u * t
    n_max = int(lt + 12.0 * math.sqrt(lt) + 30)
    n = np.arange(n_max + 1, dtype=float)
    from math import lgamma

    log_pois = n * math.log(lt) - lt - np.array([lgamma(i + 1) for i in range(n_max + 1)])
    pois = np.exp(log_pois)
    tail = 1.0 - np.cumsum(pois)  # P(more than n jumps by t)
    v = p_q.copy()
    keep = 1.0 - (r + theta) / lam_u
    down = r / lam_u
    total = 0.0
    for step in range(n_max):
        served = v[0] * down[0]
        # mass served at jump step+1 counts if at least step+1 jumps happen by t
        total += served * (tail[step] if step < len(tail) else 0.0)
        nv = v * keep
        nv[:-1] += v[1:] * down[1:]
        v = nv
        if step % 64 == 63 and float(np.sum(v)) < 1e-15:
            break
    return max(0.0, total)


def metrics(
    calls: float, interval: float, aht: float, agents: int, target: float, patience: float | None = None
) -> ErlangResult:
    if patience is None:
        return erlang_c_metrics(calls, interval, aht, agents, target)
    return erlang_a_metrics(calls, interval, aht, agents, target, patience)


def agents_needed(
    calls: float,
    interval: float,
    aht: float,
    target: float,
    goal: float,
    *,
    patience: float | None = None,
    max_asa: float | None = None,
    max_abandon: float | None = None,
) -> Staffing:
    """Fewest agents meeting the service level goal (and the optional ASA / abandon limits)."""
    if not 0 < goal < 1:
        raise ValueError("goal must be between 0 and 1")
    a = offered_load(calls, interval, aht)

    def ok(res: ErlangResult) -> bool:
        return (
            res.service_level >= goal
            and (max_asa is None or res.asa <= max_asa)
            and (max_abandon is None or res.p_abandon <= max_abandon)
        )

    if patience is None:
        n = max(1, math.floor(a) + 1)
        b = erlang_b(n, a)
        while True:
            c = n * b / (n - a * (1.0 - b))
            res = _c_result(n, a, aht, target, c)
            if ok(res):
                return Staffing(n, res, goal, target)
            n += 1
            b = a * b / (n + a * b)
    # Erlang A: the service level grows with N; bracket then bisect
    hi = max(1, math.ceil(a))
    while not ok(erlang_a_metrics(calls, interval, aht, hi, target, patience)):
        hi *= 2
        if hi > 1_000_000:
            raise ValueError("goal not reachable")
    lo = 0  # known failing (or zero)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(erlang_a_metrics(calls, interval, aht, mid, target, patience)):
            hi = mid
        else:
            lo = mid
    return Staffing(hi, erlang_a_metrics(calls, interval, aht, hi, target, patience), goal, target)
