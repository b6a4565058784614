"""Shared pieces of the figures: colours, result access by duck typing, checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import StsDynamicsError, UnknownNameError, close_matches

__all__ = ["REINFORCING", "BALANCING", "UNKNOWN", "LAYER_COLORS", "POLARITY_COLORS",
           "FigureDataError", "kind_of", "require", "loop_color", "base_layout"]

#: Reds for reinforcing loops, darkest first.
REINFORCING = ("#b2182b", "#d6604d", "#e7298a", "#f4a582", "#a50f15", "#fb6a4a", "#cb181d",
               "#fcbba1")
#: Blues for balancing loops, darkest first.
BALANCING = ("#2166ac", "#4393c3", "#08519c", "#92c5de", "#3182bd", "#6baed6", "#084594",
             "#c6dbef")
UNKNOWN = "#9e9e9e"
#: Node colours of the sociotechnical layers (Variable.layer).
LAYER_COLORS = {"technical": "#1b9e77", "social": "#d95f02", "work system": "#7570b3",
                "environment": "#66a61e", "unassigned": "#bdbdbd"}
#: Link colours by polarity (+1, -1, 0 unknown).
POLARITY_COLORS = {1: "#3b3b3b", -1: "#c2185b", 0: UNKNOWN}
FONT = "Segoe UI, Helvetica Neue, Arial, sans-serif"


class FigureDataError(StsDynamicsError, ValueError):
    """A result lacks what a figure needs (variables, attributes)."""


def kind_of(result: Any) -> str:
    """``"simulation"``, ``"loops"``, ``"experiment"``, ``"calibration"`` or ``"unknown"``.

    Results are recognised by their documented attributes, so that objects from other
    modules (or look-alikes) work without imports:

    - Simulation: ``t``, ``values``, ``model``, ``n_runs``;
    - LoopAnalysis: ``loops``, ``relative_scores``, ``link_scores``;
    - ExperimentResult: ``scenarios``, ``kpis()``, ``trajectories``, ``baseline``;
    - CalibrationResult: ``data`` and ``fitted`` (or ``fit``), ``params``.
    """
    if all(hasattr(result, a) for a in ("loops", "relative_scores", "link_scores")):
        return "loops"
    if all(hasattr(result, a) for a in ("scenarios", "kpis", "trajectories", "baseline")):
        return "experiment"
    if hasattr(result, "params") and hasattr(result, "data") and (
            hasattr(result, "fitted") or hasattr(result, "fit")):
        return "calibration"
    if all(hasattr(result, a) for a in ("t", "values", "model", "n_runs")):
        return "simulation"
    return "unknown"


def require(available: Iterable[str], wanted: Sequence[str], what: str, where: str) -> None:
    """Raise :class:`FigureDataError` naming every wanted name that is not available."""
    avail = list(available)
    missing = [w for w in wanted if w not in avail]
    if missing:
        hint = close_matches(missing[0], avail)
        raise FigureDataError(
            f"{where} needs the {what} {', '.join(map(repr, missing))}, which the result "
            f"lacks; it has {', '.join(map(repr, avail[:12])) or 'none'}"
            f"{' ...' if len(avail) > 12 else ''}.{hint}")


def resolve_names(model: Any, names: Sequence[str], where: str) -> list[str]:
    """Canonical keys of model variable names, or an error naming the unknown ones."""
    keys, missing = [], []
    for n in names:
        try:
            keys.append(model.resolve(n))
        except (UnknownNameError, KeyError):
            missing.append(n)
    if missing:
        public = [v.name for v in model.variables.values() if not v.internal]
        raise FigureDataError(
            f"{where} needs the variables {', '.join(map(repr, missing))}, which model "
            f"{model.name!r} lacks.{close_matches(missing[0], public)}")
    return keys


def loop_color(polarity: str, rank: int) -> str:
    if polarity == "R":
        return REINFORCING[rank % len(REINFORCING)]
    if polarity == "B":
        return BALANCING[rank % len(BALANCING)]
    return UNKNOWN


def base_layout(fig, title: str | None, *, height: int | None = None) -> Any:
    fig.update_layout(
        title=dict(text=title or "", x=0.01, xanchor="left", font=dict(size=18)),
        font=dict(family=FONT, size=13), template="plotly_white",
        margin=dict(l=60, r=30, t=70 if title else 30, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=-0.25, xanchor="left", x=0),
        hovermode="x unified")
    if height:
        fig.update_layout(height=height)
    return fig


def rgba(color: str, alpha: float) -> str:
    c = color.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def percentile_band(values: np.ndarray, band: tuple[float, float]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and band over the last axis (runs), ignoring NaN (failed runs)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = np.nanpercentile(values, [50, band[0], band[1]], axis=-1)
    return q[0], q[1], q[2]


def time_index(df: pd.DataFrame) -> np.ndarray:
    """Times of a frame: its index, or a ``time`` column."""
    if "time" in df.columns:
        return np.asarray(df["time"], dtype=float)
    idx = df.index
    if isinstance(idx, pd.DatetimeIndex):
        return np.asarray(idx)
    return np.asarray(idx, dtype=float)
