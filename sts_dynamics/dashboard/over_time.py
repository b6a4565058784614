"""Behaviour over time: runs, scenarios with Monte Carlo bands, data against the fit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (
    FigureDataError,
    base_layout,
    kind_of,
    percentile_band,
    require,
    resolve_names,
    rgba,
    time_index,
)
from .data import calibration_parts

__all__ = ["behaviour", "SCENARIO_COLORS"]

SCENARIO_COLORS = ("#1f3b73", "#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d",
                   "#2980b9", "#d35400")
MAX_PANELS = 8


def behaviour(result: Any, variables: Sequence[str] | None = None, *,
              scenarios: Sequence[str] | None = None, band: tuple[float, float] = (5, 95),
              data: pd.DataFrame | None = None, title: str | None = None,
              columns: int = 2) -> go.Figure:
    """Behaviour over time, one panel per variable.

    Parameters
    ----------
    result : Simulation, ExperimentResult or CalibrationResult
        A run (one line per variable), an ensemble (median and a percentile band), an
        experiment (median and band of every scenario, from its kept trajectories) or a
        calibration (the data as markers against the fitted run and its band).
    variables : sequence of str, optional
        Defaults: the stocks of a run (at most 8), the kept variables of an experiment, the
        observed series of a calibration.
    scenarios : sequence of str, optional
        Scenarios of an experiment to draw (default all).
    band : (float, float)
        Percentiles of the band.
    data : DataFrame, optional
        Observations to overlay on a run: indexed by time (or with a ``time`` column), one
        column per variable name.

    Raises
    ------
    FigureDataError
        The result lacks a requested variable (the message names it).
    """
    kind = kind_of(result)
    if kind == "simulation":
        panels = _from_simulation(result, variables, band)
        default_title = f"Behaviour over time: {result.model.name}"
    elif kind == "experiment":
        panels = _from_experiment(result, variables, scenarios, band)
        default_title = f"Scenarios over time: {result.model.name}"
    elif kind == "calibration":
        panels = _from_calibration(result, variables)
        default_title = "Data against the calibrated model"
    else:
        raise TypeError(f"`result` must be a Simulation, ExperimentResult or "
                        f"CalibrationResult, got {type(result).__name__}.")
    if data is not None:
        _overlay(panels, data)
    n = len(panels)
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p["title"] for p in panels],
                        shared_xaxes=False, vertical_spacing=min(0.12, 0.5 / max(rows, 1)),
                        horizontal_spacing=0.08)
    legend_seen: set[str] = set()
    for i, p in enumerate(panels):
        r, c = i // cols + 1, i % cols + 1
        for tr in p["traces"]:
            name = tr.name
            if name in legend_seen:
                tr.showlegend = False
            elif tr.showlegend is not False:
                legend_seen.add(name)
            fig.add_trace(tr, row=r, col=c)
        if p.get("units"):
            fig.update_yaxes(title_text=p["units"], row=r, col=c, title_font=dict(size=11))
        if p.get("shade"):
            a, b = p["shade"]
            fig.add_vrect(x0=a, x1=b, fillcolor="#f0f0f0", line_width=0, layer="below",
                          row=r, col=c)
    base_layout(fig, title if title is not None else default_title,
                height=max(320, 260 * rows + 80))
    unit = _time_units(result)
    if unit:
        fig.update_xaxes(title_text=unit, row=rows)
    return fig


def _time_units(result: Any) -> str:
    model = getattr(result, "model", None)
    return getattr(getattr(model, "control", None), "time_units", "") or ""


def _from_simulation(sim: Any, variables, band) -> list[dict]:
    model = sim.model
    if variables is None:
        keys = [k for k in model.stocks if not model.variables[k].internal][:MAX_PANELS]
    else:
        keys = resolve_names(model, list(variables), "behaviour()")
    require(sim.values, keys, "variables", "behaviour()")
    panels = []
    t = np.asarray(sim.t)
    for k in keys:
        var = model.variables[k]
        y = np.asarray(sim.values[k], dtype=float)
        traces = []
        if y.ndim == 1:
            traces.append(go.Scatter(x=t, y=y, mode="lines", name="run",
                                     line=dict(color=SCENARIO_COLORS[0], width=2),
                                     showlegend=False))
        else:
            traces += _band_traces(t, *percentile_band(y, band), SCENARIO_COLORS[0],
                                   f"median of {y.shape[1]} runs", band)
        panels.append({"title": var.name, "units": var.units, "traces": traces, "key": k})
    return panels


def _band_traces(t, mid, lo, hi, color, name, band, group=None) -> list[go.Scatter]:
    group = group or name
    return [
        go.Scatter(x=t, y=hi, mode="lines", line=dict(width=0), hoverinfo="skip",
                   showlegend=False, legendgroup=group, name=f"{name} p{band[1]:g}"),
        go.Scatter(x=t, y=lo, mode="lines", line=dict(width=0), fill="tonexty",
                   fillcolor=rgba(color, 0.2), legendgroup=group, hoverinfo="skip",
                   name=f"{group}: p{band[0]:g}-p{band[1]:g}", showlegend=False),
        go.Scatter(x=t, y=mid, mode="lines", line=dict(color=color, width=2), name=name,
                   legendgroup=group),
    ]


def _from_experiment(res: Any, variables, scenarios, band) -> list[dict]:
    kept = list(res.trajectories)
    if not kept:
        raise FigureDataError("behaviour() needs trajectories, and this experiment kept none; "
                              "run it with `record=[...]` naming the variables to draw.")
    names = kept[:MAX_PANELS] if variables is None else list(variables)
    require(kept, names, "variables", "behaviour()")
    all_scen = list(res.scenario_names) if hasattr(res, "scenario_names") else \
        [s.name for s in res.scenarios]
    chosen = all_scen if scenarios is None else list(scenarios)
    require(all_scen, chosen, "scenarios", "behaviour()")
    t = np.asarray(res.t)
    model = res.model
    panels = []
    for name in names:
        arr = np.asarray(res.trajectories[name], dtype=float)      # (scen, time, runs)
        traces = []
        for j, s in enumerate(chosen):
            col = SCENARIO_COLORS[j % len(SCENARIO_COLORS)]
            y = arr[all_scen.index(s)]
            if y.shape[-1] == 1:
                traces.append(go.Scatter(x=t, y=y[:, 0], mode="lines", name=s,
                                         line=dict(color=col, width=2), legendgroup=s))
            else:
                traces += _band_traces(t, *percentile_band(y, band), col, s, band, group=s)
        units = ""
        if name in model:
            units = model[name].units
        panels.append({"title": name, "units": units, "traces": traces})
    return panels


def _from_calibration(cal: Any, variables) -> list[dict]:
    parts = calibration_parts(cal)
    data, fitted = parts["data"], parts["fitted"]
    names = list(data.columns)[:MAX_PANELS] if variables is None else list(variables)
    require(data.columns, names, "observed series", "behaviour()")
    require(fitted.columns, names, "fitted series", "behaviour()")
    td, tf = time_index(data), time_index(fitted)
    panels = []
    for name in names:
        traces = []
        lower, upper = parts["lower"], parts["upper"]
        if lower is not None and upper is not None and name in lower and name in upper:
            traces += [
                go.Scatter(x=time_index(upper), y=upper[name], mode="lines",
                           line=dict(width=0), hoverinfo="skip", showlegend=False,
                           legendgroup="band", name="band upper"),
                go.Scatter(x=time_index(lower), y=lower[name], mode="lines",
                           line=dict(width=0), fill="tonexty",
                           fillcolor=rgba(SCENARIO_COLORS[0], 0.18), legendgroup="band",
                           name="predictive band")]
        traces.append(go.Scatter(x=tf, y=fitted[name], mode="lines", name="fit",
                                 line=dict(color=SCENARIO_COLORS[0], width=2)))
        traces.append(go.Scatter(x=td, y=data[name], mode="markers", name="data",
                                 marker=dict(color="#222", size=5, opacity=0.75)))
        shade = None
        if parts["holdout"] is not None:
            shade = (parts["holdout"], float(np.nanmax(td.astype(float)))
                     if np.issubdtype(td.dtype, np.number) else td[-1])
        panels.append({"title": name, "units": "", "traces": traces, "shade": shade})
    return panels


def _overlay(panels: list[dict], data: pd.DataFrame) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a DataFrame, got {type(data).__name__}.")
    t = time_index(data)
    titles = [p["title"] for p in panels]
    cols = [c for c in data.columns if c != "time"]
    for c in cols:
        if c in titles:
            panels[titles.index(c)]["traces"].append(
                go.Scatter(x=t, y=data[c], mode="markers", name="data",
                           marker=dict(color="#222", size=5, opacity=0.75)))
