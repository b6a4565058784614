"""``loop_dominance()``: Loops That Matter scores, relative scores and dominant periods."""

from __future__ import annotations

import numpy as np

from ..errors import StsDynamicsError
from ..result import Simulation
from .analysis import DominantPeriod, LoopAnalysis
from .find import DEFAULT_MAX_LENGTH, DEFAULT_MAX_LOOPS, LoopSet, _find_loops
from .scores import composite_scores, expanded_link_scores

__all__ = ["loop_dominance", "dominant_mask", "dominant_periods", "relative_scores", "METHODS",
           "resolve_method"]

#: Forms of the link scores (see :mod:`sts_dynamics.loops.scores`).
METHODS = ("auto", "discrete", "continuous")


def loop_dominance(sim: Simulation, loops: LoopSet | None = None, *, method: str = "auto",
                   threshold: float = 0.5, max_length: int | None = DEFAULT_MAX_LENGTH,
                   max_loops: int = DEFAULT_MAX_LOOPS, loop_search: str = "auto"
                   ) -> LoopAnalysis:
    """Loop dominance of a simulation with the Loops That Matter method (2023 form).

    Link scores, loop scores (products of link scores around each loop), relative scores
    within each cycle partition, and the dominant loops at each time: the smallest set whose
    |relative scores| add up to ``threshold`` or more.  Everything is computed for all output
    times (and all runs of an ensemble) at once.

    Parameters
    ----------
    sim : Simulation
        A run or an ensemble from :func:`sts_dynamics.simulate`.
    loops : LoopSet, optional
        From :func:`find_loops`; found along ``sim`` when omitted.
    method : {"auto", "discrete", "continuous"}
        ``"discrete"``: the published difference formulas on the output grid, exact for Euler
        runs that output every time step (Vensim/Stella parity).  ``"continuous"``: the dt -> 0
        limit with derivatives from the model's equations, for adaptive or RK4 runs and coarse
        output grids.  ``"auto"`` picks discrete for an Euler run whose output step is the
        model's TIME STEP, continuous otherwise.
    threshold : float
        Share of behaviour the dominant set must explain (0.5 in the LTM papers).
    max_length, max_loops, loop_search
        Passed to :func:`find_loops` (``loop_search`` as its ``method``: ``"auto"``,
        ``"all"`` or ``"strongest"``) when ``loops`` is omitted; the strongest-path search
        uses the link scores of ``method``.

    Returns
    -------
    LoopAnalysis
        Discrete scores are labelled with the END of their interval (the score at t[k]
        describes the change from t[k-1] to t[k]); Stella and the 2020 paper label the same
        value one dt earlier.

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> sim = sd.simulate(sd.load("tests/data/bass.mdl"), method="euler")
    >>> dom = sd.loop_dominance(sim)
    >>> round(float(dom.relative("R1")[sim.t.searchsorted(9.5625)]), 3)
    0.535
    """
    if not isinstance(sim, Simulation):
        raise TypeError(f"`sim` must be a Simulation from sts_dynamics.simulate(), got "
                        f"{type(sim).__name__}.")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}.")
    if not 0 < threshold <= 1:
        raise ValueError(f"`threshold` must be in (0, 1], got {threshold!r}.")
    if len(sim.t) < 3:
        raise StsDynamicsError(f"loop dominance needs at least 3 output times, got "
                               f"{len(sim.t)}; simulate on a finer output grid.")
    model = sim.model
    method = resolve_method(sim, method)
    computed = None
    if loops is None:
        loops, computed = _find_loops(model, max_length=max_length, max_loops=max_loops,
                                      sim=sim, method=loop_search, score_method=method)
    elif loops.model is not model:
        raise ValueError("`loops` must come from find_loops() of the simulated model.")
    cg = loops.graph
    links = list(cg.dynamic.edges)
    if computed is not None and computed[0] == method:
        collapsed = computed[1]             # the strongest-path search scored the links
    else:
        expanded = expanded_link_scores(sim, cg, cg.expanded_links(links), method)
        collapsed = composite_scores(cg, links, expanded)
    n_t = len(sim.t)
    tail = () if sim.n_runs is None else (sim.n_runs,)
    scores = _loop_scores(loops, collapsed, (n_t,) + tail, cg._index)
    rel = relative_scores(scores, loops)
    link_scores = {(cg.name(u), cg.name(v)): np.asarray(collapsed[(u, v)], dtype=float)
                   for u, v in links}
    return LoopAnalysis(model, loops, np.array(sim.t), sim.n_runs, method, link_scores, scores,
                        rel, threshold, loops.message)


def _loop_scores(loops: LoopSet, collapsed: dict, shape: tuple[int, ...],
                 cache: dict) -> np.ndarray:
    """Products of link scores around every loop, grouped by loop length (vectorized)."""
    n_l = len(loops)
    out = np.ones((shape[0], n_l) + shape[1:])
    if not n_l:
        return out
    links = tuple(collapsed)
    hit = cache.get("loop index")
    if hit is None or hit[0] is not loops.loops or hit[1] != links:
        index = {lk: i for i, lk in enumerate(links)}
        by_len: dict[int, list[int]] = {}
        for j, lp in enumerate(loops):
            by_len.setdefault(lp.length, []).append(j)
        groups = [(cols, np.array([[index[lk] for lk in loops[j].links] for j in cols]))
                  for cols in by_len.values()]
        hit = cache["loop index"] = (loops.loops, links, groups)
    stack = np.stack([np.broadcast_to(collapsed[lk], shape) for lk in links])
    with np.errstate(all="ignore"):
        for cols, idx in hit[2]:
            prod = stack[idx[:, 0]]                      # (n_loops_L, n_time[, n_runs])
            for p in range(1, idx.shape[1]):
                prod *= stack[idx[:, p]]
            out[:, cols] = np.moveaxis(prod, 0, 1)
    return out


def resolve_method(sim: Simulation, method: str) -> str:
    """The score form for ``method="auto"``: discrete for an Euler run that outputs every
    TIME STEP, continuous otherwise."""
    if method == "auto":
        return "discrete" if _euler_every_step(sim) else "continuous"
    return method


def _euler_every_step(sim: Simulation) -> bool:
    if sim.method != "euler" or len(sim.t) < 2:
        return False
    dt = sim.model.control.time_step
    return bool(np.allclose(np.diff(sim.t), dt, rtol=1e-9, atol=1e-12))


def _columns(loops: LoopSet, part) -> slice | np.ndarray:
    """Columns of a partition's loops: a slice when contiguous (loops are sorted by partition)."""
    cols = np.array([loops.index(i) for i in part.loops])
    if len(cols) and np.array_equal(cols, np.arange(cols[0], cols[0] + len(cols))):
        return slice(int(cols[0]), int(cols[0]) + len(cols))
    return cols


def relative_scores(scores: np.ndarray, loops: LoopSet) -> np.ndarray:
    """Loop scores over the sum of |loop score| of their cycle partition (NaN where it is 0)."""
    rel = np.full(scores.shape, np.nan)
    for p in loops.partitions:
        cols = _columns(loops, p)
        block = scores[:, cols]
        total = np.abs(block).sum(axis=1, keepdims=True)
        total[total == 0] = np.nan
        with np.errstate(all="ignore"):
            rel[:, cols] = block / total
    return rel


def dominant_mask(rel: np.ndarray, loops: LoopSet, threshold: float = 0.5) -> np.ndarray:
    """Per time (and run): the smallest set of loops of each partition reaching ``threshold``.

    Loops are taken in decreasing order of |relative score| (ties: the earlier loop first)
    until their |relative scores| add up to ``threshold``; NaN rows have no dominant loop.
    """
    rel2 = np.moveaxis(rel, 1, -1).reshape(-1, rel.shape[1]) if rel.ndim == 3 else rel
    mask = np.zeros(rel2.shape, dtype=bool)
    for p in loops.partitions:
        cols = np.array([loops.index(i) for i in p.loops])
        a = np.abs(rel2[:, cols])
        finite = np.isfinite(a).all(axis=1)
        a[~finite] = 0.0
        # sort the values (not their indices: much faster), find the value at which the
        # running sum reaches the threshold, take every loop above it and, of the loops
        # equal to it, the first ones in loop order
        srt = -np.sort(-a, axis=1)
        csum = np.cumsum(srt, axis=1)
        k = np.minimum((csum < threshold - 1e-12).sum(axis=1), a.shape[1] - 1)
        v = srt[np.arange(len(srt)), k]
        above = a > v[:, None]
        eq = (a == v[:, None]) & (v[:, None] > 0)
        need = (k + 1) - above.sum(axis=1)
        chosen = above | (eq & (np.cumsum(eq, axis=1) <= need[:, None]))
        mask[:, cols] = chosen & finite[:, None] & (a > 0)
    if rel.ndim == 3:
        n_t, n_l, n_r = rel.shape
        return np.moveaxis(mask.reshape(n_t, n_r, n_l), -1, 1)
    return mask


def dominant_periods(t: np.ndarray, rel: np.ndarray, loops: LoopSet,
             threshold: float) -> list[DominantPeriod]:
    mask = dominant_mask(rel, loops, threshold)
    out = []
    ids = loops.ids
    for p in loops.partitions:
        cols = [loops.index(i) for i in p.loops]
        m = mask[:, cols]
        cuts = np.flatnonzero(np.any(m[1:] != m[:-1], axis=1)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts - 1, [len(t) - 1]])
        for a, b in zip(starts, ends, strict=True):
            row = tuple(ids[cols[c]] for c in np.flatnonzero(m[a]))
            if row:
                out.append(DominantPeriod(p.index, float(t[a]), float(t[b]), row))
    return out
