"""Scenario KPI comparison: bars with uncertainty."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..experiments.kpis import is_share
from .common import FigureDataError, base_layout, kind_of, require
from .over_time import SCENARIO_COLORS

__all__ = ["kpi_bars", "kpi_table"]

_NEEDED = ("scenario", "kpi", "median")


def kpi_table(result: Any) -> pd.DataFrame:
    """The KPI table of an experiment result (``result.kpis()``) or a frame like it."""
    if isinstance(result, pd.DataFrame):
        df = result
    elif kind_of(result) == "experiment":
        df = result.kpis()
    else:
        raise TypeError(f"`result` must be an ExperimentResult or its kpis() table, got "
                        f"{type(result).__name__}.")
    require(df.columns, list(_NEEDED), "columns", "kpi_bars()")
    return df


def _band_columns(df: pd.DataFrame, prefix: str) -> tuple[str, str] | None:
    pat = re.compile(rf"^{re.escape(prefix)}p(\d+(?:\.\d+)?)$")
    found = sorted((float(m.group(1)), c) for c in df.columns if (m := pat.match(str(c))))
    if len(found) < 2:
        return None
    return found[0][1], found[-1][1]


def kpi_bars(result: Any, *, kpis: Sequence[str] | None = None,
             scenarios: Sequence[str] | None = None, relative: bool = True,
             title: str | None = None, columns: int = 3) -> go.Figure:
    """KPIs of every scenario, as bars with their percentile band (error bars).

    Parameters
    ----------
    result : ExperimentResult or DataFrame
        An experiment, or its :meth:`kpis` table (columns ``scenario, kpi, median`` and
        percentile columns such as ``p5, p95``, ``change_pct, change_pct_p5, ...``).
    relative : bool
        Draw the change from the baseline (run-by-run, so the band is the uncertainty of
        the difference): in percent, or in percentage points for dimensionless shares in
        [0, 1] (whose percent changes explode where a share is near zero); otherwise the
        KPI values of every scenario.
    """
    df = kpi_table(result)
    if isinstance(result, pd.DataFrame):  # a kpis() table: its baseline column is a value
        baseline = "baseline" if "baseline" in set(df["scenario"]) else None
    else:
        baseline = getattr(result, "baseline", None)
    all_kpis = list(dict.fromkeys(df["kpi"]))
    names = all_kpis if kpis is None else list(kpis)
    require(all_kpis, names, "KPIs", "kpi_bars()")
    all_scen = list(dict.fromkeys(df["scenario"]))
    chosen = all_scen if scenarios is None else list(scenarios)
    require(all_scen, chosen, "scenarios", "kpi_bars()")
    if relative and "change_pct" not in df.columns and "change" not in df.columns:
        raise FigureDataError("kpi_bars(relative=True) needs the columns 'change_pct' or "
                              "'change' of an experiment's kpis(); pass relative=False.")
    if relative and baseline is not None:
        chosen = [s for s in chosen if s != baseline] or chosen
    n = len(names)
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    units = {}
    if "units" in df.columns:
        units = dict(zip(df["kpi"], df["units"], strict=False))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names,
                        vertical_spacing=min(0.18, 0.6 / max(rows, 1)))
    for i, kpi in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        sub = df[df["kpi"] == kpi].set_index("scenario")
        scale = 1.0
        if relative:
            ycol = "change_pct" if "change_pct" in sub and np.isfinite(
                sub["change_pct"].astype(float)).any() else "change"
            if "change" in sub and _is_share(sub, units.get(kpi, "")):
                # a share near zero in some runs makes percent changes explode: show the
                # change in percentage points instead
                ycol, scale = "change", 100.0
            band = _band_columns(df, f"{ycol}_")
            ylabel = ("% change vs baseline" if ycol == "change_pct" else
                      "change vs baseline (percentage points)" if scale == 100.0 else
                      f"change vs baseline {units.get(kpi, '')}".strip())
        else:
            ycol, band = "median", _band_columns(df, "")
            ylabel = str(units.get(kpi, "") or "")
        for s in chosen:
            if s not in sub.index:
                continue
            y = float(sub.at[s, ycol]) * scale
            err = None
            if band is not None:
                lo, hi = float(sub.at[s, band[0]]) * scale, float(sub.at[s, band[1]]) * scale
                err = dict(type="data", symmetric=False, array=[max(hi - y, 0.0)],
                           arrayminus=[max(y - lo, 0.0)], color="#333", thickness=1.2)
            color = SCENARIO_COLORS[all_scen.index(s) % len(SCENARIO_COLORS)]
            hover = f"{s}<br>{kpi}: %{{y:.3g}}"
            if err is not None:
                hover += f" ({band[0]} {lo:.3g}, {band[1]} {hi:.3g})"
            fig.add_trace(go.Bar(x=[s], y=[y], name=s, marker_color=color, error_y=err,
                                 legendgroup=s, showlegend=i == 0,
                                 hovertemplate=hover + "<extra></extra>"), row=r, col=c)
        fig.update_yaxes(title_text=ylabel, row=r, col=c, title_font=dict(size=11),
                         zeroline=True, zerolinecolor="#444")
        fig.update_xaxes(showticklabels=False, row=r, col=c)
    default = "KPIs by scenario" + (" (change from the baseline, with the "
                                    "percentile band over runs)" if relative else "")
    base_layout(fig, title if title is not None else default, height=max(360, 300 * rows + 90))
    fig.update_layout(barmode="group", hovermode="closest")
    return fig


def _is_share(sub, units: str) -> bool:
    """A dimensionless KPI whose values lie in [0, 1] (a share, fraction or index)."""
    cols = [c for c in ("median", "baseline") if c in sub]
    return bool(cols) and is_share(units, sub[cols].to_numpy(dtype=float))
