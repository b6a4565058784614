"""The frozen result of :func:`~sts_dynamics.calibrate` and its lmfit-style report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..model import Model
from ..result import Simulation
from ..series import IncidentSeries
from .identifiability import Identifiability
from .mcmc import Posterior
from .parameters import ParameterSet

__all__ = ["CalibrationResult", "INTERVAL_METHODS"]

#: What each interval method means (the report's legend).
INTERVAL_METHODS = {
    "jacobian": "Wald, u +- z se in internal space from s^2 (J^T J)^-1",
    "profile": "profile likelihood (others re-optimized), chi2(1)/2 drop",
    "bootstrap": "parametric bootstrap, percentile",
    "mcmc": "posterior (emcee), equal-tailed",
}
_METHOD_NAMES = {
    "least_squares": "least_squares (trust-region reflective on deviance residuals, SciPy)",
    "nelder-mead": "nelder-mead (SciPy)",
    "powell": "powell (SciPy)",
    "differential_evolution": "differential_evolution (SciPy, vectorized), polished by "
                              "least squares",
}


def _ro(a: Any) -> np.ndarray:
    arr = np.array(a, dtype=float)
    arr.flags.writeable = False
    return arr


def _g(x: float, digits: int = 6) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.{digits}g}"


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """The result of :func:`sts_dynamics.calibrate`.

    Attributes
    ----------
    params : Mapping[str, float]
        Fitted values of the free parameters and the values of the fixed ones.
    parameters : ParameterSet
        The parameters as given (bounds, transforms, priors; values are the starts).
    free : tuple of str
        The free parameters, in the order of ``covariance`` and ``correlations``.
    stderr : Mapping[str, float]
        Standard errors of the free parameters (Jacobian, delta method).
    intervals : Mapping[str, Mapping[str, tuple[float, float]]]
        ``intervals[name][method] = (lower, upper)`` at ``level``, for each method run:
        ``"jacobian"``, ``"profile"``, ``"bootstrap"``, ``"mcmc"`` (see
        :data:`INTERVAL_METHODS`).
    covariance, correlations : ndarray, shape (n_free, n_free)
    nuisance : Mapping[str, Mapping[str, float]]
        Estimated observation-model parameters per series, e.g. ``{"count": {"phi": 3.1}}``.
    loglik, chi2, reduced_chi2, aic, bic : float
        At the optimum; ``chi2`` is the sum of squared deviance residuals.
    diagnostics : Mapping[str, dict]
        Per series: :func:`~.diagnostics.fit_statistics` on the fitting window, Ljung-Box,
        and ``theil_expected`` (5 %, 50 %, 95 % of the Theil shares of data simulated from
        the fitted model: what a correct model would show).
    holdout : Mapping[str, dict] or None
        Per series: :func:`~.diagnostics.holdout_scores` of the held-out observations.
    identifiability : Identifiability
    posterior : Posterior or None
    bootstrap, profile : or None
        Raw results of those methods.
    data : IncidentSeries
        All observations (fitting window and hold-out).
    fitted : Mapping[str, ndarray]
        The model's prediction of each series over all of ``data``.
    bands : Mapping[str, Mapping[str, ndarray]]
        ``lower``/``upper`` (the prediction) and ``pred_lower``/``pred_upper`` (new
        observations) at ``level``, from ``band_method`` draws.
    simulation : Simulation
        The fitted run over the whole data span.
    failed : tuple of FailedSet
        Parameter sets whose simulation failed (treated as infeasible).
    starts : tuple of dict
        Multi-start table: each start, where it ended and its objective (-log L).
    n_simulations, n_runs : int
        Ensemble solves and runs in all; ``n_fit_simulations``, ``n_fit_runs`` for the point
        fit alone.
    """

    model: Model
    data: IncidentSeries
    parameters: ParameterSet
    params: Mapping[str, float]
    free: tuple[str, ...]
    init: Mapping[str, float]
    stderr: Mapping[str, float]
    intervals: Mapping[str, Mapping[str, tuple[float, float]]]
    level: float
    covariance: np.ndarray
    correlations: np.ndarray
    nuisance: Mapping[str, Mapping[str, float]]
    loglik: float
    loglik_by_series: Mapping[str, float]
    chi2: float
    reduced_chi2: float
    n_obs: int
    n_varys: int
    method: str
    success: bool
    message: str
    diagnostics: Mapping[str, Mapping[str, Any]]
    holdout: Mapping[str, Mapping[str, Any]] | None
    split_index: int | None
    identifiability: Identifiability
    posterior: Posterior | None
    bootstrap: Any
    profile: Any
    fitted: Mapping[str, np.ndarray]
    bands: Mapping[str, Mapping[str, np.ndarray]]
    band_method: str
    targets: Mapping[str, Mapping[str, Any]]
    simulation: Simulation
    failed: tuple = ()
    starts: tuple = ()
    n_simulations: int = 0
    n_runs: int = 0
    n_fit_simulations: int = 0
    n_fit_runs: int = 0
    elapsed: float = 0.0
    notes: tuple[str, ...] = ()
    rank: int = 0
    aic: float = field(init=False)
    bic: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariance", _ro(self.covariance))
        object.__setattr__(self, "correlations", _ro(self.correlations))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "stderr", MappingProxyType(dict(self.stderr)))
        object.__setattr__(self, "intervals", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in self.intervals.items()}))
        object.__setattr__(self, "fitted", MappingProxyType(
            {k: _ro(v) for k, v in self.fitted.items()}))
        object.__setattr__(self, "bands", MappingProxyType(
            {k: MappingProxyType({b: _ro(a) for b, a in v.items()})
             for k, v in self.bands.items()}))
        k = self.n_varys
        object.__setattr__(self, "aic", float(2 * k - 2 * self.loglik))
        object.__setattr__(self, "bic", float(k * math.log(max(self.n_obs, 1))
                                              - 2 * self.loglik))

    # -- tables ---------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: value, stderr, init, min, max, vary, transform, at_bound,
        then ``lower_<method>``/``upper_<method>`` for each interval method run."""
        methods = [m for m in ("jacobian", "profile", "bootstrap", "mcmc")
                   if any(m in v for v in self.intervals.values())]
        rows = []
        for p in self.parameters:
            row: dict[str, Any] = {
                "parameter": p.name, "value": self.params[p.name],
                "stderr": self.stderr.get(p.name, math.nan), "init": self.init[p.name],
                "min": p.min, "max": p.max, "vary": p.vary, "transform": p.transform,
                "at_bound": (p.at_bound(self.params[p.name]) or "") if p.vary else ""}
            for m in methods:
                lo, hi = self.intervals.get(p.name, {}).get(m, (math.nan, math.nan))
                row[f"lower_{m}"], row[f"upper_{m}"] = lo, hi
            rows.append(row)
        return pd.DataFrame(rows).set_index("parameter")

    def fitted_frame(self) -> pd.DataFrame:
        """Observed and fitted series with bands, one row per observation: ``date`` (if
        known), ``t``, ``t_start``, ``t_end``, ``window`` ("fit"/"holdout"), then per series
        ``<s>``, ``<s>_fitted``, ``<s>_lower``, ``<s>_upper``, ``<s>_pred_lower``,
        ``<s>_pred_upper``."""
        d = self.data
        cols: dict[str, Any] = {}
        if d.date is not None:
            cols["date"] = d.date
        cols["t"] = d.time
        if d.t_start is not None:
            cols["t_start"], cols["t_end"] = d.t_start, d.t_end
        window = np.full(len(d), "fit", dtype=object)
        if self.split_index is not None:
            window[self.split_index:] = "holdout"
        cols["window"] = window
        for name in self.targets:
            cols[name] = d[name]
            cols[f"{name}_fitted"] = self.fitted[name]
            for b in ("lower", "upper", "pred_lower", "pred_upper"):
                if name in self.bands:
                    cols[f"{name}_{b}"] = self.bands[name][b]
        return pd.DataFrame({k: np.array(v) if isinstance(v, np.ndarray) else v
                             for k, v in cols.items()})

    # -- report ---------------------------------------------------------------------------------
    def report(self, *, min_correl: float = 0.1) -> str:
        """A text report in lmfit's section layout plus intervals, identifiability,
        diagnostics and notes."""
        L: list[str] = []
        ind = "    "
        L.append("[[Model]]")
        src = f" ({Path(self.model.source).name})" if self.model.source else ""
        L.append(f"{ind}{self.model.name}{src}")
        w = max(len(n) for n in self.targets)
        for name, t in self.targets.items():
            obs = t["noise"]
            nn = obs.nuisance_name
            est = f" ({nn} estimated)" if nn and getattr(obs, nn) is None else ""
            how = ("counts per interval (difference of the stock)" if t["kind"] == "counts"
                   else "value at observation times")
            fac = f" x {t['factor']:g}" if t["factor"] != 1 else ""
            L.append(f"{ind}{name:<{w}} <- {t['variable']!r}{fac}: {how}, "
                     f"{type(obs).__name__}{est if est else _fixed_noise(obs)}")
        L.append("[[Fit Statistics]]")
        per = ", ".join(f"{k} {self._n_obs_series(k)}" for k in self.targets)
        nnuis = self.n_varys - len(self.free)
        stats = [
            ("# fitting method", _METHOD_NAMES.get(self.method, self.method)),
            ("# simulations", f"{self.n_fit_simulations} ensemble solves ({self.n_fit_runs} "
                              f"runs) for the point fit; {self.n_simulations} "
                              f"({self.n_runs} runs) in all"),
            ("# data points", f"{self.n_obs} ({per})"),
            ("# variables", f"{len(self.free)}" + (f" (+ {nnuis} nuisance)" if nnuis else "")),
            ("chi-square", f"{_g(self.chi2, 8)}  (sum of squared deviance residuals)"),
            ("reduced chi-square", _g(self.reduced_chi2, 8)),
            ("log-likelihood", _g(self.loglik, 8)),
            ("Akaike info crit", _g(self.aic, 8)),
            ("Bayesian info crit", _g(self.bic, 8)),
        ]
        if self.split_index is not None:
            stats.append(("# hold-out", f"observations {self.split_index}..{len(self.data) - 1}"
                                        f" (t >= {self.data.time[self.split_index]:g}) held out"))
        if not self.success:
            stats.append(("# warning", f"the optimizer did not converge: {self.message}"))
        for k, v in stats:
            L.append(f"{ind}{k:<19}= {v}")
        L.append("[[Variables]]")
        wn = max(len(p.name) for p in self.parameters) + 1
        for p in self.parameters:
            v = self.params[p.name]
            head = f"{ind}{p.name + ':':<{wn}} {_g(v, 8):>12}"
            if not p.vary:
                L.append(f"{head} (fixed)")
                continue
            se = self.stderr.get(p.name, math.nan)
            rel = f" ({100 * se / abs(v):.2f}%)" if v != 0 and math.isfinite(se) else ""
            bound = p.at_bound(v)
            flag = f"  AT {bound.upper()} BOUND" if bound else ""
            L.append(f"{head} +/- {_g(se, 6):<10}{rel} (init = {_g(self.init[p.name])}) "
                     f"[{_g(p.min)}, {_g(p.max)}] {p.transform}{flag}")
        for s, d in self.nuisance.items():
            for k, v in d.items():
                L.append(f"{ind}{s + ' ' + k + ':':<{wn}} {_g(v, 8):>12} (nuisance, estimated)")
        L.append(f"[[Correlations]] (unreported correlations are < {min_correl:.3f})")
        pairs = []
        for i in range(len(self.free)):
            for j in range(i + 1, len(self.free)):
                c = self.correlations[i, j]
                if np.isfinite(c) and abs(c) >= min_correl:
                    pairs.append((abs(c), f"{ind}C({self.free[i]}, {self.free[j]}) = {c:+.4f}"))
        L.extend(t for _, t in sorted(pairs, key=lambda x: -x[0]))
        L.append(f"[[Intervals]] ({100 * self.level:g}%)")
        methods = [m for m in INTERVAL_METHODS if any(m in v for v in self.intervals.values())]
        for m in methods:
            L.append(f"{ind}{m:<10} {INTERVAL_METHODS[m]}")
        for n in self.free:
            L.append(f"{ind}{n}:")
            for m, (lo, hi) in self.intervals[n].items():
                L.append(f"{ind}{ind}{m:<10} [{_g(lo)}, {_g(hi)}]")
        L.append("[[Identifiability]]")
        L.extend(ind + s for s in self.identifiability.lines())
        L.append("[[Diagnostics]]")
        L.extend(self._diagnostic_lines(ind))
        if self.posterior is not None:
            post = self.posterior
            L.append("[[Posterior]]")
            L.append(f"{ind}{post.n_walkers} walkers x {post.n_steps} steps, burn-in "
                     f"{post.burn}, acceptance {post.acceptance:.3f}")
            for n, s in post.summary(self.level).items():
                L.append(f"{ind}{n}: mean {_g(s['mean'])}, sd {_g(s['sd'], 4)}, R-hat "
                         f"{s['rhat']:.3f}, ESS {s['ess']:.0f}")
        if self.bands:
            L.append(f"{ind}bands: {100 * self.level:g}% from {self.band_method} draws")
        if self.notes or self.failed:
            L.append("[[Notes]]")
            L.extend(f"{ind}- {n}" for n in self.notes)
            for f in self.failed[:5]:
                vals = ", ".join(f"{k}={_g(v, 4)}" for k, v in f.values.items())
                L.append(f"{ind}  failed: {vals}: {f.message[:160]}")
        return "\n".join(L) + "\n"

    def _n_obs_series(self, name: str) -> int:
        d = self.diagnostics.get(name, {})
        return int(d.get("n", 0))

    def _diagnostic_lines(self, ind: str) -> list[str]:
        out = []
        for name, d in self.diagnostics.items():
            if "error" in d:
                out.append(f"{ind}{name}: {d['error']}")
                continue
            out.append(f"{ind}{name} ({d['n']} observations, fitting window):")
            ex = d.get("theil_expected", {})
            exs = " / ".join(f"{ex[k][1]:.2f} [{ex[k][0]:.2f}, {ex[k][2]:.2f}]"
                             for k in ("U_M", "U_S", "U_C")) if ex else ""
            out.append(f"{ind}{ind}Theil U_M / U_S / U_C = {d['U_M']:.3f} / {d['U_S']:.3f} / "
                       f"{d['U_C']:.3f}")
            if exs:
                out.append(f"{ind}{ind}  under the fitted noise model (median [5%, 95%]): "
                           f"{exs}")
            mape = ("n/a (zero observations)" if math.isnan(d["mape"])
                    else f"{_g(d['mape'], 4)}%")
            out.append(f"{ind}{ind}RMSE = {_g(d['rmse'], 4)}, r = {_g(d['r'], 4)}, R^2 = "
                       f"{_g(d['r_squared'], 4)}, MAPE = {mape}, MASE = {_g(d['mase'], 4)}")
            lb = d.get("ljung_box", {})
            acf = d.get("autocorrelation", {})
            out.append(f"{ind}{ind}Durbin-Watson = {d['durbin_watson']:.3f}, residual ACF(1) = "
                       f"{acf.get(1, math.nan):.3f}, Ljung-Box Q({lb.get('df', 0):.0f}) = "
                       f"{lb.get('q', math.nan):.2f} (p = {lb.get('p_value', math.nan):.3g})")
        if self.holdout:
            n_h = len(self.data) - (self.split_index or 0)
            out.append(f"{ind}hold-out ({n_h} observations after the fitting window):")
            for name, h in self.holdout.items():
                m = h["model"]
                base = ", ".join(f"{b} {h[b]['mae']:.3g}" for b in h["skill"])
                skill = ", ".join(f"{b} {v:+.2f}" for b, v in h["skill"].items())
                out.append(f"{ind}{ind}{name}: model MAE {m['mae']:.3g}, RMSE {m['rmse']:.3g}, "
                           f"bias {m['bias']:+.3g}; naive MAE: {base}; skill: {skill}")
        return out

    def __repr__(self) -> str:
        vals = ", ".join(f"{n}={self.params[n]:.4g}" for n in self.free)
        return (f"<CalibrationResult of {self.model.name!r}: {vals}; log L = {self.loglik:.6g}, "
                f"{self.n_obs} observations>")


def _fixed_noise(obs) -> str:
    nn = obs.nuisance_name
    return f" ({nn} = {getattr(obs, nn):g})" if nn else ""
