"""Feedback loops: enumeration (Johnson's algorithm), polarity, names, cycle partitions."""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np

from ..errors import UnknownNameError
from ..model import LAYERS, Model
from ..result import Simulation
from .graph import CausalGraph, causal_graph
from .loopset import Loop, LoopSet, LoopWarning, Partition
from .scores import link_polarities

__all__ = ["Loop", "LoopSet", "Partition", "find_loops", "LoopWarning", "DEFAULT_MAX_LENGTH",
           "DEFAULT_MAX_LOOPS", "LOOP_SEARCH"]

#: Default length bound of the loop search (number of variables in a loop): none, the count
#: cap bounds the work.
DEFAULT_MAX_LENGTH: int | None = None
#: Default cap on the number of loops enumerated.
DEFAULT_MAX_LOOPS = 1000

def find_loops(model: Model | Simulation, *, max_length: int | None = DEFAULT_MAX_LENGTH,
               max_loops: int = DEFAULT_MAX_LOOPS, sim: Simulation | None = None,
               method: str = "auto") -> LoopSet:
    """The feedback loops of a model, with their polarity, name and cycle partition.

    ``method="all"`` enumerates every loop with Johnson's algorithm
    (``networkx.simple_cycles``) on the causal graph in which SMOOTH/DELAY/TREND internals
    are collapsed into one composite link (so the loops internal to a delay are not
    reported).  ``method="strongest"`` finds the loops that matter in a run instead, with the
    "strongest path" search of Eberlein & Schoenberg (2020, *Finding the Loops that Matter*,
    arXiv:2006.08425, Appendix I; see :mod:`sts_dynamics.loops.strongest`): at each output
    time (up to :data:`~sts_dynamics.loops.strongest.SEARCH_POINTS`, evenly spread) each
    variable's outbound links are sorted by |link score|, a depth-first search from each
    stock multiplies the |scores| along its path and prunes a path that reaches a variable
    with a weaker product than the best recorded there, and every path that closes back on
    its stock is a loop; the loop set is the union over the times.  ``method="auto"``
    enumerates when the model has at most ``max_loops`` loops and searches otherwise, as
    the paper does above about 1,000 loops.

    Link polarity is the sign of the partial derivative dz/dx evaluated numerically at every
    output time of a run; a link whose sign changes along the run has unknown polarity, and
    so do the loops through it (``"U"``).

    Parameters
    ----------
    model : Model or Simulation
        The model; given a :class:`~sts_dynamics.Simulation`, polarity (and the strongest-path
        search) use that run.
    max_length : int or None
        Longest loop searched (number of variables); ``None`` for no bound.
    max_loops : int
        ``"all"``: at most this many loops, the shortest ones, with a :class:`LoopWarning`
        that says how to raise the cap.  ``"auto"``: the number of loops above which the
        strongest-path search is used (with a :class:`LoopWarning` that says so and how many
        loops it found).  Not used by ``"strongest"``, whose loop set is not capped.
    sim : Simulation, optional
        The run along which polarity is evaluated and the strongest-path search scores links
        (default: ``sd.simulate(model)``).  Its link scores are the discrete ones for an
        Euler run that outputs every TIME STEP and the continuous ones otherwise, as in
        :func:`~sts_dynamics.loop_dominance`.
    method : {"auto", "all", "strongest"}
        How loops are found (see above).  The strongest-path search is a heuristic: a loop
        whose every entry is pruned by a stronger path through the same variables, at every
        searched time, is missed (the paper's Figure 7); the loops it misses are typically
        near-copies of loops it finds, and relative scores are relative to the loops found.
        Documented loops (``[[loop]]`` in the model's metadata) that the search does not find
        are added, so they are always analysed.

    Returns
    -------
    LoopSet
        ``search`` says which method was used.

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> loops = sd.find_loops(sd.load("tests/data/bass.mdl"))
    >>> [(lp.id, lp.name, lp.polarity) for lp in loops]
    [('R1', 'word of mouth', 'R'), ('B1', 'market saturation', 'B')]
    """
    return _find_loops(model, max_length=max_length, max_loops=max_loops, sim=sim,
                       method=method)[0]


#: Loop search methods of :func:`find_loops`.
LOOP_SEARCH = ("auto", "all", "strongest")


def _find_loops(model, *, max_length, max_loops, sim, method, score_method: str = "auto"
                ) -> tuple[LoopSet, tuple[str, dict] | None]:
    """:func:`find_loops`, and ``(form, collapsed link scores)`` when the strongest-path
    search computed them (``score_method`` is the form of the scores, as in
    ``loop_dominance``).  Called by ``find_loops`` and ``loop_dominance`` only: its warnings
    point at their caller."""
    if isinstance(model, Simulation):
        sim, model = model, model.model
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model from sts_dynamics.load() or a Simulation, got "
                        f"{type(model).__name__}.")
    if not isinstance(method, str) or method not in LOOP_SEARCH:
        raise ValueError(f"`method` must be one of {', '.join(map(repr, LOOP_SEARCH))}, got "
                         f"{method!r}.")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"`max_length` must be a positive integer or None, got {max_length!r}.")
    if not isinstance(max_loops, int) or max_loops < 1:
        raise ValueError(f"`max_loops` must be a positive integer, got {max_loops!r}.")
    if sim is not None and sim.model is not model:
        raise ValueError("`sim` must be a simulation of `model`.")
    cg = causal_graph(model)
    dyn = cg.dynamic
    search = method
    first = None
    if method == "auto":
        ckey = ("count", max_length, max_loops)
        if ckey not in cg._index:
            # the first max_loops + 1 loops: enough to tell, and the loops when they are all
            first = list(itertools.islice(nx.simple_cycles(dyn, length_bound=max_length),
                                          max_loops + 1))
            cg._index[ckey] = len(first)
        search = "all" if cg._index[ckey] <= max_loops else "strongest"
    notes = []
    truncated = ""
    collapsed = found = None
    if sim is None:
        from ..simulate import simulate

        sim = simulate(model)
    if search == "all":
        cache_key = ("cycles", max_length, max_loops)
        if cache_key not in cg._index:
            cg._index[cache_key] = _enumerate(dyn, max_length, max_loops, first)
        cycles, truncated = cg._index[cache_key]
        if truncated == "count":
            notes.append(
                f"model {model.name!r} has more than {max_loops} feedback loops"
                + (f" of up to {max_length} variables" if max_length else "")
                + f"; only the {max_loops} shortest were analysed. Raise the cap with "
                "find_loops(model, max_loops=...) (command line: --max-loops), or find the "
                "loops that matter with method='strongest' (--loop-search strongest).")
        elif truncated == "length":
            notes.append(
                f"model {model.name!r} has feedback loops longer than max_length={max_length}, "
                "which were not searched. Raise the bound with find_loops(model, max_length=...) "
                "or max_length=None (command line: --max-length).")
        skey = ("structure", max_length, max_loops)
    else:
        cycles, collapsed, found = _strongest(sim, cg, max_length, score_method)
        n_found = len(cycles)
        known = {_rotate(c) for c in cycles}
        pinned = [c for c in _declared_cycles(model, cg, max_length) if _rotate(c) not in known]
        cycles = cycles + pinned
        if cycles:
            if method == "auto":
                note = (f"model {model.name!r} has more than {max_loops} feedback loops"
                        + (f" of up to {max_length} variables" if max_length else "") + "; ")
            else:
                note = f"model {model.name!r}: "
            where = (f"{found.points} output times" if sim.n_runs is None else
                     f"{found.points} (time, run) points of the ensemble")
            note += (f"the strongest-path search (Eberlein & Schoenberg 2020) found "
                     f"{n_found} loop{'s' if n_found != 1 else ''} that matter"
                     f"{'s' if n_found == 1 else ''} at {where}")
            if pinned:
                note += (f", and {len(pinned)} documented loop"
                         f"{'s' if len(pinned) != 1 else ''} it did not find "
                         f"{'were' if len(pinned) != 1 else 'was'} added")
            if found.cut:
                note += (f" ({found.cut} searches stopped at the expansion budget, so loops "
                         "may be missing)")
            if method == "auto":
                note += (". To enumerate loops instead, pass method='all' and a larger "
                         "max_loops (command line: --loop-search all --max-loops N)")
            notes.append(note + ".")
        skey = ("structure", "strongest", tuple(map(tuple, cycles)))
    for note in notes if search == "all" or method == "auto" else ():
        warnings.warn(note, LoopWarning, stacklevel=3)
    links = [(u, v) for u, v in dyn.edges]
    exp_pol = link_polarities(sim, cg, cg.expanded_links(links))
    polarities = {}
    for u, v in links:
        signs = set()
        for p in cg.paths(u, v):
            s = 1
            for a, b in zip(p[:-1], p[1:], strict=True):
                s *= exp_pol[(a, b)]
            signs.add(s)
        polarities[(u, v)] = signs.pop() if len(signs) == 1 else 0
    if skey not in cg._index:
        if skey[1] == "strongest":          # one loop set per run: keep only the last
            for k in [k for k in cg._index if k[0] in ("structure", "built")
                      and k[1] == "strongest"]:
                del cg._index[k]
        cg._index[skey] = _structure(model, cg, cycles)
    # the same polarities give the same loops: reuse them (and what is cached on them)
    bkey, pkey = ("built",) + skey[1:], tuple(polarities.values())
    built = cg._index.get(bkey)
    if built is None or built[0] != pkey:
        built = cg._index[bkey] = (pkey, *_build(model, cg._index[skey], polarities))
    _, loops, partitions = built
    message = " ".join(notes)
    if not loops and search == "strongest" and found is not None:
        message = (f"model {model.name!r}: the strongest-path search found no feedback loop "
                   "whose links all change at one time of the run (a run at equilibrium has "
                   "no loop dominance); method='all' (--loop-search all) enumerates the loops.")
    elif not loops:
        message = (f"model {model.name!r} has no feedback loops: every stock changes only "
                   "through exogenous inputs, so there is no loop dominance to analyse.")
    return LoopSet(model, tuple(loops), tuple(partitions), cg, polarities, max_length,
                   max_loops, truncated=bool(truncated), message=message,
                   search=search), collapsed


def _strongest(sim: Simulation, cg: CausalGraph, max_length: int | None, score_method: str):
    """Loops (as key lists) found by the strongest-path search along ``sim``."""
    from .dominance import resolve_method
    from .scores import composite_scores, expanded_link_scores
    from .strongest import strongest_loops

    dyn = cg.dynamic
    if nx.is_directed_acyclic_graph(dyn):
        return [], None, None
    links = list(dyn.edges)
    form = resolve_method(sim, score_method)
    expanded = expanded_link_scores(sim, cg, cg.expanded_links(links), form)
    collapsed = composite_scores(cg, links, expanded)
    nodes = list(dyn.nodes)
    index = {k: i for i, k in enumerate(nodes)}
    shape = np.shape(collapsed[links[0]])
    scores = np.stack([np.broadcast_to(collapsed[lk], shape) for lk in links], axis=1)
    found = strongest_loops(len(nodes), [(index[u], index[v]) for u, v in links], scores,
                            [index[k] for k in _search_starts(cg)], max_length=max_length)
    cycles = [[nodes[i] for i in c] for c in found.cycles]
    return cycles, (form, collapsed), found


def _rotate(cycle) -> tuple[str, ...]:
    j = cycle.index(min(cycle))
    return tuple(cycle[j:]) + tuple(cycle[:j])


def _declared_cycles(model: Model, cg: CausalGraph, max_length: int | None) -> list[list[str]]:
    """A loop through the variables of each ``[[loop]]`` declaration, in their order.

    The strongest-path search keeps every documented loop, found or not, as Stella's
    LOOPSCORE does for the loops a modeller names (Schoenberg & Eberlein 2020, *Seamlessly
    Integrating Loops That Matter into Model Development and Analysis*, arXiv:2005.14545).
    Each segment between consecutive declared variables is a shortest path that avoids the
    variables already used; a declaration without such a loop is left to the naming step,
    which warns about it.
    """
    key = ("declared cycles", max_length)
    if key in cg._index:
        return cg._index[key]
    decls = model.metadata.get("loop") or model.metadata.get("loops") or []
    if isinstance(decls, Mapping):
        decls = list(decls.values())
    dyn = cg.dynamic
    out = []
    for decl in decls:
        try:
            keys = list(dict.fromkeys(model.resolve(x) for x in decl.get("variables") or []))
        except UnknownNameError:
            continue
        if not keys or any(k not in dyn for k in keys):
            continue
        cycle: list[str] = []
        for i, a in enumerate(keys):
            b = keys[(i + 1) % len(keys)]
            avoid = (set(cycle) | set(keys)) - {a, b}
            sub = dyn.subgraph([n for n in dyn if n not in avoid])
            try:
                if a == b:          # a one-variable declaration: its shortest loop
                    seg = min((nx.shortest_path(sub, c, a) for c in sub.successors(a)
                               if nx.has_path(sub, c, a)), key=len, default=None)
                    seg = None if seg is None else [a] + seg
                else:
                    seg = nx.shortest_path(sub, a, b)
            except nx.NetworkXNoPath:
                seg = None
            if seg is None:
                cycle = []
                break
            cycle += seg[:-1]
        if cycle and len(set(cycle)) == len(cycle) and (max_length is None
                                                         or len(cycle) <= max_length):
            out.append(cycle)
    cg._index[key] = out
    return out


def _search_starts(cg: CausalGraph) -> list[str]:
    """Variables every loop passes through: the stocks, the targets of composite links
    through a SMOOTH/DELAY stock, and (should a loop avoid all of them) one variable of each
    remaining cycle."""
    hit = cg._index.get("search starts")
    if hit is not None:
        return hit
    dyn = cg.dynamic
    v = cg.model.variables
    starts = [k for k in cg.model.stocks if k in dyn]
    for _, b, d in dyn.edges(data=True):
        if any(v[k].kind == "stock" for p in d["paths"] for k in p[1:-1]):
            starts.append(b)
    starts = list(dict.fromkeys(starts))
    rest = dyn.subgraph([k for k in dyn if k not in set(starts)]).copy()
    while True:
        try:
            cyc = nx.find_cycle(rest)
        except nx.NetworkXNoCycle:
            break
        starts.append(cyc[0][0])
        rest.remove_node(cyc[0][0])
    cg._index["search starts"] = starts
    return starts


def _enumerate(g, max_length: int | None, max_loops: int, first: list | None = None
               ) -> tuple[list[list[str]], str]:
    """Cycles of ``g``; over the cap, the shortest ``max_loops`` of them.  ``first``: the
    first ``max_loops + 1`` cycles, when already enumerated."""
    cycles = first if first is not None else list(
        itertools.islice(nx.simple_cycles(g, length_bound=max_length), max_loops + 1))
    if len(cycles) > max_loops:
        # keep the shortest loops rather than the first ones Johnson's algorithm yields
        bound, kept = 1, []
        while True:
            found = list(itertools.islice(nx.simple_cycles(g, length_bound=bound),
                                          max_loops + 1))
            if len(found) > max_loops:
                longest = [c for c in found if len(c) == bound]
                kept = [c for c in found if len(c) < bound]
                kept += sorted(longest)[: max_loops - len(kept)]
                break
            bound += 1
        return kept, "count"
    if max_length is None:
        return cycles, ""
    # longer loops may exist only in a strongly connected component larger than the bound
    for comp in nx.strongly_connected_components(g):
        if len(comp) <= max_length:
            continue
        sub = g.subgraph(comp)
        for c in itertools.islice(nx.simple_cycles(sub), max_loops):
            if len(c) > max_length:
                return cycles, "length"
    return cycles, ""


def _structure(model: Model, cg: CausalGraph, cycles) -> dict[str, Any]:
    """Everything about the loops that does not depend on a run (cached per model)."""
    g = cg.graph
    v = model.variables
    order = {k: i for i, k in enumerate(v)}
    stock_rank = {k: i for i, k in enumerate(model.stocks)}
    layer = {k: v[k].layer for k in g}
    link_stocks = {}
    for a, b, d in g.edges(data=True):
        link_stocks[(a, b)] = [k for p in d["paths"] for k in p[1:-1] if v[k].kind == "stock"]
    # cycle partitions: strongly connected components holding loops
    comp_of = {}
    comps = [c for c in nx.strongly_connected_components(cg.dynamic)
             if len(c) > 1 or any(g.has_edge(n, n) for n in c)]
    for i, c in enumerate(comps):
        for n in c:
            comp_of[n] = i
    raw = []
    for cyc in cycles:
        start = min(cyc, key=lambda k: (k not in stock_rank, stock_rank.get(k, 0), order[k]))
        j = cyc.index(start)
        keys = tuple(cyc[j:] + cyc[:j])
        links = tuple(zip(keys, keys[1:] + keys[:1], strict=True))
        stocks = [k for k in keys if k in stock_rank]
        for lk in links:
            stocks += link_stocks[lk]
        layers = {layer[k] for k in keys}
        raw.append(dict(keys=keys, links=links, stocks=tuple(dict.fromkeys(stocks)),
                        comp=comp_of[keys[0]], names=tuple(g.nodes[k]["name"] for k in keys),
                        layers=tuple(x for x in LAYERS if x in layers)))
    named = _declared(model, raw)
    counts: dict[int, int] = {}
    for r in raw:
        counts[r["comp"]] = counts.get(r["comp"], 0) + 1
    ranked = sorted(counts, key=lambda c: (-counts[c], min(order[k] for k in comps[c])))
    pindex = {c: i for i, c in enumerate(ranked)}
    used: dict[str, int] = {}
    for r in raw:
        r["partition"] = pindex[r["comp"]]
        r["decl"] = decl = named.get(id(r))
        if decl is not None:
            m = re.fullmatch(r"([A-Za-z]+)(\d+)", decl["id"])
            if m:
                used[m.group(1).upper()] = max(used.get(m.group(1).upper(), 0), int(m.group(2)))
    declared = [r for r in raw if r["decl"] is not None]
    undeclared = sorted((r for r in raw if r["decl"] is None),
                        key=lambda r: (r["partition"], len(r["keys"]),
                                       [order[k] for k in r["keys"]]))
    parts = []
    for c in ranked:
        in_part = set()
        for r in raw:
            if r["comp"] == c:
                in_part.update(r["stocks"])
        parts.append((pindex[c], tuple(v[k].name for k in model.stocks if k in in_part)))
    return dict(raw=declared + undeclared, used=used, parts=parts)


def _build(model: Model, structure: dict[str, Any], polarities):
    used = dict(structure["used"])
    v = model.variables
    loops = []
    for r in structure["raw"]:
        pols = tuple(polarities[lk] for lk in r["links"])
        sign = 1
        for p in pols:
            sign *= p
        polarity = {1: "R", -1: "B", 0: "U"}[sign]
        decl = r["decl"]
        if decl is not None:
            lid, name, dpol = decl["id"], decl.get("name"), decl.get("polarity")
            if dpol in ("R", "B") and polarity in ("R", "B") and dpol != polarity:
                warnings.warn(
                    f"documented loop {lid} {name!r} is declared {dpol} but its link "
                    f"polarities make it {polarity} along the run.", LoopWarning,
                    stacklevel=3)
        else:
            used[polarity] = used.get(polarity, 0) + 1
            lid, name, dpol = f"{polarity}{used[polarity]}", None, None
        loops.append(Loop(lid, name, polarity, r["keys"], r["names"], r["links"], pols,
                          tuple(v[k].name for k in r["stocks"]), r["partition"], r["layers"],
                          dpol))
    rank = {"R": 0, "B": 1, "U": 2}
    loops.sort(key=lambda lp: (lp.partition, lp.name is None, rank.get(lp.polarity, 3),
                               _num(lp.id), lp.id))
    partitions = [Partition(i, stocks, tuple(lp.id for lp in loops if lp.partition == i))
                  for i, stocks in structure["parts"]]
    return loops, partitions


def _num(lid: str) -> int:
    m = re.search(r"(\d+)$", lid)
    return int(m.group(1)) if m else 0


def _declared(model: Model, raw: list[dict]) -> dict[int, dict[str, Any]]:
    """Match the ``[[loop]]`` declarations of the model's metadata to the loops found."""
    decls = model.metadata.get("loop") or model.metadata.get("loops") or []
    if isinstance(decls, Mapping):
        decls = [dict(v, id=v.get("id", k)) for k, v in decls.items()]
    out: dict[int, dict[str, Any]] = {}
    for n, decl in enumerate(decls):
        lid = str(decl.get("id") or f"L{n + 1}")
        names = decl.get("variables") or []
        try:
            keys = [model.resolve(x) for x in names]
        except UnknownNameError as exc:
            warnings.warn(f"documented loop {lid} ({decl.get('name', '')!s}): {exc}",
                          LoopWarning, stacklevel=3)
            continue
        best, best_extra = None, None
        for r in raw:
            if id(r) in out:
                continue
            cyc = r["keys"]
            if not set(keys) <= set(cyc) or not _in_cyclic_order(keys, cyc):
                continue
            extra = len(cyc) - len(set(keys))
            if best is None or extra < best_extra:
                best, best_extra = r, extra
        if best is None:
            warnings.warn(
                f"documented loop {lid} {decl.get('name', '')!r} ({' -> '.join(names)}) is not "
                f"a feedback loop of model {model.name!r}; check its variables and their order.",
                LoopWarning, stacklevel=3)
            continue
        d = dict(decl, id=lid)
        d["polarity"] = str(d.get("polarity") or "").upper()[:1] or None
        out[id(best)] = d
    return out


def _in_cyclic_order(keys: list[str], cyc: tuple[str, ...]) -> bool:
    if not keys:
        return False
    pos = [cyc.index(k) for k in keys]
    j = pos.index(min(pos))
    rot = pos[j:] + pos[:j]
    return all(a < b for a, b in zip(rot, rot[1:], strict=False))
