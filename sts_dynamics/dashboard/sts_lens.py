"""The sociotechnical lens in a briefing: the variance matrix and joint optimization.

``variance_chart(matrix)`` draws a :class:`~sts_dynamics.sociotech.VarianceMatrix`: for each
variance, the layer where it originates, where it is detected and the layers of the loop that
controls it, next to its response over time.  ``optimization_chart(optimum)`` draws a
:class:`~sts_dynamics.sociotech.PolicyOptimum`: the objective of the baseline, the
technical-only, social-only and joint optima, and their KPIs against the baseline.
``sociotech_sections`` turns either into briefing sections written for leaders.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import LAYER_COLORS, FigureDataError, base_layout, rgba

__all__ = ["variance_chart", "optimization_chart", "sociotech_sections", "sociotech_messages",
           "STRATEGY_COLORS"]

_LAYERS = ("technical", "work system", "social", "environment")
#: Bar colours of the strategies of a joint optimization.
STRATEGY_COLORS = {"baseline": "#9e9e9e", "technical only": LAYER_COLORS["technical"],
                   "social only": LAYER_COLORS["social"], "joint": "#1f3b73"}


def _is_matrix(x: Any) -> bool:
    return all(hasattr(x, a) for a in ("traces", "gaps", "responses", "tolerance"))


def _is_optimum(x: Any) -> bool:
    return all(hasattr(x, a) for a in ("strategies", "compare", "levers", "objective"))


def variance_chart(matrix: Any, *, title: str | None = None) -> go.Figure:
    """Where each variance originates (●), is detected (◆) and is controlled (■ the layers of
    its absorbing loop), and its normalized response over time.

    Parameters
    ----------
    matrix : VarianceMatrix
        From :func:`sts_dynamics.variance_matrix`.
    """
    if not _is_matrix(matrix):
        raise TypeError(f"`matrix` must be a VarianceMatrix from sts_dynamics.variance_matrix(), "
                        f"got {type(matrix).__name__}.")
    traces = list(matrix.traces)
    if not traces:
        raise FigureDataError("the variance matrix has no variances to draw.")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.48, 0.52], horizontal_spacing=0.1,
                        subplot_titles=("Origin, detection and control by layer",
                                        "Response over time (distance from the baseline)"))
    names = [tr.name for tr in traces]
    unit = matrix.model.control.time_units
    # control: the layers of the absorbing loop
    cx, cy, ctext = [], [], []
    for tr in traces:
        for layer in tr.loop_layers:
            if layer in _LAYERS:
                cx.append(layer)
                cy.append(tr.name)
                ctext.append(f"{tr.name}: controlled by {tr.loop_label}<br>loop layers "
                             f"{', '.join(tr.loop_layers)}; {tr.control_by} control")
    fig.add_trace(go.Scatter(x=cx, y=cy, mode="markers", name="controlled (loop layers)",
                             marker=dict(symbol="square", size=30, color=rgba("#2166ac", 0.22),
                                         line=dict(color="#2166ac", width=1)),
                             hovertext=ctext, hoverinfo="text"), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[tr.origin for tr in traces], y=names, mode="markers", name="originates",
        marker=dict(symbol="circle", size=15,
                    color=[LAYER_COLORS.get(tr.origin, LAYER_COLORS["unassigned"])
                           for tr in traces], line=dict(color="#222", width=1)),
        hovertext=[f"{tr.name} originates in the {tr.origin} layer (injected through "
                   f"{tr.inject})" for tr in traces], hoverinfo="text"), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[tr.detection_layer for tr in traces], y=names, mode="markers", name="detected",
        marker=dict(symbol="diamond-open", size=20, color="#222", line=dict(width=2)),
        hovertext=[f"{tr.name} shows first in {tr.detected_by} ({tr.detection_layer})"
                   + (f" at {unit.lower()} {tr.detected_at:g}" if np.isfinite(tr.detected_at)
                      else "") for tr in traces], hoverinfo="text"), row=1, col=1)
    gaps = [tr for tr in traces if tr.gap]
    if gaps:
        fig.add_trace(go.Scatter(
            x=["environment"] * len(gaps), y=[tr.name for tr in gaps], mode="text",
            text=["<b>gap</b>"] * len(gaps), textposition="middle right",
            textfont=dict(color="#c0392b", size=13), name="joint-optimization gap",
            hovertext=[tr.gap_reason for tr in gaps], hoverinfo="text"), row=1, col=1)
    fig.update_xaxes(categoryorder="array", categoryarray=list(_LAYERS), type="category",
                     range=[-0.5, len(_LAYERS) - 0.2], row=1, col=1)
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], type="category",
                     row=1, col=1)
    # response over time
    palette = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
               "#666666")
    t = np.asarray(matrix.t)
    for i, tr in enumerate(traces):
        r = np.asarray(matrix.responses[:, i])
        fig.add_trace(go.Scatter(x=t, y=100 * r, mode="lines", name=f"{tr.name}: {tr.response}",
                                 line=dict(color=palette[i % len(palette)], width=2),
                                 hovertemplate=f"{tr.name}<br>{tr.response}: %{{y:.1f}}% "
                                               "from the baseline<extra></extra>"),
                      row=1, col=2)
    fig.add_hline(y=100 * matrix.tolerance, line=dict(color="#777", dash="dot", width=1),
                  annotation_text=f"absorbed below {100 * matrix.tolerance:g}%",
                  annotation_position="top left", row=1, col=2)
    fig.update_xaxes(title_text=unit or "time", row=1, col=2)
    fig.update_yaxes(title_text="% of the variable's scale", rangemode="tozero", row=1, col=2)
    base_layout(fig, title if title is not None else
                f"Where variances are controlled: {matrix.model.name}",
                height=max(440, 200 + 58 * len(traces)))
    fig.update_layout(hovermode="closest", margin=dict(b=150),
                      legend=dict(y=-0.22, yanchor="top"))
    fig.update_xaxes(tickfont=dict(size=12), row=1, col=1)
    return fig


def optimization_chart(optimum: Any, *, kpis: int = 6, title: str | None = None) -> go.Figure:
    """The objective of the baseline and the technical-only, social-only and joint optima
    (with the band over Monte Carlo samples when robust), and their KPIs against the
    baseline in %.

    Parameters
    ----------
    optimum : PolicyOptimum
        From :func:`sts_dynamics.optimize_policy`.
    kpis : int
        Number of KPIs drawn (the model's first ones).
    """
    if not _is_optimum(optimum):
        raise TypeError(f"`optimum` must be a PolicyOptimum from sts_dynamics.optimize_policy(), "
                        f"got {type(optimum).__name__}.")
    t = optimum.compare()
    names = list(t.index)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], horizontal_spacing=0.1,
                        subplot_titles=(f"Objective: {optimum.objective}",
                                        "KPIs against the baseline (%)"))
    band = [c for c in t.columns if c.startswith("objective p")]
    err = None
    if len(band) == 2:
        err = dict(type="data", symmetric=False, array=(t[band[1]] - t["objective"]).clip(0),
                   arrayminus=(t["objective"] - t[band[0]]).clip(0), color="#444")
    fig.add_trace(go.Bar(x=names, y=t["objective"], error_y=err, showlegend=False,
                         marker_color=[STRATEGY_COLORS.get(n, "#777") for n in names],
                         hovertemplate="%{x}: %{y:.4g}<extra></extra>"), row=1, col=1)
    shown = list(optimum.kpi_names)[:max(0, kpis)]
    ch = optimum.changes() if hasattr(optimum, "changes") else None
    if ch is not None and len(ch) and shown:
        lo_c, hi_c = [c for c in ch.columns if c.startswith("change_pct_p")][:2]
        for n in names:
            if n == "baseline":
                continue
            d = ch[(ch["strategy"] == n)].set_index("kpi").reindex(shown)
            err = None
            if optimum.robust:
                err = dict(type="data", symmetric=False,
                           array=(d[hi_c] - d["change_pct"]).clip(lower=0).fillna(0),
                           arrayminus=(d["change_pct"] - d[lo_c]).clip(lower=0).fillna(0),
                           color="#444")
            fig.add_trace(go.Bar(x=shown, y=d["change_pct"], name=n, error_y=err,
                                 marker_color=STRATEGY_COLORS.get(n, "#777"),
                                 hovertemplate=f"{n}<br>%{{x}}: %{{y:+.1f}}% against the "
                                               "baseline<extra></extra>"), row=1, col=2)
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_yaxes(title_text="change against the baseline (%)", row=1, col=2)
    base_layout(fig, title if title is not None else
                f"Technical-only vs joint optimization: {optimum.model.name}", height=460)
    fig.update_layout(hovermode="closest")
    return fig


def _fmt(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return html.escape(str(x))
    if not np.isfinite(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _list(messages: list[str]) -> str:
    if not messages:
        return ""
    return "<ul class='findings'>" + "".join(f"<li>{html.escape(m)}</li>"
                                              for m in messages) + "</ul>"


def _matrix_html(vm: Any) -> str:
    unit = vm.model.control.time_units.lower() or "time units"
    dmg = vm.kpis[0].name if vm.kpis else None
    head = ["Variance", "Originates in", "First seen in", "Controlled by", "By",
            f"Absorbed within ({unit})"] + ([f"Change in {dmg}"] if dmg else []) + ["Gap"]
    rows = []
    for tr in vm.traces:
        cells = [tr.name, tr.origin, f"{tr.detected_by} ({tr.detection_layer})",
                 tr.loop_label + (f" ({', '.join(tr.loop_layers)})" if tr.loop_layers else ""),
                 tr.control_by, _fmt(tr.time_to_absorb) if tr.absorbed else "not absorbed"]
        if dmg:
            cells.append(f"{tr.damage[dmg]:+.3g}")
        cells.append("yes" if tr.gap else "")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + "</tr>")
    return ("<table class='loops'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>"
                                                          for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _optimum_html(opt: Any) -> str:
    t = opt.compare()
    levers = [lv.name for lv in opt.levers]
    kpis = list(opt.kpi_names)[:4]
    band = [c for c in t.columns if c.startswith("objective p")]
    head = ["Design", "Objective", "Cost"] + levers + kpis
    rows = []
    for name, row in t.iterrows():
        obj = _fmt(row["objective"])
        if len(band) == 2:
            obj += f" ({_fmt(row[band[0]])}–{_fmt(row[band[1]])})"
        cells = [name, obj, _fmt(row["cost"])] + [_fmt(row[lv]) for lv in levers]
        for k in kpis:
            cell = _fmt(row[k])
            kb = [c for c in t.columns if c.startswith(f"{k} p")]
            if len(kb) == 2:
                cell += f" ({_fmt(row[kb[0]])}–{_fmt(row[kb[1]])})"
            cells.append(cell)
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + "</tr>")
    return ("<table class='loops'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>"
                                                          for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def sociotech_sections(item: Any) -> list:
    """Briefing sections for a VarianceMatrix or a PolicyOptimum (``[]`` for anything else)."""
    from .page import Section

    if _is_matrix(item):
        caption = ("Each row is a disturbance the service must absorb. The dot marks the layer "
                   "where it starts, the diamond where it shows first, the shaded squares the "
                   "layers of the feedback loop that brings the system back; on the right, how "
                   "far from normal the most affected measure moves and how fast it returns. A "
                   "gap means the disturbance is not handled in or next to the layer where it "
                   "starts: a design that optimizes one subsystem and leaves the other to cope.")
        return [Section("variances", "Where variances are controlled", variance_chart(item),
                        caption, html=_list(item.messages()) + _matrix_html(item))]
    if _is_optimum(item):
        robust = (f" Whiskers and ranges show the {item.percentiles[0]:g}–"
                  f"{item.percentiles[1]:g}% band over {item.n_samples} Monte Carlo samples "
                  "of the uncertain assumptions (changes against the baseline are paired run "
                  "by run: every design faces the same samples)." if item.robust else "")
        caption = ("The best settings found when only the technical levers may change, when "
                   "only the social levers may change, and when both are designed together "
                   f"(objective: {item.objective}; lower is better). Levers that are not "
                   f"optimized stay at today's values.{robust}")
        return [Section("optimization", "Technical-only vs joint optimization",
                        optimization_chart(item), caption,
                        html=_list(item.messages()) + _optimum_html(item))]
    return []


def sociotech_messages(item: Any, limit: int = 1) -> list[str]:
    """Key messages of a VarianceMatrix or PolicyOptimum (gaps and the joint gain first)."""
    if _is_matrix(item):
        gaps = item.gaps()
        if gaps:
            return [f"{len(gaps)} of {len(item)} key variances are not controlled near their "
                    f"origin (joint-optimization gaps): "
                    f"{', '.join(tr.name for tr in gaps)}."][:limit]
        return [f"All {len(item)} key variances are controlled in their layer of origin or an "
                "adjacent one."][:limit]
    if _is_optimum(item):
        return item.messages()[:limit]
    return []
