"""``loop_dominance()``: Loops That Matter scores, relative scores and dominant periods."""

from __future__ import annotations

import numpy as np

from ..errors import StsDynamicsError
from ..result import Simulation
from .analysis import DominantPeriod, LoopAnalysis
from .find import DEFAULT_MAX_LENGTH, DEFAULT_MAX_LOOPS, LoopSet, find_loops
from .scores import composite_scores, expanded_link_scores

__all__ = ["loop_dominance", "dominant_mask", "METHODS"]

#: Forms of the link scores (see :mod:`sts_dynamics.loops.scores`).
METHODS = ("auto", "discrete", "continuous")


def loop_dominance(sim: Simulation, loops: LoopSet | None = None, *, method: str = "auto",
                   threshold: float = 0.5, max_length: int | None = DEFAULT_MAX_LENGTH,
                   max_loops: int = DEFAULT_MAX_LOOPS) -> LoopAnalysis:
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
    max_length, max_loops
        Passed to :func:`find_loops` when ``loops`` is omitted.

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
    if loops is None:
        loops = find_loops(model, max_length=max_length, max_loops=max_loops, sim=sim)
    elif loops.model is not model:
        raise ValueError("`loops` must come from find_loops() of the simulated model.")
    if method == "auto":
        method = "discrete" if _euler_every_step(sim) else "continuous"
    cg = loops.graph
    links = list(cg.dynamic.edges)
    expanded = expanded_link_scores(sim, cg, cg.expanded_links(links), method)
    collapsed = composite_scores(cg, links, expanded)
    n_t = len(sim.t)
    tail = () if sim.n_runs is None else (sim.n_runs,)
    n_l = len(loops)
    scores = np.ones((n_t, n_l) + tail)
    for j, lp in enumerate(loops):
        for lk in lp.links:
            scores[:, j] = scores[:, j] * collapsed[lk]
    rel = relative_scores(scores, loops)
    mask = dominant_mask(rel, loops, threshold)
    link_scores = {(cg.name(u), cg.name(v)): np.asarray(collapsed[(u, v)], dtype=float)
                   for u, v in links}
    analysis_rel = rel if rel.ndim == 2 else _median(rel)
    periods = _periods(sim.t, analysis_rel, loops, threshold)
    return LoopAnalysis(model, loops, np.array(sim.t), sim.n_runs, method, link_scores, scores,
                        rel, mask, tuple(periods), threshold, loops.message)


def _euler_every_step(sim: Simulation) -> bool:
    if sim.method != "euler" or len(sim.t) < 2:
        return False
    dt = sim.model.control.time_step
    return bool(np.allclose(np.diff(sim.t), dt, rtol=1e-9, atol=1e-12))


def _median(rel: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(rel, axis=2)


def relative_scores(scores: np.ndarray, loops: LoopSet) -> np.ndarray:
    """Loop scores over the sum of |loop score| of their cycle partition (NaN where it is 0)."""
    rel = np.full(scores.shape, np.nan)
    for p in loops.partitions:
        cols = [loops.index(i) for i in p.loops]
        block = scores[:, cols]
        with np.errstate(all="ignore"):
            total = np.abs(block).sum(axis=1, keepdims=True)
            rel[:, cols] = np.where(total > 0, block / total, np.nan)
    return rel


def dominant_mask(rel: np.ndarray, loops: LoopSet, threshold: float = 0.5) -> np.ndarray:
    """Per time (and run): the smallest set of loops of each partition reaching ``threshold``."""
    mask = np.zeros(rel.shape, dtype=bool)
    for p in loops.partitions:
        cols = np.array([loops.index(i) for i in p.loops])
        a = np.abs(rel[:, cols])
        finite = np.isfinite(a).all(axis=1)
        a = np.where(np.isfinite(a), a, 0.0)
        order = np.argsort(-a, axis=1, kind="stable")
        srt = np.take_along_axis(a, order, axis=1)
        before = np.cumsum(srt, axis=1) - srt       # sum of the larger ones before each
        chosen_sorted = (before < threshold - 1e-12) & (srt > 0)
        chosen = np.zeros_like(chosen_sorted)
        np.put_along_axis(chosen, order, chosen_sorted, axis=1)
        mask[:, cols] = chosen & finite[:, None]
    return mask


def _periods(t: np.ndarray, rel: np.ndarray, loops: LoopSet,
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
            row = tuple(ids[c] for c, on in zip(cols, m[a], strict=True) if on)
            if row:
                out.append(DominantPeriod(p.index, float(t[a]), float(t[b]), row))
    return out
