"""The frozen result of :func:`sts_dynamics.optimize_policy`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UnknownNameError, close_matches
from ..model import Model
from .levers import Lever

__all__ = ["PolicyOptimum", "Strategy", "STRATEGIES"]

#: The rows of :meth:`PolicyOptimum.compare`, in order.
STRATEGIES = ("baseline", "technical only", "social only", "joint")


@dataclass(frozen=True, eq=False)
class Strategy:
    """One optimization (or the baseline): the lever settings found and how they score.

    ``x`` holds every lever's value per period (shape ``(n_levers * periods,)``, lever-major);
    levers outside ``searched`` are held at their model value (clipped into their bounds).
    """

    name: str
    searched: tuple[str, ...]
    x: np.ndarray
    objective: float
    feasible: bool
    violation: float = 0.0
    nfev: int = 0
    nit: int = 0
    message: str = ""

    def __post_init__(self) -> None:
        self.x.setflags(write=False)


@dataclass(frozen=True, eq=False)
class PolicyOptimum:
    """Lever settings that minimize an objective, with the single-subsystem optima.

    Attributes
    ----------
    model : Model
    objective : str
    constraints : tuple of str
    levers : tuple of Lever
    periods : int
        1 for constant levers; k for levers piecewise constant over k equal periods.
    period_starts : ndarray
        Start time of each period.
    horizon : (float, float)
    robust : str or None
        ``"mean"`` or ``"p90"`` (a percentile) over ``n_samples`` Monte Carlo samples.
    n_samples : int
    strategies : Mapping[str, Strategy]
        ``"baseline"`` (the model's values), ``"technical only"``, ``"social only"`` and
        ``"joint"`` (this optimum); the single-subsystem searches hold the other
        subsystem's levers at their model values.
    table : DataFrame
        See :meth:`compare`.
    samples : Mapping[str, ndarray]
        For ``"objective"`` and each KPI of the table, its value in every run, shape
        ``(n_strategies, n_samples)`` (rows in the order of the table; one column when not
        robust).  The strategies ran with the same samples, so differences are paired.
    names : Mapping[str, str]
        What each name of the objective and constraints stands for.
    seed : int
    nfev, simulations, runs : int
        Settings evaluated, ``simulate`` calls and simulated runs over all searches.
    seconds : float
    notes : tuple of str
    """

    model: Model
    objective: str
    constraints: tuple[str, ...]
    levers: tuple[Lever, ...]
    periods: int
    period_starts: np.ndarray
    horizon: tuple[float, float]
    robust: str | None
    n_samples: int
    strategies: Mapping[str, Strategy]
    table: pd.DataFrame = field(repr=False)
    samples: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)
    names: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    nfev: int = 0
    simulations: int = 0
    runs: int = 0
    seconds: float = 0.0
    percentiles: tuple[float, float] = (5.0, 95.0)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.period_starts.setflags(write=False)
        object.__setattr__(self, "strategies", MappingProxyType(dict(self.strategies)))
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))
        for v in self.samples.values():
            v.setflags(write=False)
        object.__setattr__(self, "samples", MappingProxyType(dict(self.samples)))

    # -- the joint optimum ------------------------------------------------------------------
    @property
    def joint(self) -> Strategy:
        return self.strategies["joint"]

    def settings(self, strategy: str = "joint") -> dict[str, float | tuple[float, ...]]:
        """``{lever: value}`` (a tuple of per-period values for time-varying levers)."""
        st = self._strategy(strategy)
        vals = st.x.reshape(len(self.levers), self.periods)
        return {lv.name: (float(v[0]) if self.periods == 1 else tuple(map(float, v)))
                for lv, v in zip(self.levers, vals, strict=True)}

    @property
    def x(self) -> dict[str, float | tuple[float, ...]]:
        """The joint optimum's lever settings."""
        return self.settings("joint")

    @property
    def value(self) -> float:
        """The joint optimum's objective (aggregated over samples when robust)."""
        return self.joint.objective

    @property
    def feasible(self) -> bool:
        return self.joint.feasible

    @property
    def cost(self) -> float:
        return float(self.table.loc["joint", "cost"])

    @property
    def kpis(self) -> dict[str, float]:
        """KPIs at the joint optimum (medians over the samples when robust)."""
        row = self.table.loc["joint"]
        return {c: float(row[c]) for c in self.kpi_names}

    @property
    def kpi_names(self) -> tuple[str, ...]:
        return tuple(self.table.attrs.get("kpis", ()))

    def _strategy(self, name: str) -> Strategy:
        if name not in self.strategies:
            raise UnknownNameError(f"no strategy {name!r}; the strategies are "
                                   f"{', '.join(map(repr, self.strategies))}."
                                   f"{close_matches(name, list(self.strategies))}")
        return self.strategies[name]

    # -- views ------------------------------------------------------------------------------
    def compare(self) -> pd.DataFrame:
        """Baseline, technical levers only, social levers only and the joint optimum.

        One row per strategy: ``objective``, ``feasible``, ``cost``, each lever's value (its
        mean over the periods when time-varying) and each KPI; when robust, the KPIs and the
        objective are medians over the Monte Carlo samples with ``<name> p5`` and
        ``<name> p95`` bands (``percentiles``), and ``objective`` is the robust statistic
        the search minimized.
        """
        return self.table.copy()

    def changes(self, percentiles: tuple[float, float] | None = None) -> pd.DataFrame:
        """Change of each KPI (and the objective) from the baseline in %, run by run (the
        strategies share their Monte Carlo samples): median and percentile band.

        Long frame: ``strategy, kpi, change_pct, change_pct_p<lo>, change_pct_p<hi>``.
        """
        lo, hi = percentiles or self.percentiles
        index = list(self.table.index)
        if "baseline" not in index:
            return pd.DataFrame()
        b = index.index("baseline")
        rows = []
        for name, v in self.samples.items():
            base = v[b]
            with np.errstate(all="ignore"):
                pct = 100 * (v - base) / np.abs(base)
            for i, strat in enumerate(index):
                if strat == "baseline":
                    continue
                x = pct[i][np.isfinite(pct[i])]
                if x.size == 0:
                    q = (np.nan, np.nan, np.nan)
                else:
                    q = tuple(float(y) for y in np.percentile(x, [50, lo, hi]))
                rows.append({"strategy": strat, "kpi": name, "change_pct": q[0],
                             f"change_pct_p{lo:g}": q[1], f"change_pct_p{hi:g}": q[2]})
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """The levers: subsystem, bounds, model value, cost per unit, and the value each
        strategy sets (one row per lever and period)."""
        rows = []
        for i, lv in enumerate(self.levers):
            for p in range(self.periods):
                row: dict[str, Any] = {"lever": lv.name, "constant": lv.constant,
                                       "subsystem": lv.subsystem}
                if self.periods > 1:
                    row["period_start"] = float(self.period_starts[p])
                row.update(low=lv.low, high=lv.high, model_value=lv.default,
                           cost_per_unit=lv.cost_per_unit)
                for name, st in self.strategies.items():
                    row[name] = float(st.x[i * self.periods + p])
                rows.append(row)
        return pd.DataFrame(rows)

    def policy(self, strategy: str = "joint", name: str | None = None) -> Any:
        """The settings of ``strategy`` as a :class:`~sts_dynamics.Policy`, to run in an
        experiment (``sd.run_experiment(model, [opt.policy()])``)."""
        from ..experiments import Policy

        st = self._strategy(strategy)
        label = name or f"{strategy} optimum"
        vals = st.x.reshape(len(self.levers), self.periods)
        if self.periods == 1:
            return Policy(label, {lv.constant: float(v[0])
                                  for lv, v in zip(self.levers, vals, strict=True)})
        return Policy.table(label, {lv.constant: [(float(t), float(x)) for t, x in
                                                  zip(self.period_starts, v, strict=True)]
                                    for lv, v in zip(self.levers, vals, strict=True)})

    def messages(self) -> list[str]:
        """Plain-language findings for a briefing."""
        t = self.table
        out = []
        if not {"technical only", "social only", "joint"} <= set(t.index):
            return out
        o = t["objective"]
        j, te, so = float(o["joint"]), float(o["technical only"]), float(o["social only"])
        base = float(o["baseline"]) if "baseline" in t.index else np.nan
        stat = f" ({self.robust} over {self.n_samples} samples)" if self.robust else ""
        out.append(f"Optimizing technical and social levers together gives an objective of "
                   f"{j:.4g}{stat}, against {te:.4g} with technical levers only and {so:.4g} "
                   f"with social levers only" + (f" (baseline {base:.4g})." if
                                                  np.isfinite(base) else "."))
        best_single = min(te, so)
        if np.isfinite(best_single) and abs(best_single) > 0:
            gain = 100 * (best_single - j) / abs(best_single)
            if gain > 0.5:
                out.append(f"Joint optimization improves on the best single-subsystem design by "
                           f"{gain:.0f}%: the sociotechnical argument in numbers.")
            else:
                out.append("Joint optimization adds little over the best single-subsystem "
                           "design for this objective.")
        return out

    def __repr__(self) -> str:
        xs = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else
                       f"{k}=({', '.join(f'{y:.3g}' for y in v)})" for k, v in self.x.items())
        return (f"<PolicyOptimum of {self.model.name!r}: {self.objective!r} = {self.value:.6g} "
                f"at {xs}{'' if self.feasible else ' (infeasible)'}>")
