"""``optimize_policy()``: joint optimization of technical and social levers.

Differential evolution (SciPy, ``vectorized=True``) searches the lever settings: each
generation is ONE vectorized ensemble of ``population x Monte Carlo samples`` runs.  The best
setting is then polished with L-BFGS-B, whose finite-difference gradient is one more
ensemble per step (the point and one neighbour per decision variable).  With ``compare``
(the default) the technical levers alone and the social levers alone are optimized first,
the other subsystem's levers held at their model values; the joint search starts from a
population that contains both optima, so the joint optimum is never worse than either.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import differential_evolution, minimize

from ..errors import ConfigError
from ..experiments.core import parse_horizon
from ..experiments.distributions import as_uncertainty
from ..experiments.kpis import resolve_kpis
from ..experiments.paths import resolve_constant
from ..model import Model
from ..simulate import DEFAULT_ATOL, DEFAULT_RTOL, METHODS
from .expression import parse_expression
from .levers import resolve_levers
from .matrix import output_grid
from .optimum import PolicyOptimum, Strategy
from .problem import PENALTY, Problem, check_periods, parse_robust, period_starts, resolve_names

__all__ = ["optimize_policy", "DEFAULT_OBJECTIVE"]

#: The objective of the issue's example: incidents plus a tenth of the levers' cost.
DEFAULT_OBJECTIVE = "incidents + 0.1 * cost"


def _constraints(constraints: Any, budget: Any) -> list[str]:
    if constraints is None:
        items: list[str] = []
    elif isinstance(constraints, str):
        items = [constraints]
    elif isinstance(constraints, Sequence):
        items = list(constraints)
    else:
        raise ConfigError(f"`constraints` must be a string such as 'cost <= 300' or a list of "
                          f"them, got {constraints!r}.")
    for c in items:
        if not isinstance(c, str):
            raise ConfigError(f"`constraints`: each constraint must be a string such as "
                              f"'staffing >= 12', got {c!r}.")
    if budget is not None:
        try:
            b = float(budget)
        except (TypeError, ValueError):
            b = math.nan
        if isinstance(budget, bool) or not math.isfinite(b):
            raise ConfigError(f"`budget` must be a finite number, got {budget!r}.")
        items.append(f"cost <= {b!r}")
    return items


def optimize_policy(model: Model | str, levers: Any = None, objective: str = DEFAULT_OBJECTIVE,
                    *, horizon: Any = None, constraints: Any = None, budget: float | None = None,
                    time_varying: bool | int = False, robust: Any = None,
                    uncertainty: Any = None, costs: Mapping[str, float] | None = None,
                    kpis: Any = None, compare: bool = True, seed: int | None = None,
                    maxiter: int = 100, popsize: int = 15, tol: float = 1e-6,
                    polish: bool = True, method: str = "RK45", rtol: float = DEFAULT_RTOL,
                    atol: float = DEFAULT_ATOL,
                    percentiles: tuple[float, float] = (5.0, 95.0)) -> PolicyOptimum:
    """Lever settings that minimize ``objective`` over the horizon, jointly and per subsystem.

    Parameters
    ----------
    model : Model or str
    levers : mapping or sequence, optional
        ``{name: (low, high)}``: names of the model's ``[[lever]]`` tables or of constants;
        ``None`` bounds (or a plain list of names) take the declared ``range``.  Default:
        every declared lever.
    objective : str
        An expression to minimize (see :mod:`sts_dynamics.sociotech.expression`) over
        ``cost`` (the levers' cost per model time unit: sum of ``cost_per_unit`` x value,
        averaged over the periods), lever names, KPI names of the model's ``[kpis]`` (or a
        unique whole-word prefix: ``incidents`` for ``incidents per year``) and variable
        names (the final value of a stock, the mean over the horizon of anything else).
    horizon : float or str, optional
        Run length (default FINAL TIME).
    constraints : str or sequence of str, optional
        Comparisons such as ``"cost <= 300"`` or ``"staffing >= 12"``.  A setting that
        breaks one scores above every setting that keeps them all.
    budget : float, optional
        Shorthand for the constraint ``cost <= budget``.
    time_varying : bool or int
        ``False``: each lever is one constant; ``k``: piecewise constant over ``k`` equal
        periods of the horizon (``True``: 4), applied as a :class:`~sts_dynamics.TimeSeries`.
    robust : {None, "mean", "p90", ("mean" | "pNN", n_samples)}
        Optimize the mean or a percentile of the objective over ``n_samples`` (default 32)
        Monte Carlo samples of ``uncertainty`` (common to every setting).  Constraints must
        hold for the same statistic of their left side minus right side.
    uncertainty : mapping or Uncertainty, optional
        Distributions of constants for ``robust`` (default: the model's meta.toml
        ``[uncertainty]``).
    costs : mapping, optional
        Cost per unit of a lever, overriding its ``cost_per_unit``.
    kpis : sequence, optional
        KPIs reported by :meth:`PolicyOptimum.compare` (default: the model's).
    compare : bool
        Also optimize the technical and the social levers alone (three searches).
    seed : int, optional
        Seed of the Monte Carlo samples and the searches (drawn when ``None``; stored).
    maxiter, popsize, tol
        Differential evolution: generations, population per decision variable, relative
        tolerance of convergence.
    polish : bool
        Polish the best setting with L-BFGS-B (vectorized finite differences).
    method, rtol, atol
        Passed to :func:`~sts_dynamics.simulate`.
    percentiles : (float, float)
        Bands of :meth:`PolicyOptimum.compare` when robust.

    Returns
    -------
    PolicyOptimum

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> jo = sd.optimize_policy(sd.load("sts_core"),
    ...                         levers={"automation level": (0.2, 0.95),
    ...                                 "training hours": (0, 8),
    ...                                 "alert tuning effort": (0, 1)},
    ...                         objective="incidents + 0.1 * cost", seed=1)  # doctest: +SKIP
    >>> jo.compare()[["objective", "cost", "incidents per year"]]          # doctest: +SKIP
    """
    started = time.perf_counter()
    if isinstance(model, str):
        from ..io import load

        model = load(model)
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model from sts_dynamics.load() or a model name, got "
                        f"{type(model).__name__}.")
    if method not in METHODS:
        raise ConfigError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}.")
    for name, val, lo in (("maxiter", maxiter, 1), ("popsize", popsize, 2)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < lo:
            raise ConfigError(f"`{name}` must be an integer >= {lo}, got {val!r}.")
    if not (isinstance(tol, int | float) and tol >= 0):
        raise ConfigError(f"`tol` must be a number >= 0, got {tol!r}.")
    lev = resolve_levers(model, levers, costs)
    t0, t1 = parse_horizon(model, horizon)
    periods = check_periods(time_varying)
    obj = parse_expression(objective, what="objective")
    cons = [parse_expression(c, what="constraint", comparison=True)
            for c in _constraints(constraints, budget)]
    measures = resolve_names(model, obj.names, lev, "objective")
    for c in cons:
        measures.update(resolve_names(model, c.names, lev, f"constraint {c.text!r}"))
    notes: list[str] = []
    if any(m.kind == "cost" for m in measures.values()):
        free = [lv.name for lv in lev if lv.cost_per_unit == 0]
        if free:
            notes.append(f"Levers without a cost_per_unit cost nothing in 'cost': "
                         f"{', '.join(map(repr, free))}.")
    for lv in lev:
        if lv.held != lv.default and compare:
            notes.append(f"{lv.name!r} is {lv.default:g} in the model, outside its bounds "
                         f"[{lv.low:g}, {lv.high:g}]: the single-subsystem searches hold it at "
                         f"{lv.held:g} (the baseline keeps {lv.default:g}).")
    label, pct, n_samples = parse_robust(robust)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**32))
    seeds = np.random.SeedSequence(seed).spawn(4)
    samples: dict[str, np.ndarray] = {}
    if label is not None:
        unc = as_uncertainty(uncertainty)
        if unc is None:
            table = (model.metadata or {}).get("uncertainty")
            if not table:
                raise ConfigError(f"`robust` needs `uncertainty`: distributions of uncertain "
                                  f"constants (model {model.name!r} has no [uncertainty] in its "
                                  "meta.toml), for example {'skill decay rate': "
                                  "Uniform(0.012, 0.025)}.")
            unc = as_uncertainty(dict(table))
        lever_consts = {lv.constant for lv in lev}
        drawn = unc.sample(n_samples, np.random.default_rng(seeds[0]))
        for name, vals in drawn.items():
            key = resolve_constant(model, name, "uncertainty")
            cname = model.variables[key].name
            if cname in lever_consts:
                raise ConfigError(f"`uncertainty` names {cname!r}, which is a lever being "
                                  "optimized; levers are decisions, not uncertainties.")
            samples[cname] = np.asarray(vals, dtype=float)
    elif uncertainty is not None:
        raise ConfigError("`uncertainty` is used only by a robust optimization; pass "
                          "robust='mean' or robust='p90' (or ('p90', n_samples)).")
    report = [k for k, _ in resolve_kpis(model, kpis)] if (
        kpis is not None or (model.metadata or {}).get("kpis")) else []
    problem = Problem(model=model, levers=lev, periods=periods,
                      period_starts=period_starts(t0, t1, periods), t_span=(t0, t1),
                      t_eval=output_grid(model, t0, t1), objective=obj, constraints=cons,
                      measures=measures, report_kpis=report, samples=samples,
                      n_samples=n_samples if label else 0, percentile=pct, robust=label,
                      solver={"method": method, "rtol": rtol, "atol": atol})
    opts = dict(maxiter=int(maxiter), popsize=int(popsize), tol=float(tol), polish=polish)
    held = problem.held()
    strategies: dict[str, Strategy] = {}
    f_base, o_base, v_base = problem.evaluate(problem.defaults()[None, :])
    strategies["baseline"] = Strategy("baseline", (), problem.defaults(), float(o_base[0]),
                                      bool(v_base[0] == 0), float(v_base[0]),
                                      message="the model's values")
    starts = [held]
    if compare:
        for i, sub in enumerate(("technical", "social")):
            st = _search(problem, f"{sub} only", sub, held, [held], seeds[1 + i], **opts)
            strategies[st.name] = st
            starts.append(st.x)
    strategies["joint"] = _search(problem, "joint", None, held, starts, seeds[3], **opts)
    table, samples = _table(problem, strategies, percentiles)
    # the joint space holds the single-subsystem optima: keep the best setting found
    names_order = list(strategies)
    best = min((s for s in ("technical only", "social only") if s in strategies),
               key=lambda s: table.loc[s, "_penalized"], default=None)
    if best is not None and table.loc[best, "_penalized"] < table.loc["joint", "_penalized"]:
        js = strategies["joint"]
        strategies["joint"] = Strategy("joint", js.searched, strategies[best].x.copy(),
                                       strategies[best].objective, strategies[best].feasible,
                                       strategies[best].violation, js.nfev, js.nit,
                                       js.message + f"; the {best} optimum was better")
        table.loc["joint"] = table.loc[best]
        for v in samples.values():
            v[names_order.index("joint")] = v[names_order.index(best)]
    table = table.drop(columns="_penalized")
    if not compare:
        table = table.loc[["baseline", "joint"]]
    rows = [names_order.index(n) for n in table.index]
    samples = {k: v[rows] for k, v in samples.items()}
    names = {name: m.description for name, m in measures.items()}
    nfev = sum(s.nfev for s in strategies.values())
    if not strategies["joint"].feasible:
        notes.append("No setting that keeps every constraint was found; the optimum is the "
                     "least infeasible setting.")
    return PolicyOptimum(
        model=model, objective=obj.text, constraints=tuple(c.text for c in cons),
        levers=tuple(lev), periods=periods, period_starts=problem.period_starts,
        horizon=(t0, t1), robust=label, n_samples=problem.n_samples, strategies=strategies,
        table=table, samples=samples, names=names, seed=seed, nfev=nfev,
        simulations=problem.simulations, runs=problem.runs,
        seconds=round(time.perf_counter() - started, 3), percentiles=tuple(percentiles),
        notes=tuple(notes))


def _search(problem: Problem, name: str, subsystem: str | None, base: np.ndarray,
            starts: list[np.ndarray], seed: Any, *, maxiter: int, popsize: int, tol: float,
            polish: bool) -> Strategy:
    """Differential evolution over the levers of ``subsystem`` (all: ``None``), the others
    held at ``base``; ``starts`` join the initial population."""
    cols = problem.columns(subsystem)
    searched = tuple(dict.fromkeys(problem.levers[c // problem.periods].name for c in cols))
    if not len(cols):
        f, o, v = problem.evaluate(base[None, :])
        return Strategy(name, (), base.copy(), float(o[0]), bool(v[0] == 0), float(v[0]),
                        nfev=1, message=f"no {subsystem} levers: held at their model values")
    bounds = problem.bounds()[cols]
    rng = np.random.default_rng(seed)
    nfev = 0

    def full(Z: np.ndarray) -> np.ndarray:
        X = np.tile(base, (len(Z), 1))
        X[:, cols] = Z
        return X

    def batch(Z: np.ndarray) -> np.ndarray:
        nonlocal nfev
        nfev += len(Z)
        return problem.evaluate(full(Z))[0]

    d = len(cols)
    n_pop = max(5, popsize * d)
    from scipy.stats import qmc  # scipy.stats takes 0.5 s to import: only when used

    unit = qmc.LatinHypercube(d=d, rng=rng).random(n_pop)
    init = bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])
    for i, s in enumerate(starts[:n_pop]):
        init[i] = np.clip(s[cols], bounds[:, 0], bounds[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = differential_evolution(lambda z: batch(np.asarray(z).T), bounds, init=init,
                                     maxiter=maxiter, tol=tol, rng=rng, polish=False,
                                     vectorized=True, updating="deferred")
    z, fz = np.asarray(res.x, dtype=float), float(res.fun)
    message = str(res.message)
    if polish:
        zp, fp, n_p = _polish(batch, z, bounds)
        if fp < fz:
            z, fz = zp, fp
            message += "; polished with L-BFGS-B"
    x = full(z[None, :])[0]
    _, o, v = problem.evaluate(x[None, :])
    return Strategy(name, searched, x, float(o[0]), bool(v[0] == 0), float(v[0]), nfev=nfev,
                    nit=int(res.nit), message=message)


def _polish(batch: Any, z0: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, float, int]:
    """L-BFGS-B from ``z0``; value and forward-difference gradient in one ensemble."""
    span = bounds[:, 1] - bounds[:, 0]
    h = 1e-6 * span
    calls = 0

    def fg(z: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal calls
        calls += 1
        step = np.where(z + h <= bounds[:, 1], h, -h)
        pts = np.vstack([z, z + np.diag(step)])
        f = batch(pts)
        if not np.isfinite(f[0]) or f[0] >= PENALTY:
            return float(f[0]), np.zeros_like(z)
        return float(f[0]), (f[1:] - f[0]) / step

    try:
        res = minimize(fg, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 100})
    except (ValueError, FloatingPointError):  # pragma: no cover - a failed polish is skipped
        return z0, math.inf, calls
    return np.clip(np.asarray(res.x, dtype=float), bounds[:, 0], bounds[:, 1]), \
        float(res.fun), calls


def _table(problem: Problem, strategies: Mapping[str, Strategy],
           percentiles: tuple[float, float]) -> pd.DataFrame:
    """One ensemble for all strategies: objective, cost, levers and KPIs (with bands)."""
    names = list(strategies)
    X = np.vstack([strategies[n].x for n in names])
    kpis, kp = problem.simulate_kpis(X, report=True)
    vals = problem.values(X, kpis, kp)
    n_s = max(problem.n_samples, 1)
    with np.errstate(all="ignore"):
        per_run = np.broadcast_to(problem.objective.evaluate(vals), (len(X), n_s))
        obj = problem.aggregate(per_run)
        viol = np.zeros(len(X))
        for c in problem.constraints:
            r = problem.aggregate(np.broadcast_to(c.residual(vals), (len(X), n_s)))
            viol += np.where(np.isfinite(r), np.maximum(r, 0.0), np.inf)
    pen = np.where(viol > 0, PENALTY * (1.0 + np.minimum(viol, 1e6)), obj)
    pen = np.where(np.isfinite(pen), pen, PENALTY * 1e7)
    cost = problem.cost(X)
    lv = problem.lever_values(X).mean(axis=2)
    robust = problem.robust is not None
    lo, hi = percentiles
    data: dict[str, Any] = {"objective": obj, "feasible": viol == 0, "cost": cost}
    if robust:
        data[f"objective p{lo:g}"] = np.nanpercentile(per_run, lo, axis=1)
        data[f"objective p{hi:g}"] = np.nanpercentile(per_run, hi, axis=1)
    for i, lever in enumerate(problem.levers):
        data[lever.name] = lv[:, i]
    report = [k.name for k in kpis if k.name in {r.name for r in problem.report_kpis}] or \
        [k.name for k in kpis]
    pos = {k.name: j for j, k in enumerate(kpis)}
    for name in report:
        v = kp[pos[name]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            data[name] = np.nanmedian(v, axis=1)
            if robust:
                data[f"{name} p{lo:g}"] = np.nanpercentile(v, lo, axis=1)
                data[f"{name} p{hi:g}"] = np.nanpercentile(v, hi, axis=1)
    data["_penalized"] = pen
    table = pd.DataFrame(data, index=pd.Index(names, name="strategy"))
    table.attrs["kpis"] = tuple(report)
    samples = {name: kp[pos[name]] for name in report}
    samples["objective"] = np.array(per_run, dtype=float)
    return table, samples
