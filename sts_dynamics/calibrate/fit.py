"""``calibrate()``: fit a model's constants to observed series, with honest uncertainty."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CalibrationError, CalibrationWarning, DataError
from ..model import Model
from ..series import IncidentSeries, read_series
from ..simulate import simulate
from . import diagnostics as dg
from .identifiability import identifiability
from .lm import jacobian, stencil
from .mcmc import run_mcmc
from .optimize import METHODS, fit_point
from .problem import Problem
from .result import CalibrationResult
from .setup import build_problem, parameters_for
from .uncertainty import bootstrap, internal_to_external, profile, simulate_data, wald

__all__ = ["calibrate", "UNCERTAINTY"]

#: Uncertainty methods and their options (defaults).
UNCERTAINTY = {
    "jacobian": {},
    "profile": {"max_rounds": 14},
    "bootstrap": {"replicates": 200},
    "mcmc": {"steps": 2000, "walkers": None, "burn": None, "thin": 1},
}
_BAND_DRAWS = 200


def _uncertainty(spec: Any) -> dict[str, dict[str, Any]]:
    if spec is None:
        spec = ("jacobian",)
    if isinstance(spec, str):
        spec = (spec,)
    items = spec.items() if isinstance(spec, Mapping) else ((s, {}) for s in spec)
    out: dict[str, dict[str, Any]] = {"jacobian": {}}
    for name, opts in items:
        if name not in UNCERTAINTY:
            raise CalibrationError(f"`uncertainty` methods are {', '.join(map(repr, UNCERTAINTY))}"
                                   f", got {name!r}.")
        opts = dict(opts or {})
        bad = [k for k in opts if k not in UNCERTAINTY[name]]
        if bad:
            raise CalibrationError(f"uncertainty {name!r} takes "
                                   f"{', '.join(map(repr, UNCERTAINTY[name])) or 'no options'}, "
                                   f"got {', '.join(map(repr, bad))}.")
        out[name] = {**UNCERTAINTY[name], **opts}
    return out


def _as_series(data: Any) -> IncidentSeries:
    if isinstance(data, IncidentSeries):
        return data
    if isinstance(data, pd.DataFrame | str | os.PathLike):
        if isinstance(data, pd.DataFrame) and len(data) == 0:
            raise DataError("the data frame has no rows.")
        return read_series(data, time="t")
    raise DataError(f"`data` must be an IncidentSeries (from read_series or "
                    f"read_incidents(...).weekly()), a DataFrame or a CSV path, got "
                    f"{type(data).__name__}.")


def _split_index(holdout: Any, n: int) -> int | None:
    if holdout is None or holdout is False:
        return None
    if isinstance(holdout, bool) or not isinstance(holdout, int | float | np.integer | np.floating):
        raise CalibrationError(f"`holdout` must be a number of trailing observations or a "
                               f"fraction in (0, 1), got {holdout!r}.")
    k = int(round(holdout * n)) if 0 < holdout < 1 else int(holdout)
    if not (k >= 1 and n - k >= 3) or (holdout >= 1 and holdout != int(holdout)):
        raise CalibrationError(f"`holdout` must leave at least 3 observations to fit and hold "
                               f"out at least 1 of {n}, got {holdout!r}.")
    return n - k


def calibrate(model: Model, data: Any, *, params: Any, observe: Mapping[str, Any],
              noise: Mapping[str, Any] | None = None, method: str = "least_squares",
              n_starts: int = 1, seed: int | None = None,
              uncertainty: Any = ("jacobian",), holdout: Any = None,
              solver: Mapping[str, Any] | None = None, level: float = 0.95,
              progress: bool = False) -> CalibrationResult:
    """Calibrate constants of ``model`` to observed series.

    Parameters
    ----------
    model : Model
        From :func:`sts_dynamics.load`.
    data : IncidentSeries, DataFrame or path
        The observations (``read_series`` or ``read_incidents(...).weekly()``); a frame or
        CSV needs a ``t`` column (and ``t_start``/``t_end`` for counts).
    params : mapping or ParameterSet
        Constants to fit: ``{"base fault rate": (0.1, 10)}`` (free within bounds, starting at
        the model's value when inside them), ``(min, max, start)``, a number (fixed), a dict
        of :class:`~.parameters.Parameter` options (``transform``, ``prior``, ...).
    observe : mapping
        ``{series: model variable}`` or ``{series: {"variable": ..., "kind": "counts" |
        "level", "noise": ..., "factor": ...}}``. A stock observed as non-negative integer
        counts is differenced over each reporting interval; a variable with time units
        (hours, weeks) is a duration; ``factor`` converts model units to data units.
    noise : mapping, optional
        Observation model per series: ``"poisson"``, ``"negbin"``, ``"lognormal"``,
        ``"gaussian"``, ``{"family": "negbin", "phi": 4}`` or an ObservationModel. Defaults:
        negative binomial (``phi`` estimated) for counts, log-normal for durations,
        Gaussian otherwise (``sigma`` estimated).
    method : {"least_squares", "nelder-mead", "powell", "differential_evolution"}
        Least squares (SciPy's trust-region reflective on deviance residuals) is the fast
        default; differential evolution is polished by least squares.
    n_starts : int
        Local fits from the best ``n_starts`` of ``10 n_starts`` Latin-hypercube points
        (one ensemble), refined together by a batched Levenberg-Marquardt; the best is
        polished by ``method``.
    seed : int, optional
        Seeds the starts, bootstrap, MCMC and bands.
    uncertainty : str, sequence or mapping
        Any of ``"jacobian"`` (always computed), ``"profile"``, ``"bootstrap"``,
        ``"mcmc"``; a mapping gives options, e.g. ``{"mcmc": {"steps": 3000}, "bootstrap":
        {"replicates": 500}}``.
    holdout : int or float, optional
        Hold out the last ``holdout`` observations (or that fraction) and score them.
    solver : mapping, optional
        :func:`~sts_dynamics.simulate` options: ``method``, ``rtol``, ``atol``,
        ``max_step``, ``dt``.
    level : float
        Confidence level of the intervals.
    progress : bool
        Print the stages to standard error.

    Returns
    -------
    CalibrationResult

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> from sts_dynamics.calibrate import simulate_series
    >>> m = sd.load("operator_skill")
    >>> truth = {"skill decay rate": 0.02}
    >>> data = simulate_series(m, {"skill": "Operator Skill"}, truth, t=range(0, 100, 4))
    >>> fit = sd.calibrate(m, data, params={"skill decay rate": (0.005, 0.05)},
    ...                    observe={"skill": "Operator Skill"})
    >>> round(fit.params["skill decay rate"], 4)
    0.02
    """
    t_start = time.perf_counter()
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model from sts_dynamics.load(), got "
                        f"{type(model).__name__}.")
    if not 0 < level < 1:
        raise CalibrationError(f"`level` must be in (0, 1), got {level!r}.")
    if method not in METHODS:
        raise CalibrationError(f"`method` must be one of {', '.join(map(repr, METHODS))}, got "
                               f"{method!r}.")
    unc = _uncertainty(uncertainty)
    full = _as_series(data)
    split = _split_index(holdout, len(full))
    fit_data = full if split is None else full.split(split)[0]
    ps = parameters_for(model, params)
    problem = build_problem(model, fit_data, ps, observe, noise, solver)
    problem_full = problem if split is None else build_problem(model, full, ps, observe, noise,
                                                               solver)
    rng = np.random.default_rng(seed)
    say = _reporter(progress)

    say(f"fitting {len(problem.free)} parameters to {problem.n_obs} observations ({method}, "
        f"{n_starts} start{'s' if n_starts > 1 else ''})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point = fit_point(problem, method, n_starts=n_starts, rng=rng)
    u, nu = point.u, point.nu
    fit_calls, fit_runs = problem.n_calls, problem.n_runs

    # residuals, Jacobian and predictions at the optimum: one ensemble
    lo, hi = ps.bounds
    pts, h = stencil(u[:, None], lo, hi)
    mu_all, ok_all = problem.predict(pts)
    R = problem.residuals(mu_all, ok_all, nu, pts)
    r, ok, J = jacobian(R, ok_all, u[:, None], h, lo, hi)
    if not ok[0]:
        raise CalibrationError("the simulation fails at the fitted parameters; see the failed "
                               "parameter sets and narrow the bounds.")
    n_data = sum(t.y.size for t in problem.targets)
    mu = {k: v[:, :1] for k, v in mu_all.items()}
    okv = np.ones(1, dtype=bool)
    chi2 = float(np.sum(r[:n_data, 0] ** 2))
    ll_parts = problem.loglik(mu, okv, nu, by_series=True)
    loglik = float(sum(v[0] for v in ll_parts.values()))
    objective = loglik + float(problem.log_prior(u)[0])
    n_obs = problem.n_obs
    w = wald(problem, u, J[:n_data, :, 0], chi2, n_obs, level)
    ident = identifiability(J[:n_data, :, 0], problem.free,
                            tuple(ps[n].transform for n in problem.free), w.scale)
    values = {**ps.values(), **{n: float(x) for n, x in
                                zip(problem.free, internal_to_external(problem, u)[:, 0],
                                    strict=True)}}
    notes = list(problem.notes)
    at_bounds = {n: side for n in problem.free if (side := ps[n].at_bound(values[n]))}
    if at_bounds:
        text = ", ".join(f"{n!r} at its {s}" for n, s in at_bounds.items())
        warnings.warn(f"fit ended at a bound: {text}; widen the bound or question the model.",
                      CalibrationWarning, stacklevel=2)
        notes.append(f"fit ended at a bound: {text}")
    if not point.success:
        notes.append(f"the optimizer did not report success: {point.message}")

    intervals: dict[str, dict[str, tuple[float, float]]] = {n: {} for n in problem.free}
    for i, n in enumerate(problem.free):
        intervals[n]["jacobian"] = (float(w.intervals[i, 0]), float(w.intervals[i, 1]))
    prof = boot = post = None
    if "profile" in unc:
        say("profile likelihood")
        prof = profile(problem, u, nu, objective, w.cov_internal, level,
                       max_rounds=int(unc["profile"]["max_rounds"]))
        for i, n in enumerate(problem.free):
            intervals[n]["profile"] = (float(prof.intervals[i, 0]), float(prof.intervals[i, 1]))
        for n, side in prof.open_ends:
            notes.append(f"profile: the {side} limit of {n!r} was not reached within its bounds "
                         "(the interval is open on that side)")
        if prof.better > 0.01:
            notes.append(f"profile: found a fit better by {prof.better:.3g} in log-likelihood: "
                         "the optimum is not global; refit with more starts")
    if "bootstrap" in unc:
        B = int(unc["bootstrap"]["replicates"])
        if B < 2:
            raise CalibrationError(f"bootstrap `replicates` must be at least 2, got {B}.")
        say(f"parametric bootstrap ({B} replicates)")
        boot = bootstrap(problem, u, nu, mu, B, rng, level)
        for i, n in enumerate(problem.free):
            intervals[n]["bootstrap"] = (float(boot.intervals[i, 0]), float(boot.intervals[i, 1]))
        if boot.n_failed:
            notes.append(f"bootstrap: {boot.n_failed} of {B} replicates failed and were dropped")
    if "mcmc" in unc:
        o = unc["mcmc"]
        say(f"MCMC ({o['steps']} steps)")
        post = run_mcmc(problem, u, nu, w.cov_internal, n_walkers=o["walkers"],
                        n_steps=int(o["steps"]), burn=o["burn"], thin=int(o["thin"]),
                        seed=int(rng.integers(2**31 - 1)), progress=progress)
        summ = post.summary(level)
        for n in problem.free:
            intervals[n]["mcmc"] = (summ[n]["lower"], summ[n]["upper"])
        bad = [n for n, s in summ.items() if not s["rhat"] < 1.1]
        if bad:
            notes.append(f"MCMC: R-hat >= 1.1 for {', '.join(map(repr, bad))}: not converged; "
                         "run more steps")

    say("diagnostics and bands")
    mu_full, ok_full = problem_full.predict(u)
    fitted = {k: v[:, 0] for k, v in mu_full.items()}
    bands, band_method = _bands(problem_full, u, nu, w.cov_internal, post, boot, rng, level)
    diagnostics = _diagnostics(problem, mu, nu, rng)
    hold = None
    if split is not None:
        hold = {}
        for t in problem_full.targets:
            season = 52 if full.time_unit == "week" and split >= 52 else None
            try:
                hold[t.name] = dg.holdout_scores(t.y, fitted[t.name], split, season=season)
            except DataError as exc:
                notes.append(f"hold-out of {t.name!r} not scored: {exc}")
    sim = simulate(model, t_span=problem_full.t_span, params=values,
                   **{k: v for k, v in problem.solver.items()})
    failed = tuple(problem.failed)
    if failed:
        notes.append(f"{len(failed)} parameter set(s) failed to simulate and were treated as "
                     "infeasible (see `failed`)")
    return CalibrationResult(
        model=model, data=full, parameters=ps, params=values,
        free=problem.free, init=ps.values(), stderr=dict(zip(problem.free, map(float, w.stderr),
                                                             strict=True)),
        intervals=intervals, level=level, covariance=w.cov, correlations=w.correlations,
        nuisance={t.name: {t.noise.nuisance_name: float(nu[t.name])} for t in problem.estimated},
        loglik=loglik, loglik_by_series={k: float(v[0]) for k, v in ll_parts.items()},
        chi2=chi2, reduced_chi2=w.scale, n_obs=n_obs,
        n_varys=len(problem.free) + len(problem.estimated), method=point.method,
        success=bool(point.success), message=point.message,
        diagnostics=diagnostics, holdout=hold, split_index=split, identifiability=ident,
        posterior=post, bootstrap=boot, profile=prof, fitted=fitted, bands=bands,
        band_method=band_method,
        targets={t.name: {"variable": t.variable, "kind": t.kind, "noise": t.noise,
                          "factor": t.factor} for t in problem.targets},
        simulation=sim, failed=failed, starts=tuple(point.starts),
        n_simulations=problem.n_calls + problem_full.n_calls * (problem_full is not problem),
        n_runs=problem.n_runs + problem_full.n_runs * (problem_full is not problem),
        n_fit_simulations=fit_calls, n_fit_runs=fit_runs,
        elapsed=time.perf_counter() - t_start, notes=tuple(notes), rank=w.rank,
    )


def _reporter(progress: bool):
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if progress:
            print(f"calibrate [{time.perf_counter() - t0:6.1f} s]: {msg}", file=sys.stderr,
                  flush=True)
    return say


def _draws(problem: Problem, u, nu, cov_internal, post, boot, rng, n):
    """Parameter draws (internal, ``(p, n)``) and nuisance draws for the bands."""
    p = u.size
    if post is not None:
        idx = rng.choice(post.samples.shape[0], size=min(n, post.samples.shape[0]),
                         replace=False)
        X = post.samples[idx]
        U = problem.parameters.to_internal({k: X[:, i] for i, k in enumerate(problem.free)})
        nus = {t.name: X[:, p + i] for i, t in enumerate(problem.estimated)}
        return U, nus, "mcmc"
    if boot is not None and boot.estimates.shape[0] >= 10:
        idx = rng.choice(boot.estimates.shape[0], size=min(n, boot.estimates.shape[0]),
                         replace=False)
        X = boot.estimates[idx]
        U = problem.parameters.to_internal({k: X[:, i] for i, k in enumerate(problem.free)})
        nus = {k: v[idx] for k, v in boot.nuisance.items()}
        return U, nus, "bootstrap"
    if np.all(np.isfinite(cov_internal)):
        lo, hi = problem.parameters.bounds
        U = rng.multivariate_normal(u, cov_internal, size=n, method="eigh").T
        U = np.clip(U, lo[:, None], hi[:, None])
        return U, {k: np.full(n, v) for k, v in nu.items()}, "jacobian"
    return None, None, "none"


def _bands(problem, u, nu, cov_internal, post, boot, rng, level):
    """Bands of the prediction (parameter uncertainty) and of new observations (plus noise,
    with each draw's nuisance values when they were sampled)."""
    U, nus, how = _draws(problem, u, nu, cov_internal, post, boot, rng, _BAND_DRAWS)
    if U is None:
        return {}, how
    mu, ok = problem.predict(U)
    mu = {k: v[:, ok] for k, v in mu.items()}
    nus = {k: np.asarray(v)[ok] for k, v in nus.items()}
    Y = simulate_data(problem, mu, nus, rng, int(ok.sum()), keep_missing=False)
    q = [0.5 - level / 2, 0.5 + level / 2]
    out = {}
    for t in problem.targets:
        lo, hi = np.quantile(mu[t.name], q, axis=1)
        plo, phi = np.quantile(Y[t.name], q, axis=1)
        out[t.name] = {"lower": lo, "upper": hi, "pred_lower": plo, "pred_upper": phi}
    return out, how


def _diagnostics(problem: Problem, mu, nu, rng) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in problem.targets:
        m = mu[t.name][:, 0]
        try:
            d = dg.fit_statistics(t.y, m)
            d["ljung_box"] = dg.ljung_box(t.y[~np.isnan(t.y)] - m[~np.isnan(t.y)],
                                          lags=min(10, max(t.n_obs // 5, 1)))
        except DataError as exc:
            out[t.name] = {"error": str(exc)}
            continue
        ys = simulate_data(problem, {s.name: mu[s.name][:, 0] for s in problem.targets}, nu,
                           rng, 200)[t.name]
        exp = {"U_M": [], "U_S": [], "U_C": []}
        for i in range(ys.shape[1]):
            th = dg.theil(ys[:, i], m)
            for k in exp:
                exp[k].append(th[k])
        d["theil_expected"] = {k: tuple(float(x) for x in np.nanpercentile(v, [5, 50, 95]))
                               for k, v in exp.items()}
        out[t.name] = d
    return out

