"""Finite-difference Jacobians and a batched Levenberg-Marquardt solver.

Both evaluate many parameter sets in *one* call of the residual function, so that a model
simulates them as one vectorized ensemble:

- :func:`stencil` and :func:`jacobian` build central differences (one-sided next to a bound
  or a failed run) from ``2 p + 1`` points per parameter set. The base point and its
  perturbations share one adaptive solve, so differences are not polluted by step-size
  choices that differ between solves.
- :func:`batched_lm` minimizes ``m`` independent least-squares problems at once (bootstrap
  replicates, profile points, multi-start candidates). Each iteration evaluates, for every
  unfinished problem, trial steps for several damping values *and* their Jacobian stencils in
  one call, so an iteration costs one ensemble solve whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["stencil", "jacobian", "batched_lm", "LMResult", "FD_STEP"]

#: Relative finite-difference step in internal (transformed) space.
FD_STEP = 1e-6

#: Damping multipliers tried together in each iteration (times the current damping).
_MULTIPLIERS = np.array([0.1, 1.0, 10.0, 100.0])


def stencil(U: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            rel_step: float = FD_STEP) -> tuple[np.ndarray, np.ndarray]:
    """Points for central differences: shape ``(p, m * (2 p + 1))``, and the steps ``(p, m)``.

    Columns per parameter set: the base point, then ``+h`` and ``-h`` for each parameter.
    A perturbation that would leave the bounds is replaced by the base point (the
    derivative is then one-sided).
    """
    U = np.asarray(U, dtype=float)
    p, m = U.shape
    h = rel_step * np.maximum(1.0, np.abs(U))
    pts = np.repeat(U[:, None, :], 2 * p + 1, axis=1)  # (p, 2p+1, m)
    for j in range(p):
        up = U[j] + h[j]
        dn = U[j] - h[j]
        pts[j, 1 + 2 * j] = np.where(up <= upper[j], up, U[j])
        pts[j, 2 + 2 * j] = np.where(dn >= lower[j], dn, U[j])
    return pts.transpose(0, 2, 1).reshape(p, m * (2 * p + 1)), h


def jacobian(R: np.ndarray, ok: np.ndarray, U: np.ndarray, h: np.ndarray,
             lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residuals at the base points ``(n, m)``, their feasibility ``(m,)`` and the Jacobian
    ``(n, p, m)`` from the stencil's residuals ``R`` of shape ``(n, m * (2 p + 1))``."""
    p, m = U.shape
    n = R.shape[0]
    R = R.reshape(n, m, 2 * p + 1)
    ok = ok.reshape(m, 2 * p + 1)
    r0 = R[:, :, 0]
    J = np.zeros((n, p, m))
    for j in range(p):
        has_up = (U[j] + h[j] <= upper[j]) & ok[:, 1 + 2 * j]
        has_dn = (U[j] - h[j] >= lower[j]) & ok[:, 2 + 2 * j]
        rp, rm = R[:, :, 1 + 2 * j], R[:, :, 2 + 2 * j]
        central = (rp - rm) / (2 * h[j])
        fwd = (rp - r0) / h[j]
        bwd = (r0 - rm) / h[j]
        J[:, j, :] = np.where(has_up & has_dn, central,
                              np.where(has_up, fwd, np.where(has_dn, bwd, 0.0)))
    return r0, ok[:, 0], J


@dataclass
class LMResult:
    """Solutions of a batch of least-squares problems."""

    U: np.ndarray          # (p, m) internal solutions
    cost: np.ndarray       # (m,) 0.5 * sum of squared residuals
    r: np.ndarray          # (n, m) residuals at the solutions
    J: np.ndarray          # (n, p, m) Jacobians at the solutions
    ok: np.ndarray         # (m,) feasible solutions
    converged: np.ndarray  # (m,) met a tolerance (rather than the iteration limit)
    n_iter: np.ndarray     # (m,)
    n_calls: int           # calls of the residual function


def _solve_steps(J, r, lam, free):
    """Damped Gauss-Newton steps for each problem and damping: ``(p, m)``."""
    JtJ = np.einsum("nim,njm->mij", J, J)
    g = np.einsum("nim,nm->mi", J, r)
    d = np.einsum("mii->mi", JtJ)
    dscale = np.maximum(d, 1e-12 * np.maximum(d.max(axis=1, keepdims=True), 1e-300))
    A = JtJ + lam[:, None, None] * dscale[:, :, None] * np.eye(J.shape[1])[None]
    fixed = ~free.T  # (m, p)
    A = np.where(fixed[:, :, None] | fixed[:, None, :], 0.0, A)
    A = A + np.eye(J.shape[1])[None] * fixed[:, :, None]
    g = np.where(fixed, 0.0, g)
    try:
        step = np.linalg.solve(A, -g[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        step = np.stack([np.linalg.lstsq(a, -b, rcond=None)[0] for a, b in zip(A, g,
                                                                                  strict=True)])
    return step.T, g.T


def batched_lm(fun: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
               U0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *,
               free: np.ndarray | None = None, max_iter: int = 60, ftol: float = 1e-8,
               xtol: float = 1e-8, gtol: float = 1e-10, lam0: float = 1e-3,
               rel_step: float = FD_STEP) -> LMResult:
    """Minimize ``m`` least-squares problems together (Levenberg-Marquardt, Marquardt scaling).

    Parameters
    ----------
    fun : callable
        ``fun(U, owner) -> (R, ok)``: residuals ``(n, N)`` and feasibility ``(N,)`` of the
        ``N`` internal parameter sets ``U`` (shape ``(p, N)``); ``owner`` (shape ``(N,)``)
        says which problem each column belongs to (for problem-specific data).
    U0 : array, shape (p, m)
        Starting points.
    lower, upper : arrays, shape (p,)
        Internal bounds (infinite where there are none); steps are clipped to them.
    free : bool array, shape (p, m), optional
        Coordinates each problem may change (the others stay at ``U0``: profiles).
    """
    U = np.array(U0, dtype=float)
    p, m = U.shape
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    free = np.ones((p, m), dtype=bool) if free is None else np.asarray(free, dtype=bool)
    calls = 0
    idx = np.arange(m)

    def evaluate(points, owners):
        nonlocal calls
        pts, h = stencil(points, lower, upper, rel_step)
        R, ok = fun(pts, np.repeat(owners, 2 * p + 1))
        calls += 1
        r0, ok0, J = jacobian(R, ok, points, h, lower, upper)
        return r0, ok0, J

    r, ok, J = evaluate(U, idx)
    cost = 0.5 * np.sum(r**2, axis=0)
    cost = np.where(ok, cost, np.inf)
    lam = np.full(m, lam0)
    done = np.zeros(m, dtype=bool)
    converged = np.zeros(m, dtype=bool)
    n_iter = np.zeros(m, dtype=int)
    done |= ~ok  # an infeasible start cannot be improved by derivatives
    L = _MULTIPLIERS.size
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        a = act.size
        lam_try = (lam[act][:, None] * _MULTIPLIERS[None, :]).reshape(-1)   # (a*L,)
        # active set: a coordinate on a bound whose descent direction points outward is held
        # there this iteration (clipping its step would spoil the others' steps)
        g_act = np.einsum("nim,nm->im", J[:, :, act], r[:, act])
        Ua = U[:, act]
        tol_b = 1e-10 * (1.0 + np.abs(Ua))
        blocked = (((Ua >= upper[:, None] - tol_b) & (g_act < 0))
                   | ((Ua <= lower[:, None] + tol_b) & (g_act > 0)))
        Jr = np.repeat(J[:, :, act], L, axis=2)
        rr = np.repeat(r[:, act], L, axis=1)
        fr = np.repeat(free[:, act] & ~blocked, L, axis=1)
        step, grad = _solve_steps(Jr, rr, lam_try, fr)
        base = np.repeat(U[:, act], L, axis=1)
        trial = np.clip(base + step, lower[:, None], upper[:, None])
        trial = np.where(fr, trial, base)
        r_t, ok_t, J_t = evaluate(trial, np.repeat(act, L))
        cost_t = np.where(ok_t, 0.5 * np.sum(r_t**2, axis=0), np.inf).reshape(a, L)
        best = np.argmin(cost_t, axis=1)
        best_cost = cost_t[np.arange(a), best]
        improved = best_cost < cost[act]
        n_iter[act] += 1
        col = np.arange(a) * L + best
        g_inf = np.max(np.abs(grad.reshape(p, a, L)[:, :, 0]), axis=0)
        for i_local, i in enumerate(act):
            if improved[i_local]:
                c = col[i_local]
                dx = trial[:, c] - U[:, i]
                rel_drop = (cost[i] - best_cost[i_local]) / max(cost[i], 1e-300)
                U[:, i] = trial[:, c]
                r[:, i] = r_t[:, c]
                J[:, :, i] = J_t[:, :, c]
                cost[i] = best_cost[i_local]
                lam[i] = lam_try[c] * (0.3 if best[i_local] == 0 else 1.0)
                small_x = np.linalg.norm(dx) <= xtol * (xtol + np.linalg.norm(U[:, i]))
                if rel_drop <= ftol or small_x or cost[i] == 0.0:
                    done[i] = converged[i] = True
            else:
                lam[i] = lam_try[i_local * L + L - 1] * 10.0
                if g_inf[i_local] <= gtol or lam[i] > 1e14:
                    done[i] = converged[i] = True
        # gradient test at the (possibly new) point
        g_now = np.abs(np.einsum("nim,nm->im", J[:, :, act], r[:, act]) * free[:, act]).max(0)
        done[act[g_now <= gtol * np.maximum(1.0, cost[act])]] = True
        converged[act[g_now <= gtol * np.maximum(1.0, cost[act])]] = True
    return LMResult(U=U, cost=cost, r=r, J=J, ok=np.isfinite(cost), converged=converged,
                    n_iter=n_iter, n_calls=calls)
