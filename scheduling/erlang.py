"""Queueing formulas for staffing: Erlang B (recursive, never a factorial), Erlang C and Erlang A
(M/M/n+M, callers who abandon), scalar and vectorised. docs/forecast.md derives each formula."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ErlangAResult", "ErlangCResult", "erlang_a", "erlang_b", "erlang_c", "erlang_c_metrics",
    "required_agents_a", "required_agents_c", "required_agents_c_many",
]


def erlang_b(servers: int, traffic: float) -> float:
    """Blocking probability B(n, A) by the recursion B(k) = A·B(k-1) / (k + A·B(k-1)), B(0) = 1.
    Every step stays in [0, 1], so thousands of servers neither overflow nor lose precision."""
    if servers < 0:
        raise ValueError("servers must be >= 0")
    if traffic <= 0:
        return 0.0 if servers > 0 else 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = traffic * b / (k + traffic * b)
    return b


def _c_from_b(servers: int, traffic: float, b: float) -> float:
    if servers <= traffic:
        return 1.0  # no steady state: every caller waits
    return servers * b / (servers - traffic * (1.0 - b))


def erlang_c(servers: int, traffic: float) -> float:
    """Probability that a caller waits, C(n, A) = n·B / (n - A·(1 - B)); 1 when n <= A."""
    if traffic <= 0:
        return 0.0
    return _c_from_b(servers, traffic, erlang_b(servers, traffic))


@dataclass(frozen=True)
class ErlangCResult:
    agents: int
    traffic: float
    wait_probability: float
    service_level: float
    asa_seconds: float
    occupancy: float


def _metrics_from_c(servers: int, traffic: float, c: float, aht: float, target_seconds: float) -> ErlangCResult:
    if servers <= traffic:
        return ErlangCResult(servers, traffic, 1.0, 0.0, math.inf, 1.0 if servers else math.inf)
    spare = servers - traffic
    service_level = 1.0 - c * math.exp(-spare * target_seconds / aht)
    return ErlangCResult(servers, traffic, c, service_level, c * aht / spare, traffic / servers)


def erlang_c_metrics(servers: int, traffic: float, *, aht_seconds: float, target_seconds: float) -> ErlangCResult:
    """Waiting probability, service level P(wait <= T) = 1 - C·exp(-(n - A)·T / AHT),
    ASA = C·AHT / (n - A) and occupancy A / n for n agents."""
    if traffic <= 0:
        return ErlangCResult(servers, 0.0, 0.0, 1.0, 0.0, 0.0)
    return _metrics_from_c(servers, traffic, erlang_c(servers, traffic), aht_seconds, target_seconds)


def required_agents_c(traffic: float, *, aht_seconds: float, target_level: float, target_seconds: float,
                      max_occupancy: float = 1.0) -> ErlangCResult:
    """The fewest agents n > A reaching the service level and keeping occupancy <= max_occupancy."""
    _check_targets(target_level, max_occupancy)
    if traffic <= 0:
        return ErlangCResult(0, 0.0, 0.0, 1.0, 0.0, 0.0)
    floor_n = max(int(math.floor(traffic)) + 1, math.ceil(traffic / max_occupancy - 1e-9))
    b = 1.0
    n = 0
    while True:
        n += 1
        b = traffic * b / (n + traffic * b)
        if n < floor_n:
            continue
        result = _metrics_from_c(n, traffic, _c_from_b(n, traffic, b), aht_seconds, target_seconds)
        if result.service_level >= target_level - 1e-12:
            return result


def _check_targets(target_level: float, max_occupancy: float) -> None:
    if not 0 < target_level < 1:
        raise ValueError("the service level target is a fraction between 0 and 1 (exclusive)")
    if not 0 < max_occupancy <= 1:
        raise ValueError("the maximum occupancy is a fraction in (0, 1]")


def required_agents_c_many(traffic: np.ndarray, aht_seconds: np.ndarray, *, target_level: float,
                           target_seconds: float, max_occupancy: float = 1.0) -> dict[str, np.ndarray]:
    """`required_agents_c` for many intervals at once: the Erlang B recursion runs over all of them
    together, one numpy step per agent count, and each interval keeps the first count that meets
    both targets. Identical (traffic, AHT) pairs are computed once."""
    _check_targets(target_level, max_occupancy)
    traffic = np.asarray(traffic, dtype=float)
    aht = np.broadcast_to(np.asarray(aht_seconds, dtype=float), traffic.shape)
    pairs, inverse = np.unique(np.stack([traffic.ravel(), aht.ravel()], axis=1), axis=0, return_inverse=True)
    a, h = pairs[:, 0], pairs[:, 1]
    size = len(a)
    agents = np.zeros(size, dtype=np.int64)
    wait = np.zeros(size)
    level = np.ones(size)
    asa = np.zeros(size)
    floor_n = np.maximum(np.floor(a) + 1, np.ceil(a / max_occupancy - 1e-9))
    pending = a > 0
    b = np.ones(size)
    n = 0
    while pending.any():
        n += 1
        b = a * b / (n + a * b)
        check = pending & (n >= floor_n)
        if not check.any():
            continue
        spare = n - a[check]
        c = n * b[check] / (spare + a[check] * b[check])
        sl = 1.0 - c * np.exp(-spare * target_seconds / h[check])
        ok = sl >= target_level - 1e-12
        idx = np.flatnonzero(check)[ok]
        agents[idx], wait[idx], level[idx] = n, c[ok], sl[ok]
        asa[idx] = c[ok] * h[idx] / spare[ok]
        pending[idx] = False
    occupancy = np.divide(a, agents, out=np.zeros(size), where=agents > 0)
    shape = traffic.shape
    return {
        "agents": agents[inverse].reshape(shape), "wait_probability": wait[inverse].reshape(shape),
        "service_level": level[inverse].reshape(shape), "asa_seconds": asa[inverse].reshape(shape),
        "occupancy": occupancy[inverse].reshape(shape),
    }


# Erlang A --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ErlangAResult:
    agents: int
    traffic: float
    wait_probability: float
    abandon_probability: float
    service_level: float
    asa_seconds: float
    occupancy: float


def _log_a(x: float, y: float) -> float:
    """log A(x, y) with A(x, y) = Σ_j Π_{i=1..j} y / (x + i) (= x·e^y·y^-x·γ(x, y)), summed in log
    space: when y >> x the terms grow past any float before they shrink."""
    if y <= 0:
        return 0.0
    log_term, log_max, total = 0.0, 0.0, 1.0  # total is the sum scaled by exp(-log_max)
    log_y = math.log(y)
    j = 0
    while True:
        j += 1
        log_term += log_y - math.log(x + j)
        if log_term > log_max:
            total = total * math.exp(log_max - log_term) + 1.0
            log_max = log_term
        else:
            total += math.exp(log_term - log_max)
        if x + j > y and log_term - log_max < -40:
            return log_max + math.log(total)


def erlang_a(servers: int, traffic: float, *, aht_seconds: float, patience_seconds: float,
             target_seconds: float) -> ErlangAResult:
    """M/M/n+M (Palm's Erlang A) with exponential patience of mean `patience_seconds`, by the
    closed forms of Mandelbaum & Zeltyn: with c = n·patience/AHT, b = λ·patience,
    π_n = B / (1 + (A(c, b) - 1)·B), P(wait > 0) = π_n·A(c, b),
    P(abandon) = P(wait > 0)·(1 - (n/a)·(1 - 1/A(c, b))),
    P(answered after T) = P(V > T)·(n/a)·(1 - 1/A(c, b·e^-θT)) and
    ASA = E[wait | answered] summed over the queue positions an arrival can find."""
    if patience_seconds <= 0:
        raise ValueError("patience must be positive")
    if traffic <= 0:
        return ErlangAResult(servers, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    if servers <= 0:
        return ErlangAResult(0, traffic, 1.0, 1.0, 0.0, math.inf, math.inf)
    theta = 1.0 / patience_seconds
    lam = traffic / aht_seconds
    c = servers * patience_seconds / aht_seconds
    b = lam * patience_seconds
    block = erlang_b(servers, traffic)
    if block == 0.0:
        return ErlangAResult(servers, traffic, 0.0, 0.0, 1.0, 0.0, traffic / servers)
    log_a0 = _log_a(c, b)
    # P(W > 0) = 1 / (1 + (1/B - 1)/A), computed without forming A (it can exceed any float).
    odds = math.log1p(-block) - math.log(block) - log_a0
    wait = (1.0 / (1.0 + math.exp(odds)) if odds < 700 else 0.0) if block < 1 else 1.0  # exp(>709) overflows
    a0_inv = math.exp(-log_a0)
    ratio = servers / traffic
    abandon = max(0.0, wait * (1.0 - ratio * (1.0 - a0_inv)))
    y_t = b * math.exp(-theta * target_seconds)
    log_tail = _log_a(c, y_t) - log_a0 - c * theta * target_seconds + b - y_t  # P(V > T) / P(W > 0)
    offered_late = wait * math.exp(min(0.0, log_tail))
    answered_late = offered_late * ratio * (1.0 - math.exp(-_log_a(c, y_t)))
    service_level = min(1.0, max(0.0, 1.0 - abandon - answered_late))
    asa = _erlang_a_asa(c, b, theta, wait, log_a0, abandon)
    busy = traffic * (1.0 - abandon)
    return ErlangAResult(servers, traffic, wait, abandon, service_level, asa, busy / servers)


def _erlang_a_asa(c: float, b: float, theta: float, wait: float, log_a0: float, abandon: float) -> float:
    """E[wait | answered]. An arrival finding j callers queued (probability ∝ Π b/(c+i)) is answered
    with probability c/(c+j+1) after stages of rates θ(c+i), i = 1..j+1, each Exp whatever wins."""
    if wait == 0.0:
        return 0.0
    log_b = math.log(b)
    log_term, harmonic = 0.0, 1.0 / (c + 1)
    logs: list[float] = []
    j = 0
    while True:
        logs.append(log_term + math.log(c / (c + j + 1)) + math.log(harmonic / theta))
        j += 1
        log_term += log_b - math.log(c + j)
        harmonic += 1.0 / (c + j + 1)
        if c + j > b and log_term - log_a0 < -40:
            break
    log_max = max(logs)
    total = sum(math.exp(value - log_max) for value in logs)
    served_wait = wait * math.exp(log_max + math.log(total) - log_a0)  # E[W · 1{answered}]
    answered = 1.0 - abandon
    return served_wait / answered if answered > 0 else math.inf


def required_agents_a(traffic: float, *, aht_seconds: float, patience_seconds: float, target_level: float,
                      target_seconds: float, max_occupancy: float = 1.0) -> ErlangAResult:
    """The fewest agents whose Erlang A service level reaches the target (abandons count as missed)
    and whose occupancy stays under the maximum. Unlike Erlang C, n may be below the traffic."""
    _check_targets(target_level, max_occupancy)
    if traffic <= 0:
        return ErlangAResult(0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    def at(n: int) -> ErlangAResult:
        return erlang_a(n, traffic, aht_seconds=aht_seconds, patience_seconds=patience_seconds,
                        target_seconds=target_seconds)

    # The service level grows with n and occupancy falls, so bracket then bisect.
    low, high = 0, max(1, math.ceil(traffic))
    while not _meets(at(high), target_level, max_occupancy):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if _meets(at(middle), target_level, max_occupancy):
            high = middle
        else:
            low = middle
    return at(high)


def _meets(result: ErlangAResult, target_level: float, max_occupancy: float) -> bool:
    return result.service_level >= target_level - 1e-12 and result.occupancy <= max_occupancy + 1e-12
