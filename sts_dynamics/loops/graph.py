"""The causal graph of a model, with SMOOTH/DELAY/TREND internals collapsed into composite links.

Nodes are canonical variable keys.  An edge ``x -> z`` means that z's equation uses x; an
edge ``flow -> stock`` carries ``sign=+1`` for an inflow and ``-1`` for an outflow.  The
states and flows that :func:`sts_dynamics.load` creates when it expands SMOOTH, DELAY and TREND
are hidden: every path through them becomes one *composite* link from the function's input to
the variable whose equation contains the function, and the loops internal to a delay vanish.
Flows created for an inline INTEG expression (``function == "flow"``) stay visible.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..model import Model

__all__ = ["CausalGraph", "causal_graph", "STATIC_KINDS", "EXPANDED_KINDS"]

#: Kinds whose value never changes during a run: never the target of a causal link.
STATIC_KINDS = frozenset({"constant", "control", "lookup", "initial"})
#: ``Variable.function`` values whose internals are collapsed into composite links.
EXPANDED_KINDS = ("smooth", "delay", "trend")


def _hidden(var) -> bool:
    return var.internal and var.function is not None and var.function.startswith(EXPANDED_KINDS)


@dataclass(frozen=True, eq=False)
class CausalGraph:
    """A model's causal structure.

    Attributes
    ----------
    model : Model
    graph : networkx.DiGraph
        The collapsed graph used for loops and diagrams.  Node attributes: ``name``,
        ``kind``, ``layer``, ``dynamic`` (False for constants and other static inputs).  Edge
        attributes: ``kind`` (``"flow"``, ``"info"`` or ``"composite"``), ``sign`` (+1/-1 for
        flow links, ``None`` otherwise) and ``paths``: the expanded paths that the link stands
        for (one path ``(x, z)`` for an ordinary link).
    expanded : networkx.DiGraph
        The full graph, internal variables included (edges into static variables dropped).
    """

    model: Model
    graph: Any
    expanded: Any
    _index: dict = field(default_factory=dict, repr=False)

    def name(self, key: str) -> str:
        """Display name of a node key."""
        return self.graph.nodes[key]["name"] if key in self.graph else \
            self.model.variables[key].name

    def paths(self, u: str, v: str) -> tuple[tuple[str, ...], ...]:
        """The expanded paths of the collapsed link ``u -> v``."""
        return self.graph.edges[u, v]["paths"]

    def expanded_links(self, links=None) -> set[tuple[str, str]]:
        """Every expanded edge on the paths of ``links`` (default: all collapsed links)."""
        out: set[tuple[str, str]] = set()
        for u, v in (self.graph.edges if links is None else links):
            for p in self.graph.edges[u, v]["paths"]:
                out.update(zip(p[:-1], p[1:], strict=False))
        return out

    @property
    def dynamic(self) -> Any:
        """The subgraph of dynamic nodes (where every feedback loop lives)."""
        keep = [n for n, d in self.graph.nodes(data=True) if d["dynamic"]]
        return self.graph.subgraph(keep)


def causal_graph(model: Model) -> CausalGraph:
    """Build the causal graph of ``model`` (cached per model).

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> from sts_dynamics.loops import causal_graph
    >>> g = causal_graph(sd.load("tests/data/bass.mdl"))       # doctest: +SKIP
    >>> g.graph.edges["adopting", "adopters"]["sign"]          # doctest: +SKIP
    1
    """
    cached = _CACHE.get(model)
    if cached is not None:
        return cached
    variables = model.variables
    full = model.dependency_graph()
    expanded = nx.DiGraph()
    for key, var in variables.items():
        if var.kind in ("control",):
            continue
        expanded.add_node(key)
    for u, v, d in full.edges(data=True):
        if u not in expanded or v not in expanded:
            continue
        if variables[v].kind in STATIC_KINDS or variables[u].kind in ("lookup", "control"):
            continue
        expanded.add_edge(u, v, sign=d.get("sign"))
    # static nodes: constants and anything computed from constants only
    static = {k for k in expanded if variables[k].kind in STATIC_KINDS}
    for k in model.order:
        if k in expanded and k not in static:
            deps = variables[k].uses()
            if "time" not in deps and deps and all(d in static or d not in expanded
                                                    for d in deps):
                static.add(k)
    hidden = {k for k in expanded if _hidden(variables[k])}
    g = nx.DiGraph()
    for k in expanded:
        if k in hidden:
            continue
        var = variables[k]
        g.add_node(k, name=var.name, kind=var.kind, layer=var.layer,
                   dynamic=k not in static, internal=var.internal)
    for u, v, d in expanded.edges(data=True):
        if u in hidden or v in hidden:
            continue
        g.add_edge(u, v, kind="flow" if d["sign"] is not None else "info", sign=d["sign"],
                   paths=((u, v),))
    # composite links: every path entering the hidden part and leaving it again
    for u in [n for n in expanded if n not in hidden]:
        starts = [h for h in expanded.successors(u) if h in hidden]
        if not starts:
            continue
        found: dict[str, list[tuple[str, ...]]] = {}
        for h in starts:
            stack = [(h, (u, h))]
            while stack:
                node, path = stack.pop()
                for nxt in expanded.successors(node):
                    if nxt in path:
                        continue
                    if nxt in hidden:
                        stack.append((nxt, path + (nxt,)))
                    else:
                        found.setdefault(nxt, []).append(path + (nxt,))
        for w, ps in found.items():
            if g.has_edge(u, w):
                old = g.edges[u, w]
                g.edges[u, w].update(kind="composite",
                                     paths=old["paths"] + tuple(sorted(ps)))
            else:
                g.add_edge(u, w, kind="composite", sign=None, paths=tuple(sorted(ps)))
    cg = CausalGraph(model, g, expanded)
    _CACHE[model] = cg
    return cg


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
