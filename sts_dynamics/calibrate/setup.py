"""Setting up a calibration problem: checks of the data, observed series, noise models,
parameters and solver options, with errors that name what is wrong.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import (
    CalibrationError,
    CalibrationWarning,
    DataError,
    UnknownNameError,
    close_matches,
)
from ..model import Model
from ..series import IncidentSeries
from ..simulate import FIXED_STEP_METHODS, METHODS
from .observation import Gaussian, LogNormal, NegativeBinomial, ObservationModel, Poisson
from .parameters import Parameter, ParameterSet, make_parameters
from .problem import Problem, Target, _locate

__all__ = ["build_problem", "parameters_for", "make_noise", "NOISE_MODELS"]

#: Names accepted for observation models (``noise={"count": "negbin"}``).
NOISE_MODELS = {"poisson": Poisson, "negbin": NegativeBinomial, "nb": NegativeBinomial,
                "negative_binomial": NegativeBinomial, "lognormal": LogNormal,
                "gaussian": Gaussian, "normal": Gaussian}

_TIME_UNITS = {"second", "minute", "hour", "day", "week", "month", "year"}
_SOLVER_KEYS = ("method", "rtol", "atol", "max_step", "dt")


def make_noise(spec: Any, where: str) -> ObservationModel:
    """An observation model from a name, a dict ``{"family": ..., "phi"/"sigma": ...}`` or an
    instance."""
    if isinstance(spec, ObservationModel):
        return spec
    if isinstance(spec, Mapping):
        d = dict(spec)
        fam = d.pop("family", None)
        cls = NOISE_MODELS.get(str(fam).lower()) if fam is not None else None
        if cls is None:
            raise CalibrationError(f"{where}: `family` must be one of "
                                   f"{', '.join(map(repr, NOISE_MODELS))}, got {fam!r}.")
        try:
            return cls(**d)
        except TypeError:
            allowed = cls.nuisance_name
            raise CalibrationError(f"{where}: {cls.__name__} takes "
                                   f"{repr(allowed) if allowed else 'no options'}, got "
                                   f"{sorted(d)}.") from None
    if isinstance(spec, str) and spec.lower() in NOISE_MODELS:
        return NOISE_MODELS[spec.lower()]()
    raise CalibrationError(f"{where}: noise must be one of {', '.join(map(repr, NOISE_MODELS))},"
                           f" a dict with `family`, or an ObservationModel, got {spec!r}.")


def _is_time_unit(units: str | None) -> bool:
    u = (units or "").strip().lower().rstrip("s")
    return u in _TIME_UNITS


def build_problem(model: Model, data: IncidentSeries, parameters: ParameterSet,
                  observe: Mapping[str, Any], noise: Mapping[str, Any] | None,
                  solver: Mapping[str, Any] | None) -> Problem:
    """Check everything and build a :class:`Problem` (see :func:`~.fit.calibrate`)."""
    if not isinstance(observe, Mapping) or not observe:
        raise CalibrationError("`observe` must map at least one series (a data column) to a "
                               "model variable, e.g. {'count': 'Cumulative Incidents'}.")
    noise = dict(noise or {})
    unknown = [k for k in noise if k not in observe]
    if unknown:
        raise CalibrationError(f"`noise` names series {', '.join(map(repr, unknown))} that "
                               f"`observe` does not map; observed: "
                               f"{', '.join(map(repr, observe))}.")
    solver = _check_solver(solver)
    _check_time_unit(model, data)
    notes: list[str] = list(data.notes)
    t0 = model.control.initial_time
    specs = {}
    for name, spec in observe.items():
        specs[name] = _observe_entry(name, spec, model, data, noise.get(name))
    starts, ends, mids = [], [], []
    for _var, kind, *_rest in specs.values():
        if kind == "counts":
            starts.append(data.t_start)
            ends.append(data.t_end)
        else:
            mids.append(data.time)
    needed = np.unique(np.concatenate([[t0], *starts, *ends, *mids]))
    if needed[0] < t0 - 1e-9:
        raise DataError(f"the data start at t = {needed[0]:g}, before the model's INITIAL TIME "
                        f"{t0:g}; the data's time 0 must be the model's time {t0:g}.")
    t_end = float(needed[-1])
    if not t_end > t0:
        raise DataError("the data span no time after the model's INITIAL TIME.")
    if solver.get("method", "RK45") in FIXED_STEP_METHODS:
        step = float(solver.get("dt") or model.control.time_step)
        k = int(math.ceil((t_end - t0) / step - 1e-9))
        grid = t0 + step * np.arange(k + 1)
        t_end = float(grid[-1])
    else:
        grid = needed
    targets = []
    for name, (var, kind, obs, factor) in specs.items():
        y = np.array(data[name], dtype=float)
        if isinstance(obs, LogNormal):
            bad = ~np.isnan(y) & ~(y > 0)
            if bad.any():
                y[bad] = np.nan
                msg = (f"series {name!r}: {int(bad.sum())} non-positive value(s) treated as "
                       f"missing (LogNormal needs positive durations)")
                notes.append(msg)
                warnings.warn(msg + ".", CalibrationWarning, stacklevel=3)
        if np.all(np.isnan(y)):
            raise DataError(f"series {name!r} has no observations (all missing or empty) in "
                            "the fitting window.")
        if kind == "counts":
            at = (_locate(grid, np.asarray(data.t_start)), _locate(grid, np.asarray(data.t_end)))
        else:
            at = (_locate(grid, np.asarray(data.time)),)
        key = model.resolve(var)
        targets.append(Target(name, model.variables[key].name, key, kind, obs, factor, y, at))
    return Problem(model, parameters, tuple(targets), (t0, t_end), grid, solver, tuple(notes))


def _check_solver(solver: Mapping[str, Any] | None) -> dict[str, Any]:
    solver = dict(solver or {})
    bad = [k for k in solver if k not in _SOLVER_KEYS]
    if bad:
        raise CalibrationError(f"`solver` takes {', '.join(map(repr, _SOLVER_KEYS))}, got "
                               f"{', '.join(map(repr, bad))}.")
    method = solver.get("method", "RK45")
    if method not in METHODS:
        raise CalibrationError(f"`solver` method must be one of {', '.join(METHODS)}, got "
                               f"{method!r}.")
    return solver


def _check_time_unit(model: Model, data: IncidentSeries) -> None:
    mu = (model.control.time_units or "").strip().lower().rstrip("s")
    if mu and mu in _TIME_UNITS and mu != data.time_unit:
        raise DataError(f"the data's time unit is {data.time_unit!r} but model "
                        f"{model.name!r} runs in {model.control.time_units!r}; read the data "
                        f"with time_unit={mu!r}.")


def _observe_entry(name: str, spec: Any, model: Model, data: IncidentSeries, noise: Any):
    if isinstance(spec, str):
        spec = {"variable": spec}
    if not isinstance(spec, Mapping) or "variable" not in spec:
        raise CalibrationError(f"observe[{name!r}] must be a model variable name or a dict with "
                               f"`variable` (and optionally `kind`, `noise`, `factor`), got "
                               f"{spec!r}.")
    extra = [k for k in spec if k not in ("variable", "kind", "noise", "factor")]
    if extra:
        raise CalibrationError(f"observe[{name!r}]: unknown option(s) "
                               f"{', '.join(map(repr, extra))}; use `variable`, `kind`, "
                               "`noise`, `factor`.")
    if name not in data.names:
        raise DataError(f"missing column {name!r} in the data; columns found: "
                        f"{', '.join(map(repr, data.names))}.{close_matches(name, data.names)}")
    var = spec["variable"]
    try:
        key = model.resolve(var)
    except UnknownNameError:
        public = [v.name for v in model.variables.values() if not v.internal]
        raise UnknownNameError(f"series {name!r} maps to no model variable: model "
                               f"{model.name!r} has no variable {var!r}."
                               f"{close_matches(var, public)}") from None
    v = model.variables[key]
    noise = spec.get("noise", noise)
    obs = make_noise(noise, f"noise of series {name!r}") if noise is not None else None
    kind = spec.get("kind")
    if kind is None:
        counts_noise = isinstance(obs, Poisson | NegativeBinomial)
        y = np.asarray(data[name])
        yo = y[~np.isnan(y)]
        integer = yo.size > 0 and bool(np.all(yo >= 0) and np.all(yo == np.round(yo)))
        if obs is not None:
            integer = counts_noise
        intervals = data.t_start is not None
        kind = "counts" if v.kind == "stock" and integer and (intervals or counts_noise) \
            else "level"
    if kind not in ("counts", "level"):
        raise CalibrationError(f"observe[{name!r}]: `kind` must be 'counts' or 'level', got "
                               f"{kind!r}.")
    if kind == "counts":
        if v.kind != "stock":
            raise CalibrationError(
                f"series {name!r}: counts per reporting interval are differences of a "
                f"cumulative stock, but {v.name!r} is a {v.kind}; add a stock that integrates "
                "it (like sts_core's 'Cumulative Incidents') and observe that.")
        if data.t_start is None:
            raise DataError(f"series {name!r}: counts need reporting intervals; the data have "
                            "no `t_start`/`t_end` (read them with edges='start' or 'end').")
    if obs is None:
        if kind == "counts":
            obs = NegativeBinomial()
        elif _is_time_unit(v.units):
            obs = LogNormal()
        else:
            obs = Gaussian()
    try:
        factor = float(spec.get("factor", 1.0))
    except (TypeError, ValueError):
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0):
        raise CalibrationError(f"observe[{name!r}]: `factor` must be a positive number, got "
                               f"{spec.get('factor')!r}.")
    return v.name, kind, obs, factor


def parameters_for(model: Model, params: Any) -> ParameterSet:
    """A :class:`ParameterSet` from ``params`` (see :func:`.parameters.make_parameters`),
    checked against the model's constants; starts default to the model's values."""
    if isinstance(params, ParameterSet):
        ps = params
    else:
        if not params:
            raise CalibrationError("`params` must name at least one model constant to fit, "
                                   "e.g. {'base fault rate': (0.1, 10)}.")
        consts = model.constants
        defaults = {}
        for name in (params if isinstance(params, Mapping) else
                     [p.name for p in params if isinstance(p, Parameter)]):
            _check_constant(model, name)
            defaults[name] = consts[model[name].name]
        if isinstance(params, Mapping):
            params = {k: _log_scaled(v, defaults.get(k)) for k, v in params.items()}
        ps = make_parameters(params, defaults)
    for p in ps:
        _check_constant(model, p.name)
    if not ps.free:
        raise CalibrationError("no free parameters: give (min, max) bounds for at least one.")
    return ps


def _log_scaled(spec: Any, default: float | None) -> Any:
    """``(min, max[, value])`` spanning a decade or more of positive values -> a dict with
    ``transform="log"`` (rates and times are scale parameters; a logit would flatten the
    objective near the bounds and trap fits there). Starts like ``make_parameters``: at
    ``default`` when strictly inside, else at the geometric mean."""
    if isinstance(spec, tuple | list) and len(spec) in (2, 3):
        try:
            lo, hi = float(spec[0]), float(spec[1])
            value = float(spec[2]) if len(spec) == 3 else None
        except (TypeError, ValueError):
            return spec
        if lo > 0 and math.isfinite(hi) and hi / lo >= 10:
            if value is None:
                inside = default is not None and lo < default < hi
                value = float(default) if inside else math.sqrt(lo * hi)
            return {"value": value, "min": lo, "max": hi, "transform": "log"}
    return spec


def _check_constant(model: Model, name: str) -> None:
    consts = model.constants
    try:
        key = model.resolve(name)
    except (UnknownNameError, TypeError):
        raise UnknownNameError(f"model {model.name!r} has no constant {name!r}."
                               f"{close_matches(str(name), consts)}") from None
    var = model.variables[key]
    if var.kind != "constant":
        raise CalibrationError(f"{var.name!r} is a {var.kind} of model {model.name!r}, not a "
                               "constant; only constants can be calibrated.")
