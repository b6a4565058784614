"""The optimization problem: names of the objective, lever settings as runs, evaluation.

One evaluation takes a batch of lever settings (a population of differential evolution, or a
point and its finite-difference neighbours) and runs them, times the Monte Carlo samples of a
robust problem, as ONE vectorized ensemble (chunked only when its outputs would pass about
500 MB).  Run ``p * n_samples + s`` is setting ``p`` under sample ``s`` (common random numbers:
every setting sees the same samples).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compile import TimeSeries
from ..errors import ConfigError, UnknownNameError, close_matches
from ..experiments.kpis import KPI, default_kpis, resolve_kpis
from ..experiments.runner import Settings, default_chunk_size, run_chunk
from ..model import Model
from .expression import Expression
from .levers import Lever

__all__ = ["Problem", "Measure", "resolve_names", "parse_robust", "PENALTY"]

#: Objective value of a setting that breaks a constraint (plus its violation) or whose runs
#: fail: far above any objective a model computes, so that feasible settings always win.
PENALTY = 1e9

_PCT = re.compile(r"^p(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Measure:
    """What a name in the objective stands for: ``"cost"``, a lever or a KPI."""

    name: str
    kind: str                      # "cost" | "lever" | "kpi"
    lever: int | None = None
    kpi: KPI | None = None
    description: str = ""


def _kpi_text(k: KPI, model: Model) -> str:
    what = {"final": "final value", "mean": "mean of", "initial": "initial value",
            "mean_per_year": "yearly rate of", "change": "change of",
            "change_per_year": "yearly change of", "integral": "integral of",
            "min": "minimum of", "max": "maximum of", "at": f"value at {k.at} of"}[k.stat]
    return f"KPI {k.name!r}: {what} {model[k.variable].name} over the horizon"


def resolve_names(model: Model, names: Sequence[str], levers: Sequence[Lever],
                  what: str = "objective") -> dict[str, Measure]:
    """Resolve the names of an expression, in this order: ``cost``; a lever (its name or
    constant); a KPI of the model's ``[kpis]``; a model variable (its KPI: the final value of
    a stock, the mean over the horizon of anything else); a unique whole-word prefix of a
    KPI name (``incidents`` for ``incidents per year``).  Case does not matter; ``_`` may
    stand for a space."""
    kpis = {k.name: k for k in default_kpis(model)} if (model.metadata or {}).get("kpis") \
        else {}
    lower_kpis = {k.lower(): k for k in kpis}
    lever_names = {}
    for i, lv in enumerate(levers):
        lever_names[lv.name.lower()] = i
        lever_names[lv.constant.lower()] = i
    out: dict[str, Measure] = {}
    for raw in names:
        n = " ".join(raw.replace("_", " ").split()).lower()
        if n == "cost":
            out[raw] = Measure(raw, "cost", description="cost of the lever settings per "
                               f"{model.control.time_units or 'time unit'}")
            continue
        if n in lever_names:
            i = lever_names[n]
            out[raw] = Measure(raw, "lever", lever=i,
                               description=f"lever {levers[i].name!r} (its mean over time)")
            continue
        if n in lower_kpis:
            k = kpis[lower_kpis[n]]
            out[raw] = Measure(raw, "kpi", kpi=k, description=_kpi_text(_auto(model, k), model))
            continue
        if raw in model:
            var = model[raw]
            if var.kind == "lookup":
                raise ConfigError(f"{what}: {var.name!r} is a lookup table, not a quantity.")
            k = KPI(raw, var.name, "auto")
            out[raw] = Measure(raw, "kpi", kpi=k, description=_kpi_text(_auto(model, k), model))
            continue
        words = n.split()
        pref = [k for k in kpis if k.lower().split()[:len(words)] == words]
        if len(pref) == 1:
            k = kpis[pref[0]]
            out[raw] = Measure(raw, "kpi", kpi=k, description=_kpi_text(_auto(model, k), model))
            continue
        options = ["cost"] + [lv.name for lv in levers] + list(kpis) + \
            [v.name for v in model.variables.values() if not v.internal]
        amb = f" It could be any of {', '.join(map(repr, pref))}." if pref else ""
        hint = close_matches(raw, options) or (
            f" Names can be 'cost', a lever, a KPI ({', '.join(map(repr, list(kpis)[:6]))}"
            f"{' ...' if len(kpis) > 6 else ''}) or a variable of the model." if kpis else
            " Names can be 'cost', a lever or a variable of the model.")
        raise UnknownNameError(f"{what}: unknown name {raw!r} (not a KPI, lever or variable of "
                               f"model {model.name!r}).{amb}{hint}")
    return out


def _auto(model: Model, k: KPI) -> KPI:
    return resolve_kpis(model, [k])[0][0]


def parse_robust(robust: Any) -> tuple[str | None, float | None, int]:
    """``(label, percentile or None for the mean, n_samples)`` from ``None``, ``"mean"``,
    ``"p90"`` or ``("p90", 64)``."""
    if robust is None or robust is False:
        return None, None, 0
    n = 32
    stat = robust
    if isinstance(robust, tuple | list):
        if len(robust) != 2:
            raise ConfigError(f"`robust` must be 'mean', 'p90' or a pair such as ('p90', 64), got "
                              f"{robust!r}.")
        stat, n = robust
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ConfigError(f"`robust`: the number of Monte Carlo samples must be an integer >= 2,"
                          f" got {n!r}.")
    if stat == "mean":
        return "mean", None, int(n)
    m = _PCT.match(str(stat))
    if not m or not 0 < float(m.group(1)) < 100:
        raise ConfigError(f"`robust` must be 'mean' or a percentile such as 'p90', got "
                          f"{stat!r}.")
    return str(stat), float(m.group(1)), int(n)


@dataclass(eq=False)
class Problem:
    """Everything an evaluation needs (built once by :func:`optimize_policy`)."""

    model: Model
    levers: list[Lever]
    periods: int
    period_starts: np.ndarray
    t_span: tuple[float, float]
    t_eval: np.ndarray
    objective: Expression
    constraints: list[Expression]
    measures: dict[str, Measure]
    report_kpis: list[KPI]
    samples: dict[str, np.ndarray]
    n_samples: int
    percentile: float | None
    robust: str | None
    solver: Mapping[str, Any]
    simulations: int = 0
    runs: int = 0
    _settings: Settings | None = field(default=None, repr=False)
    _report: Settings | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        kpis = [m.kpi for m in self.measures.values() if m.kind == "kpi"]
        units = self.model.control.time_units
        self._settings = Settings(self.t_span, self.t_eval,
                                  tuple(resolve_kpis(self.model, _unique(kpis)))
                                  if kpis else (), (), units, dict(self.solver))
        report = _unique(kpis + list(self.report_kpis))
        self._report = Settings(self.t_span, self.t_eval,
                                tuple(resolve_kpis(self.model, report)) if report else (), (),
                                units, dict(self.solver))

    # -- lever settings ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(self.levers) * self.periods

    def bounds(self) -> np.ndarray:
        return np.array([(lv.low, lv.high) for lv in self.levers for _ in range(self.periods)])

    def held(self) -> np.ndarray:
        return np.array([lv.held for lv in self.levers for _ in range(self.periods)])

    def defaults(self) -> np.ndarray:
        return np.array([lv.default for lv in self.levers for _ in range(self.periods)])

    def columns(self, subsystem: str | None) -> np.ndarray:
        """Indices of the decision variables of the levers of ``subsystem`` (all: None)."""
        return np.array([i * self.periods + p for i, lv in enumerate(self.levers)
                         if subsystem is None or lv.subsystem == subsystem
                         for p in range(self.periods)], dtype=int)

    def lever_values(self, X: np.ndarray) -> np.ndarray:
        """Shape (n_points, n_levers, periods)."""
        return X.reshape(len(X), len(self.levers), self.periods)

    def cost(self, X: np.ndarray) -> np.ndarray:
        price = np.array([lv.cost_per_unit for lv in self.levers])
        return self.lever_values(X).mean(axis=2) @ price

    # -- evaluation -------------------------------------------------------------------------
    def _params(self, X: np.ndarray) -> dict[str, Any]:
        n_pts, n_s = len(X), max(self.n_samples, 1)
        vals = self.lever_values(X)
        params: dict[str, Any] = {}
        for i, lv in enumerate(self.levers):
            v = np.repeat(vals[:, i, :], n_s, axis=0)            # (n_runs, periods)
            if self.periods == 1:
                params[lv.constant] = v[:, 0]
            else:
                # a single run takes 1-D values (the engine reads (n_times, 1) as an ensemble)
                params[lv.constant] = TimeSeries(self.period_starts,
                                                 v[0] if len(v) == 1 else v.T, "step")
        for name, s in self.samples.items():
            params[name] = np.tile(s, n_pts)
        return params

    def simulate_kpis(self, X: np.ndarray, report: bool = False) -> tuple[list[KPI], np.ndarray]:
        """KPI values of every run: ``(kpis, array (n_kpis, n_points, n_samples))``; NaN
        for runs that failed."""
        settings = self._report if report else self._settings
        n_pts, n_s = len(X), max(self.n_samples, 1)
        n = n_pts * n_s
        kpis = [k for k, _ in settings.kpis]
        if not kpis:
            return [], np.empty((0, n_pts, n_s))
        params = self._params(X)
        size = default_chunk_size(n, len(self.model.variables), len(self.t_eval))
        out = np.full((len(kpis), n), np.nan)
        for a in range(0, n, size):
            b = min(n, a + size)
            sel = np.arange(a, b)
            chunk = {k: (v[a:b] if isinstance(v, np.ndarray) else
                         v if v.values.ndim == 1 else
                         TimeSeries(v.times, v.values[:, sel], v.interpolation))
                     for k, v in params.items()}
            res = run_chunk(self.model, settings, chunk, b - a)
            out[:, a:b] = res.kpis
            self.simulations += 1
        self.runs += n
        return kpis, out.reshape(len(kpis), n_pts, n_s)

    def values(self, X: np.ndarray, kpis: list[KPI], kp: np.ndarray) -> dict[str, np.ndarray]:
        """The value of every name of the objective and constraints, shape (n_points,
        n_samples)."""
        n_s = max(self.n_samples, 1)
        pos = {k.name: j for j, k in enumerate(kpis)}
        lever_mean = self.lever_values(X).mean(axis=2)
        cost = self.cost(X)
        out = {}
        for name, m in self.measures.items():
            if m.kind == "cost":
                out[name] = np.repeat(cost[:, None], n_s, axis=1)
            elif m.kind == "lever":
                out[name] = np.repeat(lever_mean[:, m.lever][:, None], n_s, axis=1)
            else:
                out[name] = kp[pos[m.kpi.name]]
        return out

    def aggregate(self, per_run: np.ndarray) -> np.ndarray:
        """Over the samples (last axis): the mean or the percentile; NaN if any run failed."""
        if per_run.shape[-1] == 1:
            return per_run[..., 0]
        bad = ~np.isfinite(per_run).all(axis=-1)
        if self.percentile is None:
            agg = per_run.mean(axis=-1)
        else:
            agg = np.percentile(per_run, self.percentile, axis=-1)
        return np.where(bad, np.nan, agg)

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(penalized objective, objective, constraint violation)`` of each setting."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        kpis, kp = self.simulate_kpis(X)
        vals = self.values(X, kpis, kp)
        with np.errstate(all="ignore"):
            obj = self.aggregate(np.broadcast_to(self.objective.evaluate(vals), kp.shape[1:]
                                                 if kp.size else (len(X), 1)))
            viol = np.zeros(len(X))
            for c in self.constraints:
                r = self.aggregate(np.broadcast_to(c.residual(vals), kp.shape[1:]
                                                   if kp.size else (len(X), 1)))
                viol += np.where(np.isfinite(r), np.maximum(r, 0.0), np.inf)
        f = np.where(viol > 0, PENALTY * (1.0 + np.minimum(viol, 1e6)), obj)
        f = np.where(np.isfinite(f), f, PENALTY * 1e7)
        return f, obj, viol


def _unique(kpis: list[KPI]) -> list[KPI]:
    seen, out = set(), []
    for k in kpis:
        if k.name not in seen:
            seen.add(k.name)
            out.append(k)
    return out


def period_starts(t0: float, t1: float, periods: int) -> np.ndarray:
    """Equal periods over the horizon: their start times."""
    return t0 + (t1 - t0) * np.arange(periods) / periods


def check_periods(time_varying: Any) -> int:
    if time_varying is False or time_varying is None:
        return 1
    if time_varying is True:
        return 4
    if isinstance(time_varying, bool) or not isinstance(time_varying, int | np.integer) or \
            time_varying < 1:
        raise ConfigError(f"`time_varying` must be False, True (4 periods) or a number of "
                          f"periods >= 1, got {time_varying!r}.")
    return int(time_varying)


def finite(x: float) -> float:
    return float(x) if math.isfinite(x) else math.nan
