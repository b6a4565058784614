"""Key performance indicators: a model variable reduced to one number per run.

KPI definitions come from the model's sidecar ``<model>.meta.toml``, table ``[kpis]``::

    [kpis]
    "skill at horizon" = "Operator Skill"                  # final value
    "incidents per year" = { variable = "incident rate", stat = "mean_per_year",
                             better = "lower", units = "incidents/year" }

or are given directly (``KPI(...)`` objects, mappings of that form, or bare variable names:
the final value of a stock, the mean over the horizon of anything else).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, UnknownNameError, close_matches
from ..model import Model

__all__ = ["KPI", "STATS", "resolve_kpis", "kpi_values", "default_kpis", "per_year", "is_share"]

#: How a KPI reduces a variable's trajectory over the horizon to one number.
STATS = ("final", "initial", "mean", "min", "max", "integral", "change", "at",
         "mean_per_year", "change_per_year")

_KPI_KEYS = ("variable", "stat", "at", "scale", "units", "better", "description", "name",
             "label")

#: Model time units per year (a year is 365.25 days).
_PER_YEAR = {"year": 1.0, "month": 12.0, "quarter": 4.0, "week": 365.25 / 7, "day": 365.25,
             "hour": 365.25 * 24, "minute": 365.25 * 24 * 60, "second": 365.25 * 86400}


_DIMENSIONLESS = ("", "dmnl", "1", "dimensionless", "fraction")


def is_share(units: Any, values: Any) -> bool:
    """True for a dimensionless KPI whose values lie in [0, 1] (a share, fraction or index).

    Its changes read in percentage points: a percent change of a share near zero explodes
    (0.004 to 0.25 is "+6,000 %"), which says nothing useful.

    Examples
    --------
    >>> is_share("Dmnl", [0.48, 0.3]), is_share("incident/Year", [0.5]), is_share("", [1.5])
    (True, False, False)
    """
    if str(units or "").strip().lower() not in _DIMENSIONLESS:
        return False
    vals = np.asarray(values, dtype=float).ravel()
    vals = vals[np.isfinite(vals)]
    return bool(vals.size) and bool(np.all((vals >= 0) & (vals <= 1)))


def per_year(time_units: str) -> float | None:
    """Model time units in a year, from a Vensim unit name such as ``"Week"``."""
    u = (time_units or "").strip().lower().rstrip("s")
    return _PER_YEAR.get(u)


@dataclass(frozen=True)
class KPI:
    """A KPI: ``stat`` of ``variable`` over the horizon, times ``scale``.

    Parameters
    ----------
    name : str
    variable : str
        A model variable.
    stat : str
        One of ``final``, ``initial``, ``mean`` (time average), ``min``, ``max``,
        ``integral``, ``change`` (final - initial), ``at`` (value at time ``at``),
        ``mean_per_year`` (a rate per model time unit, averaged and expressed per year) and
        ``change_per_year`` (the change of a cumulative stock per year); ``"auto"`` means
        ``final`` for a stock and ``mean`` for anything else.
    at : float, optional
        The time of ``stat = "at"``.
    scale : float
        Multiplies the result (unit conversion).
    units, description : str
    better : {"lower", "higher", None}
        Which direction is an improvement (for reports).

    Examples
    --------
    >>> KPI("skill", "Operator Skill").stat
    'final'
    """

    name: str
    variable: str
    stat: str = "final"
    at: float | None = None
    scale: float = 1.0
    units: str = ""
    better: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"KPI {self.name!r}"
        if self.stat not in STATS + ("auto",):
            raise ConfigError(f"{where}: `stat` must be one of {', '.join(STATS)}, got "
                              f"{self.stat!r}.{close_matches(str(self.stat), STATS)}")
        if (self.stat == "at") != (self.at is not None):
            raise ConfigError(f"{where}: give `at` (a time) exactly when `stat` is 'at'.")
        if self.better not in (None, "lower", "higher"):
            raise ConfigError(f"{where}: `better` must be 'lower' or 'higher', got "
                              f"{self.better!r}.")
        try:
            scale = float(self.scale)
        except (TypeError, ValueError):
            scale = math.nan
        if not math.isfinite(scale):
            raise ConfigError(f"{where}: `scale` must be a finite number, got {self.scale!r}.")
        object.__setattr__(self, "scale", scale)

    @classmethod
    def from_spec(cls, name: str, spec: Any, where: str = "kpis") -> KPI:
        """From a variable name or a table ``{variable = ..., stat = ..., ...}``."""
        if isinstance(spec, KPI):
            return spec
        if isinstance(spec, str):
            return cls(name, spec, stat="auto")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: KPI {name!r} must be a variable name or a table with "
                              f"`variable` and `stat`, got {spec!r}.")
        for key in spec:
            if key not in _KPI_KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} in KPI {name!r}."
                                  f"{close_matches(str(key), _KPI_KEYS)}")
        if "variable" not in spec:
            raise ConfigError(f"{where}: KPI {name!r} needs `variable`.")
        args = {k: spec[k] for k in ("variable", "stat", "at", "scale", "units", "better",
                                     "description") if k in spec}
        args.setdefault("stat", "auto")
        return cls(name, **args)

    def label(self) -> str:
        return f"{self.name} [{self.units}]" if self.units else self.name


def default_kpis(model: Model) -> list[KPI]:
    """The model's KPIs from its meta.toml ``[kpis]``, else the final value of every stock."""
    table = model.metadata.get("kpis") if model.metadata else None
    if table:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{model.name}.meta.toml: `kpis` must be a table of KPI names.")
        return [KPI.from_spec(n, s, f"{model.name}.meta.toml [kpis]") for n, s in table.items()]
    return [KPI(name, name, "final") for name in model.stock_names]


def resolve_kpis(model: Model, kpis: Any = None) -> list[tuple[KPI, str]]:
    """``[(kpi, variable key), ...]``, every variable checked against the model.

    ``kpis`` may be ``None`` (the model's defaults), a sequence of KPI objects, of names of
    the model's KPIs, or of variable names, or a mapping ``{name: spec}``.
    """
    defaults = {k.name: k for k in default_kpis(model)}
    if kpis is None:
        chosen = list(defaults.values())
    elif isinstance(kpis, Mapping):
        chosen = [KPI.from_spec(n, s) for n, s in kpis.items()]
    elif isinstance(kpis, str | KPI):
        return resolve_kpis(model, [kpis])
    else:
        chosen = []
        for item in kpis:
            if isinstance(item, KPI):
                chosen.append(item)
            elif isinstance(item, Mapping):
                spec = dict(item)
                name = spec.pop("name", None) or spec.get("variable")
                if name is None:
                    raise ConfigError(f"kpis: a KPI table needs `name` or `variable`, got "
                                      f"{item!r}.")
                chosen.append(KPI.from_spec(str(name), spec))
            elif isinstance(item, str):
                if item in defaults:
                    chosen.append(defaults[item])
                elif item in model:
                    chosen.append(KPI.from_spec(item, item))
                else:
                    names = list(defaults) + [v.name for v in model.variables.values()
                                              if not v.internal]
                    raise UnknownNameError(
                        f"kpis: {item!r} is neither a KPI of model {model.name!r} nor one of "
                        f"its variables.{close_matches(item, names)}")
            else:
                raise ConfigError(f"kpis: expected KPI names or definitions, got {item!r}.")
    out = []
    seen = set()
    for k in chosen:
        if k.name in seen:
            raise ConfigError(f"kpis: the KPI name {k.name!r} is used twice.")
        seen.add(k.name)
        try:
            key = model.resolve(k.variable)
        except UnknownNameError:
            public = [v.name for v in model.variables.values() if not v.internal]
            raise UnknownNameError(
                f"KPI {k.name!r}: model {model.name!r} has no variable {k.variable!r}."
                f"{close_matches(k.variable, public)}") from None
        kind = model.variables[key].kind
        if kind == "lookup":
            raise ConfigError(f"KPI {k.name!r}: {k.variable!r} is a lookup table, not a "
                              "variable with values over time.")
        units = k.units
        if not units and k.scale == 1.0 and k.stat not in ("mean_per_year", "change_per_year",
                                                           "integral"):
            units = model.variables[key].units or ""
            units = "" if units.lower() in ("dmnl", "dimensionless", "1") else units
        stat = ("final" if kind == "stock" else "mean") if k.stat == "auto" else k.stat
        if (stat, units) != (k.stat, k.units):
            k = KPI(k.name, k.variable, stat, k.at, k.scale, units, k.better, k.description)
        if k.stat in ("mean_per_year", "change_per_year") and \
                per_year(model.control.time_units) is None:
            raise ConfigError(
                f"KPI {k.name!r}: stat {k.stat!r} needs the model's time unit in a year, but "
                f"{model.control.time_units!r} is not one of {', '.join(_PER_YEAR)}.")
        out.append((k, key))
    if not out:
        raise ConfigError(f"kpis: no KPIs to compute for model {model.name!r}.")
    return out


def kpi_values(kpi: KPI, t: np.ndarray, values: np.ndarray, time_units: str = "") -> np.ndarray:
    """Reduce ``values`` (shape (n_time, n_runs)) over time to one number per run."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    stat = kpi.stat
    span = float(t[-1] - t[0])
    if stat == "final":
        out = v[-1]
    elif stat == "initial":
        out = v[0]
    elif stat in ("mean", "mean_per_year", "integral"):
        integral = np.trapezoid(v, t, axis=0) if len(t) > 1 else v[0] * 0.0
        out = integral if stat == "integral" else (integral / span if span > 0 else v[0])
        if stat == "mean_per_year":
            out = out * per_year(time_units)
    elif stat == "min":
        out = v.min(axis=0)
    elif stat == "max":
        out = v.max(axis=0)
    elif stat in ("change", "change_per_year"):
        out = v[-1] - v[0]
        if stat == "change_per_year":
            out = out / (span / per_year(time_units))
    else:  # "at"
        j = int(np.clip(np.searchsorted(t, kpi.at, side="right") - 1, 0, len(t) - 1))
        j1 = min(j + 1, len(t) - 1)
        w = 0.0 if j1 == j else float(np.clip((kpi.at - t[j]) / (t[j1] - t[j]), 0, 1))
        out = v[j] + (v[j1] - v[j]) * w
    return np.asarray(out, dtype=float) * kpi.scale
