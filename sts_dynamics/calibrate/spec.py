"""Calibration specs (TOML): model, data, observed series, parameters and fit settings.

A spec is read and checked completely by :func:`load_calibration` (names against the model,
columns against the data) before anything runs; :meth:`CalibrationSpec.run` calibrates.
Paths in a spec are relative to the spec's folder. The bundled specs live in
``calibration/`` (``load_calibration("github")``). Format::

    title = "..."
    description = "..."
    model = "sts_core"                  # bundled name, or a path
    context = "..."                     # optional service-context preset

    [data]
    file = "data/github/weekly.csv"
    time = "t"                          # the time column (default "t")
    time_unit = "week"
    start = 16.86                       # optional window: model time, or a date
    end = "2025-08-01"

    [observe.count]                     # one table per observed series (data column)
    variable = "Cumulative Incidents"
    noise = "negbin"                    # or { family = "negbin", phi = 4 }
    factor = 1.0                        # data units per model unit (optional)

    [params]
    "faults per change" = [0.001, 0.1]  # free within bounds (min, max[, start])
    "automation level" = 0.5            # fixed
    "gap fault sensitivity" = { min = 0.01, max = 20, transform = "log",
                                prior = { family = "lognormal", median = 1, sigma = 1 } }

    [fit]                               # calibrate() options
    method = "least_squares"
    n_starts = 6
    seed = 1
    holdout = 52
    uncertainty = ["jacobian", "profile"]
    solver = { method = "RK45", rtol = 1e-6 }
    bootstrap = { replicates = 200 }    # options of an uncertainty method
    mcmc = { steps = 1500 }

    [fast]                              # overrides of [fit] for quick checks (--fast, CI)
    n_starts = 1
    uncertainty = ["jacobian"]
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, StsDynamicsError
from ..io import load
from ..io.bundled import bundled_files
from ..model import Model
from ..series import IncidentSeries, read_series
from .fit import UNCERTAINTY, calibrate
from .parameters import Parameter
from .priors import HalfNormalPrior, LogNormalPrior, NormalPrior, UniformPrior
from .result import CalibrationResult
from .setup import build_problem, parameters_for

__all__ = ["CalibrationSpec", "load_calibration", "bundled_calibrations"]

_TOP = ("title", "description", "model", "context", "data", "observe", "params", "fit", "fast")
_DATA = ("file", "time", "time_unit", "start", "end", "columns")
_FIT = ("method", "n_starts", "seed", "holdout", "uncertainty", "solver", "level",
        *[k for k in UNCERTAINTY if UNCERTAINTY[k]])
_PRIORS = {"uniform": UniformPrior, "normal": NormalPrior, "lognormal": LogNormalPrior,
           "halfnormal": HalfNormalPrior}


@dataclass(frozen=True, eq=False)
class CalibrationSpec:
    """A checked calibration spec; :meth:`run` calibrates."""

    model: Model
    data: IncidentSeries
    params: Mapping[str, Any]
    observe: Mapping[str, Any]
    fit: Mapping[str, Any] = field(default_factory=dict)
    fast: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    description: str = ""
    source: str = ""

    @property
    def name(self) -> str:
        return Path(self.source).stem if self.source else "calibration"

    def calibrate_kwargs(self, *, fast: bool = False, seed: int | None = None) -> dict[str, Any]:
        """Keyword arguments of :func:`~sts_dynamics.calibrate` (``model`` aside)."""
        opts = dict(self.fit)
        if fast:
            opts.update(self.fast)
        unc = opts.pop("uncertainty", ["jacobian"])
        unc = [unc] if isinstance(unc, str) else list(unc)
        extra = {k: opts.pop(k) for k in list(opts) if k in UNCERTAINTY}
        kw: dict[str, Any] = {"data": self.data, "params": dict(self.params),
                              "observe": dict(self.observe),
                              "uncertainty": {u: extra.get(u, {}) for u in unc}}
        kw.update(opts)
        if seed is not None:
            kw["seed"] = seed
        return kw

    def run(self, *, fast: bool = False, seed: int | None = None,
            progress: bool = False) -> CalibrationResult:
        """Calibrate as the spec says (``fast``: with the ``[fast]`` overrides)."""
        return calibrate(self.model, progress=progress,
                         **self.calibrate_kwargs(fast=fast, seed=seed))


def bundled_calibrations() -> dict[str, Path]:
    """``{name: path}`` of the bundled calibration specs."""
    return bundled_files("", kind="calibration")


def load_calibration(path_or_name: str | os.PathLike) -> CalibrationSpec:
    """Read and check a calibration spec (a path, or the name of a bundled one).

    Raises
    ------
    ConfigError
        Unknown keys, a missing file, bad values; names the key.
    """
    p = Path(path_or_name)
    if not p.is_file():
        bundled = bundled_calibrations()
        if str(path_or_name) in bundled:
            p = bundled[str(path_or_name)]
        else:
            names = ", ".join(map(repr, bundled)) or "none"
            raise ConfigError(f"calibration spec {str(path_or_name)!r} does not exist (and is "
                              f"not a bundled spec; bundled: {names}).")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_calibration(raw, base=p.parent, source=str(p))


def _keys(d: Mapping, allowed, where: str) -> None:
    bad = [k for k in d if k not in allowed]
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, bad))}; allowed: "
                          f"{', '.join(allowed)}.")


def _table(raw: Mapping, key: str, where: str) -> dict[str, Any]:
    v = raw.get(key, {})
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table, got {v!r:.60}.")
    return dict(v)


def parse_calibration(raw: Mapping[str, Any], *, base: Path | None = None,
                      source: str = "<spec>") -> CalibrationSpec:
    """Check a spec given as a dict (the parsed TOML)."""
    base = base or Path(".")
    _keys(raw, _TOP, source)
    if "model" not in raw:
        raise ConfigError(f"{source}: `model` is required (a bundled model name or a path).")
    model_ref = str(raw["model"])
    mp = base / model_ref
    try:
        model = load(str(mp) if mp.suffix and mp.is_file() else model_ref,
                     context=raw.get("context"))
    except StsDynamicsError as exc:
        raise ConfigError(f"{source}: model: {exc}") from None
    data = _read_data(_table(raw, "data", source), base, source)
    observe = _table(raw, "observe", source)
    if not observe:
        raise ConfigError(f"{source}: [observe] must map at least one data column to a model "
                          "variable, e.g. [observe.count] variable = \"Cumulative Incidents\".")
    params = {k: _param(k, v, source) for k, v in _table(raw, "params", source).items()}
    fit = _table(raw, "fit", source)
    fast = _table(raw, "fast", source)
    _keys(fit, _FIT, f"{source}: [fit]")
    _keys(fast, _FIT, f"{source}: [fast]")
    spec = CalibrationSpec(model=model, data=data, params=params, observe=observe, fit=fit,
                           fast=fast, title=str(raw.get("title", "")),
                           description=str(raw.get("description", "")), source=source)
    # check names, columns and bounds now, not after minutes of fitting
    kw = spec.calibrate_kwargs()
    ps = parameters_for(model, kw["params"])
    build_problem(model, data, ps, kw["observe"], None, kw.get("solver"))
    return spec


def _param(name: str, v: Any, source: str) -> Any:
    if isinstance(v, Mapping):
        d = dict(v)
        if "prior" in d:
            d["prior"] = _prior(d["prior"], f"{source}: params.{name!r}.prior")
        allowed = ("value", "min", "max", "vary", "transform", "prior")
        _keys(d, allowed, f"{source}: params.{name!r}")
        if "value" not in d:
            lo, hi = d.get("min", -np.inf), d.get("max", np.inf)
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ConfigError(f"{source}: params.{name!r} needs `value` (a start) or both "
                                  "`min` and `max`.")
            d["value"] = float(np.sqrt(lo * hi)) if lo > 0 and hi / lo >= 10 else (lo + hi) / 2
        return Parameter(name, **d)
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, int | float):
        return float(v)
    raise ConfigError(f"{source}: params.{name!r} must be [min, max], [min, max, start], a "
                      f"number (fixed) or a table, got {v!r}.")


def _prior(v: Any, where: str):
    if not isinstance(v, Mapping) or "family" not in v:
        raise ConfigError(f"{where} must be a table with `family` ({', '.join(_PRIORS)}).")
    d = dict(v)
    fam = str(d.pop("family")).lower()
    if fam not in _PRIORS:
        raise ConfigError(f"{where}: family must be one of {', '.join(_PRIORS)}, got {fam!r}.")
    try:
        return _PRIORS[fam](**d)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _read_data(d: dict[str, Any], base: Path, source: str) -> IncidentSeries:
    _keys(d, _DATA, f"{source}: [data]")
    if "file" not in d:
        raise ConfigError(f"{source}: [data] needs `file` (a CSV of the series).")
    path = base / str(d["file"])
    try:
        series = read_series(path, time=d.get("time", "t"), columns=d.get("columns"),
                             time_unit=d.get("time_unit", "week"))
    except DataError as exc:
        raise ConfigError(f"{source}: [data]: {exc}") from None
    return window(series, d.get("start"), d.get("end"), where=f"{source}: [data]")


def window(series: IncidentSeries, start: Any = None, end: Any = None, *,
           where: str = "window") -> IncidentSeries:
    """The observations with ``start <= time < end``; bounds are model times (numbers) or
    dates (strings, compared with the series' ``date``)."""
    keep = np.ones(len(series), dtype=bool)
    for bound, side in ((start, "start"), (end, "end")):
        if bound is None:
            continue
        if isinstance(bound, int | float):
            x = series.time
            b = float(bound)
        else:
            if series.date is None:
                raise ConfigError(f"{where}: `{side}` is a date but the data have no dates; "
                                  "give a model time.")
            x = series.date
            try:
                b = pd.Timestamp(bound)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: `{side}` {bound!r} is not a date.") from None
            if b.tzinfo is None and x.tz is not None:
                b = b.tz_localize(x.tz)
        keep &= np.asarray(x >= b) if side == "start" else np.asarray(x < b)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise ConfigError(f"{where}: no observations between start={start!r} and end={end!r}.")
    i0, i1 = int(idx[0]), int(idx[-1]) + 1
    out = series
    if i1 < len(series):
        out = out.split(i1)[0]
    if i0 > 0:
        out = out.split(i0)[1]
    return out
