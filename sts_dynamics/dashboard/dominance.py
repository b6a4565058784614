"""Loop dominance over time: relative loop scores as a stacked area."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import UNKNOWN, base_layout, kind_of, loop_color, rgba

__all__ = ["loop_dominance"]


def loop_dominance(analysis: Any, *, partition: int = 0, top: int = 8,
                   title: str | None = None, mark_shifts: bool = True) -> go.Figure:
    """Relative loop scores over time, stacked: reinforcing loops in reds above zero,
    balancing loops in blues below, shifts of the leading loop marked.

    Parameters
    ----------
    analysis : LoopAnalysis
        From :func:`sts_dynamics.loop_dominance` (an ensemble is drawn from its mean relative
        scores over runs).
    partition : int
        Which cycle partition (0 is the one with the most loops).
    top : int
        Loops drawn individually, by share of dominance; the others are summed into "other
        reinforcing" / "other balancing".
    mark_shifts : bool
        Dashed lines where the leading loop changes (:meth:`LoopAnalysis.main_periods`).
    """
    if kind_of(analysis) != "loops":
        raise TypeError(f"`analysis` must be a LoopAnalysis from sts_dynamics.loop_dominance(), "
                        f"got {type(analysis).__name__}.")
    fig = go.Figure()
    unit = analysis.model.control.time_units or "time"
    default = f"Loop dominance: {analysis.model.name}"
    if not len(analysis.loops):
        fig.add_annotation(text=analysis.message or "no feedback loops", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
        return base_layout(fig, title if title is not None else default, height=420)
    parts = analysis.partitions
    if not 0 <= partition < len(parts):
        raise ValueError(f"`partition` must be in 0..{len(parts) - 1}, got {partition}.")
    part = parts[partition]
    ids = list(part.loops)
    share = analysis.share()
    ids.sort(key=lambda i: -float(share[i]))
    shown, rest = ids[:top], ids[top:]
    rel = analysis._median_relative()
    t = analysis.t
    col = {lid: analysis.loops.index(lid) for lid in ids}
    rank = {"R": 0, "B": 0}
    series = []
    for lid in shown:
        lp = analysis.loops[lid]
        y = np.nan_to_num(rel[:, col[lid]])
        color = loop_color(lp.polarity, rank.get(lp.polarity, 0))
        rank[lp.polarity] = rank.get(lp.polarity, 0) + 1
        label = f"{lp.id} {lp.name}" if lp.name else f"{lp.id}: {' → '.join(lp.variables[:3])}" \
            + (" …" if lp.length > 3 else "")
        series.append((label, y, color, lp))
    if rest:
        r_sum = sum(np.nan_to_num(rel[:, col[i]]).clip(min=0) for i in rest)
        b_sum = sum(np.nan_to_num(rel[:, col[i]]).clip(max=0) for i in rest)
        series.append((f"{len(rest)} other loops (+)", r_sum, "#f3c6c6", None))
        series.append((f"{len(rest)} other loops (−)", b_sum, "#c6d9ef", None))
    for label, y, color, lp in series:
        hover = f"{label}<br>t=%{{x:g}}<br>relative score %{{y:.3f}}<extra></extra>"
        if lp is not None and lp.polarity == "U":
            pos, neg = y.clip(min=0), y.clip(max=0)
            for part_y, group in ((pos, "reinforcing"), (neg, "balancing")):
                fig.add_trace(go.Scatter(x=t, y=part_y, mode="lines", stackgroup=group,
                                         line=dict(width=0.5, color=UNKNOWN),
                                         fillcolor=rgba(UNKNOWN, 0.6), name=label,
                                         legendgroup=label, showlegend=group == "reinforcing",
                                         hovertemplate=hover))
            continue
        group = "reinforcing" if (lp is None and "(+)" in label) or \
            (lp is not None and lp.polarity == "R") else "balancing"
        fig.add_trace(go.Scatter(x=t, y=y, mode="lines", stackgroup=group,
                                 line=dict(width=0.5, color=color), fillcolor=rgba(color, 0.85),
                                 name=label, hovertemplate=hover))
    fig.add_hline(y=0, line=dict(color="#444", width=1))
    if mark_shifts:
        periods = [p for p in analysis.main_periods() if p.partition == part.index]
        for a, b in zip(periods, periods[1:], strict=False):
            fig.add_vline(x=b.start, line=dict(color="#555", width=1.2, dash="dash"))
            fig.add_annotation(x=b.start, y=1.02, yref="y", text=f"{a.loops[0]} → {b.loops[0]}",
                               showarrow=False, xanchor="left", font=dict(size=11, color="#333"),
                               bgcolor="rgba(255,255,255,0.8)")
    base_layout(fig, title if title is not None else default, height=500)
    fig.update_layout(legend=dict(y=-0.22, yanchor="top"), margin=dict(b=150))
    fig.update_yaxes(title_text="relative loop score", range=[-1.05, 1.12], zeroline=False)
    fig.update_xaxes(title_text=unit)
    fig.update_layout(hovermode="closest")
    return fig
