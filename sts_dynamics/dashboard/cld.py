"""The causal loop diagram of the loops that matter."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import plotly.graph_objects as go

from .common import (
    BALANCING,
    LAYER_COLORS,
    POLARITY_COLORS,
    REINFORCING,
    UNKNOWN,
    FigureDataError,
    base_layout,
    kind_of,
)

__all__ = ["loop_diagram", "default_time"]

_SIGN = {1: "+", -1: "−", 0: "?"}
#: Horizontal stretch of the layout (the figure is about 1.8 times wider than high).
_SX = 1.7


def default_time(analysis: Any) -> float:
    """The middle of the longest period in which one loop leads (partition 0)."""
    periods = [p for p in analysis.main_periods() if p.partition == 0]
    if not periods:
        return float(analysis.t[len(analysis.t) // 2])
    p = max(periods, key=lambda p: p.duration)
    return float(analysis.t[np.argmin(np.abs(analysis.t - (p.start + p.end) / 2))])


def loop_diagram(result: Any, *, loops: Sequence[str] | None = None, top: int = 6,
                 time: float | None = None, title: str | None = None,
                 seed: int = 1) -> go.Figure:
    """A causal loop diagram of the loops that matter.

    Nodes are the variables of the loops drawn, coloured by sociotechnical layer (stocks are
    squares); links carry their polarity (+, −, grey ? when it is uncertain) and, for a loop
    analysis, a width proportional to |link score| at ``time``; each loop is marked R1/B1 at
    its centre with its name.

    Parameters
    ----------
    result : LoopAnalysis or LoopSet
        With scores (from :func:`sts_dynamics.loop_dominance`) or without (from
        :func:`sts_dynamics.find_loops`).
    loops : sequence of str, optional
        Ids (or names) of the loops to draw; default: the ``top`` loops of the first cycle
        partition by share of dominance (documented loops first for a LoopSet).
    time : float, optional
        Time of the link scores (default: the middle of the longest period led by one loop).
    seed : int
        Seed of the layout, so that the same model always looks the same.
    """
    kind = kind_of(result)
    analysis = result if kind == "loops" else None
    loopset = result.loops if analysis is not None else result
    if not hasattr(loopset, "partitions") or not hasattr(loopset, "graph"):
        raise TypeError(f"`result` must be a LoopAnalysis or LoopSet, got "
                        f"{type(result).__name__}.")
    model = loopset.model
    fig = go.Figure()
    default_title = f"Causal loop diagram: {model.name}"
    if not len(loopset):
        fig.add_annotation(text=getattr(loopset, "message", "") or "no feedback loops",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
        return base_layout(fig, title if title is not None else default_title, height=420)
    chosen = _choose(loopset, analysis, loops, top)
    k = None
    if analysis is not None:
        if time is None:
            time = default_time(analysis)
        k = int(np.argmin(np.abs(analysis.t - time)))
        time = float(analysis.t[k])
    nodes: list[str] = []
    edges: list[tuple[str, str]] = []
    for lp in chosen:
        for key in lp.keys:
            if key not in nodes:
                nodes.append(key)
        for lk in lp.links:
            if lk not in edges:
                edges.append(lk)
    pos = _layout(nodes, edges, seed)
    g = loopset.graph
    # -- links ---------------------------------------------------------------------------
    pairs = set(edges)
    scores = {}
    if analysis is not None:
        for u, v in edges:
            s = analysis.link_scores.get((g.name(u), g.name(v)))
            if s is not None:
                val = np.asarray(s)[k]
                val = float(np.nanmean(val)) if np.ndim(val) else float(val)
                scores[(u, v)] = val
    for u, v in edges:
        pol = loopset.polarities.get((u, v), 0)
        (x0, y0), (x1, y1) = pos[u], pos[v]
        dx, dy = x1 - x0, y1 - y0
        dist = math.hypot(dx, dy) or 1.0
        ux, uy = dx / dist, dy / dist
        off = 0.035 if (v, u) in pairs else 0.0
        nx_, ny_ = -uy * off, ux * off
        shrink = min(0.12, dist / 3)
        xs, ys = x0 + ux * shrink + nx_, y0 + uy * shrink + ny_
        xe, ye = x1 - ux * shrink + nx_, y1 - uy * shrink + ny_
        s = scores.get((u, v))
        width = 1.2 if s is None or not np.isfinite(s) else 1.0 + 5.0 * min(abs(s), 1.0)
        color = POLARITY_COLORS.get(pol, UNKNOWN)
        ls_text = "" if s is None else (f"<br>link score {s:.3g} at t = {time:g}"
                                        if np.isfinite(s) else "<br>link score undefined")
        kind_txt = g.graph.edges[u, v]["kind"]
        hover = (f"{g.name(u)} → {g.name(v)}<br>polarity {_SIGN[pol]}"
                 f"{' (composite: SMOOTH/DELAY)' if kind_txt == 'composite' else ''}{ls_text}")
        fig.add_annotation(x=xe, y=ye, ax=xs, ay=ys, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowsize=max(0.45, 1.5 / width),
                           arrowwidth=width,
                           arrowcolor=color, text="", hovertext=hover,
                           opacity=0.9 if pol else 0.7)
        lx, ly = xs + 0.72 * (xe - xs) + 1.6 * nx_ - uy * 0.03, \
            ys + 0.72 * (ye - ys) + 1.6 * ny_ + ux * 0.03
        fig.add_annotation(x=lx, y=ly, xref="x", yref="y", text=f"<b>{_SIGN[pol]}</b>",
                           showarrow=False, font=dict(size=14, color=color), hovertext=hover)
    # -- nodes ---------------------------------------------------------------------------
    by_layer: dict[str, list[str]] = {}
    for key in nodes:
        by_layer.setdefault(g.graph.nodes[key]["layer"], []).append(key)
    for layer, keys in by_layer.items():
        fig.add_trace(go.Scatter(
            x=[pos[k_][0] for k_ in keys], y=[pos[k_][1] for k_ in keys], mode="markers+text",
            marker=dict(size=[20 if g.graph.nodes[k_]["kind"] == "stock" else 13 for k_ in keys],
                        symbol=["square" if g.graph.nodes[k_]["kind"] == "stock" else "circle"
                                for k_ in keys],
                        color=LAYER_COLORS.get(layer, LAYER_COLORS["unassigned"]),
                        line=dict(color="#333", width=1)),
            text=["<br>".join(textwrap.wrap(g.name(k_), 16)) for k_ in keys],
            textposition="top center", textfont=dict(size=11, color="#222"),
            name=f"{layer} layer",
            hovertext=[f"{g.name(k_)}<br>{g.graph.nodes[k_]['kind']}, {layer} layer"
                       for k_ in keys], hoverinfo="text"))
    # -- loop markers --------------------------------------------------------------------
    confidence = analysis.polarity_confidence() if analysis is not None else None
    share = analysis.share() if analysis is not None else None
    placed: list[tuple[float, float]] = []
    ranks = {"R": 0, "B": 0}
    node_xy = np.array([pos[k_] for k_ in nodes])
    edge_xy = np.array([(pos[u][0] + f * (pos[v][0] - pos[u][0]),
                         pos[u][1] + f * (pos[v][1] - pos[u][1]))
                        for u, v in edges for f in (0.2, 0.35, 0.5, 0.65, 0.8)])
    node_xy = np.vstack([node_xy, edge_xy]) if len(edge_xy) else node_xy
    for lp in chosen:
        cx, cy = _marker_position(lp, pos, node_xy, placed)
        placed.append((cx, cy))
        conf = 1.0 if confidence is None else float(confidence[lp.id])
        if lp.polarity == "R" and conf > 0.99:
            color = REINFORCING[ranks["R"] % len(REINFORCING)]
        elif lp.polarity == "B" and conf > 0.99:
            color = BALANCING[ranks["B"] % len(BALANCING)]
        else:
            color = UNKNOWN
        if lp.polarity in ranks:
            ranks[lp.polarity] += 1
        extra = "" if share is None else f"<br>share of dominance {100 * float(share[lp.id]):.0f}%"
        hover = f"{lp.label}<br>{lp.describe()}{extra}"
        fig.add_annotation(x=cx, y=cy, xref="x", yref="y", text=f"<b>{lp.id}</b>",
                           showarrow=False, font=dict(size=13, color="white"), bgcolor=color,
                           bordercolor=color, borderpad=4, hovertext=hover)
        if lp.name:
            fig.add_annotation(x=cx, y=cy - 0.055, xref="x", yref="y",
                               text=f"<i>{lp.name}</i>", showarrow=False,
                               font=dict(size=10, color=color), hovertext=hover)
    # polarity legend entries
    for pol, label in ((1, "+ link"), (-1, "− link"), (0, "? uncertain polarity")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label,
                                 line=dict(color=POLARITY_COLORS[pol], width=2)))
    when = "" if time is None else f" at t = {time:g} {model.control.time_units}".rstrip()
    base_layout(fig, title if title is not None else default_title + when, height=620)
    fig.update_xaxes(visible=False, range=[-_SX - 0.35, _SX + 0.35])
    fig.update_yaxes(visible=False, range=[-1.25, 1.3])
    fig.update_layout(hovermode="closest", showlegend=True)
    return fig


def _marker_position(lp: Any, pos: dict, node_xy: np.ndarray,
                     placed: list[tuple[float, float]]) -> tuple[float, float]:
    """Near the loop's centre, but clear of the variables and of other loop markers."""
    pts = np.array([pos[k] for k in lp.keys])
    cx, cy = pts.mean(axis=0)
    best, best_score = (float(cx), float(cy)), -np.inf
    others = np.array(placed) if placed else np.empty((0, 2))
    for r in (0.0, 0.1, 0.18, 0.26, 0.34):
        for a in np.linspace(0, 2 * np.pi, 12 if r else 1, endpoint=False):
            x, y = cx + r * _SX * np.cos(a), cy + r * np.sin(a)
            d_nodes = np.min(np.hypot((node_xy[:, 0] - x) / _SX, node_xy[:, 1] - y))
            d_marks = np.min(np.hypot((others[:, 0] - x) / _SX, others[:, 1] - y)) \
                if len(others) else 1.0
            score = min(d_nodes, 0.2) + min(d_marks, 0.25) - 0.3 * r
            if score > best_score:
                best, best_score = (float(x), float(y)), score
    return best


def _choose(loopset: Any, analysis: Any, wanted, top: int) -> list:
    if wanted is not None:
        out = []
        for w in wanted:
            try:
                out.append(loopset[w])
            except KeyError as exc:
                raise FigureDataError(str(exc)) from None
        return out
    first = [lp for lp in loopset if lp.partition == 0]
    if analysis is not None:
        share = analysis.share()
        first.sort(key=lambda lp: -float(share[lp.id]))
    else:
        first.sort(key=lambda lp: (lp.name is None, lp.length))
    return first[:max(1, top)]


def _layout(nodes: list[str], edges: list[tuple[str, str]], seed: int) -> dict:
    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    if len(nodes) == 1:
        return {nodes[0]: (0.0, 0.0)}
    if len(nodes) == 2:
        return {nodes[0]: (-0.6 * _SX, 0.0), nodes[1]: (0.6 * _SX, 0.0)}
    try:
        init = nx.circular_layout(g)
        pos = nx.kamada_kawai_layout(g, pos=init)
    except Exception:  # noqa: BLE001 - a layout must never break a briefing
        pos = nx.spring_layout(g, seed=seed)
    arr = np.array([pos[n] for n in nodes], dtype=float)
    arr -= arr.mean(axis=0)
    scale = np.abs(arr).max(axis=0)
    arr = arr / np.where(scale > 0, scale, 1.0)
    arr[:, 0] *= _SX                       # the canvas is wider than high
    return {n: (float(x), float(y)) for n, (x, y) in zip(nodes, arr, strict=True)}
