"""Runtime implementations of the SD built-ins.

Every function accepts Python floats (the fast path of a single run) and NumPy arrays whose
last axis is the run (ensembles, and whole output grids), and returns the same kind.
Division by zero and domain errors give ``inf``/``nan`` like NumPy, never an exception.
Vensim's semantics are followed (``SMALL_VENSIM`` = 1e-6 where Vensim uses it).
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

__all__ = ["SMALL_VENSIM", "UNARY", "div", "power", "xidz", "zidz", "integer", "modulo",
           "quantum", "minimum", "maximum", "lookup", "logical_and", "logical_or",
           "logical_not", "log"]

SMALL_VENSIM = 1e-6
_F = float
_NAN = math.nan


def _is_scalar(x) -> bool:
    return x.__class__ is _F or x.__class__ is int or x.__class__ is bool


def _safe_unary(mfun, nfun):
    def f(x):
        if _is_scalar(x):
            try:
                return mfun(x)
            except (ValueError, OverflowError):
                with np.errstate(all="ignore"):
                    return float(nfun(x))
        with np.errstate(all="ignore"):
            return nfun(x)
    f.__name__ = nfun.__name__
    return f


def _integer(x):
    if _is_scalar(x):
        return float(math.trunc(x)) if math.isfinite(x) else x
    return np.trunc(x)


UNARY = {
    "abs": lambda x: abs(x) if _is_scalar(x) else np.abs(x),
    "exp": _safe_unary(math.exp, np.exp),
    "ln": _safe_unary(math.log, np.log),
    "sqrt": _safe_unary(math.sqrt, np.sqrt),
    "sin": _safe_unary(math.sin, np.sin),
    "cos": _safe_unary(math.cos, np.cos),
    "tan": _safe_unary(math.tan, np.tan),
    "arcsin": _safe_unary(math.asin, np.arcsin),
    "arccos": _safe_unary(math.acos, np.arccos),
    "arctan": _safe_unary(math.atan, np.arctan),
    "sinh": _safe_unary(math.sinh, np.sinh),
    "cosh": _safe_unary(math.cosh, np.cosh),
    "tanh": _safe_unary(math.tanh, np.tanh),
    "integer": _integer,
}


def div(a, b):
    """``a / b`` with IEEE results (inf, nan) instead of ZeroDivisionError."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return _NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def power(a, b):
    """``a ** b``; a negative base with a fractional exponent gives nan (as NumPy)."""
    if _is_scalar(a) and _is_scalar(b):
        try:
            r = a ** b
        except (OverflowError, ZeroDivisionError):
            with np.errstate(all="ignore"):
                return float(np.power(float(a), float(b)))
        return _NAN if r.__class__ is complex else float(r)
    with np.errstate(all="ignore"):
        return np.power(np.asarray(a, dtype=float), b)


def log(x, base=None):
    """Vensim LOG(x, base) (base 10 when omitted)."""
    ln = UNARY["ln"]
    if base is None:
        return div(ln(x), math.log(10.0))
    return div(ln(x), ln(base))


def minimum(a, b):
    if _is_scalar(a) and _is_scalar(b):
        return a if a <= b else b
    return np.minimum(a, b)


def maximum(a, b):
    if _is_scalar(a) and _is_scalar(b):
        return a if a >= b else b
    return np.maximum(a, b)


def xidz(a, b, x):
    """``a / b``, or ``x`` when ``|b| < 1e-6`` (Vensim XIDZ)."""
    if _is_scalar(b):
        return x if abs(b) < SMALL_VENSIM else div(a, b)
    with np.errstate(all="ignore"):
        return np.where(np.abs(b) < SMALL_VENSIM, x, np.divide(a, b))


def zidz(a, b):
    """``a / b``, or 0 when ``|b| < 1e-6`` (Vensim ZIDZ)."""
    return xidz(a, b, 0.0)


def quantum(a, b):
    """Vensim QUANTUM: ``b * INTEGER(a / b)``; ``a`` when ``b < 1e-6``."""
    if _is_scalar(b):
        return a if b < SMALL_VENSIM else b * _integer(div(a, b))
    with np.errstate(all="ignore"):
        return np.where(b < SMALL_VENSIM, a, b * np.trunc(np.divide(a, b)))


def integer(x):
    return _integer(x)


def modulo(a, b):
    """Vensim MODULO: ``a - QUANTUM(a, b)``."""
    return a - quantum(a, b)


def logical_and(a, b):
    if _is_scalar(a) and _is_scalar(b):
        return 1.0 if (a and b) else 0.0
    return np.logical_and(a, b).astype(float)


def logical_or(a, b):
    if _is_scalar(a) and _is_scalar(b):
        return 1.0 if (a or b) else 0.0
    return np.logical_or(a, b).astype(float)


def logical_not(a):
    if _is_scalar(a):
        return 0.0 if a else 1.0
    return np.logical_not(a).astype(float)


def lookup(x, xs: tuple, ys: tuple, mode: str, xs_arr: np.ndarray, ys_arr: np.ndarray):
    """Evaluate a graphical function (lookup table) at ``x``.

    ``mode`` is ``"hold"`` (clamp at the ends, Vensim's default), ``"extrapolate"``
    (linear beyond the ends), ``"backward"`` (value of the last point at or before x) or
    ``"forward"`` (value of the first point at or after x).
    """
    if _is_scalar(x):
        n = len(xs)
        if mode == "hold" or mode == "extrapolate":
            if x <= xs[0]:
                if mode == "hold" or n == 1:
                    return ys[0]
                i = 0
            elif x >= xs[-1]:
                if mode == "hold" or n == 1:
                    return ys[-1]
                i = n - 2
            else:
                i = bisect_right(xs, x) - 1
            x0, x1 = xs[i], xs[i + 1]
            return ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0) if x1 != x0 else ys[i]
        if mode == "backward":
            i = bisect_right(xs, x) - 1
            return ys[max(i, 0)]
        i = bisect_right(xs, x) - 1
        if i >= 0 and xs[i] == x:
            return ys[i]
        return ys[min(i + 1, n - 1)]
    x = np.asarray(x, dtype=float)
    if mode == "hold":
        return np.interp(x, xs_arr, ys_arr)
    if mode == "extrapolate":
        out = np.interp(x, xs_arr, ys_arr)
        if len(xs_arr) > 1:
            lo = x < xs_arr[0]
            hi = x > xs_arr[-1]
            s0 = (ys_arr[1] - ys_arr[0]) / (xs_arr[1] - xs_arr[0])
            s1 = (ys_arr[-1] - ys_arr[-2]) / (xs_arr[-1] - xs_arr[-2])
            out = np.where(lo, ys_arr[0] + s0 * (x - xs_arr[0]), out)
            out = np.where(hi, ys_arr[-1] + s1 * (x - xs_arr[-1]), out)
        return out
    idx = np.searchsorted(xs_arr, x, side="right") - 1
    if mode == "backward":
        return ys_arr[np.clip(idx, 0, len(xs_arr) - 1)]
    exact = (idx >= 0) & (xs_arr[np.clip(idx, 0, len(xs_arr) - 1)] == x)
    return ys_arr[np.where(exact, np.clip(idx, 0, None), np.clip(idx + 1, 0, len(xs_arr) - 1))]


# -- time functions --------------------------------------------------------------------------
# ``t`` is the time; ``dt`` the model's TIME STEP; ``tm`` the condition time of the current
# integration segment for adaptive solvers (None for fixed-step methods and outputs, which
# follow Vensim's conventions exactly).

def _where(cond, a, b):
    if _is_scalar(cond):
        return a if cond else b
    return np.where(cond, a, b)


def step(t, dt, tm, height, tstep):
    """Vensim STEP: ``height`` once ``time + dt/2 > tstep``."""
    cond = (tm > tstep) if tm is not None else (t + dt / 2 > tstep)
    if cond.__class__ is bool:
        return height if cond else 0.0
    return np.where(cond, height, 0.0)


def ramp(t, dt, tm, slope, start, finish=None):
    """Vensim RAMP: 0 before ``start``, then ``slope * (min(t, finish) - start)``."""
    end = t if finish is None else minimum(finish, t)
    return _where(t + SMALL_VENSIM > start, slope * (end - start), 0.0)


def pulse(t, dt, tm, start, width=None):
    """Vensim PULSE: 1 for ``start <= t < start + width`` (width 0 means one TIME STEP)."""
    if width is None:
        width = dt
    tt = tm if tm is not None else t
    if _is_scalar(tt) and _is_scalar(start) and _is_scalar(width):
        w = width if width > 0 else dt
        return 1.0 if start - SMALL_VENSIM <= tt < start + w else 0.0
    width = _where(width > 0, width, dt)
    return _where((tt >= start - SMALL_VENSIM) & (tt < start + width)
                  if not _is_scalar(tt) or not _is_scalar(start) or not _is_scalar(width)
                  else (start - SMALL_VENSIM <= tt < start + width), 1.0, 0.0)


def pulse_train(t, dt, tm, start, interval, width, end):
    """Vensim PULSE TRAIN(start, width, interval, end) (arguments reordered by PySD)."""
    tt = tm if tm is not None else t
    width = _where(width > 0, width, dt)
    if all(_is_scalar(v) for v in (tt, start, interval, width, end)):
        if start <= tt < end:
            if interval <= 0:
                return 1.0 if tt < start + width else 0.0
            return 1.0 if (tt - start + SMALL_VENSIM) % interval < width else 0.0
        return 0.0
    with np.errstate(all="ignore"):
        in_range = (start <= tt) & (tt < end)
        phase = np.mod(tt - start + SMALL_VENSIM, np.where(interval > 0, interval, np.inf))
        return np.where(in_range & (phase < width), 1.0, 0.0)


def xpulse(t, dt, tm, start, magnitude):
    """XMILE PULSE(magnitude, first): ``magnitude / dt`` during one TIME STEP."""
    if tm is not None:
        return _where((tm >= start) & (tm < start + dt) if not _is_scalar(tm)
                      else (start <= tm < start + dt), magnitude / dt, 0.0)
    cond = (t >= start - SMALL_VENSIM) & (t < start + dt / 2) if not _is_scalar(t) or not \
        _is_scalar(start) else (start - SMALL_VENSIM <= t < start + dt / 2)
    return _where(cond, magnitude / dt, 0.0)


def xpulse_train(t, dt, tm, start, interval, magnitude):
    """XMILE PULSE(magnitude, first, interval)."""
    tt = tm if tm is not None else t
    w = dt if tm is not None else dt / 2
    if all(_is_scalar(v) for v in (tt, start, interval)):
        if tt < start - SMALL_VENSIM:
            return 0.0
        if interval <= 0:
            return magnitude / dt if tt < start + w else 0.0
        return magnitude / dt if (tt - start + SMALL_VENSIM) % interval < w else 0.0
    with np.errstate(all="ignore"):
        phase = np.mod(tt - start + SMALL_VENSIM, np.where(interval > 0, interval, np.inf))
        return np.where((tt >= start - SMALL_VENSIM) & (phase < w), magnitude / dt, 0.0)


TIME_FUNCS = {"step": step, "ramp": ramp, "pulse": pulse, "pulse_train": pulse_train,
              "xpulse": xpulse, "xpulse_train": xpulse_train}
