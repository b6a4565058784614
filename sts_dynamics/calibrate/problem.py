"""The calibration problem: parameters in, predictions, residuals and likelihoods out.

A :class:`Problem` ties a model, a :class:`~.parameters.ParameterSet` and one
:class:`Target` per observed series together. Everything works on *internal* parameter
arrays of shape ``(n_free, n_runs)`` and evaluates the ``n_runs`` parameter sets as one
vectorized ensemble (:func:`~sts_dynamics.simulate`). A parameter set whose solve fails is
isolated (by the failing runs the solver names, else by bisection), recorded in
:attr:`Problem.failed` and treated as infeasible: its residuals are
:data:`INFEASIBLE_RESIDUAL` and its log-likelihood ``-inf``.

Counts are compared with the difference of a cumulative stock over each reporting interval;
other series with the model variable at the observation times (interval midpoints).
:func:`.setup.build_problem` checks the inputs and builds a problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CalibrationError, SimulationError
from ..model import Model
from ..simulate import simulate
from .observation import LogNormal, ObservationModel, _NormalFamily
from .parameters import ParameterSet
from .priors import HalfNormalPrior, LogNormalPrior, NormalPrior

__all__ = ["Problem", "Target", "FailedSet", "INFEASIBLE_RESIDUAL"]

#: Residual given to every observation of a parameter set whose simulation failed: large
#: (its squared sum dwarfs any feasible fit) but finite, so optimizers step back.
INFEASIBLE_RESIDUAL = 1e6


@dataclass(frozen=True)
class FailedSet:
    """A parameter set whose simulation failed: its values and the solver's message."""

    values: Mapping[str, float]
    message: str


@dataclass(frozen=True, eq=False)
class Target:
    """One observed series and how the model predicts it.

    Attributes
    ----------
    name : str
        The series (data column).
    variable : str
        The model variable's name.
    kind : {"counts", "level"}
        ``counts``: differences of a cumulative stock over each reporting interval;
        ``level``: the variable at the observation times.
    noise : ObservationModel
        Its nuisance parameter (``phi``, ``sigma``) is ``None`` when it is estimated.
    factor : float
        Data units per model unit (the prediction is ``factor`` times the model's value).
    y : ndarray
        Observations (NaN: missing).
    """

    name: str
    variable: str
    key: str
    kind: str
    noise: ObservationModel
    factor: float
    y: np.ndarray
    at: tuple  # (index, weight) pairs into the output grid: (start,) or (start, end)

    @property
    def estimated(self) -> bool:
        """Whether the observation model has a nuisance parameter to estimate."""
        n = self.noise.nuisance_name
        return n is not None and getattr(self.noise, n) is None

    @property
    def n_obs(self) -> int:
        return int(np.sum(~np.isnan(self.y)))


def _locate(grid: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and weight of linear interpolation of ``times`` on ``grid``."""
    idx = np.clip(np.searchsorted(grid, times, side="right") - 1, 0, max(grid.size - 2, 0))
    if grid.size < 2:
        return idx, np.zeros_like(times)
    w = np.clip((times - grid[idx]) / (grid[idx + 1] - grid[idx]), 0.0, 1.0)
    return idx, w


def _interp(v: np.ndarray, at: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    idx, w = at
    if v.shape[0] < 2:
        return v[idx]
    w = w[:, None]
    return v[idx] * (1 - w) + v[idx + 1] * w


class Problem:
    """Predictions, residuals and likelihoods of parameter sets; see the module docstring.

    Built by :func:`build_problem`; counts its simulations (``n_calls`` ensemble calls of
    ``n_runs`` runs in all) and records failed parameter sets.
    """

    def __init__(self, model: Model, parameters: ParameterSet, targets: tuple[Target, ...],
                 t_span: tuple[float, float], grid: np.ndarray, solver: Mapping[str, Any],
                 notes: tuple[str, ...] = ()) -> None:
        self.model = model
        self.parameters = parameters
        self.targets = targets
        self.t_span = t_span
        self.grid = grid
        self.solver = dict(solver)
        self.notes = notes
        self.n_calls = 0
        self.n_runs = 0
        self.failed: list[FailedSet] = []
        self._keys = sorted({t.key for t in targets})

    # -- bookkeeping --------------------------------------------------------------------------
    @property
    def free(self) -> tuple[str, ...]:
        return self.parameters.free

    @property
    def n_free(self) -> int:
        return len(self.parameters.free)

    @property
    def n_obs(self) -> int:
        return sum(t.n_obs for t in self.targets)

    @property
    def estimated(self) -> tuple[Target, ...]:
        """Targets whose nuisance parameter is estimated."""
        return tuple(t for t in self.targets if t.estimated)

    def with_targets(self, targets: tuple[Target, ...]) -> Problem:
        """A problem with other targets (e.g. bootstrap data), sharing the counters' list of
        failures."""
        p = Problem(self.model, self.parameters, targets, self.t_span, self.grid, self.solver,
                    self.notes)
        p.failed = self.failed
        return p

    def with_parameters(self, parameters: ParameterSet) -> Problem:
        p = Problem(self.model, parameters, self.targets, self.t_span, self.grid, self.solver,
                    self.notes)
        p.failed = self.failed
        return p

    # -- simulation ---------------------------------------------------------------------------
    def predict(self, U) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Predictions ``{series: (n_obs, n_runs)}`` for internal ``U`` (shape
        ``(n_free, n_runs)`` or ``(n_free,)``) and a mask of the feasible runs."""
        U = np.asarray(U, dtype=float)
        if U.ndim == 1:
            U = U[:, None]
        n = U.shape[1]
        values = self.parameters.from_internal(U)
        free = {k: np.atleast_1d(np.asarray(values[k], dtype=float)) for k in self.free}
        fixed = {k: v for k, v in values.items() if k not in free}
        out = {k: np.full((self.grid.size, n), np.nan) for k in self._keys}
        ok = np.ones(n, dtype=bool)
        self._run(np.arange(n), free, fixed, out, ok)
        mu = {}
        for t in self.targets:
            v = out[t.key]
            if t.kind == "counts":
                pred = _interp(v, t.at[1]) - _interp(v, t.at[0])
            else:
                pred = _interp(v, t.at[0])
            mu[t.name] = t.factor * pred
        for t in self.targets:
            ok &= np.all(np.isfinite(mu[t.name]), axis=0)
        return mu, ok

    def _run(self, idx: np.ndarray, free: dict, fixed: dict, out: dict, ok: np.ndarray) -> None:
        params = dict(fixed)
        params.update({k: v[idx] for k, v in free.items()})
        try:
            sim = simulate(self.model, t_span=self.t_span, t_eval=self.grid, params=params,
                           **self.solver)
        except SimulationError as exc:
            self.n_calls += 1
            self.n_runs += idx.size
            runs = [r for r in exc.runs if 0 <= r < idx.size]
            if idx.size == 1:
                self._fail(idx, free, str(exc), ok)
                return
            if runs and len(runs) < idx.size:
                self._fail(idx[runs], free, str(exc), ok)
                rest = np.delete(idx, runs)
                self._run(rest, free, fixed, out, ok)
                return
            half = idx.size // 2
            self._run(idx[:half], free, fixed, out, ok)
            self._run(idx[half:], free, fixed, out, ok)
            return
        self.n_calls += 1
        self.n_runs += idx.size
        for k in self._keys:
            v = np.asarray(sim.values[k], dtype=float)
            out[k][:, idx] = v.reshape(v.shape[0], -1) if v.ndim > 1 else v[:, None]
        if sim.failed_runs:
            bad = np.asarray(sim.failed_runs, dtype=int)
            self._fail(idx[bad], free, "the run became non-finite (fixed-step solver)", ok)

    def _fail(self, idx: np.ndarray, free: dict, message: str, ok: np.ndarray) -> None:
        ok[idx] = False
        first = message.strip().splitlines()[0] if message.strip() else "simulation failed"
        for i in np.atleast_1d(idx):
            self.failed.append(FailedSet({k: float(v[i]) for k, v in free.items()}, first))

    # -- residuals and likelihoods ------------------------------------------------------------
    def nuisance(self, nu: Mapping[str, Any] | None, n: int) -> dict[str, np.ndarray | None]:
        """Per-run nuisance values of every target (None for models without one)."""
        out: dict[str, np.ndarray | None] = {}
        for t in self.targets:
            name = t.noise.nuisance_name
            if name is None:
                out[t.name] = None
            elif t.estimated:
                if nu is None or t.name not in nu:
                    raise CalibrationError(f"no value of {name!r} for series {t.name!r}.")
                out[t.name] = np.broadcast_to(np.asarray(nu[t.name], dtype=float), (n,))
            else:
                out[t.name] = np.full(n, float(getattr(t.noise, name)))
        return out

    def _y(self, t: Target, y: Mapping[str, np.ndarray] | None) -> np.ndarray:
        return t.y if y is None or t.name not in y else y[t.name]

    def estimate(self, mu: Mapping[str, np.ndarray],
                 y: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Maximum-likelihood nuisance values ``{series: (n_runs,)}`` given predictions
        (and, optionally, other observations ``y``: ``{series: (n_obs,) or (n_obs, n_runs)}``,
        for bootstrap replicates)."""
        out = {}
        for t in self.estimated:
            m = mu[t.name]
            m = np.where(np.isfinite(m), m, 1.0)
            est = np.atleast_1d(np.asarray(t.noise.estimate(self._y(t, y), m), dtype=float))
            out[t.name] = np.maximum(est, self._floor(t))
        return out

    @staticmethod
    def _floor(t: Target) -> float:
        """Smallest sigma used to scale residuals (a perfect fit would make it 0): 1e-9 of
        the data's scale (log scale for log-normal)."""
        if isinstance(t.noise, LogNormal):
            return 1e-9
        if isinstance(t.noise, _NormalFamily):
            return 1e-9 * max(float(np.nanmax(np.abs(t.y))), 1e-300)
        return 0.0

    def residuals(self, mu: Mapping[str, np.ndarray], ok: np.ndarray,
                  nu: Mapping[str, Any] | None, U=None,
                  y: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Scaled deviance residuals, shape ``(n_res, n_runs)``: their squared sum is
        ``-2 log L`` up to a constant (nuisance values fixed at ``nu``); prior residuals are
        appended when ``U`` is given and parameters have priors."""
        n = ok.size
        scales = self.nuisance(nu, n)
        parts = []
        for t in self.targets:
            parts.append(_scaled_residuals(t.noise, self._y(t, y), mu[t.name], scales[t.name]))
        if U is not None:
            pr = self.prior_residuals(U)
            if pr is not None:
                parts.append(pr)
        r = np.concatenate(parts, axis=0)
        r = np.where(ok[None, :] & np.isfinite(r), r, 0.0)
        r[:, ~ok] = INFEASIBLE_RESIDUAL
        return r

    def loglik(self, mu: Mapping[str, np.ndarray], ok: np.ndarray,
               nu: Mapping[str, Any] | None = None,
               y: Mapping[str, np.ndarray] | None = None, *,
               by_series: bool = False) -> np.ndarray | dict[str, np.ndarray]:
        """Log-likelihood per run; nuisance values from ``nu``, or estimated (the profile
        log-likelihood) when ``nu`` is None. ``-inf`` for infeasible runs. With
        ``by_series``, a dict of each series' part."""
        n = ok.size
        if nu is None:
            nu = self.estimate(mu, y) if self.estimated else {}
        scales = self.nuisance(nu, n)
        total = np.zeros(n)
        parts = {}
        for t in self.targets:
            parts[t.name] = _loglik(t.noise, self._y(t, y), mu[t.name], scales[t.name])
            total = total + parts[t.name]
        if by_series:
            return {k: np.where(ok, v, -np.inf) for k, v in parts.items()}
        return np.where(ok & np.isfinite(total), total, -np.inf)

    def prior_residuals(self, U) -> np.ndarray | None:
        """Residuals whose squares are ``-2 log prior`` up to a constant, for least squares:
        ``z`` for normal priors, ``z`` of ``log x`` for log-normal ones, ``x / scale`` for
        half-normal ones; uniform priors only bound the parameter."""
        U = np.asarray(U, dtype=float)
        U = U[:, None] if U.ndim == 1 else U
        rows = []
        for p, u in zip([self.parameters[n] for n in self.free], U, strict=True):
            x = p.from_internal(u)
            if isinstance(p.prior, NormalPrior):
                rows.append((x - p.prior.mean) / p.prior.sd)
            elif isinstance(p.prior, LogNormalPrior):
                rows.append((np.log(np.maximum(x, 1e-300)) - math.log(p.prior.median))
                            / p.prior.sigma)
            elif isinstance(p.prior, HalfNormalPrior):
                rows.append(np.asarray(x) / p.prior.scale)
        return np.array(rows, dtype=float).reshape(len(rows), U.shape[1]) if rows else None

    def log_prior(self, U) -> np.ndarray:
        U = np.asarray(U, dtype=float)
        U = U[:, None] if U.ndim == 1 else U
        return np.atleast_1d(self.parameters.log_prior(U))


def _obs2d(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    y = y[:, None] if y.ndim == 1 else y
    observed = ~np.isnan(y)
    return np.where(observed, y, 0.0), observed


def _scaled_residuals(obs: ObservationModel, y: np.ndarray, mu: np.ndarray,
                      scale: np.ndarray | None) -> np.ndarray:
    yy, observed = _obs2d(y)
    m = obs._mu(np.where(np.isfinite(mu), mu, 1.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(obs, _NormalFamily):
            r = obs._z(yy, m) / scale[None, :]
        else:
            s = None if scale is None else scale[None, :]
            dev = np.maximum(obs._dev_terms(yy, m, s), 0.0)
            r = np.sign(yy - m) * np.sqrt(dev)
    return np.where(observed, r, 0.0)


def _loglik(obs: ObservationModel, y: np.ndarray, mu: np.ndarray,
            scale: np.ndarray | None) -> np.ndarray:
    yy, observed = _obs2d(y)
    m = obs._mu(np.where(np.isfinite(mu), mu, 1.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = obs._terms(yy, m, None if scale is None else scale[None, :])
    return np.where(observed, terms, 0.0).sum(axis=0)
