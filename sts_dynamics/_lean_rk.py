"""SciPy's RK45 and RK23 for one run, on Python floats.

``scipy.integrate.solve_ivp`` spends most of a small model's run on NumPy calls over arrays of a
few elements: stage arrays, norms, a dense-output object per step.  A single run of a
system-dynamics model needs none of that, since our compiled right-hand side takes and returns
lists of floats.  This module takes the same steps as SciPy's :class:`~scipy.integrate.RK45`
(Dormand–Prince 5(4)) and :class:`~scipy.integrate.RK23` (Bogacki–Shampine 3(2)): the tableaus
are read from SciPy's classes, and the initial step selection, error norm, step-size controller
and dense output are SciPy's.  The stages are written out over lists, and the dense output is
evaluated at all output times at once at the end.  Steps agree with SciPy's to rounding
(``tests/test_lean_rk.py``).

The caller may carry the step size over from one segment to the next, where ``solve_ivp``
restarts its initial-step selection at every breakpoint.
"""

# ruff: noqa: B905 - the hot loops zip lists of one length, built here; strict= costs time

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.integrate import RK23 as _RK23
from scipy.integrate import RK45 as _RK45

__all__ = ["METHODS", "Steps", "initial_step", "integrate", "dense"]

SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0

Rates = Callable[[float, list], list]


def _floats(cls):
    return ([float(c) for c in cls.C], [[float(a) for a in row] for row in cls.A],
            [float(b) for b in cls.B], [float(e) for e in cls.E])


_C45, _A45, _B45, _E45 = _floats(_RK45)
_C23, _A23, _B23, _E23 = _floats(_RK23)
# the zeros the written-out stages rely on
assert _B45[1] == 0.0 and _E45[1] == 0.0 and _A23[2][0] == 0.0
(_a21,), (_a31, _a32), (_a41, _a42, _a43), (_a51, _a52, _a53, _a54), \
    (_a61, _a62, _a63, _a64, _a65) = (row[: i + 1] for i, row in enumerate(_A45[1:]))
_, _c2, _c3, _c4, _c5, _ = _C45
_b1, _, _b3, _b4, _b5, _b6 = _B45
_e1, _, _e3, _e4, _e5, _e6, _e7 = _E45


class Steps:
    """Accepted steps of one run: enough to evaluate the dense output anywhere."""

    __slots__ = ("method", "t_old", "t_new", "y_old", "k")

    def __init__(self, method: str) -> None:
        self.method = method
        self.t_old: list[float] = []
        self.t_new: list[float] = []
        self.y_old: list[list[float]] = []
        self.k: list[tuple[list[float], ...]] = []

    def __len__(self) -> int:
        return len(self.t_old)


def _rms(xs, scale) -> float:
    s = 0.0
    for x, c in zip(xs, scale, strict=True):
        r = x / c
        s += r * r
    return math.sqrt(s / len(scale))


def initial_step(method: str, rates: Rates, t0: float, y0: list, f0: list, t_bound: float,
                 max_step: float, rtol: float, atol: float) -> float:
    """SciPy's ``select_initial_step`` (Hairer, Nørsett & Wanner, II.4)."""
    interval = abs(t_bound - t0)
    if interval == 0.0:
        return 0.0
    scale = [atol + abs(y) * rtol for y in y0]
    d0 = _rms(y0, scale)
    d1 = _rms(f0, scale)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, interval)
    f1 = rates(t0 + h0, [y + h0 * f for y, f in zip(y0, f0, strict=True)])
    d2 = _rms([a - b for a, b in zip(f1, f0, strict=True)], scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1 / (METHODS[method][1] + 1))
    return min(100 * h0, h1, interval, max_step)


def _stages45(rates, t, h, y, k1):
    """One Dormand–Prince step: ``(y_new, stages)``; the last stage is ``rates(t + h, y_new)``."""
    a21, a31, a32, a41, a42, a43 = _a21, _a31, _a32, _a41, _a42, _a43
    a51, a52, a53, a54, a61, a62, a63, a64, a65 = _a51, _a52, _a53, _a54, _a61, _a62, _a63, \
        _a64, _a65
    c2, c3, c4, c5, b1, b3, b4, b5, b6 = _c2, _c3, _c4, _c5, _b1, _b3, _b4, _b5, _b6
    k2 = rates(t + c2 * h, [yi + h * (a21 * p) for yi, p in zip(y, k1)])
    k3 = rates(t + c3 * h, [yi + h * (a31 * p + a32 * q) for yi, p, q in zip(y, k1, k2)])
    k4 = rates(t + c4 * h, [yi + h * (a41 * p + a42 * q + a43 * r)
                            for yi, p, q, r in zip(y, k1, k2, k3)])
    k5 = rates(t + c5 * h, [yi + h * (a51 * p + a52 * q + a53 * r + a54 * s)
                            for yi, p, q, r, s in zip(y, k1, k2, k3, k4)])
    k6 = rates(t + h, [yi + h * (a61 * p + a62 * q + a63 * r + a64 * s + a65 * u)
                       for yi, p, q, r, s, u in zip(y, k1, k2, k3, k4, k5)])
    y_new = [yi + h * (b1 * p + b3 * r + b4 * s + b5 * u + b6 * w)
             for yi, p, r, s, u, w in zip(y, k1, k3, k4, k5, k6)]
    k7 = rates(t + h, y_new)
    return y_new, (k1, k2, k3, k4, k5, k6, k7)


def _error45(h, y, y_new, k, rtol, atol) -> float:
    e1, e3, e4, e5, e6, e7 = _e1, _e3, _e4, _e5, _e6, _e7
    k1, _, k3, k4, k5, k6, k7 = k
    acc = 0.0
    for yi, yn, p, r, s, u, w, z in zip(y, y_new, k1, k3, k4, k5, k6, k7):
        e = h * (e1 * p + e3 * r + e4 * s + e5 * u + e6 * w + e7 * z)
        ay, an = abs(yi), abs(yn)
        e /= atol + (ay if ay > an else an) * rtol
        acc += e * e
    return math.sqrt(acc / len(y))


def _stages23(rates, t, h, y, k1):
    """One Bogacki–Shampine step: ``(y_new, stages)``."""
    _, c2, c3 = _C23
    a21, a32 = _A23[1][0], _A23[2][1]
    b1, b2, b3 = _B23
    k2 = rates(t + c2 * h, [yi + h * (a21 * p) for yi, p in zip(y, k1)])
    k3 = rates(t + c3 * h, [yi + h * (a32 * q) for yi, q in zip(y, k2)])
    y_new = [yi + h * (b1 * p + b2 * q + b3 * r) for yi, p, q, r in zip(y, k1, k2, k3)]
    k4 = rates(t + h, y_new)
    return y_new, (k1, k2, k3, k4)


def _error23(h, y, y_new, k, rtol, atol) -> float:
    e1, e2, e3, e4 = _E23
    k1, k2, k3, k4 = k
    acc = 0.0
    for yi, yn, p, q, r, s in zip(y, y_new, k1, k2, k3, k4):
        e = h * (e1 * p + e2 * q + e3 * r + e4 * s)
        ay, an = abs(yi), abs(yn)
        e /= atol + (ay if ay > an else an) * rtol
        acc += e * e
    return math.sqrt(acc / len(y))


#: method -> (stages, error order, error norm, new evaluations per step, dense-output P^T)
METHODS = {
    "RK45": (_stages45, 4, _error45, 6, np.ascontiguousarray(np.asarray(_RK45.P, float).T)),
    "RK23": (_stages23, 2, _error23, 3, np.ascontiguousarray(np.asarray(_RK23.P, float).T)),
}


def integrate(method: str, rates: Rates, t: float, t_bound: float, y: list, f: list,
              h_abs: float, rtol: float, atol: float, max_step: float, steps: Steps):
    """Step from ``t`` to ``t_bound`` as SciPy's ``method`` does, recording each step.

    ``f`` is ``rates(t, y)`` and ``h_abs`` the first step to try.  Returns
    ``(ok, t, y, f, h_abs, nfev)``: on failure (the step became too small, as when a value
    turns non-finite) ``t`` and ``y`` are where the solver stopped.
    """
    stages, order, error_norm_of, evals, _ = METHODS[method]
    exponent = -1.0 / (order + 1)
    nfev = 0
    rec_t_old, rec_t_new, rec_y, rec_k = steps.t_old, steps.t_new, steps.y_old, steps.k
    inf = math.inf
    while t < t_bound:
        min_step = 10 * abs(math.nextafter(t, inf) - t)
        if h_abs > max_step:
            h_abs = max_step
        elif h_abs < min_step:
            h_abs = min_step
        rejected = False
        while True:
            if h_abs < min_step:
                return False, t, y, f, h_abs, nfev
            t_new = t + h_abs
            if t_new > t_bound:
                t_new = t_bound
            h = t_new - t
            h_abs = abs(h)
            y_new, k = stages(rates, t, h, y, f)
            nfev += evals
            error_norm = error_norm_of(h, y, y_new, k, rtol, atol)
            if error_norm < 1:
                if error_norm == 0:
                    factor = MAX_FACTOR
                else:
                    factor = min(MAX_FACTOR, SAFETY * error_norm ** exponent)
                if rejected:
                    factor = min(1.0, factor)
                h_abs *= factor
                break
            # a nan error norm (a non-finite stage) also shrinks the step, as in SciPy
            h_abs *= max(MIN_FACTOR, SAFETY * error_norm ** exponent)
            rejected = True
        rec_t_old.append(t)
        rec_t_new.append(t_new)
        rec_y.append(y)
        rec_k.append(k)
        t, y, f = t_new, y_new, k[-1]
    return True, t, y, f, h_abs, nfev


def dense(steps: Steps, t_out: np.ndarray) -> np.ndarray:
    """SciPy's dense output of the recorded steps at ``t_out``: shape ``(len(t_out), n)``.

    A time on a step boundary takes the step that ends there, as ``solve_ivp`` does.
    """
    pt = METHODS[steps.method][4]  # (powers, stages)
    t_old = np.array(steps.t_old)
    t_new = np.array(steps.t_new)
    j = np.searchsorted(t_new, t_out, side="left")
    np.minimum(j, len(t_new) - 1, out=j)
    start = t_old[j]
    h = t_new[j] - start
    x = ((t_out - start) / h)[:, None]
    w = (x ** np.arange(1.0, len(pt) + 1.0)) @ pt  # (nt, stages): the weight of each stage
    k = np.array(steps.k)[j]  # (nt, stages, n)
    return np.array(steps.y_old)[j] + h[:, None] * np.einsum("ts,tsn->tn", w, k)
