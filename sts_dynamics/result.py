"""The frozen result of a simulation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from .errors import UnknownNameError
from .model import Model

__all__ = ["Simulation"]


@dataclass(frozen=True, eq=False)
class Simulation:
    """The result of :func:`sts_dynamics.simulate`.

    Attributes
    ----------
    model : Model
        The model that was run.
    t : ndarray, shape (n_time,)
        Output times.
    values : Mapping[str, ndarray]
        Every variable (stocks, flows, auxiliaries, constants) by canonical key, shape
        ``(n_time,)`` for one run or ``(n_time, n_runs)`` for an ensemble. Read-only.
    n_runs : int or None
        Number of runs of an ensemble, ``None`` for a single run.
    params : Mapping
        The parameter values given to ``simulate``.
    method, success, message, nfev
        As in :func:`scipy.integrate.solve_ivp`.
    failed_runs : tuple of int
        Runs of an ensemble that became non-finite (their values are NaN from then on).
    """

    model: Model
    t: np.ndarray
    values: Mapping[str, np.ndarray]
    n_runs: int | None
    params: Mapping[str, Any] = field(default_factory=dict)
    method: str = "RK45"
    success: bool = True
    message: str = ""
    nfev: int = 0
    failed_runs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        t = np.asarray(self.t, dtype=float)
        t.setflags(write=False)
        object.__setattr__(self, "t", t)
        for arr in self.values.values():
            arr.setflags(write=False)
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    # -- access -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        """Values of one variable: shape ``(n_time,)`` or ``(n_time, n_runs)``."""
        key = self.model.resolve(name)
        try:
            return self.values[key]
        except KeyError:
            raise UnknownNameError(
                f"{self.model.variables[key].name!r} was not computed in this simulation; "
                "name it in simulate(..., outputs=[...]) or leave `outputs` out."
            ) from None

    def __reduce__(self):
        return (_rebuild_simulation, (self.model, self.t, dict(self.values), self.n_runs,
                                      dict(self.params), self.method, self.success,
                                      self.message, self.nfev, self.failed_runs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.model

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the model's (non-internal) variables, in model order."""
        v = self.model.variables
        return tuple(v[k].name for k in self.values if not v[k].internal)

    @property
    def stocks(self) -> tuple[str, ...]:
        return self.model.stock_names

    def states(self) -> np.ndarray:
        """All integrated states (internal ones included), shape (n_time, n_states[, n_runs])."""
        return np.stack([self.values[k] for k in self.model.stocks], axis=1)

    # -- views --------------------------------------------------------------------------------
    def to_frame(self, names: list[str] | None = None, *, internal: bool = False) -> pd.DataFrame:
        """A pandas view.

        One run: a wide frame indexed by time with one column per variable.  An ensemble: a
        long frame with columns ``run, time, variable, value``.
        """
        keys = self._keys(names, internal)
        v = self.model.variables
        if self.n_runs is None:
            df = pd.DataFrame({v[k].name: self.values[k] for k in keys},
                              index=pd.Index(self.t, name="time"))
            return df
        n_t, n_r = len(self.t), self.n_runs
        parts = []
        for k in keys:
            arr = self.values[k]
            parts.append(pd.DataFrame({
                "run": np.tile(np.arange(n_r), n_t),
                "time": np.repeat(self.t, n_r),
                "variable": v[k].name,
                "value": arr.reshape(-1),
            }))
        return pd.concat(parts, ignore_index=True)

    def to_xarray(self, names: list[str] | None = None, *, internal: bool = False):
        """An :class:`xarray.Dataset` with dimensions ``time`` (and ``run``)."""
        import xarray as xr

        keys = self._keys(names, internal)
        v = self.model.variables
        dims = ("time",) if self.n_runs is None else ("time", "run")
        coords: dict[str, Any] = {"time": self.t}
        if self.n_runs is not None:
            coords["run"] = np.arange(self.n_runs)
        data = {v[k].name: (dims, np.asarray(self.values[k])) for k in keys}
        ds = xr.Dataset(data, coords=coords)
        for k in keys:
            ds[v[k].name].attrs.update(units=v[k].units, kind=v[k].kind)
        return ds

    def _keys(self, names, internal):
        if names is None:
            return [k for k in self.values if internal or not self.model.variables[k].internal]
        return [self.model.resolve(n) for n in names]

    def __repr__(self) -> str:
        runs = "" if self.n_runs is None else f", {self.n_runs} runs"
        return (f"<Simulation of {self.model.name!r}: {len(self.t)} times from {self.t[0]:g} to "
                f"{self.t[-1]:g}{runs}, method {self.method}, success={self.success}>")


def _rebuild_simulation(model, t, values, n_runs, params, method, success, message, nfev,
                        failed_runs):
    return Simulation(model, t, {k: np.array(v) for k, v in values.items()}, n_runs, params,
                      method, success, message, nfev, failed_runs)
