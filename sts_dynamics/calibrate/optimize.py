"""Point estimates: trust-region least squares, Nelder-Mead, Powell, differential evolution,
multi-start from a Latin hypercube, and batched refits.

Least squares works on scaled deviance residuals (:meth:`.problem.Problem.residuals`), whose
squared sum is ``-2 log L`` for fixed nuisance parameters (negative-binomial ``phi``,
log-normal and Gaussian ``sigma``); it alternates with their maximum-likelihood estimates
until they settle, which is coordinate ascent on the joint likelihood. The other methods
minimize the profile (concentrated) negative log-likelihood directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from ..errors import CalibrationError
from .lm import batched_lm, jacobian, stencil
from .problem import Problem

__all__ = ["METHODS", "PointFit", "BatchFit", "fit_point", "refit_batch", "objective",
           "least_squares_fit"]

METHODS = ("least_squares", "nelder-mead", "powell", "differential_evolution")
_NU_RTOL = 1e-6
_BIG = 1e100


@dataclass
class PointFit:
    """The optimizer's answer in internal space."""

    u: np.ndarray
    nu: dict[str, float]
    method: str
    success: bool
    message: str
    n_iter: int
    starts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BatchFit:
    """Solutions of a batch of refits (bootstrap replicates, profile points, starts)."""

    U: np.ndarray                 # (p, m)
    nu: dict[str, np.ndarray]     # {series: (m,)}
    objective: np.ndarray         # (m,) log-likelihood + log-prior, nuisance estimated
    converged: np.ndarray         # (m,)
    mu: dict[str, np.ndarray]     # {series: (n_obs, m)} predictions at the solutions
    ok: np.ndarray


def objective(problem: Problem, U, y=None) -> np.ndarray:
    """Negative profile log-likelihood minus log-prior per column of ``U`` (``inf`` if
    infeasible)."""
    mu, ok = problem.predict(U)
    val = problem.loglik(mu, ok, None, y) + problem.log_prior(U)
    return np.where(np.isfinite(val), -val, np.inf)


def _internal_bounds(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    return problem.parameters.bounds


def _nu_changed(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> np.ndarray:
    changed = None
    for k, v in new.items():
        o = np.asarray(old[k], dtype=float)
        c = np.abs(np.log(np.maximum(v, 1e-300)) - np.log(np.maximum(o, 1e-300))) > _NU_RTOL
        changed = c if changed is None else changed | c
    return changed


def refit_batch(problem: Problem, U0: np.ndarray, *, free: np.ndarray | None = None,
                y: dict[str, np.ndarray] | None = None,
                nu0: dict[str, np.ndarray] | None = None, rounds: int = 6,
                max_iter: int = 60) -> BatchFit:
    """Fit ``m`` problems at once with :func:`~.lm.batched_lm`, alternating with the
    nuisance estimates. ``y`` gives per-problem observations ``{series: (n_obs, m)}``;
    ``free`` (``(p, m)`` booleans) holds some coordinates fixed (profiles)."""
    U = np.array(U0, dtype=float)
    m = U.shape[1]
    lo, hi = _internal_bounds(problem)
    if nu0 is None or (problem.estimated and not nu0):
        mu, ok = problem.predict(U)
        nu = problem.estimate(mu, y)
    else:
        nu = {k: np.broadcast_to(np.asarray(v, dtype=float), (m,)).copy() for k, v in nu0.items()}
    converged = np.zeros(m, dtype=bool)
    todo = np.arange(m)
    for _ in range(max(rounds, 1)):
        sub_y = None if y is None else {k: v[:, todo] for k, v in y.items()}
        sub_nu = {k: v[todo] for k, v in nu.items()}

        def fun(P, owner, sub_y=sub_y, sub_nu=sub_nu):
            mu, ok = problem.predict(P)
            yy = None if sub_y is None else {k: v[:, owner] for k, v in sub_y.items()}
            nn = {k: v[owner] for k, v in sub_nu.items()}
            return problem.residuals(mu, ok, nn, P, yy), ok

        res = batched_lm(fun, U[:, todo], lo, hi,
                         free=None if free is None else free[:, todo], max_iter=max_iter)
        U[:, todo] = res.U
        converged[todo] = res.converged
        if not problem.estimated:
            break
        mu, ok = problem.predict(U[:, todo])
        new = problem.estimate(mu, sub_y)
        moved = _nu_changed(sub_nu, new)
        for k in nu:
            nu[k][todo] = new[k]
        todo = todo[moved]
        if todo.size == 0:
            break
    mu, ok = problem.predict(U)
    nu_final = problem.estimate(mu, y) if problem.estimated else {}
    ll = problem.loglik(mu, ok, nu_final, y) + problem.log_prior(U)
    return BatchFit(U=U, nu=nu_final, objective=ll, converged=converged, mu=mu, ok=ok)


def least_squares_fit(problem: Problem, u0: np.ndarray, nu0: dict[str, float] | None = None,
                      *, rounds: int = 10) -> tuple[np.ndarray, dict[str, float], Any]:
    """SciPy's trust-region reflective least squares from ``u0`` with vectorized central
    finite-difference Jacobians, alternating with the nuisance estimates."""
    lo, hi = _internal_bounds(problem)
    p = u0.size
    width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    u = np.clip(u0, lo + 1e-10 * width, hi - 1e-10 * width)
    if nu0 is None:
        mu, ok = problem.predict(u)
        nu = {k: float(v[0]) for k, v in problem.estimate(mu).items()}
    else:
        nu = dict(nu0)
    res = None
    for _ in range(rounds):
        cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

        def fun(x, nu=nu, cache=cache):
            pts, h = stencil(x[:, None], lo, hi)
            mu, ok = problem.predict(pts)
            R = problem.residuals(mu, ok, nu, pts)
            r0, _ok0, J = jacobian(R, ok, x[:, None], h, lo, hi)
            cache.clear()
            cache[x.tobytes()] = (J[:, :, 0], {k: v[:, :1] for k, v in mu.items()})
            return r0[:, 0]

        def jac(x, nu=nu, cache=cache):
            if x.tobytes() not in cache:
                fun(x)
            return cache[x.tobytes()][0]

        res = optimize.least_squares(fun, u, jac=jac, bounds=(lo, hi), method="trf",
                                     x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12,
                                     max_nfev=60 * (p + 1))
        u = res.x
        if not problem.estimated:
            break
        if u.tobytes() in cache:
            mu = cache[u.tobytes()][1]
        else:
            mu, _ok = problem.predict(u)
        new = {k: float(v[0]) for k, v in problem.estimate(mu).items()}
        moved = any(abs(math.log(max(new[k], 1e-300)) - math.log(max(nu[k], 1e-300)))
                    > _NU_RTOL for k in new)
        nu = new
        if not moved:
            break
    return u, nu, res


def _unit_to_internal(problem: Problem, Z: np.ndarray) -> np.ndarray:
    """Points of the unit cube -> internal values, uniform in each parameter's natural
    scale (log-uniform for log-transformed ones), like the Latin hypercube starts."""
    ps = problem.parameters
    out = np.empty_like(Z, dtype=float)
    for i, name in enumerate(problem.free):
        p = ps[name]
        if not (math.isfinite(p.min) and math.isfinite(p.max)):
            raise CalibrationError(f"differential evolution needs finite bounds; give min and "
                                   f"max for {name!r}.")
        if p.transform == "log" and p.min > 0:
            x = np.exp(np.log(p.min) + Z[i] * (np.log(p.max) - np.log(p.min)))
        else:
            x = p.min + Z[i] * (p.max - p.min)
        w = p.max - p.min
        x = np.clip(x, p.min + 1e-9 * w, p.max - 1e-9 * w)
        out[i] = p.to_internal(x)
    return out


def _minimize(problem: Problem, method: str, u0: np.ndarray):
    lo, hi = _internal_bounds(problem)
    bounds = [(a if math.isfinite(a) else None, b if math.isfinite(b) else None)
              for a, b in zip(lo, hi, strict=True)]

    def f(x):
        v = objective(problem, x)[0]
        return v if math.isfinite(v) else _BIG

    if method == "nelder-mead":
        p = u0.size
        opts = {"xatol": 1e-8, "fatol": 1e-10, "maxfev": 400 * (p + 1), "adaptive": p > 3}
        return optimize.minimize(f, u0, method="Nelder-Mead", bounds=bounds, options=opts)
    return optimize.minimize(f, u0, method="Powell", bounds=bounds,
                             options={"xtol": 1e-8, "ftol": 1e-12, "maxfev": 4000})


def fit_point(problem: Problem, method: str = "least_squares", *, n_starts: int = 1,
              rng: np.random.Generator | None = None, maxiter_de: int = 200) -> PointFit:
    """Fit the problem: the chosen optimizer from the parameters' starting values, or from
    the ``n_starts`` best points of a Latin hypercube (evaluated as one ensemble)."""
    if method not in METHODS:
        raise CalibrationError(f"`method` must be one of {', '.join(map(repr, METHODS))}, got "
                               f"{method!r}.")
    if not (isinstance(n_starts, int | np.integer) and n_starts >= 1):
        raise CalibrationError(f"`n_starts` must be a positive integer, got {n_starts!r}.")
    rng = rng or np.random.default_rng()
    ps = problem.parameters
    x0 = ps.x0
    starts: list[dict[str, Any]] = []
    if method == "differential_evolution":
        return _differential_evolution(problem, rng, maxiter_de)
    if n_starts > 1:
        n_cand = max(10 * n_starts, 20)
        cand = np.column_stack([x0, ps.latin_hypercube(n_cand - 1, rng)])
        f = objective(problem, cand)
        order = np.argsort(np.where(np.isfinite(f), f, np.inf), kind="stable")[:n_starts]
        U0 = cand[:, order]
    else:
        U0 = x0[:, None]
    if method == "least_squares":
        if n_starts > 1:
            batch = refit_batch(problem, U0, rounds=3, max_iter=40)
            for i in range(U0.shape[1]):
                starts.append(_start_row(problem, U0[:, i], batch.U[:, i],
                                         batch.objective[i], bool(batch.converged[i])))
            best = int(np.argmax(np.where(np.isfinite(batch.objective), batch.objective,
                                          -np.inf)))
            u_start = batch.U[:, best]
            nu0 = {k: float(v[best]) for k, v in batch.nu.items()}
        else:
            u_start, nu0 = U0[:, 0], None
        u, nu, res = least_squares_fit(problem, u_start, nu0)
        return PointFit(u=u, nu=nu, method=method, success=bool(res.success),
                        message=str(res.message), n_iter=int(res.nfev), starts=starts)
    best_val, best = np.inf, None
    for i in range(U0.shape[1]):
        res = _minimize(problem, method, U0[:, i])
        val = float(res.fun)
        starts.append(_start_row(problem, U0[:, i], res.x, -val, bool(res.success)))
        if val < best_val or best is None:
            best_val, best = val, res
    mu, ok = problem.predict(best.x)
    nu = {k: float(v[0]) for k, v in problem.estimate(mu).items()}
    return PointFit(u=best.x, nu=nu, method=method, success=bool(best.success),
                    message=str(best.message), n_iter=int(best.nfev),
                    starts=starts if n_starts > 1 else [])


def _start_row(problem: Problem, u0, u1, obj, converged) -> dict[str, Any]:
    ps = problem.parameters
    start = ps.from_internal(np.asarray(u0))
    end = ps.from_internal(np.asarray(u1))
    row: dict[str, Any] = {"objective": -float(obj), "converged": converged}
    for n in problem.free:
        row[f"start {n}"] = float(start[n])
        row[n] = float(end[n])
    return row


def _differential_evolution(problem: Problem, rng: np.random.Generator,
                            maxiter: int) -> PointFit:
    p = problem.n_free

    def f(Z):
        Z = np.asarray(Z, dtype=float).reshape(p, -1)
        v = objective(problem, _unit_to_internal(problem, Z))
        return np.where(np.isfinite(v), v, _BIG)

    res = optimize.differential_evolution(
        f, [(0.0, 1.0)] * p, vectorized=True, updating="deferred", polish=False,
        rng=rng, maxiter=maxiter, popsize=max(15, 5 * p), tol=1e-8, init="latinhypercube")
    u_de = _unit_to_internal(problem, np.asarray(res.x)[:, None])[:, 0]
    # polish with least squares (the DE optimum is only as good as its population)
    u, nu, ls = least_squares_fit(problem, u_de)
    return PointFit(u=u, nu=nu, method="differential_evolution",
                    success=bool(res.success) and bool(ls.success),
                    message=f"{res.message}; polished by least squares: {ls.message}",
                    n_iter=int(res.nfev) + int(ls.nfev))
