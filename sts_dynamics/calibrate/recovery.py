"""Synthetic data and recovery tests: can a calibration find parameters it was given?

:func:`check_recovery` simulates the model at known parameters on the time grid of a
calibration's data, adds noise from an observation model (for example the one a real fit
estimated), refits with the same settings and reports how close the estimates came and
whether the intervals cover the truth. Replicates beyond the first are refitted together in
one batched refit, with Jacobian intervals from one ensemble.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CalibrationError
from ..model import Model
from ..series import IncidentSeries
from .fit import _as_series, calibrate
from .lm import jacobian, stencil
from .optimize import refit_batch
from .parameters import Parameter, ParameterSet
from .result import CalibrationResult
from .setup import _check_constant, build_problem, make_noise, parameters_for
from .uncertainty import internal_to_external, simulate_data, wald

__all__ = ["check_recovery", "RecoveryResult", "simulate_series"]

_FIT_KEYS = ("params", "observe", "noise", "method", "n_starts", "uncertainty", "holdout",
             "solver", "level")


def simulate_series(model: Model, observe: Mapping[str, Any], params: Mapping[str, float]
                    | None = None, *, t=None, edges=None, noise: Mapping[str, Any] | None = None,
                    seed: int | None = None, solver: Mapping[str, Any] | None = None,
                    time_unit: str = "week") -> IncidentSeries:
    """Simulated observations: the model at ``params`` seen through ``observe``.

    Give ``edges`` (reporting intervals; observations at their midpoints) or ``t``
    (observation times; then no series can be counts). A series is counts (differences of
    a stock over each interval) when ``observe`` says ``kind = "counts"`` or its noise is
    Poisson or negative binomial. ``noise`` maps series to observation models with their
    nuisance parameters set (``{"count": {"family": "negbin", "phi": 4}}``); without it the
    series are noise-free.

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> m = sd.load("operator_skill")
    >>> s = simulate_series(m, {"skill": "Operator Skill"}, t=[0, 10, 20])
    >>> len(s), s.names
    (3, ('skill',))
    """
    if (t is None) == (edges is None):
        raise CalibrationError("give exactly one of `t` (observation times) or `edges` "
                               "(reporting intervals).")
    noise = dict(noise or {})
    if edges is not None:
        e = np.asarray(edges, dtype=float)
        tt, t0, t1 = 0.5 * (e[1:] + e[:-1]), e[:-1], e[1:]
    else:
        tt, t0, t1 = np.asarray(t, dtype=float), None, None
    obs_spec = {}
    noised = set()
    for name, spec in observe.items():
        spec = {"variable": spec} if isinstance(spec, str) else dict(spec)
        nz = spec.get("noise", noise.get(name))
        obs = make_noise(nz, f"noise of {name!r}") if nz is not None else None
        if obs is not None:
            nn = obs.nuisance_name
            if nn and getattr(obs, nn) is None:
                raise CalibrationError(f"noise of {name!r}: give a value of {nn!r} to "
                                       "simulate with, e.g. {'family': 'negbin', 'phi': 4}.")
            noised.add(name)
        if "kind" not in spec:
            counts = obs is not None and type(obs).__name__ in ("Poisson", "NegativeBinomial")
            spec["kind"] = "counts" if counts else "level"
        if obs is not None:
            spec["noise"] = obs
        obs_spec[name] = spec
    dummy = IncidentSeries(time=tt, values={k: np.ones(tt.size) for k in observe}, t_start=t0,
                           t_end=t1, time_unit=time_unit)
    consts = model.constants
    values = dict(params or {})
    for n in values:
        _check_constant(model, n)
    if not values:  # a ParameterSet needs one entry: the first constant at its default
        first = next(iter(consts))
        values = {first: consts[first]}
    ps = ParameterSet(tuple(Parameter(n, float(v), vary=False) for n, v in values.items()))
    problem = build_problem(model, dummy, ps, obs_spec, None, solver)
    mu, ok = problem.predict(np.zeros((0, 1)))
    if not ok[0]:
        raise CalibrationError("the simulation at `params` failed; see the model's equations.")
    rng = np.random.default_rng(seed)
    out = {}
    for tg in problem.targets:
        m = mu[tg.name][:, 0]
        if tg.name in noised:
            out[tg.name] = simulate_data(problem.with_targets((tg,)), {tg.name: m}, {}, rng,
                                         1)[tg.name][:, 0]
        else:
            out[tg.name] = m
    return IncidentSeries(time=tt, values=out, t_start=t0, t_end=t1, time_unit=time_unit,
                          notes=("simulated by simulate_series",))


@dataclass(frozen=True, eq=False)
class RecoveryResult:
    """Recovery of known parameters.

    Attributes
    ----------
    truth : Mapping[str, float]
    table : DataFrame
        One row per replicate and free parameter: ``replicate``, ``parameter``, ``truth``,
        ``estimate``, ``rel_error``, and ``lower_<m>``, ``upper_<m>``, ``covers_<m>`` for
        each interval method.
    fit : CalibrationResult
        The full calibration of the first replicate.
    data : IncidentSeries
        The first replicate's synthetic data.
    """

    truth: Mapping[str, float]
    table: pd.DataFrame
    fit: CalibrationResult
    data: IncidentSeries

    @property
    def max_rel_error(self) -> float:
        return float(np.nanmax(np.abs(self.table["rel_error"])))

    def coverage(self) -> pd.Series:
        """Share of (replicate, parameter) pairs covered, per interval method."""
        cols = [c for c in self.table if c.startswith("covers_")]
        return self.table[cols].mean().rename(lambda c: c[len("covers_"):])

    def report(self) -> str:
        lines = ["[[Recovery]]",
                 f"    {self.table['replicate'].nunique()} replicate(s); largest relative "
                 f"error {self.max_rel_error:.3g}"]
        for m, v in self.coverage().items():
            lines.append(f"    coverage of the {m} intervals: {100 * v:.0f}%")
        first = self.table[self.table["replicate"] == 0]
        for _, r in first.iterrows():
            ints = "; ".join(f"{m} [{r[f'lower_{m}']:.4g}, {r[f'upper_{m}']:.4g}]"
                             f"{'' if r[f'covers_{m}'] else ' MISSES'}"
                             for m in self.coverage().index)
            lines.append(f"    {r['parameter']}: truth {r['truth']:.6g}, estimate "
                         f"{r['estimate']:.6g} ({100 * r['rel_error']:+.3g}%); {ints}")
        return "\n".join(lines) + "\n" + self.fit.report()


def _spec_kwargs(spec: Any) -> tuple[IncidentSeries, dict[str, Any]]:
    if hasattr(spec, "calibrate_kwargs"):
        kw = dict(spec.calibrate_kwargs())
    elif isinstance(spec, Mapping):
        kw = dict(spec)
    else:
        raise CalibrationError(f"`spec` must be a CalibrationSpec (load_calibration) or a "
                               f"mapping of calibrate() arguments, got {type(spec).__name__}.")
    if "data" not in kw:
        raise CalibrationError("`spec` needs `data` (the time grid of the synthetic data).")
    data = _as_series(kw.pop("data"))
    kw.pop("seed", None)
    kw.pop("progress", None)
    bad = [k for k in kw if k not in _FIT_KEYS]
    if bad:
        raise CalibrationError(f"`spec` has unknown calibrate() argument(s) "
                               f"{', '.join(map(repr, bad))}.")
    return data, kw


def _noise_models(problem, noise: Any) -> dict[str, Any]:
    """Observation models with their nuisance parameters set, per series (or {} for none)."""
    if noise is None or noise == "none":
        return {}
    if isinstance(noise, CalibrationResult):
        out = {}
        for name, t in noise.targets.items():
            obs = t["noise"]
            if name in noise.nuisance:
                obs = dataclasses.replace(obs, **noise.nuisance[name])
            out[name] = obs
        return out
    if not isinstance(noise, Mapping):
        raise CalibrationError("`noise` must be None, a CalibrationResult (use its fitted "
                               "noise) or a mapping of series to observation models.")
    out = {}
    for name, nz in noise.items():
        obs = make_noise(nz, f"noise of {name!r}")
        nn = obs.nuisance_name
        if nn and getattr(obs, nn) is None:
            raise CalibrationError(f"noise of {name!r}: give a value of {nn!r} to simulate "
                                   "with, e.g. {'family': 'negbin', 'phi': 4}.")
        out[name] = obs
    return out


def check_recovery(model: Model, spec: Any, true_params: Mapping[str, float], *,
                   noise: Any = None, seed: int | None = None,
                   n_replicates: int = 1) -> RecoveryResult:
    """Simulate at ``true_params``, add noise, refit with ``spec``'s settings, compare.

    Parameters
    ----------
    model : Model
    spec : CalibrationSpec or mapping
        A spec from :func:`~sts_dynamics.calibrate.load_calibration`, or calibrate()
        arguments with ``data`` (whose time grid and missing values the synthetic data
        copy).
    true_params : mapping
        Values of every free parameter of the spec.
    noise : None, CalibrationResult or mapping
        None: noise-free data; a CalibrationResult: its fitted observation models; or
        ``{series: observation model}`` with nuisance values set.
    seed : int, optional
    n_replicates : int
        Synthetic data sets; the first gets a full calibration (with the spec's uncertainty
        methods), the others a batched refit with Jacobian intervals.
    """
    data, kw = _spec_kwargs(spec)
    ps = parameters_for(model, kw["params"])
    missing = [n for n in ps.free if n not in true_params]
    if missing:
        raise CalibrationError(f"`true_params` needs a value for every free parameter; missing "
                               f"{', '.join(map(repr, missing))}.")
    extra = [n for n in true_params if n not in ps.names]
    if extra:
        raise CalibrationError(f"`true_params` names {', '.join(map(repr, extra))}, which the "
                               f"spec does not fit; free: {', '.join(map(repr, ps.free))}.")
    if not (isinstance(n_replicates, int) and n_replicates >= 1):
        raise CalibrationError(f"`n_replicates` must be a positive integer, got "
                               f"{n_replicates!r}.")
    problem = build_problem(model, data, ps, kw["observe"], kw.get("noise"), kw.get("solver"))
    u_true = ps.with_values(dict(true_params)).x0
    mu, ok = problem.predict(u_true)
    if not ok[0]:
        raise CalibrationError("the simulation at `true_params` failed.")
    models = _noise_models(problem, noise)
    rng = np.random.default_rng(seed)
    R = n_replicates
    ys = {}
    for t in problem.targets:
        m = np.repeat(mu[t.name], R, axis=1)
        if t.name in models:
            tt = dataclasses.replace(t, noise=models[t.name])
            ys[t.name] = simulate_data(problem.with_targets((tt,)), {t.name: m}, {}, rng,
                                       R)[t.name]
        else:
            ys[t.name] = np.where(np.isnan(t.y)[:, None], np.nan, m)
    first = IncidentSeries(time=data.time, values={**data.values, **{k: v[:, 0] for k, v in
                                                                    ys.items()}},
                           t_start=data.t_start, t_end=data.t_end, date=data.date,
                           origin=data.origin, time_unit=data.time_unit, period=data.period,
                           notes=("synthetic data from check_recovery",))
    fit = calibrate(model, first, seed=seed, **kw)
    rows = []
    for n in ps.free:
        rows.append(_row(0, n, true_params[n], fit.params[n], fit.intervals[n]))
    if R > 1:
        rows.extend(_batched_replicates(problem, ys, u_true, true_params, fit.level))
    return RecoveryResult(truth=dict(true_params), table=pd.DataFrame(rows), fit=fit, data=first)


def _row(rep: int, name: str, truth: float, est: float, intervals: Mapping) -> dict[str, Any]:
    rel = (est - truth) / abs(truth) if truth != 0 else est - truth
    row: dict[str, Any] = {"replicate": rep, "parameter": name, "truth": float(truth),
                           "estimate": float(est), "rel_error": float(rel)}
    for m, (lo, hi) in intervals.items():
        row[f"lower_{m}"], row[f"upper_{m}"] = lo, hi
        row[f"covers_{m}"] = bool(lo <= truth <= hi) if math.isfinite(lo + hi) else False
    return row


def _batched_replicates(problem, ys, u_true, truth, level) -> list[dict[str, Any]]:
    y = {k: v[:, 1:] for k, v in ys.items()}
    R = next(iter(y.values())).shape[1]
    U0 = np.repeat(u_true[:, None], R, axis=1)
    fit = refit_batch(problem, U0, y=y, rounds=4)
    lo, hi = problem.parameters.bounds
    pts, h = stencil(fit.U, lo, hi)
    p = fit.U.shape[0]
    owner = np.repeat(np.arange(R), 2 * p + 1)
    mu, ok = problem.predict(pts)
    yy = {k: v[:, owner] for k, v in y.items()}
    nn = {k: v[owner] for k, v in fit.nu.items()}
    Rr = problem.residuals(mu, ok, nn, None, yy)
    r0, _ok0, J = jacobian(Rr, ok, fit.U, h, lo, hi)
    ext = internal_to_external(problem, fit.U)
    rows = []
    for i in range(R):
        chi2 = float(np.sum(r0[:, i] ** 2))
        w = wald(problem, fit.U[:, i], J[:, :, i], chi2, problem.n_obs, level)
        for j, n in enumerate(problem.free):
            rows.append(_row(i + 1, n, truth[n], ext[j, i],
                             {"jacobian": (w.intervals[j, 0], w.intervals[j, 1])}))
    return rows
