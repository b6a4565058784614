"""Global sensitivity (SALib's Sobol and Morris) and a one-at-a-time tornado.

The designs are drawn on the unit hypercube and mapped through each parameter's inverse CDF
(``Distribution.ppf``), so Sobol indices are those of the parameters under their
distributions, and Morris elementary effects measure the change of a KPI when a parameter
moves across its range of probability.  All design points run through the vectorized
ensemble runner (one ``simulate`` call per chunk).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, SimulationError, UnknownNameError, close_matches
from ..model import Model
from ..output import write_frame
from ..simulate import DEFAULT_ATOL, DEFAULT_RTOL
from .core import _output_grid, prepare
from .distributions import (
    Distribution,
    LogNormal,
    Normal,
    Uncertainty,
    Uniform,
    as_uncertainty,
)
from .kpis import KPI, resolve_kpis
from .paths import scenario_paths
from .policy import Scenario
from .runner import Settings, run_ensemble

__all__ = ["sensitivity", "SensitivityResult", "SENSITIVITY_METHODS", "default_uncertainty"]

SENSITIVITY_METHODS = ("sobol", "morris", "oat")
_DEFAULT_N = {"sobol": 256, "morris": 20, "oat": 1}


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """The result of :func:`sensitivity`.

    Attributes
    ----------
    method : {"sobol", "morris", "oat"}
    table : DataFrame
        One row per (KPI, parameter), most influential first within each KPI.  Sobol:
        ``S1, S1_conf, ST, ST_conf`` (``_conf``: half-width of the confidence interval at
        ``conf_level``).  Morris: ``mu, mu_star, mu_star_conf, sigma``.  OAT: ``low, high``
        (parameter values), ``kpi_low, kpi_high, base, swing``.
    parameters : tuple of str
    kpi_defs : tuple of KPI
    n_runs : int
    failures : tuple of (run, message)
    info : Mapping
    """

    method: str
    table: pd.DataFrame
    parameters: tuple[str, ...]
    kpi_defs: tuple[KPI, ...]
    n_runs: int
    failures: tuple[tuple[int, str], ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", self.table.copy())
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`table`."""
        return self.table.copy()

    def ranking(self, kpi: str) -> pd.DataFrame:
        """The rows of one KPI, most influential parameter first."""
        if kpi not in [k.name for k in self.kpi_defs]:
            names = [k.name for k in self.kpi_defs]
            raise UnknownNameError(f"no KPI {kpi!r}; the KPIs are {', '.join(map(repr, names))}."
                                   f"{close_matches(kpi, names)}")
        return self.table[self.table["kpi"] == kpi].reset_index(drop=True)

    def to_csv(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        return write_frame(self.table, path, force=force)

    def __repr__(self) -> str:
        return (f"<SensitivityResult {self.method}: {len(self.parameters)} parameters, "
                f"{len(self.kpi_defs)} KPIs, {self.n_runs} runs>")


def default_uncertainty(model: Model, spread: float = 0.25) -> Uncertainty:
    """The parameters of a sensitivity analysis when none are given.

    In order: the meta.toml's ``[uncertainty]`` table (constant -> distribution), its policy
    levers (``[[lever]]`` with ``constant`` and ``range``: uniform over the range), else
    ``±spread`` (uniform) around every non-zero constant.
    """
    meta = model.metadata or {}
    if meta.get("uncertainty"):
        return as_uncertainty(dict(meta["uncertainty"]))
    levers = [lv for lv in meta.get("lever", []) or []
              if isinstance(lv, Mapping) and "range" in lv]
    if levers:
        try:
            return Uncertainty({str(lv.get("constant", lv.get("name"))):
                                Uniform(*[float(x) for x in lv["range"]]) for lv in levers})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{model.name}.meta.toml [[lever]]: `range` must be [low, high] "
                              f"({exc}).") from None
    dists: dict[str, Distribution] = {}
    for name, value in model.constants.items():
        if value is not None and value != 0:
            lo, hi = sorted((value * (1 - spread), value * (1 + spread)))
            dists[name] = Uniform(lo, hi)
    if not dists:
        raise ConfigError(f"model {model.name!r} has no non-zero constants to vary; give "
                          "`uncertainty`.")
    return Uncertainty(dists)


def _unbounded(d: Distribution) -> bool:
    return isinstance(d, LogNormal) or (isinstance(d, Normal) and (d.low is None
                                                                   or d.high is None))


def sensitivity(model: Model | str, uncertainty: Any = None, *, method: str = "sobol",
                kpis: Any = None, n_samples: int | None = None, scenario: Scenario | None = None,
                horizon: Any = None, seed: int | None = None, conf_level: float = 0.95,
                num_resamples: int = 100, second_order: bool = False, num_levels: int = 4,
                quantiles: tuple[float, float] = (0.05, 0.95), solver: str = "RK45",
                rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                executor: Any = None, chunk_size: int | None = None,
                progress: bool = False) -> SensitivityResult:
    """Which parameters move which KPI: Sobol indices, Morris screening or a tornado.

    Parameters
    ----------
    model : Model or str
    uncertainty : mapping or Uncertainty, optional
        The parameters and their distributions; default: see :func:`default_uncertainty`
        (the meta.toml's ``[uncertainty]``, else its levers' ranges, else ±25 %).
    method : {"sobol", "morris", "oat"}
        ``"sobol"``: first-order and total indices (SALib, Saltelli/Jansen estimators with
        bootstrap confidence intervals; ``n_samples * (D + 2)`` runs, or ``(2D + 2)`` with
        ``second_order``).  ``"morris"``: elementary effects of ``n_samples`` trajectories
        (``n_samples * (D + 1)`` runs).  ``"oat"``: one at a time from the default values to
        each parameter's ``quantiles`` (``2D + 1`` runs, a tornado; no confidence intervals).
    kpis : optional
        As in :func:`run_experiment`.
    n_samples : int, optional
        Sobol base sample size (a power of 2; default 256) or Morris trajectories (20).
    scenario : Scenario, optional
        Policies applied to every run (default: the baseline).
    horizon, seed
        As in :func:`run_experiment`.
    conf_level, num_resamples
        Bootstrap confidence intervals (SALib).
    second_order : bool
        Also estimate Sobol second-order indices (more runs; not in the table).
    num_levels : int
        Morris grid levels.
    quantiles : (float, float)
        OAT low and high points, as quantiles of each distribution.
    solver, rtol, atol, executor, chunk_size, progress
        As ``method`` (of the ODE solver) etc. in :func:`run_experiment`.

    Returns
    -------
    SensitivityResult

    Examples
    --------
    >>> import sts_dynamics as sd  # doctest: +SKIP
    >>> res = sd.sensitivity("sts_core", method="morris", n_samples=10, seed=1)  # doctest: +SKIP
    >>> res.ranking("incidents per year").head()  # doctest: +SKIP
    """
    if method not in SENSITIVITY_METHODS:
        raise ConfigError(f"`method` must be one of {', '.join(SENSITIVITY_METHODS)}, got "
                          f"{method!r}.")
    if isinstance(model, str):
        from ..io import load

        model = load(model)
    unc = as_uncertainty(uncertainty) if uncertainty is not None else \
        default_uncertainty(model)
    if unc is None or len(unc) == 0:
        raise ConfigError("sensitivity needs at least one uncertain parameter.")
    scen = scenario if scenario is not None else Scenario("baseline")
    scens, _, unc, (t0, t1), keys = prepare(model, [scen], unc, horizon, scen.name)
    resolved = resolve_kpis(model, kpis)
    n = _DEFAULT_N[method] if n_samples is None else n_samples
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"`n_samples` must be a positive integer, got {n_samples!r}.")
    if not 0 < conf_level < 1:
        raise ConfigError(f"`conf_level` must be between 0 and 1, got {conf_level!r}.")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**32))
    marg = unc.marginals()
    names = list(marg)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    if method == "sobol":
        if n & (n - 1):
            p2 = 1 << max(int(n - 1).bit_length(), 1)
            raise ConfigError(f"`n_samples` must be a power of 2 for Sobol sampling, got {n}; "
                              f"try {p2}.")
        from SALib.sample import sobol as sobol_sample

        unit = sobol_sample.sample(problem, int(n), calc_second_order=second_order,
                                   scramble=True, seed=seed)
        design = {name: marg[name].ppf(unit[:, i]) for i, name in enumerate(names)}
    elif method == "morris":
        from SALib.sample import morris as morris_sample

        unit = morris_sample.sample(problem, int(n), num_levels=num_levels, seed=seed)
        design = {}
        for i, name in enumerate(names):
            u = unit[:, i]
            if _unbounded(marg[name]):  # keep the grid's end levels finite
                u = 0.005 + 0.99 * u
            design[name] = marg[name].ppf(u)
    else:
        qlo, qhi = quantiles
        if not 0 <= qlo < qhi <= 1:
            raise ConfigError(f"`quantiles` must satisfy 0 <= low < high <= 1, got "
                              f"{quantiles!r}.")
        d = len(names)
        base = np.array([model.variables[keys[nm]].value for nm in names], dtype=float)
        rows = np.tile(base, (2 * d + 1, 1))
        for i, name in enumerate(names):
            rows[2 * i + 1, i] = float(marg[name].ppf(qlo))
            rows[2 * i + 2, i] = float(marg[name].ppf(qhi))
        unit = rows
        design = {name: rows[:, i] for i, name in enumerate(names)}
    n_runs = len(next(iter(design.values())))
    samples = {keys[name]: np.asarray(v, dtype=float) for name, v in design.items()}
    touched = dict.fromkeys(samples)
    for p in scens[0].policies:
        touched.update(dict.fromkeys(model.resolve(c) for c in p.constants))
    paths = [scenario_paths(model, scens[0], list(touched), samples)]
    t_eval = _output_grid(model, t0, t1, None, solver)
    settings = Settings((t0, t1), t_eval, tuple(resolved), (), model.control.time_units,
                        {"method": solver, "rtol": rtol, "atol": atol})
    out = run_ensemble(model, paths, n_runs, settings, executor=executor,
                       chunk_size=chunk_size, progress=progress, desc=f"{method} runs")
    Y = out.kpis[0]  # (n_kpis, n_runs)
    failures = tuple((i, msg) for _, i, msg in out.failed)
    if failures and method != "oat":
        i, msg = failures[0]
        first = ", ".join(f"{nm}={design[nm][i]:.4g}" for nm in names)
        raise SimulationError(
            f"{len(failures)} of {n_runs} runs of the {method} design failed (first: {first}: "
            f"{msg}); narrow the parameter ranges so that every run succeeds.",
            runs=tuple(i for i, _ in failures))
    rows_out = []
    for k, (kpi, _) in enumerate(resolved):
        y = Y[k]
        if method == "sobol":
            rows_out.extend(_sobol_rows(kpi, names, problem, y, second_order, num_resamples,
                                        conf_level, seed))
        elif method == "morris":
            rows_out.extend(_morris_rows(kpi, names, problem, unit, y, num_resamples,
                                         conf_level, num_levels, seed))
        else:
            for i, name in enumerate(names):
                lo_v, hi_v = y[2 * i + 1], y[2 * i + 2]
                rows_out.append({"kpi": kpi.name, "parameter": name,
                                 "low": unit[2 * i + 1, i], "high": unit[2 * i + 2, i],
                                 "kpi_low": lo_v, "kpi_high": hi_v, "base": y[0],
                                 "swing": abs(hi_v - lo_v)})
    table = pd.DataFrame(rows_out)
    sort_by = {"sobol": "ST", "morris": "mu_star", "oat": "swing"}[method]
    table["_order"] = [list(k.name for k, _ in resolved).index(x) for x in table["kpi"]]
    table = (table.sort_values(["_order", sort_by], ascending=[True, False], kind="stable")
             .drop(columns="_order").reset_index(drop=True))
    info = {"seed": seed, "n_samples": int(n), "conf_level": conf_level, "horizon": [t0, t1],
            "scenario": scens[0].name, "seconds": round(out.seconds, 3),
            "distributions": unc.describe()}
    return SensitivityResult(method, table, tuple(names), tuple(k for k, _ in resolved),
                             n_runs, failures, info)


def _sobol_rows(kpi, names, problem, y, second_order, num_resamples, conf_level, seed):
    from SALib.analyze import sobol

    if np.ptp(y) == 0:
        return [{"kpi": kpi.name, "parameter": nm, "S1": 0.0, "S1_conf": 0.0, "ST": 0.0,
                 "ST_conf": 0.0} for nm in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sobol.analyze(problem, y, calc_second_order=second_order,
                            num_resamples=num_resamples, conf_level=conf_level, seed=seed)
    return [{"kpi": kpi.name, "parameter": nm, "S1": float(res["S1"][i]),
             "S1_conf": float(res["S1_conf"][i]), "ST": float(res["ST"][i]),
             "ST_conf": float(res["ST_conf"][i])} for i, nm in enumerate(names)]


def _morris_rows(kpi, names, problem, unit, y, num_resamples, conf_level, num_levels, seed):
    from SALib.analyze import morris

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = morris.analyze(problem, unit, y, num_resamples=num_resamples,
                             conf_level=conf_level, num_levels=num_levels, seed=seed)
    return [{"kpi": kpi.name, "parameter": nm, "mu": float(res["mu"][i]),
             "mu_star": float(res["mu_star"][i]), "mu_star_conf": float(res["mu_star_conf"][i]),
             "sigma": float(res["sigma"][i])} for i, nm in enumerate(names)]
