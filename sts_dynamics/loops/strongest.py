"""The "strongest path" loop discovery of Eberlein & Schoenberg (2020).

Eberlein, R. and Schoenberg, W. (2020), *Finding the Loops that Matter*, arXiv:2006.08425,
Appendix I.  Where a model has too many feedback loops to enumerate, the loops that matter
are found from the link scores of a run: at each searched time,

1. every variable's outbound links are sorted by |link score|, strongest first;
2. from each stock (the TARGET), a depth-first search follows those links, multiplying the
   |link scores| along the path; a variable already on the path ends the branch (a loop
   when it is the TARGET); a path that arrives at a variable with a smaller product than
   the best one recorded there is pruned (strictly smaller: equal products go on);
3. every closed path back to the TARGET is a loop, kept once.

The loop set is the union over the searched times.  Recorded best products are reset for
each TARGET stock, so what one stock's search finds does not depend on the others or on
their order (the reading of Appendix I in Simlin's LTM reference,
``docs/reference/ltm--loops-that-matter.md`` section 12.5, and in its engine; an earlier
reading kept them over all the stocks of one time, which loses two of the three loops of the
paper's Figure 7 example).

Three details of this implementation:

* links with a zero or undefined score at a time are left out at that time: the published
  search would also follow them (a product of 0 is not smaller than the initial best of 0)
  and record loops that score 0 at that time, which matter nowhere a loop scores 0;
* each search stays inside the strongly connected component of its TARGET in the graph of
  non-zero links (``scipy.sparse.csgraph``): a path that leaves it can never return, and
  since it cannot come back it never sets a best product inside the component;
* products are summed as logarithms (scores reach 1e4 near inflection points, and long
  products would overflow).

The last two change nothing the search finds, only its cost.

The published pruning can re-expand a variable every time a path reaches it with an equal
or larger product (exact ties, such as chains of single-input links scoring 1, or scores
above 1 that make longer paths stronger).  Each search therefore has a budget of
:data:`EXPANSION_BUDGET` expansions per link of its component; when it binds, the search of
that stock at that time stops with what it found and the result says so.  It never binds
on the models of the test suite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["StrongestResult", "strongest_loops", "search_points", "SEARCH_POINTS",
           "EXPANSION_BUDGET"]

#: At most this many output times of a run are searched, evenly spread (all when fewer).
SEARCH_POINTS = 512
#: Expansions allowed per search (one TARGET stock at one time) per link of its component.
EXPANSION_BUDGET = 200


@dataclass(frozen=True)
class StrongestResult:
    """Loops found by :func:`strongest_loops`.

    Attributes
    ----------
    cycles : list of tuple of int
        Each loop as node indices in causal order, rotated to start at its smallest index,
        sorted (by length, then indices).
    points : int
        Number of (time, run) points searched (points where every link scores 0 or NaN are
        skipped and not counted).
    cut : int
        Searches stopped by the expansion budget.
    """

    cycles: list[tuple[int, ...]]
    points: int
    cut: int


def search_points(n_time: int, n_runs: int | None, limit: int = SEARCH_POINTS
                  ) -> np.ndarray:
    """Output-time indices searched: all when ``n_time <= limit``, else ``limit`` evenly spread.

    An ensemble is searched at the same times in every run, ``limit // n_runs`` of them
    (at least 8).
    """
    per_run = limit if n_runs is None else max(8, limit // max(n_runs, 1))
    if n_time <= per_run:
        return np.arange(n_time)
    return np.unique(np.linspace(0, n_time - 1, per_run).round().astype(int))


def strongest_loops(n_nodes: int, edges: Sequence[tuple[int, int]], scores: np.ndarray,
                    starts: Sequence[int], *, max_length: int | None = None,
                    times: np.ndarray | None = None) -> StrongestResult:
    """The strongest-path search over the link scores of a run.

    Parameters
    ----------
    n_nodes : int
        Number of variables (nodes ``0 .. n_nodes - 1``).
    edges : sequence of (int, int)
        The links, ``(source, target)``; the order breaks ties between equal scores.
    scores : ndarray, shape (n_time, n_edges) or (n_time, n_edges, n_runs)
        Link scores (signed; their magnitudes are used).
    starts : sequence of int
        The search targets: every loop must pass through one (the stocks).
    max_length : int, optional
        Longest loop (number of variables) searched.
    times : ndarray of int, optional
        Time indices searched (default :func:`search_points`).

    Returns
    -------
    StrongestResult
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 2:
        scores = scores[:, :, None]
    n_time, n_edges, n_runs = scores.shape
    if times is None:
        times = search_points(n_time, None if n_runs == 1 else n_runs)
    src = np.array([e[0] for e in edges], dtype=np.intp)
    dst = np.array([e[1] for e in edges], dtype=np.intp)
    starts = list(dict.fromkeys(int(s) for s in starts))
    found: set[tuple[int, ...]] = set()
    points = cut = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.abs(scores))                       # -inf for 0, nan for nan
    for k in times:
        for r in range(n_runs):
            w = logs[k, :, r]
            live = np.flatnonzero(np.isfinite(w))
            if not live.size:
                continue
            points += 1
            cut += _search_point(n_nodes, src[live], dst[live], w[live], starts, max_length,
                                 found)
    cycles = sorted(found, key=lambda c: (len(c), c))
    return StrongestResult(cycles, points, cut)


def _search_point(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray,
                  starts: list[int], max_length: int | None, found: set) -> int:
    """One time: sort the links, search from every start; returns the searches cut short."""
    # outbound links of each node, strongest first (stable: ties keep the link order)
    order = np.lexsort((-w, src))
    s_src, s_dst, s_w = src[order], dst[order], w[order]
    bounds = np.searchsorted(s_src, np.arange(n + 1))
    _, comp = connected_components(
        coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)), directed=True,
        connection="strong")
    comp_edges = np.bincount(comp[src][comp[src] == comp[dst]], minlength=n)
    kids = s_dst.tolist()
    wts = s_w.tolist()
    lo = bounds[:-1].tolist()
    hi = bounds[1:].tolist()
    compl = comp.tolist()
    cut = 0
    neg_inf = -math.inf
    limit = max_length if max_length is not None else n
    for target in starts:
        c = compl[target]
        n_comp_edges = int(comp_edges[c])
        if n_comp_edges == 0:
            continue                    # no loop through the target at this time
        budget = EXPANSION_BUDGET * n_comp_edges
        best = [neg_inf] * n            # reset for every target stock
        on_path = [False] * n
        path = [target]
        score = [0.0]
        pos = [lo[target]]
        on_path[target] = True
        best[target] = 0.0
        expansions = 0
        while path:
            v = path[-1]
            i = pos[-1]
            if i >= hi[v]:
                path.pop()
                score.pop()
                pos.pop()
                on_path[v] = False
                continue
            pos[-1] = i + 1
            x = kids[i]
            if compl[x] != c:
                continue
            if on_path[x]:
                if x == target:
                    j = path.index(min(path))
                    found.add(tuple(path[j:] + path[:j]))
                continue
            s = score[-1] + wts[i]
            if s < best[x] or len(path) >= limit:
                continue
            expansions += 1
            if expansions > budget:
                cut += 1
                break
            best[x] = s
            on_path[x] = True
            path.append(x)
            score.append(s)
            pos.append(lo[x])
    return cut
