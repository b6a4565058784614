"""The frozen result of an experiment: KPIs per run, kept trajectories, failures."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, UnknownNameError, close_matches
from ..model import Model
from ..output import FORMATS, check_targets, write_frame, write_text
from .kpis import KPI
from .policy import Scenario

__all__ = ["ExperimentResult"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """The result of :func:`~sts_dynamics.run_experiment` (or ``monte_carlo``).

    Attributes
    ----------
    model : Model
    scenarios : tuple of Scenario
    baseline : str
        The scenario KPIs are compared with.
    kpi_defs : tuple of KPI
    values : ndarray, shape (n_scenarios, n_kpis, n_samples)
        KPI value of every run (NaN for failed runs). Read-only.
    samples : DataFrame
        The parameter sets (one row per sample, one column per uncertain constant); every
        scenario ran with the same rows (common random numbers).
    t : ndarray
        Output times of the kept trajectories.
    trajectories : Mapping[str, ndarray]
        Kept variables by name, shape (n_scenarios, n_time, n_samples). Read-only.
    failures : tuple of (scenario, sample, message)
        Runs that failed; their values are NaN and they are left out of the statistics.
    seed : int or None
        The seed the samples were drawn with.
    percentiles : (float, float)
        The default band of :meth:`kpis`.
    info : Mapping
        Method, horizon, chunks, wall time and other provenance.
    """

    model: Model
    scenarios: tuple[Scenario, ...]
    baseline: str
    kpi_defs: tuple[KPI, ...]
    values: np.ndarray
    samples: pd.DataFrame
    t: np.ndarray
    trajectories: Mapping[str, np.ndarray] = field(default_factory=dict)
    failures: tuple[tuple[str, int, str], ...] = ()
    seed: int | None = None
    percentiles: tuple[float, float] = (5.0, 95.0)
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _readonly(self.values))
        object.__setattr__(self, "t", _readonly(np.asarray(self.t, dtype=float)))
        object.__setattr__(self, "trajectories", MappingProxyType(
            {k: _readonly(v) for k, v in self.trajectories.items()}))
        object.__setattr__(self, "samples", self.samples.copy())
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))
        object.__setattr__(self, "failures", tuple(self.failures))

    # -- shape -----------------------------------------------------------------------------
    @property
    def scenario_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios)

    @property
    def kpi_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.kpi_defs)

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[2])

    def _scenario_index(self, name: str) -> int:
        try:
            return self.scenario_names.index(name)
        except ValueError:
            raise UnknownNameError(f"no scenario {name!r}; the scenarios are "
                                   f"{', '.join(map(repr, self.scenario_names))}."
                                   f"{close_matches(name, self.scenario_names)}") from None

    def __getitem__(self, scenario: str) -> pd.DataFrame:
        """KPI values of every run of one scenario (rows: runs; columns: KPIs)."""
        s = self._scenario_index(scenario)
        return pd.DataFrame(self.values[s].T, columns=list(self.kpi_names),
                            index=pd.RangeIndex(self.n_samples, name="run"))

    # -- frames ----------------------------------------------------------------------------
    def kpi_samples(self) -> pd.DataFrame:
        """One row per (scenario, run): the KPI values and the run's parameter values."""
        parts = []
        for s, name in enumerate(self.scenario_names):
            df = pd.DataFrame(self.values[s].T, columns=list(self.kpi_names))
            df.insert(0, "run", np.arange(self.n_samples))
            df.insert(0, "scenario", name)
            parts.append(pd.concat([df, self.samples.reset_index(drop=True)], axis=1))
        return pd.concat(parts, ignore_index=True)

    def to_frame(self, variables: Sequence[str] | None = None, *,
                 scenarios: Sequence[str] | None = None) -> pd.DataFrame:
        """The long frame ``scenario, run, time, variable, value`` of the kept trajectories."""
        if not self.trajectories:
            raise ConfigError("this result kept no trajectories (a large ensemble keeps only "
                              "KPI values); run it with `record=[...]` to keep variables, or "
                              "use kpi_samples().")
        names = list(self.trajectories) if variables is None else list(variables)
        for n in names:
            if n not in self.trajectories:
                raise UnknownNameError(f"variable {n!r} was not kept; kept: "
                                       f"{', '.join(map(repr, self.trajectories))}."
                                       f"{close_matches(n, self.trajectories)}")
        scen = list(self.scenario_names) if scenarios is None else list(scenarios)
        n_t, n_r = len(self.t), self.n_samples
        parts = []
        for sname in scen:
            s = self._scenario_index(sname)
            for n in names:
                parts.append(pd.DataFrame({
                    "scenario": sname,
                    "run": np.tile(np.arange(n_r), n_t),
                    "time": np.repeat(self.t, n_r),
                    "variable": n,
                    "value": self.trajectories[n][s].reshape(-1),
                }))
        return pd.concat(parts, ignore_index=True)

    def bands(self, variable: str, percentiles: Sequence[float] | None = None) -> pd.DataFrame:
        """Median and percentile band of a kept variable over time, per scenario."""
        if variable not in self.trajectories:
            raise UnknownNameError(f"variable {variable!r} was not kept; kept: "
                                   f"{', '.join(map(repr, self.trajectories)) or '(none)'}."
                                   f"{close_matches(variable, self.trajectories)}")
        lo, hi = self.percentiles if percentiles is None else percentiles
        arr = self.trajectories[variable]
        rows = []
        for s, name in enumerate(self.scenario_names):
            q = _nanpct(arr[s], [50, lo, hi], axis=1)
            rows.append(pd.DataFrame({"scenario": name, "time": self.t, "median": q[0],
                                      f"p{lo:g}": q[1], f"p{hi:g}": q[2]}))
        return pd.concat(rows, ignore_index=True)

    def failed_runs(self) -> pd.DataFrame:
        """``scenario, run, message`` and the parameter values of every failed run."""
        df = pd.DataFrame(list(self.failures), columns=["scenario", "run", "message"])
        if len(df) and len(self.samples.columns):
            params = self.samples.iloc[df["run"].to_numpy()].reset_index(drop=True)
            df = pd.concat([df, params], axis=1)
        return df

    def kpis(self, percentiles: Sequence[float] | None = None) -> pd.DataFrame:
        """The KPI table: each scenario relative to the baseline, with percentile bands.

        Columns: ``scenario, kpi, units, median, p<lo>, p<hi>`` (over runs), ``baseline``
        (the baseline's median), ``change`` with ``change_p<lo>, change_p<hi>`` (percentiles
        of the run-by-run difference from the baseline: the same parameter set under both
        scenarios), ``change_pct`` with ``change_pct_p<lo>, change_pct_p<hi>`` (relative
        change run by run, %; NaN where the baseline is 0) and ``runs`` (successful runs).
        """
        lo, hi = self.percentiles if percentiles is None else tuple(percentiles)
        b = self._scenario_index(self.baseline)
        base = self.values[b]
        rows = []
        for s, sname in enumerate(self.scenario_names):
            for k, kpi in enumerate(self.kpi_defs):
                v = self.values[s, k]
                d = v - base[k]
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = np.where(base[k] != 0, d / np.abs(base[k]), np.nan) * 100
                qv = _nanpct(v, [50, lo, hi])
                qd = _nanpct(d, [50, lo, hi])
                rows.append({
                    "scenario": sname, "kpi": kpi.name, "units": kpi.units,
                    "median": qv[0], f"p{lo:g}": qv[1], f"p{hi:g}": qv[2],
                    "baseline": _nanpct(base[k], [50])[0],
                    "change": qd[0], f"change_p{lo:g}": qd[1], f"change_p{hi:g}": qd[2],
                    **dict(zip(["change_pct", f"change_pct_p{lo:g}", f"change_pct_p{hi:g}"],
                               _nanpct(rel, [50, lo, hi]), strict=True)),
                    "runs": int(np.isfinite(v).sum()),
                })
        return pd.DataFrame(rows)

    # -- export ----------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike, *, what: str = "kpis", force: bool = False
               ) -> Path:
        """Write a table (``what``: kpis, samples, frame, failed) as CSV, atomically."""
        return self._write(path, what, "csv", force)

    def to_parquet(self, path: str | os.PathLike, *, what: str = "kpis", force: bool = False
                   ) -> Path:
        return self._write(path, what, "parquet", force)

    def to_json(self, path: str | os.PathLike, *, what: str = "kpis", force: bool = False
                ) -> Path:
        return self._write(path, what, "json", force)

    def _table(self, what: str) -> pd.DataFrame:
        tables = {"kpis": self.kpis, "samples": self.kpi_samples, "frame": self.to_frame,
                  "failed": self.failed_runs}
        if what not in tables:
            raise ConfigError(f"`what` must be one of {', '.join(tables)}, got {what!r}.")
        return tables[what]()

    def _write(self, path, what, fmt, force) -> Path:
        p = Path(path)
        if p.suffix.lower() != f".{fmt}":
            raise ConfigError(f"output {str(p)!r}: a {fmt} file name must end in .{fmt}.")
        check_targets([p], force=force)
        return write_frame(self._table(what), p, force=force)

    def save(self, folder: str | os.PathLike, *, formats: Sequence[str] = ("csv",),
             force: bool = False) -> list[Path]:
        """Write every table into ``folder`` (created if its parent exists).

        Files: ``kpis``, ``kpi_samples``, ``trajectories`` (when kept), ``failed_runs``
        (when any) in each of ``formats``, and ``experiment.json`` (provenance).  Nothing is
        written when any target exists, unless ``force``.
        """
        folder = Path(folder)
        for fmt in formats:
            if fmt not in FORMATS:
                raise ConfigError(f"output format {fmt!r}: use one of {', '.join(FORMATS)}.")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"output folder {str(folder)!r} is a file.")
        if not folder.parent.is_dir():
            raise ConfigError(f"the folder {str(folder.parent)!r} of output folder "
                              f"{str(folder)!r} does not exist; create it first.")
        tables: dict[str, Any] = {"kpis": self.kpis, "kpi_samples": self.kpi_samples}
        if self.trajectories:
            tables["trajectories"] = self.to_frame
        if self.failures:
            tables["failed_runs"] = self.failed_runs
        targets = [folder / f"{name}.{fmt}" for name in tables for fmt in formats]
        meta_path = folder / "experiment.json"
        if folder.is_dir():
            check_targets(targets + [meta_path], force=force)
        folder.mkdir(exist_ok=True)
        written = []
        for name, make in tables.items():
            df = make()
            for fmt in formats:
                written.append(write_frame(df, folder / f"{name}.{fmt}", force=force))
        written.append(write_text(json.dumps(self.provenance(), indent=1, default=str),
                                  meta_path, force=force))
        return written

    def provenance(self) -> dict[str, Any]:
        """What was run: model, scenarios and policies, KPIs, seed, settings."""
        return {
            "model": self.model.name, "source": self.model.source,
            "baseline": self.baseline,
            "scenarios": [{"name": s.name, "description": s.description,
                           "policies": [{"name": p.name, **p.to_dict()} for p in s.policies]}
                          for s in self.scenarios],
            "kpis": [{"name": k.name, "variable": k.variable, "stat": k.stat,
                      "units": k.units} for k in self.kpi_defs],
            "n_samples": self.n_samples, "seed": self.seed, "failed_runs": len(self.failures),
            **dict(self.info),
        }

    def __repr__(self) -> str:
        return (f"<ExperimentResult of {self.model.name!r}: {len(self.scenarios)} scenarios x "
                f"{self.n_samples} runs, {len(self.kpi_defs)} KPIs, "
                f"{len(self.failures)} failed>")


def _nanpct(a: np.ndarray, q: Sequence[float], axis: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if axis is None:
        a = a.reshape(-1)
        if not np.isfinite(a).any():
            return np.full(len(q), np.nan)
        return np.nanpercentile(a, q)
    with np.errstate(all="ignore"):
        finite = np.isfinite(a).any(axis=axis)
        out = np.full((len(q),) + tuple(np.delete(a.shape, axis)), np.nan)
        if finite.any():
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out = np.nanpercentile(a, q, axis=axis)
        return out
