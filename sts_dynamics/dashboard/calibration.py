"""The calibration credibility panel: fit, residuals, Theil statistics, intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import base_layout, require, rgba, time_index
from .data import calibration_parts
from .over_time import SCENARIO_COLORS

__all__ = ["credibility", "theil_table"]

THEIL_COLORS = {"U_M": "#c0392b", "U_S": "#e67e22", "U_C": "#27ae60"}


def theil_table(parts: dict[str, Any]) -> pd.DataFrame:
    """U_M, U_S, U_C per series: from the result's diagnostics, else from data and fit."""
    diag = parts.get("diagnostics")
    if isinstance(diag, pd.DataFrame) and {"U_M", "U_S", "U_C"} <= set(diag.columns):
        return diag[["U_M", "U_S", "U_C"]].astype(float)
    from ..calibrate import theil

    data, fit = parts["data"], parts["fitted"]
    rows = {}
    for name in data.columns:
        if name == "time" or name not in fit.columns:
            continue
        obs = pd.Series(np.asarray(data[name], dtype=float), index=time_index(data))
        sim = pd.Series(np.asarray(fit[name], dtype=float), index=time_index(fit))
        sim = sim.reindex(obs.index)
        ok = np.isfinite(obs.to_numpy()) & np.isfinite(sim.to_numpy())
        if ok.sum() < 2:
            continue
        st = theil(obs.to_numpy()[ok], sim.to_numpy()[ok])
        rows[name] = {k: st[k] for k in ("U_M", "U_S", "U_C")}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["U_M", "U_S", "U_C"])


def credibility(result: Any, series: Sequence[str] | None = None, *,
                title: str | None = None) -> go.Figure:
    """Fit, residuals, Theil inequality statistics and parameter intervals of a calibration.

    Reads a calibration result by duck typing (see
    :data:`sts_dynamics.dashboard.data.CALIBRATION_CONTRACT`): ``data`` and ``fitted`` are
    required, ``lower``/``upper`` bands, ``params``, ``intervals``, ``diagnostics``,
    ``holdout`` and ``warnings`` are drawn when present.
    """
    parts = calibration_parts(result)
    data, fit = parts["data"], parts["fitted"]
    avail = [c for c in data.columns if c != "time"]
    names = avail[:3] if series is None else list(series)
    require(avail, names, "observed series", "credibility()")
    require(fit.columns, names, "fitted series", "credibility()")
    n = len(names)
    titles = []
    for s in names:
        titles += [f"{s}: data and fit", f"{s}: residuals"]
    titles += ["Theil inequality (shares of MSE)", "Parameters and intervals"]
    fig = make_subplots(rows=n + 1, cols=2, subplot_titles=titles,
                        vertical_spacing=min(0.1, 0.45 / (n + 1)), horizontal_spacing=0.1)
    td, tf = time_index(data), time_index(fit)
    for i, s in enumerate(names):
        r = i + 1
        lower, upper = parts["lower"], parts["upper"]
        if lower is not None and upper is not None and s in lower and s in upper:
            fig.add_trace(go.Scatter(x=time_index(upper), y=upper[s], mode="lines",
                                     line=dict(width=0), showlegend=False, hoverinfo="skip"),
                          row=r, col=1)
            fig.add_trace(go.Scatter(x=time_index(lower), y=lower[s], mode="lines",
                                     line=dict(width=0), fill="tonexty",
                                     fillcolor=rgba(SCENARIO_COLORS[0], 0.18),
                                     name="predictive band", showlegend=i == 0), row=r, col=1)
        fig.add_trace(go.Scatter(x=tf, y=fit[s], mode="lines", name="fit",
                                 line=dict(color=SCENARIO_COLORS[0], width=2),
                                 showlegend=i == 0), row=r, col=1)
        fig.add_trace(go.Scatter(x=td, y=data[s], mode="markers", name="data",
                                 marker=dict(color="#222", size=4), showlegend=i == 0),
                      row=r, col=1)
        obs = pd.Series(np.asarray(data[s], dtype=float), index=td)
        sim = pd.Series(np.asarray(fit[s], dtype=float), index=tf).reindex(obs.index)
        resid = obs - sim
        fig.add_trace(go.Bar(x=resid.index, y=resid.to_numpy(), name="residual",
                             marker_color="#7f8c8d", showlegend=i == 0), row=r, col=2)
        if parts["holdout"] is not None:
            for c in (1, 2):
                fig.add_vline(x=parts["holdout"], line=dict(dash="dot", color="#555"),
                              row=r, col=c)
    th = theil_table(parts)
    expected = parts.get("theil_expected") or {}
    for j, (comp, color) in enumerate(THEIL_COLORS.items()):
        fig.add_trace(go.Bar(x=list(th.index), y=th[comp].to_numpy(), name=comp,
                             marker_color=color, offsetgroup=str(j),
                             hovertemplate=f"%{{x}}<br>{comp} = %{{y:.2f}}<extra></extra>"),
                      row=n + 1, col=1)
        rows = [s_ for s_ in th.index if s_ in expected and comp in expected[s_]]
        if rows:     # what a correct model would show: 5-95% of simulated data's shares
            mid = [expected[s_][comp][1] for s_ in rows]
            fig.add_trace(go.Scatter(
                x=rows, y=mid, mode="markers", offsetgroup=str(j),
                marker=dict(symbol="line-ew-open", size=16, color="#111", line=dict(width=2)),
                error_y=dict(type="data", symmetric=False,
                             array=[expected[s_][comp][2] - m for s_, m in zip(rows, mid,
                                                                                strict=True)],
                             arrayminus=[m - expected[s_][comp][0] for s_, m in zip(rows, mid,
                                                                                    strict=True)],
                             color="#111"),
                name="expected for a correct model (5-95%)", legendgroup="expected",
                showlegend=j == 0,
                hovertemplate=f"%{{x}}: expected {comp} %{{y:.2f}}<extra></extra>"),
                row=n + 1, col=1)
    fig.update_yaxes(range=[0, 1.05], row=n + 1, col=1)
    params, iv = parts["params"], parts["intervals"]
    pnames = list(dict.fromkeys([*params, *iv]))
    if pnames:
        x, lo, hi = [], [], []
        for p in pnames:
            est = params.get(p, np.nan)
            a, b = iv.get(p, (np.nan, np.nan))
            if not np.isfinite(est):
                est = (a + b) / 2
            x.append(est)
            lo.append(max(est - a, 0.0) if np.isfinite(a) else 0.0)
            hi.append(max(b - est, 0.0) if np.isfinite(b) else 0.0)
        rel = [abs(v) if v else 1.0 for v in x]
        fig.add_trace(go.Scatter(
            x=[v / s for v, s in zip(x, rel, strict=True)], y=pnames, mode="markers",
            marker=dict(color="#1f3b73", size=9), name="estimate / |estimate|",
            error_x=dict(type="data", symmetric=False,
                         array=[h / s for h, s in zip(hi, rel, strict=True)],
                         arrayminus=[m / s for m, s in zip(lo, rel, strict=True)]),
            customdata=np.c_[x, np.array(x) - lo, np.array(x) + hi],
            hovertemplate="%{y}: %{customdata[0]:.4g} [%{customdata[1]:.4g}, "
                          "%{customdata[2]:.4g}]<extra></extra>"), row=n + 1, col=2)
        fig.update_xaxes(title_text="relative to the estimate", row=n + 1, col=2)
    notes = parts["warnings"]
    base_layout(fig, title if title is not None else "Calibration credibility",
                height=300 * (n + 1) + 120)
    if notes:
        fig.add_annotation(text="⚠ " + "<br>⚠ ".join(notes[:3]), xref="paper", yref="paper",
                           x=0, y=-0.08, showarrow=False, align="left",
                           font=dict(size=11, color="#a04000"))
    fig.update_layout(hovermode="closest", barmode="group", scattermode="group")
    return fig
