"""Uncertainty of a fit: Jacobian covariance, profile likelihood, parametric bootstrap.

Every interval is computed in internal (transformed) space and mapped back, so intervals
respect the bounds and are asymmetric where a transform is nonlinear.

- ``jacobian``: ``s**2 (J^T J)^-1`` of the scaled deviance residuals (``s**2`` = deviance /
  (n - p), lmfit's scaled covariance), intervals ``u +- z * se`` in internal space.
- ``profile``: for each parameter, the values where the profile log-likelihood (the others,
  and the nuisance parameters, re-optimized) falls ``chi2(1, level) / 2`` (1.92 at 95 %)
  below its maximum. All parameters and both directions are searched together: each search
  round is one batched refit.
- ``bootstrap``: refits to data simulated from the fitted model and its fitted noise model,
  all replicates in one batched refit; percentile intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from .observation import MU_FLOOR, Gaussian, LogNormal, NegativeBinomial, Poisson
from .optimize import refit_batch
from .problem import Problem

__all__ = ["Wald", "wald", "profile", "Profile", "bootstrap", "Bootstrap", "internal_to_external"]

_LOGIT_CAP = 35.0  # |logit| beyond this is at the bound for any practical purpose


def internal_to_external(problem: Problem, U: np.ndarray) -> np.ndarray:
    """Internal ``(p, m)`` -> external ``(p, m)`` values of the free parameters."""
    vals = problem.parameters.from_internal(np.asarray(U, dtype=float).reshape(problem.n_free,
                                                                               -1))
    return np.array([np.atleast_1d(vals[n]) for n in problem.free], dtype=float)


def inside_start(problem: Problem, u: np.ndarray, margin: float = 4.6) -> np.ndarray:
    """``u`` with logit coordinates pulled within ``+-margin`` (1 % of the range from a
    bound): at a bound a logit's derivative vanishes and refits could not leave it."""
    u = np.array(u, dtype=float)
    for j, name in enumerate(problem.free):
        if problem.parameters[name].transform == "logit":
            u[j] = np.clip(u[j], -margin, margin)
    return u


def _dx_du(problem: Problem, u: np.ndarray) -> np.ndarray:
    h = 1e-6 * np.maximum(1.0, np.abs(u))
    out = np.empty(u.size)
    for j, name in enumerate(problem.free):
        p = problem.parameters[name]
        out[j] = (p.from_internal(u[j] + h[j]) - p.from_internal(u[j] - h[j])) / (2 * h[j])
    return out


@dataclass
class Wald:
    """Covariance from the Jacobian, internal and external."""

    cov_internal: np.ndarray
    cov: np.ndarray
    stderr: np.ndarray
    correlations: np.ndarray
    intervals: np.ndarray        # (p, 2) external
    scale: float                 # s**2
    dof: int
    rank: int


def wald(problem: Problem, u: np.ndarray, J: np.ndarray, chi2: float, n_data: int,
         level: float = 0.95) -> Wald:
    """Jacobian covariance at the optimum ``u``; ``J`` has shape ``(n_res, p)``."""
    p = u.size
    dof = max(n_data - p, 1)
    s2 = chi2 / dof
    U_, sv, Vt = np.linalg.svd(J, full_matrices=False)
    tol = sv.max(initial=0.0) * max(J.shape) * np.finfo(float).eps
    rank = int(np.sum(sv > tol))
    inv = np.where(sv > tol, 1.0 / np.where(sv > tol, sv, 1.0) ** 2, np.inf)
    with np.errstate(invalid="ignore"):
        cov_int = (Vt.T * inv) @ Vt if rank == p else _singular_cov(Vt, inv)
    cov_int = cov_int * s2
    d = _dx_du(problem, u)
    with np.errstate(invalid="ignore"):
        cov = np.where(np.outer(d, d) == 0, 0.0, cov_int * np.outer(d, d))
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    se_int = np.sqrt(np.clip(np.diag(cov_int), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov_int / np.outer(se_int, se_int)
    z = float(special.ndtri(0.5 + level / 2))
    lo_b, hi_b = problem.parameters.bounds
    lo_u = np.clip(u - z * se_int, lo_b, hi_b)
    hi_u = np.clip(u + z * se_int, lo_b, hi_b)
    ints = np.column_stack([internal_to_external(problem, np.where(np.isfinite(lo_u), lo_u, u)
                                                 )[:, 0],
                            internal_to_external(problem, np.where(np.isfinite(hi_u), hi_u, u)
                                                 )[:, 0]])
    unidentified = ~np.isfinite(se_int)  # an infinite error: the interval is the whole range
    for j in np.flatnonzero(unidentified):
        par = problem.parameters[problem.free[j]]
        ints[j] = (par.min, par.max)
    return Wald(cov_internal=cov_int, cov=cov, stderr=np.where(unidentified, np.inf, se),
                correlations=corr, intervals=ints, scale=float(s2), dof=dof, rank=rank)


def _singular_cov(Vt, inv):
    cov = (Vt.T * np.where(np.isfinite(inv), inv, 0.0)) @ Vt
    weak = ~np.isfinite(inv)
    touched = np.any(np.abs(Vt[weak]) > 1e-8, axis=0)
    cov[touched, :] = np.inf
    cov[:, touched] = np.inf
    return cov


@dataclass
class Profile:
    """Profile-likelihood intervals and the points the search visited."""

    intervals: np.ndarray                       # (p, 2) external; bound where not reached
    open_ends: list[tuple[str, str]]            # (parameter, "lower"/"upper") not reached
    curves: dict[str, list[tuple[float, float]]]  # {name: [(external value, delta)]}
    better: float                               # largest improvement found (> 0: not global)
    target: float


def profile(problem: Problem, u: np.ndarray, nu: dict[str, float], objective: float,
            cov_internal: np.ndarray, level: float = 0.95, max_rounds: int = 14,
            tol: float = 0.01) -> Profile:
    """Profile-likelihood intervals for every free parameter (see the module docstring)."""
    p = u.size
    target = float(special.ndtri(0.5 + level / 2) ** 2 / 2)  # chi2(1) quantile / 2
    lo_b, hi_b = problem.parameters.bounds
    lo_b = np.where(np.isfinite(lo_b), lo_b, -_LOGIT_CAP)
    hi_b = np.where(np.isfinite(hi_b), hi_b, _LOGIT_CAP)
    sd = np.sqrt(np.clip(np.diag(cov_internal), 0, None))
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 0.5)
    jobs = [(j, s) for j in range(p) for s in (-1.0, 1.0)]
    k = len(jobs)
    limit = np.array([(hi_b[j] - u[j]) if s > 0 else (u[j] - lo_b[j]) for j, s in jobs])
    d = np.minimum(np.array([1.96 * sd[j] for j, _ in jobs]), limit)
    d_lo = np.zeros(k)
    s_lo = np.zeros(k)
    d_hi = np.full(k, np.nan)
    s_hi = np.full(k, np.nan)
    done = np.zeros(k, dtype=bool)
    at_limit = np.zeros(k, dtype=bool)
    final = np.full(k, np.nan)
    curves: dict[str, list[tuple[float, float]]] = {n: [] for n in problem.free}
    better = 0.0
    s_target = math.sqrt(2 * target)
    finite_cov = np.all(np.isfinite(cov_internal))
    for _ in range(max_rounds):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        U0 = np.repeat(inside_start(problem, u)[:, None], act.size, axis=1)
        free = np.ones((p, act.size), dtype=bool)
        for c, i in enumerate(act):
            j, s = jobs[i]
            shift = s * d[i]
            if finite_cov and cov_internal[j, j] > 0:
                U0[:, c] += cov_internal[:, j] / cov_internal[j, j] * shift
            U0[j, c] = u[j] + shift
            free[j, c] = False
        U0 = np.clip(U0, lo_b[:, None], hi_b[:, None])
        nu0 = {kk: np.full(act.size, v) for kk, v in nu.items()}
        fit = refit_batch(problem, U0, free=free, nu0=nu0, rounds=3, max_iter=40)
        delta = objective - fit.objective
        for c, i in enumerate(act):
            j, s = jobs[i]
            dv = float(delta[c]) if np.isfinite(delta[c]) else np.inf
            better = max(better, -dv)
            x = internal_to_external(problem, fit.U[:, c:c + 1])[j, 0]
            curves[problem.free[j]].append((float(x), dv))
            sv = math.sqrt(2 * max(dv, 0.0)) if np.isfinite(dv) else np.inf
            if abs(dv - target) <= tol:
                final[i], done[i] = d[i], True
                continue
            if dv < target:
                d_lo[i], s_lo[i] = d[i], sv
                if d[i] >= limit[i] - 1e-12:
                    final[i], done[i], at_limit[i] = limit[i], True, True
                    continue
            else:
                d_hi[i], s_hi[i] = d[i], sv
            if np.isnan(d_hi[i]):  # expand: extrapolate sqrt(2 delta) linearly, at least x1.5
                grow = s_target / sv if sv > 0 else 3.0
                d[i] = min(d[i] * min(max(grow * 1.1, 1.5), 4.0), limit[i])
            else:
                if np.isfinite(s_hi[i]) and s_hi[i] > s_lo[i]:
                    w = (s_target - s_lo[i]) / (s_hi[i] - s_lo[i])
                    w = min(max(w, 0.1), 0.9)
                else:
                    w = 0.5
                d[i] = d_lo[i] + w * (d_hi[i] - d_lo[i])
                if d_hi[i] - d_lo[i] <= 1e-7 * (1 + abs(u[jobs[i][0]])):
                    final[i], done[i] = d[i], True
    for i in np.flatnonzero(~done):  # out of rounds: interpolate within the bracket
        if np.isfinite(d_hi[i]):
            sl, sh = s_lo[i], s_hi[i]
            wgt = (s_target - sl) / (sh - sl) if np.isfinite(sh) and sh > sl else 0.5
            final[i] = d_lo[i] + min(max(wgt, 0.0), 1.0) * (d_hi[i] - d_lo[i])
        else:
            final[i] = d_lo[i]
    ints = np.full((p, 2), np.nan)
    open_ends = []
    for i, (j, s) in enumerate(jobs):
        uu = u.copy()
        uu[j] = u[j] + s * final[i]
        ints[j, 0 if s < 0 else 1] = internal_to_external(problem, uu[:, None])[j, 0]
        if at_limit[i] or np.isnan(d_hi[i]) and not done[i]:
            open_ends.append((problem.free[j], "lower" if s < 0 else "upper"))
    for n in curves:
        curves[n].sort()
    return Profile(intervals=ints, open_ends=open_ends, curves=curves, better=better,
                   target=target)


@dataclass
class Bootstrap:
    """Parametric bootstrap estimates (external values) and percentile intervals."""

    estimates: np.ndarray    # (B, p)
    intervals: np.ndarray    # (p, 2)
    stderr: np.ndarray       # (p,)
    n_failed: int
    nuisance: dict[str, np.ndarray] = field(default_factory=dict)


def simulate_data(problem: Problem, mu: dict[str, np.ndarray], nu: dict[str, Any],
                  rng: np.random.Generator, n: int, *,
                  keep_missing: bool = True) -> dict[str, np.ndarray]:
    """``n`` data sets ``{series: (n_obs, n)}`` from the fitted noise models around ``mu``
    (``(n_obs,)`` or ``(n_obs, n)``), with the observed data's missing values kept missing
    (unless ``keep_missing`` is False). Nuisance values ``nu`` are numbers or arrays of ``n``
    (one per data set)."""
    out = {}
    for t in problem.targets:
        m = np.asarray(mu[t.name], dtype=float)
        m = np.repeat(m[:, None], n, axis=1) if m.ndim == 1 else m
        name = t.noise.nuisance_name
        scale = None
        if name is not None:
            scale = nu[t.name] if t.estimated else getattr(t.noise, name)
            scale = np.broadcast_to(np.asarray(scale, dtype=float), (n,))[None, :]
        y = _draw(t.noise, m, scale, rng)
        if keep_missing:
            y[np.isnan(t.y)] = np.nan
        out[t.name] = y
    return out


def _draw(obs, mu: np.ndarray, scale: np.ndarray | None, rng: np.random.Generator):
    """Random observations around ``mu`` with per-column nuisance values ``scale``."""
    if isinstance(obs, NegativeBinomial):
        m = np.maximum(mu, 0.0)
        return rng.negative_binomial(scale, scale / (scale + m)).astype(float)
    if isinstance(obs, LogNormal):
        return np.maximum(mu, MU_FLOOR) * np.exp(scale * rng.standard_normal(mu.shape))
    if isinstance(obs, Gaussian):
        return mu + scale * rng.standard_normal(mu.shape)
    if isinstance(obs, Poisson):
        return rng.poisson(np.maximum(mu, 0.0)).astype(float)
    return obs.simulate(mu, rng)  # pragma: no cover - other observation models


def bootstrap(problem: Problem, u: np.ndarray, nu: dict[str, float], mu: dict[str, np.ndarray],
              n_boot: int, rng: np.random.Generator, level: float = 0.95,
              chunk: int = 100) -> Bootstrap:
    """Parametric bootstrap: simulate ``n_boot`` data sets from the fit, refit them all
    (in batches of ``chunk`` replicates, each one batched refit) from the estimate."""
    ys = simulate_data(problem, {k: v[:, 0] if v.ndim == 2 else v for k, v in mu.items()},
                       nu, rng, n_boot)
    est, ok_all, nus = [], [], {k: [] for k in nu}
    for a in range(0, n_boot, chunk):
        b = min(a + chunk, n_boot)
        y = {k: v[:, a:b] for k, v in ys.items()}
        U0 = np.repeat(inside_start(problem, u)[:, None], b - a, axis=1)
        fit = refit_batch(problem, U0, y=y, rounds=4, max_iter=40)
        est.append(internal_to_external(problem, fit.U).T)
        ok_all.append(fit.ok & np.isfinite(fit.objective))
        for k in nus:
            nus[k].append(fit.nu.get(k, np.full(b - a, np.nan)))
    E = np.concatenate(est, axis=0)
    ok = np.concatenate(ok_all)
    good = E[ok]
    q = 100 * np.array([0.5 - level / 2, 0.5 + level / 2])
    ints = np.percentile(good, q, axis=0).T if good.shape[0] else np.full((E.shape[1], 2),
                                                                           np.nan)
    se = good.std(axis=0, ddof=1) if good.shape[0] > 1 else np.full(E.shape[1], np.nan)
    return Bootstrap(estimates=good, intervals=ints, stderr=se, n_failed=int((~ok).sum()),
                     nuisance={k: np.concatenate(v)[ok] for k, v in nus.items()})
