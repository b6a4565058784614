"""Link scores of the Loops That Matter method, vectorized over time and runs.

Two forms, chosen by :func:`sts_dynamics.loop_dominance` (``method=``):

``"discrete"`` (Schoenberg, Hayward & Eberlein 2023), on the output grid with values at steps
k, k-1, k-2::

    link x -> z:  LS = |dxz / dz| * sign(dxz / dx),   dxz = f_z(x[k], others[k-1]) - z[k-1]
    flow i -> S:  LS = +-|(i[k] - i[k-1]) / (net[k] - net[k-1])|,   net = inflows - outflows

The flow formula is the 2023 paper's Eq. 3, |Delta i / (Delta S_t - Delta S_t-dt)|: under
Euler, ``h * (net[k] - net[k-1]) = S[k+1] - 2 S[k] + S[k-1]``, the stock's second difference
(the factor h is why a stock with a single flow scores 1, not 1/h).  It is aligned so that all
links of a loop score measure changes over the SAME interval (t[k-1], t[k]]: the flow change
over that interval and the change of the stock's rate it causes.  This alignment is what makes
the score invariant to how flows are split (the point of the 2023 correction) and is the one
pysimlin uses; pairing i[k-1] - i[k-2] with S[k] - 2 S[k-1] + S[k-2] at label k would mix two
intervals in one loop score.

A score is labelled with the END of its interval: the score at ``t[k]`` describes the change
from ``t[k-1]`` to ``t[k]``.  Index 0 has no interval and is NaN.  Stella and the 2020 paper
label the same number with the START of the interval, one dt earlier (their Table 3 at
T = 9.5 is ours at T = 9.5625).

``"continuous"`` (the limit dt -> 0), instantaneous at each output time::

    link x -> z:     LS = (dz/dx) * |x' / z'|
    flow i -> S:     LS = +-|i' / S''|

with the time derivatives taken along the solution from the model's right-hand side (a
central difference of the compiled equations along the state velocity), not from finite
differences of the output grid.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping

import numpy as np

from ..compile import compile_model
from ..result import Simulation
from .graph import CausalGraph

__all__ = ["link_polarities", "expanded_link_scores", "composite_scores", "rates"]


_EQUATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _equation(sim: Simulation, key: str):
    """The equation of ``key`` as a function, and the inputs it reads (cached per model)."""
    model = sim.model
    per_model = _EQUATIONS.setdefault(model, {})
    if key not in per_model:
        per_model[key] = (compile_model(model).equation(key),
                          tuple(sorted(model.variables[key].uses() - {"time"})))
    f, uses = per_model[key]
    return f, [d for d in uses if d in sim.values]


_PARTIALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sim_partials(sim: Simulation, z: str, xs: list[str], take) -> dict[str, np.ndarray]:
    """dz/dx along ``sim`` at output rows ``take``, memoized per simulation.

    Polarity (:func:`link_polarities`) and continuous link scores need the same partial
    derivatives of the same run; they are computed once.
    """
    memo = _PARTIALS.setdefault(sim, {})
    tkey = "all" if isinstance(take, slice) else take.tobytes()
    known = memo.setdefault((z, tkey), {})
    f, deps = _equation(sim, z)
    missing = [x for x in xs if x not in known and x in deps]
    if missing:
        inputs = {d: sim.values[d][take] for d in deps}
        known.update(_partials(f, inputs, missing, _times(sim)[take]))
    return {x: known[x] for x in xs if x in known}


def _times(sim: Simulation) -> np.ndarray:
    return sim.t if sim.n_runs is None else sim.t[:, None]


def _absmax(x: np.ndarray, axis=None, keepdims: bool = False):
    """max |x| ignoring NaN and inf (0 for an empty or all-NaN array), without warnings."""
    a = np.abs(np.asarray(x, dtype=float))
    a = np.where(np.isfinite(a), a, 0.0)
    if a.size == 0:
        return 0.0 if axis is None else a
    return a.max(axis=axis, keepdims=keepdims)


def _step(x: np.ndarray) -> np.ndarray:
    scale = float(_absmax(x))
    if scale == 0.0:
        return np.full(x.shape, 1e-6)
    return 1e-6 * np.maximum(np.abs(x), 1e-3 * scale)


def _partial(f, inputs: dict, x: str, t) -> np.ndarray:
    """dz/dx by a central difference (forward where the central one is not finite)."""
    xv = np.asarray(inputs[x], dtype=float)
    h = _step(xv)
    with np.errstate(all="ignore"):
        up = np.asarray(f({**inputs, x: xv + h}, t), dtype=float)
        dn = np.asarray(f({**inputs, x: xv - h}, t), dtype=float)
        d = (up - dn) / (2 * h)
        if not np.all(np.isfinite(d)):
            mid = np.asarray(f(inputs, t), dtype=float)
            fwd = (up - mid) / h
            d = np.where(np.isfinite(d), d, fwd)
    return np.broadcast_to(d, np.broadcast_shapes(d.shape, xv.shape))


def _partials(f, inputs: dict, xs: list[str], t) -> dict[str, np.ndarray]:
    """dz/dx for several inputs x of one equation in ONE vectorized evaluation.

    The inputs get a leading axis of 2 m rows (x_j + h_j and x_j - h_j for each of the m
    inputs, steps as in :func:`_step`); where that fails or gives non-finite values,
    :func:`_partial` is used.  The steps and differences of all m inputs are computed
    together: this runs once per equation and link-score call, so NumPy call overhead counts.
    """
    xs = [x for x in xs if x in inputs]
    out: dict[str, np.ndarray] = {}
    if not xs:
        return out
    try:
        arrs = {d: np.asarray(v, dtype=float) for d, v in inputs.items()}
        shape = np.broadcast_shapes(*(a.shape for a in arrs.values()))
        m = len(xs)
        X = np.empty((m,) + shape)
        for j, x in enumerate(xs):
            X[j] = arrs[x]
        A = np.abs(X)
        scale = np.where(np.isfinite(A), A, 0.0).reshape(m, -1).max(axis=1, initial=0.0)
        scale = scale.reshape((m,) + (1,) * len(shape))
        H = np.where(scale == 0.0, 1e-6, 1e-6 * np.maximum(A, 1e-3 * scale))
        stacked = dict(arrs)
        for j, x in enumerate(xs):
            block = np.empty((2 * m,) + shape)
            block[...] = X[j]
            block[2 * j] += H[j]
            block[2 * j + 1] -= H[j]
            stacked[x] = block
        with np.errstate(all="ignore"):
            val = np.asarray(f(stacked, t), dtype=float)
            if val.shape != (2 * m,) + shape:
                val = np.broadcast_to(val, (2 * m,) + shape)
            D = (val[0::2] - val[1::2]) / (2 * H)
        ok = np.isfinite(D).reshape(m, -1).all(axis=1)
        for j, x in enumerate(xs):
            out[x] = D[j] if ok[j] else _partial(f, inputs, x, t)
    except (ValueError, TypeError, IndexError):
        return {x: _partial(f, inputs, x, t) for x in xs}
    return out


def _sign_of(d: np.ndarray) -> int | None:
    """+1 or -1 when every non-zero value has that sign, 0 when signs differ, None if all 0."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.any(d):
        return None
    thr = 1e-9 * float(np.max(np.abs(d)))
    pos, neg = bool(np.any(d > thr)), bool(np.any(d < -thr))
    if pos and not neg:
        return 1
    if neg and not pos:
        return -1
    return 0


def _probe(f, inputs: dict, x: str, t) -> int:
    """Sign of dz/dx away from the run, for a link that is inactive all along it.

    For example ``MAX(0, load - tolerance)`` while the load stays below the tolerance: the
    derivative is probed with x moved up and down by 0.1, 0.5, 1, 2 and 10 times its scale,
    all ten shifts in one vectorized evaluation.
    """
    xv = np.asarray(inputs[x], dtype=float)
    scale = float(_absmax(xv)) or 1.0
    shifts = np.array([0.1, 0.5, 1.0, 2.0, 10.0, -0.1, -0.5, -1.0, -2.0, -10.0]) * scale
    shifted = xv[None] + shifts.reshape((-1,) + (1,) * xv.ndim)
    d = _partials(f, {**inputs, x: shifted}, [x], t)[x]
    sign = _sign_of(d)
    return 0 if sign is None else sign


#: Polarity is evaluated at up to this many output times, evenly spread over the run.
POLARITY_POINTS = 512


def link_polarities(sim: Simulation, cg: CausalGraph,
                    links: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Polarity (+1, -1, or 0 for unknown) of expanded links, from the sign of dz/dx along ``sim``.

    A link whose partial derivative changes sign along the run gets 0.  A link whose derivative
    is zero all along the run (an inactive branch) is probed away from the run (see
    :func:`_probe`).
    The derivative is evaluated at every output time (at most :data:`POLARITY_POINTS`, evenly
    spread) of every run.
    """
    out: dict[tuple[str, str], int] = {}
    by_target: dict[str, list[str]] = {}
    for u, v in links:
        sign = cg.expanded.edges[u, v].get("sign")
        if sign is not None:
            out[(u, v)] = int(sign)
        else:
            by_target.setdefault(v, []).append(u)
    t = _times(sim)
    n = len(sim.t)
    take = slice(None) if n <= POLARITY_POINTS else \
        np.unique(np.linspace(0, n - 1, POLARITY_POINTS).round().astype(int))
    t = t[take]
    for z, xs in by_target.items():
        f, deps = _equation(sim, z)
        inputs = {d: sim.values[d][take] for d in deps}
        derivs = _sim_partials(sim, z, xs, take)
        for x in xs:
            if x not in inputs:
                out[(x, z)] = 0
                continue
            sign = _sign_of(derivs[x])
            out[(x, z)] = _probe(f, inputs, x, t) if sign is None else sign
    return out


def rates(sim: Simulation) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Time derivatives of every variable along ``sim``, and the stocks' second derivatives.

    Derivatives of auxiliaries and flows are central differences of the compiled model along
    the state velocity: ``(v(t + h, Y + h Y') - v(t - h, Y - h Y')) / 2h``.
    """
    model = sim.model
    cm = compile_model(model)
    prep = cm.prepare(dict(sim.params) or None, t0=float(sim.t[0]))
    vals = sim.values
    v = model.variables
    net = {s: _net_of(v[s], vals, vals[s].shape) for s in model.stocks}
    dts = np.diff(sim.t)
    h = 1e-4 * min(model.control.time_step, float(dts.min()) if dts.size else 1.0)
    t = _times(sim)
    states_up = [vals[s] + h * net[s] for s in model.stocks]
    states_dn = [vals[s] - h * net[s] for s in model.stocks]
    with np.errstate(all="ignore"):
        up = cm.evaluate_all(prep, t + h, states_up)
        dn = cm.evaluate_all(prep, t - h, states_dn)
    shape = sim.t.shape if sim.n_runs is None else (len(sim.t), sim.n_runs)
    d1: dict[str, np.ndarray] = {}
    for k in vals:
        if k in net:
            d1[k] = net[k]
            continue
        a, b = up[cm.slot[k]], dn[cm.slot[k]]
        if a is None or b is None:
            continue
        d1[k] = np.broadcast_to((np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
                                / (2 * h), shape)
    d2 = {s: _net_of(v[s], d1, shape) for s in model.stocks}
    return d1, d2


def _nonzero(x: np.ndarray) -> np.ndarray:
    """Mask of entries that are not zero up to round-off of the series' own scale."""
    return np.abs(x) > 1e-10 * _absmax(x, axis=0, keepdims=True)


def expanded_link_scores(sim: Simulation, cg: CausalGraph, links: Iterable[tuple[str, str]],
                         method: str) -> dict[tuple[str, str], np.ndarray]:
    """Link scores of expanded links, shape ``(n_time,)`` or ``(n_time, n_runs)``."""
    vals = sim.values
    t = _times(sim)
    shape = vals[next(iter(vals))].shape
    out: dict[tuple[str, str], np.ndarray] = {}
    flows, by_target = [], {}
    for u, v in links:
        if cg.expanded.edges[u, v].get("sign") is not None:
            flows.append((u, v))
        else:
            by_target.setdefault(v, []).append(u)
    nets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    changes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    moving: dict[str, np.ndarray] = {}  # where each variable's rate is not zero
    if method == "continuous":
        d1, d2 = rates(sim)
    with np.errstate(all="ignore"):
        for i, s in flows:
            sign = cg.expanded.edges[i, s]["sign"]
            if method == "discrete":
                ls = np.full(shape, np.nan)
                if s not in nets:
                    net = _net(sim, s)
                    dnet = np.diff(net, axis=0)
                    nets[s] = (dnet, _nonzero_pair(dnet, net[1:]))
                dnet, moved = nets[s]
                di, _ = _change(vals, i, changes)
                score = np.abs(di / dnet)
                if sign < 0:
                    np.negative(score, out=score)
                score[~moved] = 0.0
                ls[1:] = score
            else:
                den = d2[s]
                ls = np.where(_nonzero(den), sign * np.abs(d1[i] / den), 0.0)
            out[(i, s)] = ls
        for z, xs in by_target.items():
            f, deps = _equation(sim, z)
            zv = vals[z]
            if method == "discrete":
                prev = {d: vals[d][:-1] for d in deps}
                dz, z_moved = _change(vals, z, changes)
                for x in xs:
                    ls = np.full(shape, np.nan)
                    if x not in vals:
                        ls[1:] = 0.0
                        out[(x, z)] = ls
                        continue
                    dx, x_moved = _change(vals, x, changes)
                    dxz = np.asarray(f({**prev, x: vals[x][1:]}, t[:-1]), dtype=float) - zv[:-1]
                    score = np.abs(dxz / dz)
                    np.copysign(score, dxz * dx, out=score)
                    score[~(z_moved & x_moved)] = 0.0
                    ls[1:] = score
                    out[(x, z)] = ls
            else:
                inputs = {d: vals[d] for d in deps}
                zr = d1.get(z)
                derivs = _sim_partials(sim, z, [x for x in xs if x in d1], slice(None))
                for x in xs:
                    if x not in inputs or zr is None or x not in d1:
                        out[(x, z)] = np.zeros(shape)
                        continue
                    xr = d1[x]
                    dzdx = derivs[x]
                    for k in (z, x):
                        if k not in moving:
                            moving[k] = _nonzero(d1[k])
                    ok = moving[z] & moving[x]
                    out[(x, z)] = np.where(ok, dzdx * np.abs(xr / zr), 0.0)
    return out


def _change(vals, key: str, memo: dict) -> tuple[np.ndarray, np.ndarray]:
    """The step changes of a variable and where they are non-zero (memoized)."""
    if key not in memo:
        x = vals[key]
        d = np.diff(x, axis=0)
        memo[key] = (d, _nonzero_pair(d, x[1:]))
    return memo[key]


def _net_of(var, vals: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Inflows minus outflows of stock ``var``, from ``vals`` (values or rates of the flows)."""
    net = np.zeros(shape)
    for f in var.inflows:
        net = net + vals[f]
    for f in var.outflows:
        net = net - vals[f]
    return net


def _net(sim: Simulation, stock: str) -> np.ndarray:
    return _net_of(sim.model.variables[stock], sim.values, sim.values[stock].shape)


def _nonzero_pair(delta: np.ndarray, level: np.ndarray) -> np.ndarray:
    """A change is non-zero when it exceeds round-off of the variable's level."""
    tol = np.abs(level)
    tol *= 1e-13
    return np.abs(delta) > tol


def composite_scores(cg: CausalGraph, links: Iterable[tuple[str, str]],
                     expanded: Mapping[tuple[str, str], np.ndarray]
                     ) -> dict[tuple[str, str], np.ndarray]:
    """Scores of collapsed links: for a composite link, the path with the largest |score|."""
    out = {}
    for u, v in links:
        best = None
        for p in cg.paths(u, v):
            score = expanded[(p[0], p[1])]
            for a, b in zip(p[1:-1], p[2:], strict=True):
                score = score * expanded[(a, b)]
            if best is None:
                best = score
            else:
                with np.errstate(invalid="ignore"):
                    best = np.where(np.abs(score) > np.abs(best), score, best)
        out[(u, v)] = best
    return out
