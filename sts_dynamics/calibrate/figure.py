"""A Plotly figure of a calibration: data, fit, bands, hold-out window."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from .result import CalibrationResult

__all__ = ["calibration_figure"]

_FIT = "#1f5fa8"
_BAND = "rgba(31, 95, 168, 0.30)"
_PRED = "rgba(31, 95, 168, 0.12)"
_DATA = "#333333"


def calibration_figure(result: CalibrationResult, *, title: str | None = None) -> go.Figure:
    """One panel per observed series: observations (dots), the fitted prediction (line),
    the band of the prediction (parameter uncertainty) and of new observations (plus
    noise), with the hold-out window shaded.

    Returns a ``plotly.graph_objects.Figure``; nothing is shown or written.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    d = result.data
    names = list(result.targets)
    x = d.date if d.date is not None else d.time
    xlabel = "date" if d.date is not None else f"time ({d.time_unit})"
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[_subtitle(result, n) for n in names])
    lvl = f"{100 * result.level:g}%"
    for row, name in enumerate(names, start=1):
        first = row == 1
        band = result.bands.get(name)
        if band is not None:
            for lo, hi, color, label in (
                    ("pred_lower", "pred_upper", _PRED, f"{lvl} band of new observations"),
                    ("lower", "upper", _BAND, f"{lvl} band of the prediction")):
                fig.add_trace(go.Scatter(x=x, y=band[hi], mode="lines", line={"width": 0},
                                         hoverinfo="skip", showlegend=False,
                                         legendgroup=label), row=row, col=1)
                fig.add_trace(go.Scatter(x=x, y=band[lo], mode="lines", line={"width": 0},
                                         fill="tonexty", fillcolor=color, name=label,
                                         legendgroup=label, showlegend=first,
                                         hoverinfo="skip"), row=row, col=1)
        fig.add_trace(go.Scatter(x=x, y=np.asarray(d[name]), mode="markers", name="data",
                                 marker={"size": 4, "color": _DATA}, legendgroup="data",
                                 showlegend=first), row=row, col=1)
        fig.add_trace(go.Scatter(x=x, y=np.asarray(result.fitted[name]), mode="lines",
                                 name="fit", line={"color": _FIT, "width": 2},
                                 legendgroup="fit", showlegend=first), row=row, col=1)
        fig.update_yaxes(title_text=name, row=row, col=1)
        if result.split_index is not None:
            x0 = x[result.split_index]
            fig.add_vrect(x0=x0, x1=x[-1], fillcolor="rgba(200, 120, 0, 0.10)", line_width=0,
                          row=row, col=1)
    if result.split_index is not None:
        fig.add_annotation(x=x[result.split_index], y=1.0, xref="x", yref="paper",
                           text="hold-out", showarrow=False, xanchor="left", yanchor="bottom",
                           font={"color": "rgb(170, 100, 0)"})
    fig.update_xaxes(title_text=xlabel, row=len(names), col=1)
    vals = ", ".join(f"{n} = {result.params[n]:.4g}" for n in result.free)
    fig.update_layout(
        title={"text": title or f"{result.model.name}: calibration ({vals})", "x": 0.01},
        template="plotly_white", height=320 * len(names) + 120,
        legend={"orientation": "h", "y": -0.12}, margin={"l": 70, "r": 20, "t": 80, "b": 60})
    return fig


def _subtitle(result: CalibrationResult, name: str) -> str:
    t = result.targets[name]
    d = result.diagnostics.get(name, {})
    theil = (f"; Theil U_M {d['U_M']:.2f}, U_S {d['U_S']:.2f}, U_C {d['U_C']:.2f}"
             if "U_M" in d else "")
    return f"{name} vs {t['variable']!r} ({type(t['noise']).__name__}{theil})"
