"""``simulate()``: integrate a model with SciPy's adaptive solvers or fixed-step Euler/RK4."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp
from scipy.sparse import csr_matrix, kron

from . import _lean_rk
from ._threads import single_threaded_blas
from .compile import CompiledModel, Prepared, compile_model
from .errors import SimulationError
from .model import Model
from .result import Simulation

__all__ = ["simulate", "METHODS", "ADAPTIVE_METHODS", "FIXED_STEP_METHODS", "DEFAULT_RTOL",
           "DEFAULT_ATOL"]

ADAPTIVE_METHODS = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")
FIXED_STEP_METHODS = ("euler", "rk4")
METHODS = ADAPTIVE_METHODS + FIXED_STEP_METHODS
#: Default relative tolerance of adaptive methods: errors well below the noise of any
#: calibration data, so that finite-difference Jacobians of the fit are not dominated by
#: solver error.
DEFAULT_RTOL = 1e-6
#: Default absolute tolerance of adaptive methods.
DEFAULT_ATOL = 1e-9


def simulate(model: Model, *, t_span: tuple[float, float] | None = None,
             t_eval: Any = None, params: Mapping[str, Any] | Any = None,
             method: str = "RK45", rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
             max_step: float | None = None, dt: float | None = None,
             outputs: Sequence[str] | None = None) -> Simulation:
    """Simulate a model, one run or a vectorized ensemble.

    Parameters
    ----------
    model : Model
        From :func:`sts_dynamics.load`.
    t_span : (float, float), optional
        Start and end time; defaults to the model's INITIAL TIME and FINAL TIME.
    t_eval : array_like, optional
        Output times; defaults to the SAVEPER grid over ``t_span``.  Fixed-step methods
        need times on their step grid.
    params : mapping or DataFrame, optional
        New values of constants by name: a number, a 1-D array of n values (n runs that
        integrate together), or a :class:`~sts_dynamics.compile.TimeSeries` (a constant that
        changes over time).  A DataFrame gives one run per row.
    method : str
        One of ``"RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA"`` (SciPy's adaptive
        solvers) or ``"euler", "rk4"`` (fixed step at TIME STEP with Vensim's ordering).
    rtol, atol : float
        Tolerances of adaptive methods (defaults 1e-6 and 1e-9).
    max_step : float, optional
        Largest step of adaptive methods.
    dt : float, optional
        Step of fixed-step methods (defaults to the model's TIME STEP).
    outputs : sequence of str, optional
        Variables to compute on the output grid (stocks always are); by default every
        variable.  Naming only the ones needed saves time and memory in large ensembles.

    Returns
    -------
    Simulation

    Raises
    ------
    SimulationError
        The solver failed or a stock became non-finite; says when and which variable.

    Examples
    --------
    >>> import numpy as np
    >>> import sts_dynamics as sd
    >>> m = sd.load("operator_skill")
    >>> sim = sd.simulate(m)
    >>> sim.t[0]
    np.float64(0.0)
    """
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model from sts_dynamics.load(), got "
                        f"{type(model).__name__}")
    if method not in METHODS:
        lowered = {m.lower(): m for m in METHODS}
        if isinstance(method, str) and method.lower() in lowered:
            method = lowered[method.lower()]
        else:
            raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}.")
    ctl = model.control
    if t_span is None:
        t_span = (ctl.initial_time, ctl.final_time)
    t0, t1 = (float(x) for x in t_span)
    if not t1 > t0:
        raise ValueError(f"`t_span` must be increasing, got {t_span!r}.")
    step = ctl.time_step if dt is None else float(dt)
    if not step > 0:
        raise ValueError(f"`dt` must be > 0, got {dt!r}.")
    if t_eval is None:
        save = ctl.saveper
        if method in FIXED_STEP_METHODS:  # output on the step grid: a multiple of the step
            save = step * max(1, round(save / step))
        n = int(round((t1 - t0) / save))
        t_out = t0 + save * np.arange(n + 1)
        t_out = t_out[t_out <= t1 + 1e-9 * max(1.0, abs(t1))]
    else:
        t_out = np.asarray(t_eval, dtype=float)
        if t_out.ndim != 1 or t_out.size == 0:
            raise ValueError("`t_eval` must be a non-empty 1-dimensional array.")
        if np.any(np.diff(t_out) <= 0) or t_out[0] < t0 - 1e-12 or t_out[-1] > t1 + 1e-12:
            raise ValueError(f"`t_eval` must be increasing and within `t_span` {t_span!r}.")
    cm = compile_model(model)
    keys = None if outputs is None else {model.resolve(n) for n in outputs} | set(model.stocks)
    prep = cm.prepare(params, t0=t0, dt=step)
    blas = single_threaded_blas() if prep.n_runs > 1 else contextlib.nullcontext()
    with np.errstate(all="ignore"), blas:
        if method in FIXED_STEP_METHODS:
            states, nfev = _fixed_step(cm, prep, method, t0, t1, step, t_out)
            msg = "fixed-step integration finished"
        else:
            states, nfev, msg = _adaptive(cm, prep, method, t0, t1, t_out, rtol, atol, max_step)
        failed = _check(cm, prep, t_out, states)
        values = _outputs(cm, prep, t_out, states, keys)
    return Simulation(model, t_out, values, prep.n_runs if prep.ensemble else None,
                      params=prep.params, method=method, success=True, message=msg,
                      nfev=nfev, failed_runs=failed)


# -- fixed step ---------------------------------------------------------------------------------
def _grid_index(t_out: np.ndarray, t0: float, step: float) -> np.ndarray:
    k = np.rint((t_out - t0) / step)
    if np.any(np.abs(t0 + k * step - t_out) > 1e-9 * max(1.0, step)):
        raise ValueError(
            "fixed-step methods give output only on their step grid: `t_eval` must be "
            f"multiples of the step ({step:g}) from {t0:g}; use an adaptive method for "
            "arbitrary output times."
        )
    return k.astype(np.int64)


def _fixed_step(cm: CompiledModel, prep: Prepared, method: str, t0: float, t1: float,
                step: float, t_out: np.ndarray):
    idx = _grid_index(t_out, t0, step)
    rates = cm.make_rates(prep, [None])
    ns = len(cm.stock_slots)
    save_at = {int(k): j for j, k in enumerate(idx)}
    nn = cm.non_negative
    if prep.n_runs == 1:
        y = list(prep.y0)
        out = np.full((len(t_out), ns), np.nan)
        for k in range(int(idx[-1]) + 1):
            t = t0 + k * step
            if k in save_at:
                out[save_at[k]] = y
            if k == idx[-1]:
                break
            if method == "euler":
                d = rates(t, y)
                y = [a + step * b for a, b in zip(y, d, strict=True)]
            else:
                y = _rk4_scalar(rates, t, y, step)
            if nn:
                for i in nn:
                    if y[i] < 0:
                        y[i] = 0.0
        return out, (int(idx[-1]) * (1 if method == "euler" else 4))
    n = prep.n_runs
    y = np.array(prep.y0, dtype=float).reshape(ns, n)
    out = np.full((len(t_out), ns, n), np.nan)
    D = np.empty((ns, n))

    def rates_mat(t, Y):
        for i, d in enumerate(rates(t, Y)):
            D[i] = d
        return D.copy()
    for k in range(int(idx[-1]) + 1):
        t = t0 + k * step
        if k in save_at:
            out[save_at[k]] = y
        if k == idx[-1]:
            break
        if method == "euler":
            y = y + step * rates_mat(t, y)
        else:
            k1 = rates_mat(t, y)
            k2 = rates_mat(t + step / 2, y + step / 2 * k1)
            k3 = rates_mat(t + step / 2, y + step / 2 * k2)
            k4 = rates_mat(t + step, y + step * k3)
            y = y + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if nn:
            y[nn] = np.maximum(y[nn], 0.0)
    return out, int(idx[-1]) * (1 if method == "euler" else 4)


def _rk4_scalar(rates, t, y, h):
    k1 = rates(t, y)
    k2 = rates(t + h / 2, [a + h / 2 * b for a, b in zip(y, k1, strict=True)])
    k3 = rates(t + h / 2, [a + h / 2 * b for a, b in zip(y, k2, strict=True)])
    k4 = rates(t + h, [a + h * b for a, b in zip(y, k3, strict=True)])
    return [a + h / 6 * (b + 2 * c + 2 * d + e)
            for a, b, c, d, e in zip(y, k1, k2, k3, k4, strict=True)]


# -- adaptive -----------------------------------------------------------------------------------
def _adaptive(cm: CompiledModel, prep: Prepared, method: str, t0: float, t1: float,
              t_out: np.ndarray, rtol: float, atol: float, max_step: float | None):
    ns = len(cm.stock_slots)
    n = prep.n_runs
    if n == 1 and method in _lean_rk.METHODS and ns:
        return _lean_single(cm, prep, method, t0, t1, t_out, rtol, atol, max_step)
    tm = [None]
    rates = cm.make_rates(prep, tm)
    if n == 1:
        def fun(t, y):
            # SciPy passes t as np.float64; a Python float keeps the scalar fast path
            return np.array(rates(float(t), y.tolist()), dtype=float)
        y = np.array(prep.y0, dtype=float)
    else:
        D = np.empty((n, ns))

        def fun(t, y):
            Y = y.reshape(n, ns).T
            for i, d in enumerate(rates(float(t), list(Y))):
                D[:, i] = d
            return D.ravel().copy()
        y = np.asarray(prep.y0, dtype=float).T.reshape(-1)  # run-major: r * ns + s
    options: dict[str, Any] = {"rtol": rtol, "atol": atol}
    if max_step is not None:
        options["max_step"] = max_step
    if n > 1 and method in ("Radau", "BDF"):
        options["jac_sparsity"] = csr_matrix(kron(np.eye(n), np.ones((ns, ns))))
    elif n > 1 and method == "LSODA":
        options["lband"] = options["uband"] = max(ns - 1, 0)
    edges = _segments(prep, t0, t1)
    out = np.full((len(t_out), ns * n), np.nan)
    nfev = 0
    msg = "the solver successfully reached the end of the integration interval"
    if ns == 0:
        return _shape_states(out, ns, n), 0, msg
    first = np.searchsorted(t_out, t0 - 1e-12)
    if first < len(t_out) and abs(t_out[first] - t0) <= 1e-12:
        out[first] = y
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        lo = np.searchsorted(t_out, a, side="right")
        hi = np.searchsorted(t_out, b, side="right")
        te = t_out[lo:hi]
        te_full = te if (len(te) and te[-1] == b) else np.append(te, b)
        tm[0] = float(0.5 * (a + b))  # a Python float keeps the scalar fast path
        sol = solve_ivp(fun, (a, b), y, method=method, t_eval=te_full, **options)
        nfev += sol.nfev
        if sol.status != 0 or not np.all(np.isfinite(sol.y)):
            # re-run the failing segment without output times to see where it stopped
            probe = solve_ivp(fun, (a, b), y, method=method, **options)
            _fail(cm, prep, rates, method, float(probe.t[-1]), probe.y[:, -1], sol.message)
        out[lo:hi] = sol.y[:, : hi - lo].T
        y = sol.y[:, -1]
    return _shape_states(out, ns, n), nfev, msg


def _segments(prep: Prepared, t0: float, t1: float) -> np.ndarray:
    bps = prep.breakpoints
    return np.concatenate([[t0], bps[(bps > t0 + 1e-12) & (bps < t1 - 1e-12)], [t1]])


def _lean_single(cm: CompiledModel, prep: Prepared, method: str, t0: float, t1: float,
                 t_out: np.ndarray, rtol: float, atol: float, max_step: float | None):
    """One run with RK45 or RK23: SciPy's algorithm on Python floats (see ``_lean_rk``).

    The step size carries over from one segment to the next instead of being chosen anew
    after each breakpoint; the error control still checks every step.
    """
    tm: list = [None]
    rates = cm.make_rates(prep, tm)
    max_step = math.inf if max_step is None else float(max_step)
    if not max_step > 0:
        raise ValueError(f"`max_step` must be positive, got {max_step!r}.")
    steps = _lean_rk.Steps(method)
    y = list(prep.y0)
    h_abs = None
    nfev = 0
    edges = _segments(prep, t0, t1).tolist()
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        tm[0] = 0.5 * (a + b)
        f = rates(a, y)
        nfev += 1
        if h_abs is None:
            h_abs = _lean_rk.initial_step(method, rates, a, y, f, b, max_step, rtol, atol)
            nfev += 1
        ok, t, y, f, h_abs, k = _lean_rk.integrate(method, rates, a, b, y, f, h_abs, rtol,
                                                   atol, max_step, steps)
        nfev += k
        if not ok:
            _fail(cm, prep, rates, method, t, np.array(y, dtype=float),
                  "Required step size is less than spacing between numbers.")
    return _lean_rk.dense(steps, t_out), nfev, \
        "the solver successfully reached the end of the integration interval"


def _fail(cm: CompiledModel, prep: Prepared, rates, method: str, t_fail: float,
          y_fail: np.ndarray, message: str):
    n = prep.n_runs
    var, runs = _first_nonfinite(cm, prep, t_fail, y_fail, n)
    if var is not None:
        what = f"; the first non-finite variable is {var!r}"
    else:
        var = _fastest_state(cm, rates, t_fail, y_fail, n)
        what = f"; the fastest-changing variable there is {var!r}"
    raise SimulationError(
        f"{method} failed at time {t_fail:g} of model {cm.model.name!r}: "
        f"{message.rstrip('.')}{what}. Check that variable's equation and inputs, "
        "or try a stiff method (Radau, BDF, LSODA).",
        time=t_fail, variable=var, runs=runs,
    )


def _shape_states(out: np.ndarray, ns: int, n: int) -> np.ndarray:
    if n == 1:
        return out
    return out.reshape(len(out), n, ns).transpose(0, 2, 1)


def _display(cm: CompiledModel, key: str) -> str:
    var = cm.model.variables[key]
    return cm.model.variables[var.owner].name if var.owner else var.name


def _fastest_state(cm: CompiledModel, rates, t: float, y: np.ndarray, n: int) -> str | None:
    ns = len(cm.stock_slots)
    ys = np.asarray(y, dtype=float).reshape(n, ns).T if n > 1 else np.asarray(y, dtype=float)
    d = rates(t, list(ys) if n > 1 else ys.tolist())
    speed = [np.max(np.abs(np.asarray(di, dtype=float)) / np.maximum(np.abs(yi), 1.0))
             for di, yi in zip(d, ys, strict=True)]
    return _display(cm, cm.stock_keys[int(np.nanargmax(speed))]) if speed else None


def _first_nonfinite(cm: CompiledModel, prep: Prepared, t: float, y: np.ndarray, n: int):
    ns = len(cm.stock_slots)
    states = list(np.asarray(y, dtype=float).reshape(n, ns).T) if n > 1 else \
        list(np.asarray(y, dtype=float))
    for i, s in enumerate(states):
        if not np.all(np.isfinite(s)):
            runs = tuple(np.flatnonzero(~np.isfinite(np.atleast_1d(s))).tolist())
            return _display(cm, cm.stock_keys[i]), runs if n > 1 else ()
    v = cm.evaluate_all(prep, t, states)
    order = [k for k in cm.model.order]
    for k in order:
        val = v[cm.slot[k]]
        if val is not None and not np.all(np.isfinite(np.asarray(val, dtype=float))):
            runs = tuple(np.flatnonzero(~np.isfinite(np.atleast_1d(val))).tolist())
            return _display(cm, k), runs if n > 1 else ()
    return None, ()


# -- outputs ------------------------------------------------------------------------------------
def _check(cm: CompiledModel, prep: Prepared, t_out: np.ndarray, states: np.ndarray):
    bad = ~np.isfinite(states)
    if not bad.any():
        return ()
    if prep.n_runs > 1:
        runs = np.flatnonzero(bad.any(axis=(0, 1)))
        if len(runs) < prep.n_runs:
            return tuple(int(r) for r in runs)
    j = int(np.flatnonzero(bad.reshape(len(t_out), -1).any(axis=1))[0])
    jprev = max(j - 1, 0)
    y = states[jprev]
    var, runs = _first_nonfinite(cm, prep, float(t_out[jprev]),
                                 y.T.reshape(-1) if prep.n_runs > 1 else y, prep.n_runs)
    if var is None:
        i = int(np.flatnonzero(bad[j].reshape(len(cm.stock_keys), -1).any(axis=1))[0])
        var = _display(cm, cm.stock_keys[i])
    raise SimulationError(
        f"the simulation of {cm.model.name!r} became non-finite at time {t_out[j]:g}; the first "
        f"non-finite variable is {var!r}. Check its equation and inputs (a division by zero, a "
        "LN of a non-positive number, or a time step too large for the model's time constants).",
        time=float(t_out[j]), variable=var, runs=tuple(runs),
    )


def _outputs(cm: CompiledModel, prep: Prepared, t_out: np.ndarray, states: np.ndarray,
             keys: set[str] | None = None):
    n = prep.n_runs
    ens = prep.ensemble
    if n == 1:
        cols = [states[:, i] for i in range(states.shape[1])]
        t = t_out
        shape: tuple[int, ...] = (len(t_out),)
    else:
        cols = [states[:, i, :] for i in range(states.shape[1])]
        t = t_out[:, None]
        shape = (len(t_out), n)
    v = cm.evaluate_all(prep, t, cols, keys)
    values = {}
    for k in cm.keys:
        var = cm.model.variables[k]
        if var.kind == "lookup" or (keys is not None and k not in keys):
            continue
        val = v[cm.slot[k]]
        if isinstance(val, float):  # a constant of a single run: a zero-stride view
            arr = np.ndarray(shape, dtype=float, buffer=np.array([val]), strides=(0,) * len(shape))
        else:
            val = np.asarray(val, dtype=float)
            # constants and per-run values become read-only broadcast views: no copies
            arr = val if val.shape == shape else np.broadcast_to(val, shape)
        if ens and n == 1:
            arr = arr.reshape(len(t_out), 1)
        values[k] = arr
    return values
