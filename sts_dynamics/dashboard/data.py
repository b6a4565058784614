"""Reading calibration results by their documented attributes (duck typing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .common import FigureDataError

__all__ = ["calibration_parts", "CALIBRATION_CONTRACT"]

#: What the dashboard reads from a calibration result.  Required: ``data`` (observed series,
#: a DataFrame indexed by time, or with a ``time`` column, one column per series) and
#: ``fitted`` (or ``fit``; the model's values of the same series on the same times; a method is
#: called).  Optional: ``lower``/``upper`` (or ``bands`` = {"lower": df, "upper": df}),
#: predictive bands of the series; ``params`` (name -> estimate), ``intervals`` (DataFrame
#: indexed by parameter with two bound columns, or {name: (lo, hi)}), ``stderr``,
#: ``diagnostics`` (per-series statistics, DataFrame indexed by series with columns such as
#: ``U_M, U_S, U_C, R2, MAPE``; computed from data and fit when absent), ``holdout`` (the time
#: from which data were held out of the fit), ``warnings`` (identifiability notes, strings),
#: ``simulation`` (the fitted Simulation, for loop dominance).
CALIBRATION_CONTRACT = __doc__


def _frame(x: Any, what: str) -> pd.DataFrame:
    if callable(x) and not isinstance(x, pd.DataFrame):
        x = x()
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, Mapping):
        x = pd.DataFrame(dict(x))
    if not isinstance(x, pd.DataFrame):
        raise FigureDataError(f"the calibration result's `{what}` must be a DataFrame of series "
                              f"(one column each), got {type(x).__name__}.")
    return x


def calibration_parts(cal: Any) -> dict[str, Any]:
    """The pieces of a calibration result that the figures draw."""
    missing = [a for a in ("data",) if not hasattr(cal, a)]
    fitted = getattr(cal, "fitted", None)
    if fitted is None:
        fitted = getattr(cal, "fit", None)
    if fitted is None:
        missing.append("fitted")
    if missing:
        raise FigureDataError(
            f"a calibration figure needs the attributes {', '.join(map(repr, missing))} "
            f"(observed and fitted series), which {type(cal).__name__} lacks.")
    data = _frame(cal.data, "data")
    fit = _frame(fitted, "fitted")
    lower = getattr(cal, "lower", None)
    upper = getattr(cal, "upper", None)
    bands = getattr(cal, "bands", None)
    if (lower is None or upper is None) and isinstance(bands, Mapping):
        lower, upper = bands.get("lower"), bands.get("upper")
    lower = _frame(lower, "lower") if lower is not None else None
    upper = _frame(upper, "upper") if upper is not None else None
    params = getattr(cal, "params", None) or {}
    if isinstance(params, pd.Series):
        params = params.to_dict()
    elif isinstance(params, pd.DataFrame):
        col = "value" if "value" in params else params.columns[0]
        params = params[col].to_dict()
    elif not isinstance(params, Mapping):
        params = {getattr(p, "name", str(i)): getattr(p, "value", p)
                  for i, p in enumerate(params)}
    return {"data": data, "fitted": fit, "lower": lower, "upper": upper,
            "params": {str(k): float(v) for k, v in dict(params).items()
                       if np.isscalar(v) and np.isfinite(float(v))},
            "intervals": _intervals(getattr(cal, "intervals", None)),
            "diagnostics": getattr(cal, "diagnostics", None),
            "holdout": getattr(cal, "holdout", None),
            "warnings": [str(w) for w in (getattr(cal, "warnings", None) or [])],
            "simulation": getattr(cal, "simulation", None)}


def _intervals(iv: Any) -> dict[str, tuple[float, float]]:
    if iv is None:
        return {}
    if callable(iv) and not isinstance(iv, pd.DataFrame | Mapping):
        iv = iv()
    out = {}
    if isinstance(iv, pd.DataFrame):
        num = [c for c in iv.columns if np.issubdtype(iv[c].dtype, np.number)]
        lo_c = next((c for c in num if str(c).lower() in ("lower", "lo", "low", "min")), None)
        hi_c = next((c for c in num if str(c).lower() in ("upper", "hi", "high", "max")), None)
        if lo_c is None or hi_c is None:
            if len(num) < 2:
                return {}
            lo_c, hi_c = num[-2], num[-1]
        names = iv["name"] if "name" in iv.columns else iv.index
        for n, lo, hi in zip(names, iv[lo_c], iv[hi_c], strict=True):
            out[str(n)] = (float(lo), float(hi))
        return out
    if isinstance(iv, Mapping):
        for n, v in iv.items():
            try:
                lo, hi = (float(x) for x in tuple(v)[:2])
            except (TypeError, ValueError):
                continue
            out[str(n)] = (lo, hi)
    return out
