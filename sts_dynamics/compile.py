"""Compile a :class:`~sts_dynamics.model.Model` into a vectorized right-hand side.

Every equation becomes a closure over NumPy (never ``eval``/``exec`` of model text) that
reads a list of slot values and returns a float (one run, the fast path) or an array whose
last axis is the run (ensembles, and whole output grids at once).
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from . import functions as F
from .errors import ParameterShapeError, UnknownNameError, close_matches
from .expr import TIME_FUNCTIONS, Call, Expr, Lookup, Num, Op, Ref, references
from .model import Model

__all__ = ["CompiledModel", "compile_model", "TimeSeries", "Prepared"]

Closure = Callable[[list], Any]

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": F.div, "^": F.power}
_CMP = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def _cmp(op):
    def f(a, b):
        r = op(a, b)
        return r if r.__class__ is bool else np.asarray(r, dtype=float)
    return f


@dataclass(frozen=True)
class TimeSeries:
    """A constant that changes over time: a step table or a linear interpolation.

    Parameters
    ----------
    times : array_like
        Increasing times.
    values : array_like
        Shape ``(n_times,)`` or ``(n_times, n_runs)``.
    interpolation : {"step", "linear"}
        ``"step"``: each value holds from its time until the next (the first value holds
        before the first time); ``"linear"``: linear between times, held beyond the ends.

    Examples
    --------
    >>> ts = TimeSeries([0.0, 10.0], [0.5, 0.9], "step")
    >>> ts(5.0), ts(10.0)
    (0.5, 0.9)
    """

    times: Any
    values: Any
    interpolation: str = "step"

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=float)
        v = np.asarray(self.values, dtype=float)
        if t.ndim != 1 or len(t) == 0 or np.any(np.diff(t) < 0):
            raise ParameterShapeError(
                f"TimeSeries `times` must be a non-empty increasing 1-D sequence, got {t!r}")
        if v.shape[0] != len(t) or v.ndim > 2:
            raise ParameterShapeError(
                f"TimeSeries `values` must have shape (n_times,) or (n_times, n_runs) with "
                f"n_times = {len(t)}, got {v.shape}")
        if self.interpolation not in ("step", "linear"):
            raise ValueError(f"`interpolation` must be 'step' or 'linear', got "
                             f"{self.interpolation!r}")
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "values", v)

    @property
    def n_runs(self) -> int:
        return 1 if self.values.ndim == 1 else self.values.shape[1]

    def __call__(self, t):
        tt, vv = self.times, self.values
        scalar = np.ndim(t) == 0
        ta = np.atleast_1d(np.asarray(t, dtype=float))
        if self.interpolation == "step":
            idx = np.clip(np.searchsorted(tt, ta, side="right") - 1, 0, len(tt) - 1)
            out = vv[idx]
        elif vv.ndim == 1:
            out = np.interp(ta, tt, vv)
        else:
            # vectorized over runs (a loop of np.interp per run costs ms per call)
            j = np.clip(np.searchsorted(tt, ta, side="right") - 1, 0, len(tt) - 1)
            j1 = np.minimum(j + 1, len(tt) - 1)
            gap = tt[j1] - tt[j]
            w = np.clip(ta - tt[j], 0.0, None) / np.where(gap > 0, gap, 1.0)
            w = np.where(gap > 0, w, 0.0)[:, None]
            out = vv[j] + (vv[j1] - vv[j]) * w
        if scalar:
            out = out[0]
            return float(out) if np.ndim(out) == 0 else out
        return out


@dataclass
class Prepared:
    """A compiled model readied for one parameter set (or an ensemble of them)."""

    base: list
    y0: Any
    n_runs: int
    ensemble: bool
    plan: list
    timeseries: list
    breakpoints: np.ndarray
    params: dict
    deriv: list | None = None
    plan_deps: list | None = None

    def plan_for(self, keys: set[str]) -> list:
        """The part of the plan needed to compute ``keys`` (in evaluation order)."""
        if self.plan_deps is None:
            return self.plan
        needed = set(keys)
        keep = [False] * len(self.plan)
        for i in range(len(self.plan) - 1, -1, -1):
            key, deps = self.plan_deps[i]
            if key in needed:
                keep[i] = True
                needed |= deps
        return [p for p, k in zip(self.plan, keep, strict=True) if k]


class CompiledModel:
    """The model compiled to closures; build with :func:`compile_model` (cached).

    Attributes
    ----------
    model : Model
    slot : dict
        Position of each variable key in the value list.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        keys = list(model.variables)
        self.keys = keys
        self.slot = {k: i for i, k in enumerate(keys)}
        n = len(keys)
        self.T, self.TM, self.DT = n, n + 1, n + 2
        self.n_slots = n + 3
        self.stock_keys = list(model.stocks)
        self.stock_slots = [self.slot[k] for k in self.stock_keys]
        self.time_calls: list[tuple[str, list[Closure], frozenset[str]]] = []
        self.time_lookups: list[tuple[float, ...]] = []
        self.fn: dict[str, Closure] = {}
        self.init_fn: dict[str, Closure] = {}
        for k, var in model.variables.items():
            if var.kind in ("lookup",):
                continue
            if var.equation is not None:
                self.fn[k] = self.closure(var.equation)
            if var.initial is not None:
                self.init_fn[k] = self.closure(var.initial)
        self.deriv = [self.fn[k] for k in self.stock_keys]
        self.non_negative = [i for i, k in enumerate(self.stock_keys)
                             if model.variables[k].non_negative]
        v = model.variables
        self.constant_keys = [k for k, var in v.items() if var.kind in ("constant", "control")]
        self.uses = {k: var.uses() for k, var in v.items()}
        self._static: dict[frozenset[str], frozenset[str]] = {}
        self._hoist_all()

    # -- hoisting: constant sub-expressions are computed once per parameter set ---------------
    def static_keys(self, series: frozenset[str] | set[str] = frozenset()) -> frozenset[str]:
        """Keys of the variables that stay fixed during a run (given time-varying constants)."""
        series = frozenset(series)
        try:
            return self._static[series]
        except KeyError:
            pass
        model = self.model
        static = {k for k, var in model.variables.items()
                  if var.kind in ("constant", "control", "lookup", "initial") and k not in series}
        for k in model.order:
            deps = self.uses[k]
            if "time" not in deps and deps <= static and model.variables[k].initial is None:
                static.add(k)
        self._static[series] = frozenset(static)
        return self._static[series]

    def _hoist_all(self) -> None:
        """Move compound sub-expressions of constants out of the dynamic equations.

        ``x * (1 - a / b)`` with constants ``a`` and ``b`` becomes ``x * h`` with ``h``
        computed once when a parameter set is prepared, instead of at every evaluation.
        """
        self.hoisted: dict[str, list[tuple[str, Closure, frozenset[str]]]] = {}
        self.fast: dict[str, Closure] = {}
        static = self.static_keys()
        n_calls, n_lookups = len(self.time_calls), len(self.time_lookups)
        for k in list(self.model.order) + self.stock_keys:
            var = self.model.variables[k]
            if k in static or var.equation is None:
                continue
            expr = self._hoist(var.equation, static, k)
            if expr is not var.equation:
                self.fast[k] = self.closure(expr)
        # the fast closures repeat calls already registered for breakpoints
        del self.time_calls[n_calls:]
        del self.time_lookups[n_lookups:]

    def _hoist(self, e: Expr, static: set[str], owner: str) -> Expr:
        if isinstance(e, Num | Ref):
            return e
        refs = references(e)
        if "time" not in refs and refs <= static:
            hkey = f"__hoisted_{self.n_slots}"
            self.slot[hkey] = self.n_slots
            self.n_slots += 1
            self.hoisted.setdefault(owner, []).append((hkey, self.closure(e), refs))
            return Ref(hkey)
        if isinstance(e, Op):
            args = tuple(self._hoist(a, static, owner) for a in e.args)
            return e if args == e.args else Op(e.op, args)
        if isinstance(e, Call):
            args = tuple(self._hoist(a, static, owner) for a in e.args)
            return e if args == e.args else Call(e.func, args)
        if isinstance(e, Lookup):
            arg = self._hoist(e.arg, static, owner)
            return e if arg is e.arg else Lookup(e.table, arg, e.mode, e.xs, e.ys)
        return e  # pragma: no cover

    # -- closures ---------------------------------------------------------------------------
    def closure(self, e: Expr) -> Closure:  # noqa: C901 - a dispatcher
        if isinstance(e, Num):
            c = float(e.value)
            return lambda v: c
        if isinstance(e, Ref):
            return itemgetter(self.T if e.name == "time" else self.slot[e.name])
        if isinstance(e, Op):
            if e.op == "neg":
                a = e.args[0]
                if isinstance(a, Ref):
                    i = self._slot_of(a)
                    return lambda v: -v[i]
                fa = self.closure(a)
                return lambda v: -fa(v)
            if e.op == "not":
                fa = self.closure(e.args[0])
                return lambda v: F.logical_not(fa(v))
            a, b = e.args
            if e.op in ("and", "or"):
                fa, fb = self.closure(a), self.closure(b)
                g = F.logical_and if e.op == "and" else F.logical_or
                return lambda v: g(fa(v), fb(v))
            op = _ARITH.get(e.op) or _cmp(_CMP[e.op])
            return self._binary(op, a, b)
        if isinstance(e, Call):
            return self._call(e)
        if isinstance(e, Lookup):
            if e.table is not None:
                xs, ys = self.model.variables[e.table].lookup
            else:
                xs, ys = e.xs, e.ys
            if isinstance(e.arg, Ref) and e.arg.name == "time":
                self.time_lookups.append(xs)
            xa, ya = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
            mode = e.mode
            fa = self.closure(e.arg)
            lk = F.lookup
            return lambda v: lk(fa(v), xs, ys, mode, xa, ya)
        raise TypeError(f"cannot compile {e!r}")  # pragma: no cover

    def _slot_of(self, r: Ref) -> int:
        return self.T if r.name == "time" else self.slot[r.name]

    def _binary(self, op, a: Expr, b: Expr) -> Closure:
        ra, rb = isinstance(a, Ref), isinstance(b, Ref)
        na, nb = isinstance(a, Num), isinstance(b, Num)
        if ra and rb:
            i, j = self._slot_of(a), self._slot_of(b)
            return lambda v: op(v[i], v[j])
        if ra and nb:
            i, c = self._slot_of(a), float(b.value)
            return lambda v: op(v[i], c)
        if na and rb:
            c, j = float(a.value), self._slot_of(b)
            return lambda v: op(c, v[j])
        fa, fb = self.closure(a), self.closure(b)
        if ra:
            i = self._slot_of(a)
            return lambda v: op(v[i], fb(v))
        if rb:
            j = self._slot_of(b)
            return lambda v: op(fa(v), v[j])
        if nb:
            c = float(b.value)
            return lambda v: op(fa(v), c)
        if na:
            c = float(a.value)
            return lambda v: op(c, fb(v))
        return lambda v: op(fa(v), fb(v))

    def _call(self, e: Call) -> Closure:
        name = e.func
        args = [self.closure(a) for a in e.args]
        if name in F.UNARY:
            f, g = F.UNARY[name], args[0]
            return lambda v: f(g(v))
        if name == "pi":
            return lambda v: math.pi
        if name == "if_then_else":
            fc, fa, fb = args
            is_scalar = F._is_scalar

            def ite(v):
                c = fc(v)
                if is_scalar(c):
                    return fa(v) if c else fb(v)
                return np.where(c, fa(v), fb(v))
            return ite
        if name in TIME_FUNCTIONS:
            f = F.TIME_FUNCS[name]
            T, TM, DT = self.T, self.TM, self.DT
            deps = frozenset().union(*[references(a) for a in e.args]) if e.args else frozenset()
            self.time_calls.append((name, args, deps))
            if len(args) == 2:
                a0, a1 = args
                return lambda v: f(v[T], v[DT], v[TM], a0(v), a1(v))
            return lambda v: f(v[T], v[DT], v[TM], *[g(v) for g in args])
        table = {"min": F.minimum, "max": F.maximum, "power": F.power, "modulo": F.modulo,
                 "quantum": F.quantum, "xidz": F.xidz, "zidz": F.zidz, "log": F.log}
        f = table[name]
        if len(args) == 1:
            (a0,) = args
            return lambda v: f(a0(v))
        if len(args) == 2:
            a0, a1 = args
            return lambda v: f(a0(v), a1(v))
        a0, a1, a2 = args
        return lambda v: f(a0(v), a1(v), a2(v))

    # -- preparing a parameter set ------------------------------------------------------------
    def resolve_params(self, params: Mapping[str, Any] | None) -> tuple[dict, dict, int, bool]:
        """Split ``params`` into constant values and time series, by key; find n_runs."""
        consts: dict[str, Any] = {}
        series: dict[str, TimeSeries] = {}
        if params is None:
            return consts, series, 1, False
        if hasattr(params, "to_dict") and hasattr(params, "columns"):  # a DataFrame
            params = {c: np.asarray(params[c], dtype=float) for c in params.columns}
        n_runs, ensemble = 1, False
        model = self.model
        for name, value in params.items():
            try:
                key = model.resolve(name)
            except UnknownNameError:
                constants = [v.name for v in model.variables.values()
                             if v.kind == "constant" and not v.internal]
                raise UnknownNameError(
                    f"`params` names {name!r}, which is not a constant of model "
                    f"{model.name!r}.{close_matches(name, constants)}"
                ) from None
            var = model.variables[key]
            if var.kind != "constant":
                raise UnknownNameError(
                    f"`params` names {var.name!r}, which is a {var.kind} of model "
                    f"{model.name!r}, not a constant; only constants can be set. To change "
                    "the run length use `t_span`."
                )
            if isinstance(value, TimeSeries):
                if value.values.ndim == 2 and value.values.shape[1] == 1:
                    # one run given as a column: an ensemble of one, computed on floats
                    value = TimeSeries(value.times, value.values[:, 0], value.interpolation)
                    ensemble = True
                series[key] = value
                if value.n_runs > 1:
                    n_runs, ensemble = self._runs(n_runs, value.n_runs, var.name), True
                continue
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 0:
                consts[key] = float(arr)
            elif arr.ndim == 1:
                if arr.size == 0:
                    raise ParameterShapeError(f"`params[{name!r}]` is empty; give a value or "
                                              "a 1-D array of values, one per run.")
                n_runs, ensemble = self._runs(n_runs, arr.size, var.name), True
                consts[key] = arr
            else:
                raise ParameterShapeError(
                    f"`params[{name!r}]` must be a number or a 1-D array (one value per run), "
                    f"got shape {arr.shape}."
                )
        for key, arr in consts.items():
            if isinstance(arr, np.ndarray) and arr.size not in (1, n_runs):
                raise ParameterShapeError(
                    f"`params` arrays must all have the same length (the number of runs): "
                    f"{model.variables[key].name!r} has {arr.size}, others {n_runs}."
                )
        return consts, series, n_runs, ensemble

    @staticmethod
    def _runs(n: int, m: int, name: str) -> int:
        if n == 1 or m == 1 or n == m:
            return max(n, m)
        raise ParameterShapeError(
            f"`params` arrays must all have the same length (the number of runs): {name!r} has "
            f"{m} values, another parameter {n}."
        )

    def prepare(self, params: Mapping[str, Any] | None = None, *, t0: float | None = None,
                dt: float | None = None) -> Prepared:
        """Initialize the model for ``params``: initial stocks, static values, breakpoints."""
        with np.errstate(all="ignore"):
            return self._prepare(params, t0, dt)

    def _prepare(self, params, t0, dt) -> Prepared:
        model = self.model
        consts, series, n_runs, ensemble = self.resolve_params(params)
        t0 = model.control.initial_time if t0 is None else t0
        dt = model.control.time_step if dt is None else dt
        base: list = [None] * self.n_slots
        for k in self.constant_keys:
            base[self.slot[k]] = float(model.variables[k].value)
        for k, val in consts.items():
            base[self.slot[k]] = val.copy() if isinstance(val, np.ndarray) else val
        if model.control and "initial_time" in self.slot:
            base[self.slot["initial_time"]] = float(t0)
        base[self.T], base[self.TM], base[self.DT] = float(t0), None, float(dt)
        ts_list = [(self.slot[k], ts) for k, ts in series.items()]
        # static variables: fixed for the whole run
        static = self.static_keys(set(series))
        # initialization
        v = list(base)
        for s, ts in ts_list:
            v[s] = ts(t0)
        for k in model.init_order:
            var = model.variables[k]
            f = self.init_fn.get(k) if (var.kind == "stock" or var.initial is not None) \
                else self.fn.get(k)
            if f is not None:
                v[self.slot[k]] = f(v)
        for k, var in model.variables.items():
            if var.kind == "initial":
                base[self.slot[k]] = v[self.slot[k]]
        plan = []
        plan_deps: list[tuple[str, frozenset[str]]] = []  # (key, keys it needs) per plan entry
        for k in list(model.order) + self.stock_keys:
            owned = self.hoisted.get(k, ())
            for hkey, f, deps in owned:
                if deps <= static:
                    base[self.slot[hkey]] = f(base)
                else:
                    plan.append((self.slot[hkey], f))
                    plan_deps.append((hkey, deps))
            if k in static:
                base[self.slot[k]] = self.fn[k](base)
            elif model.variables[k].kind != "stock":
                plan.append((self.slot[k], self.fast.get(k, self.fn[k])))
                plan_deps.append((k, self.uses[k] | {h for h, _, _ in owned}))
        deriv = [self.fast.get(k, self.fn[k]) for k in self.stock_keys]
        y0 = [v[s] for s in self.stock_slots]
        if n_runs > 1:
            y0 = np.array([np.broadcast_to(np.asarray(y, dtype=float), (n_runs,)) for y in y0],
                          dtype=float).reshape(len(y0), n_runs)
        else:
            y0 = [float(np.asarray(y).reshape(-1)[0]) if np.ndim(y) else float(y) for y in y0]
            # a single run with length-1 arrays: use the fast scalar path throughout
            base = [float(x[0]) if isinstance(x, np.ndarray) and x.size == 1 else x
                    for x in base]
        bps = self._breakpoints(base, static, ts_list)
        all_params = {model.variables[k].name: val for k, val in consts.items()}
        all_params.update({model.variables[k].name: ts for k, ts in series.items()})
        return Prepared(base, y0, n_runs, ensemble, plan, ts_list, bps, all_params, deriv,
                        plan_deps)

    def _breakpoints(self, base: list, static: set, ts_list: list) -> np.ndarray:
        out: list[np.ndarray] = []
        ctl = self.model.control
        horizon = ctl.final_time - ctl.initial_time
        for name, args, deps in self.time_calls:
            if not deps <= static:
                continue
            vals = [np.atleast_1d(np.asarray(g(base), dtype=float)) for g in args]
            if name == "step":
                out.append(vals[1])
            elif name == "ramp":
                out.extend(vals[1:])
            elif name == "pulse":
                width = vals[1] if len(vals) > 1 else np.atleast_1d(base[self.DT])
                width = np.where(width > 0, width, base[self.DT])
                out.extend([vals[0], vals[0] + width])
            elif name in ("pulse_train", "xpulse_train"):
                start, interval = vals[0], vals[1]
                width = vals[2] if name == "pulse_train" else np.atleast_1d(base[self.DT])
                end = vals[3] if name == "pulse_train" else np.atleast_1d(ctl.final_time)
                for s, i, w, e in np.broadcast(start, interval, width, end):
                    if i > 0 and (min(e, ctl.final_time) - s) / i < 10_000:
                        ks = s + i * np.arange(int(max(0, (min(e, ctl.final_time) - s) / i)) + 1)
                        out.extend([ks, ks + w])
                    out.append(np.atleast_1d(e))
            elif name == "xpulse":
                out.extend([vals[0], vals[0] + base[self.DT]])
        for xs in self.time_lookups:
            out.append(np.asarray(xs, dtype=float))
        for _, ts in ts_list:
            out.append(ts.times)
        if not out:
            return np.empty(0)
        bp = np.unique(np.concatenate([np.ravel(o) for o in out]))
        return bp[np.isfinite(bp) & (np.abs(bp) < abs(ctl.final_time) + 10 * abs(horizon) + 1)]

    # -- evaluation ---------------------------------------------------------------------------
    def make_rates(self, prep: Prepared, tm: list) -> Callable[[float, list], list]:
        """``rates(t, stock_values) -> list`` of net rates; ``tm[0]`` is the condition time."""
        base, plan, deriv = prep.base, prep.plan, prep.deriv or self.deriv
        stock_slots, T, TM, ts_list = self.stock_slots, self.T, self.TM, prep.timeseries
        pairs = list(enumerate(stock_slots))
        # one value list for all calls: every slot the plan reads is written before it is read
        # (static slots never change, the others are set in evaluation order)
        v = base.copy()

        def rates(t, ys):
            v[T] = t
            v[TM] = tm[0]
            for i, s in pairs:
                v[s] = ys[i]
            for s, ts in ts_list:
                # a step series is constant between breakpoints: read it at the condition
                # time, so that the last stage of a segment (at its end, the switch time)
                # does not see the next value
                v[s] = ts(tm[0] if tm[0] is not None and ts.interpolation == "step" else t)
            for s, f in plan:
                v[s] = f(v)
            return [f(v) for f in deriv]
        return rates

    def evaluate_all(self, prep: Prepared, t, states: list, keys: set[str] | None = None) -> list:
        """Slot values at times ``t`` (array) given stock values (arrays): vectorized.

        With ``keys``, only those variables (and what they need) are computed.
        """
        v = prep.base.copy()
        v[self.T] = t
        v[self.TM] = None
        for s, x in zip(self.stock_slots, states, strict=True):
            v[s] = x
        for s, ts in prep.timeseries:
            tv = ts(np.ravel(t)) if np.ndim(t) else ts(t)
            v[s] = tv if np.ndim(t) < 2 else np.asarray(tv).reshape(np.shape(t)[0], -1)
        for s, f in (prep.plan if keys is None else prep.plan_for(keys)):
            v[s] = f(v)
        return v

    def equation(self, name: str) -> Callable[..., Any]:
        """The equation of one variable as a function of its inputs.

        Returns ``f(inputs, t=None)`` where ``inputs`` maps the names (or keys) of the
        variables the equation uses to values (floats or arrays); used by the loop analysis
        to re-evaluate one equation with some inputs changed.

        Examples
        --------
        >>> import sts_dynamics as sd
        >>> m = sd.load("operator_skill")  # doctest: +SKIP
        """
        key = self.model.resolve(name)
        var = self.model.variables[key]
        f = self.fn[key]
        needed = sorted(var.uses() - {"time"})
        slot, T, TM, DT = self.slot, self.T, self.TM, self.DT
        model = self.model
        dt0 = model.control.time_step

        def call(inputs: Mapping[str, Any], t: Any = None, dt: float | None = None) -> Any:
            v = [None] * self.n_slots
            given = {(k if k in slot else model.resolve(k)): x for k, x in inputs.items()}
            for k in needed:
                if k in given:
                    v[slot[k]] = given[k]
                elif model.variables[k].kind in ("constant", "control", "lookup"):
                    # a lookup table is read from the model, never from its slot
                    v[slot[k]] = model.variables[k].value
                else:
                    raise UnknownNameError(
                        f"the equation of {var.name!r} needs {model.variables[k].name!r}; "
                        "pass it in `inputs`."
                    )
            v[T], v[TM], v[DT] = t, None, dt0 if dt is None else dt
            return f(v)
        call.inputs = tuple(model.variables[k].name for k in needed  # type: ignore[attr-defined]
                            if model.variables[k].kind != "lookup")
        return call


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compile_model(model: Model) -> CompiledModel:
    """Compile ``model`` (cached per model object)."""
    try:
        return _CACHE[model]
    except KeyError:
        cm = CompiledModel(model)
        _CACHE[model] = cm
        return cm
