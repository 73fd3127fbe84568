"""Erlang A (M/M/n+M) for many intervals at once: the same closed forms as `erlang.erlang_a`,
each series run as numpy steps over every interval still converging, and the agents needed found
by a bisection that moves all intervals together. A year of quarter-hours takes well under a
second, where one scalar search per interval took about twelve."""

from __future__ import annotations

import math

import numpy as np

from scheduling.erlang import _check_targets, required_agents_c_many

__all__ = ["erlang_a_many", "required_agents_a_many"]

# A series stops once its terms have fallen this far (in natural log) below its largest term,
# as in the scalar `erlang._log_a`: e^-40 of the sum is far below a float's precision.
_TAIL = -40.0


def _erlang_b_many(servers: np.ndarray, traffic: np.ndarray) -> np.ndarray:
    """B(n, A) per row by the recursion of `erlang.erlang_b`, each row stopping at its own n."""
    b = np.ones_like(traffic)
    top = int(servers.max()) if servers.size else 0
    for k in range(1, top + 1):
        step = servers >= k
        b = np.where(step, traffic * b / (k + traffic * b), b)
    return b


def _log_a_many(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log A(x, y), A(x, y) = Σ_j Π_{i=1..j} y / (x + i), summed in log space like the scalar
    version; rows leave the loop as soon as their own tail is negligible."""
    out = np.zeros_like(x)
    rows = np.flatnonzero(y > 0)
    if rows.size == 0:
        return out
    xs, log_y = x[rows], np.log(y[rows])
    ys = y[rows]
    log_term = np.zeros(rows.size)
    log_max = np.zeros(rows.size)
    total = np.ones(rows.size)
    active = np.arange(rows.size)
    j = 0
    while active.size:
        j += 1
        term = log_term[active] + log_y[active] - np.log(xs[active] + j)
        top = log_max[active]
        diff = term - top
        shrink = np.exp(-np.abs(diff))
        rising = diff > 0
        total[active] = np.where(rising, total[active] * shrink + 1.0, total[active] + shrink)
        log_max[active] = np.where(rising, term, top)
        log_term[active] = term
        finished = (xs[active] + j > ys[active]) & (term - log_max[active] < _TAIL)
        active = active[~finished]
    out[rows] = log_max + np.log(total)
    return out


def _asa_many(c: np.ndarray, b: np.ndarray, theta: np.ndarray, wait: np.ndarray, log_a0: np.ndarray,
              abandon: np.ndarray) -> np.ndarray:
    """E[wait | answered], the series of `erlang._erlang_a_asa` summed for every row at once."""
    asa = np.zeros_like(c)
    rows = np.flatnonzero((wait > 0) & (b > 0))
    if rows.size == 0:
        return asa
    cs, bs, th, a0 = c[rows], b[rows], theta[rows], log_a0[rows]
    log_b = np.log(bs)
    log_term = np.zeros(rows.size)
    harmonic = 1.0 / (cs + 1.0)
    best = np.full(rows.size, -np.inf)
    total = np.zeros(rows.size)
    active = np.arange(rows.size)
    j = 0
    while active.size:
        value = (log_term[active] + np.log(cs[active] / (cs[active] + j + 1)) + np.log(harmonic[active] / th[active]))
        top = best[active]
        higher = value > top
        scaled = np.where(higher, total[active] * np.exp(np.where(higher, top - value, 0.0)) + 1.0,
                          total[active] + np.exp(np.where(higher, 0.0, value - top)))
        total[active] = scaled
        best[active] = np.where(higher, value, top)
        j += 1
        log_term[active] += log_b[active] - np.log(cs[active] + j)
        harmonic[active] += 1.0 / (cs[active] + j + 1)
        finished = (cs[active] + j > bs[active]) & (log_term[active] - a0[active] < _TAIL)
        active = active[~finished]
    served_wait = wait[rows] * np.exp(best + np.log(total) - a0)
    answered = 1.0 - abandon[rows]
    asa[rows] = np.divide(served_wait, answered, out=np.full(rows.size, np.inf), where=answered > 0)
    return asa


def erlang_a_many(servers: np.ndarray, traffic: np.ndarray, aht_seconds: np.ndarray, *, patience_seconds: float,
                  target_seconds: float, with_asa: bool = True) -> dict[str, np.ndarray]:
    """`erlang.erlang_a` for each row: wait_probability, abandon_probability, service_level,
    occupancy and (unless `with_asa` is False, as during the search) asa_seconds."""
    if patience_seconds <= 0:
        raise ValueError("patience must be positive")
    n = np.asarray(servers, dtype=np.int64)
    a = np.asarray(traffic, dtype=float)
    h = np.broadcast_to(np.asarray(aht_seconds, dtype=float), a.shape)
    size = a.shape
    wait, abandon = np.zeros(size), np.zeros(size)
    level, occupancy = np.ones(size), np.zeros(size)
    asa = np.zeros(size)
    empty = n <= 0
    loaded = a > 0
    # No agents for a loaded interval: every caller waits and, in the end, abandons.
    none = empty & loaded
    wait[none], abandon[none], level[none], occupancy[none], asa[none] = 1.0, 1.0, 0.0, np.inf, np.inf
    rows = np.flatnonzero(loaded & ~empty)
    if rows.size:
        nr, ar, hr = n[rows].astype(float), a[rows], h[rows]
        block = _erlang_b_many(n[rows], ar)
        occupancy[rows] = ar / nr
        live = block > 0.0  # B underflows to 0 only when waiting is impossible to tell from 0
        idx = rows[live]
        nr, ar, hr, block = nr[live], ar[live], hr[live], block[live]
        theta = np.full(idx.size, 1.0 / patience_seconds)
        c = nr * patience_seconds / hr
        b = ar / hr * patience_seconds
        log_a0 = _log_a_many(c, b)
        with np.errstate(divide="ignore", over="ignore"):
            w = np.where(block < 1.0, 1.0 / (1.0 + np.exp(np.log1p(-block) - np.log(block) - log_a0)), 1.0)
        ratio = nr / ar
        ab = np.maximum(0.0, w * (1.0 - ratio * (1.0 - np.exp(-log_a0))))
        y_t = b * math.exp(-target_seconds / patience_seconds)
        log_at = _log_a_many(c, y_t)
        log_tail = log_at - log_a0 - nr * target_seconds / hr + b - y_t
        offered_late = w * np.exp(np.minimum(0.0, log_tail))
        answered_late = offered_late * ratio * (1.0 - np.exp(-log_at))
        wait[idx], abandon[idx] = w, ab
        level[idx] = np.clip(1.0 - ab - answered_late, 0.0, 1.0)
        occupancy[idx] = ar * (1.0 - ab) / nr
        if with_asa:
            asa[idx] = _asa_many(c, b, theta, w, log_a0, ab)
    out = {"wait_probability": wait, "abandon_probability": abandon, "service_level": level,
           "occupancy": occupancy}
    if with_asa:
        out["asa_seconds"] = asa
    return out


def _meets(result: dict[str, np.ndarray], target_level: float, max_occupancy: float) -> np.ndarray:
    return (result["service_level"] >= target_level - 1e-12) & (result["occupancy"] <= max_occupancy + 1e-12)


def required_agents_a_many(traffic: np.ndarray, aht_seconds: np.ndarray, *, patience_seconds: float,
                           target_level: float, target_seconds: float,
                           max_occupancy: float = 1.0) -> dict[str, np.ndarray]:
    """`erlang.required_agents_a` for many intervals. Identical (traffic, AHT) pairs are solved
    once. All intervals bisect together between a count that cannot meet the target (carried
    load A·(1 - P(Ab)) is below n, and at least A·SL* calls must be answered, so n <= A·SL*
    fails) and one that does (Erlang C's answer, doubled while it does not)."""
    _check_targets(target_level, max_occupancy)
    traffic = np.asarray(traffic, dtype=float)
    aht = np.broadcast_to(np.asarray(aht_seconds, dtype=float), traffic.shape)
    pairs, inverse = np.unique(np.stack([traffic.ravel(), aht.ravel()], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    a, h = pairs[:, 0], pairs[:, 1]
    agents = np.zeros(a.size, dtype=np.int64)
    loaded = np.flatnonzero(a > 0)
    if loaded.size:
        la, lh = a[loaded], h[loaded]

        def meets(n: np.ndarray, rows: np.ndarray) -> np.ndarray:
            result = erlang_a_many(n, la[rows], lh[rows], patience_seconds=patience_seconds,
                                   target_seconds=target_seconds, with_asa=False)
            return _meets(result, target_level, max_occupancy)

        high = required_agents_c_many(la, lh, target_level=target_level, target_seconds=target_seconds,
                                      max_occupancy=max_occupancy)["agents"].astype(np.int64)
        low = np.maximum(0, np.floor(la * target_level).astype(np.int64))
        everyone = np.arange(loaded.size)
        failing = everyone[~meets(high, everyone)]
        while failing.size:
            low[failing] = high[failing]
            high[failing] = high[failing] * 2
            failing = failing[~meets(high[failing], failing)]
        open_rows = everyone[high - low > 1]
        while open_rows.size:
            middle = (low[open_rows] + high[open_rows]) // 2
            ok = meets(middle, open_rows)
            high[open_rows[ok]] = middle[ok]
            low[open_rows[~ok]] = middle[~ok]
            open_rows = open_rows[high[open_rows] - low[open_rows] > 1]
        agents[loaded] = high
    final = erlang_a_many(agents, a, h, patience_seconds=patience_seconds, target_seconds=target_seconds)
    shape = traffic.shape
    out = {key: value[inverse].reshape(shape) for key, value in final.items()}
    out["agents"] = agents[inverse].reshape(shape)
    return out
