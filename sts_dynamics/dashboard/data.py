"""Reading calibration results by their documented attributes (duck typing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .common import FigureDataError

__all__ = ["calibration_parts", "CALIBRATION_CONTRACT"]

#: What the dashboard reads from a calibration result.  A
#: :class:`sts_dynamics.calibrate.CalibrationResult` is read through its ``fitted_frame()``,
#: ``intervals``, ``diagnostics`` (with ``theil_expected``), ``split_index``,
#: ``identifiability`` and ``simulation``.  Other objects need, at least, ``data`` (observed series,
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


_INTERVAL_PREFERENCE = ("profile", "mcmc", "bootstrap", "jacobian")


def _from_calibration_result(cal: Any) -> dict[str, Any]:
    """sts_dynamics.calibrate.CalibrationResult: ``fitted_frame()`` has every series."""
    ff = cal.fitted_frame()
    names = list(getattr(cal, "targets", None) or
                 [c for c in ff.columns if f"{c}_fitted" in ff.columns])
    x = ff["date"] if "date" in ff.columns else ff["t"]
    index = pd.Index(np.asarray(x), name="time")

    def frame(suffix: str) -> pd.DataFrame | None:
        cols = {n: np.asarray(ff[f"{n}{suffix}"], dtype=float) for n in names
                if f"{n}{suffix}" in ff.columns}
        return pd.DataFrame(cols, index=index) if cols else None

    lower = frame("_pred_lower") if frame("_pred_lower") is not None else frame("_lower")
    upper = frame("_pred_upper") if frame("_pred_upper") is not None else frame("_upper")
    intervals = {}
    for name, by_method in dict(getattr(cal, "intervals", {}) or {}).items():
        for m in _INTERVAL_PREFERENCE:
            if m in by_method:
                intervals[str(name)] = tuple(float(v) for v in by_method[m])
                break
    diag, expected = {}, {}
    for name, stats in dict(getattr(cal, "diagnostics", {}) or {}).items():
        if all(k in stats for k in ("U_M", "U_S", "U_C")):
            diag[name] = {k: float(stats[k]) for k in ("U_M", "U_S", "U_C")}
        if "theil_expected" in stats:
            expected[name] = dict(stats["theil_expected"])
    split = getattr(cal, "split_index", None)
    free = set(getattr(cal, "free", ()) or ())
    weak = getattr(getattr(cal, "identifiability", None), "weak", ()) or ()
    return {"data": frame(""), "fitted": frame("_fitted"), "lower": lower, "upper": upper,
            "params": {str(k): float(v) for k, v in dict(cal.params).items()
                       if not free or k in free},
            "intervals": intervals,
            "diagnostics": pd.DataFrame.from_dict(diag, orient="index") if diag else None,
            "theil_expected": expected,
            "holdout": index[split] if split is not None and split < len(index) else None,
            "warnings": [f"weakly identified: {d.combination}" for d in weak],
            "simulation": getattr(cal, "simulation", None)}


def calibration_parts(cal: Any) -> dict[str, Any]:
    """The pieces of a calibration result that the figures draw."""
    if callable(getattr(cal, "fitted_frame", None)):
        return _from_calibration_result(cal)
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
            "theil_expected": {},
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
