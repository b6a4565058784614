"""Observation models: how observed data scatter around what a model predicts.

Each model is a small frozen class with

- ``loglik(y, mu)``: the log-likelihood of observations ``y`` given predictions ``mu``,
  summed over observations;
- ``deviance_residuals(y, mu)``: signed residuals whose squares sum to the deviance
  (``deviance(y, mu)``), so that least-squares optimizers maximize the likelihood;
- ``simulate(mu, rng)``: random observations, for parametric bootstraps and recovery tests.

Everything is vectorized over a trailing run axis: ``mu`` may have shape ``(n_obs,)`` or
``(n_obs, n_runs)``; ``y`` has shape ``(n_obs,)`` (shared by the runs) or the shape of
``mu``. Sums run over observations, so ``loglik`` returns a float for one run and an array
of shape ``(n_runs,)`` for an ensemble. A missing observation (NaN in ``y``) contributes
nothing: its residual is 0, which keeps the residual vector's length fixed. A run whose
predictions are not finite (a failed solve) gets ``loglik = -inf``.

Counts per reporting interval come from a cumulative stock: :func:`interval_counts`
differences it over the interval edges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

from ..errors import CalibrationError, DataError

__all__ = [
    "ObservationModel", "Poisson", "NegativeBinomial", "LogNormal", "Gaussian",
    "interval_counts", "MU_FLOOR",
]

#: Predicted counts and medians are clipped below at this value, so that zero or slightly
#: negative predictions (numerical noise in a differenced stock) give finite likelihoods.
MU_FLOOR = 1e-12

_LOG_2PI = float(np.log(2 * np.pi))


def _prepare(y, mu) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast ``y`` against ``mu``; return (y with NaN -> 0, mu, observed mask)."""
    y = np.asarray(y, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if mu.ndim not in (1, 2):
        raise CalibrationError(f"`mu` must have shape (n_obs,) or (n_obs, n_runs), got "
                               f"shape {mu.shape}.")
    if y.ndim not in (1, mu.ndim) or y.shape[0] != mu.shape[0]:
        raise CalibrationError(f"`y` must have shape ({mu.shape[0]},) or {mu.shape} to match "
                               f"`mu`, got shape {y.shape}.")
    if y.ndim < mu.ndim:
        y = y[:, None]
    y, mu = np.broadcast_arrays(y, mu)
    observed = ~np.isnan(y)
    return np.where(observed, y, 0.0), mu, observed


def _sum_obs(terms: np.ndarray) -> float | np.ndarray:
    total = terms.sum(axis=0)
    return float(total) if np.ndim(total) == 0 else total


def _failed_runs(mu: np.ndarray) -> np.ndarray:
    """Runs (trailing shape) with a non-finite prediction."""
    return ~np.all(np.isfinite(mu), axis=0)


@dataclass(frozen=True)
class ObservationModel:
    """Base class; see the module docstring for the contract."""

    #: Name of the nuisance (scale) parameter, or None.
    nuisance_name: ClassVar[str | None] = None

    def _check_y(self, y: np.ndarray, observed: np.ndarray) -> None:  # pragma: no cover
        pass

    def _terms(self, y, mu, scale):  # pragma: no cover - abstract
        raise NotImplementedError

    def _dev_terms(self, y, mu, scale):  # pragma: no cover - abstract
        raise NotImplementedError

    def _scale(self, y, mu, observed):
        """The nuisance value to use: the fixed one, or the estimate per run."""
        return None

    def _mu(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def loglik(self, y, mu) -> float | np.ndarray:
        """Log-likelihood of ``y`` given ``mu``, summed over observations.

        With the nuisance parameter left to estimate (``None``), this is the profile
        (concentrated) log-likelihood: its maximum over the nuisance, per run.
        """
        y, mu, observed = _prepare(y, mu)
        self._check_y(y, observed)
        failed = _failed_runs(mu)
        m = self._mu(np.where(np.isfinite(mu), mu, 1.0))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            terms = self._terms(y, m, self._scale(y, m, observed))
        total = np.where(observed, terms, 0.0).sum(axis=0)
        total = np.where(failed, -np.inf, total)
        return float(total) if np.ndim(total) == 0 else total

    def deviance_residuals(self, y, mu) -> np.ndarray:
        """Signed square roots of the deviance terms, shape of ``mu`` (0 where ``y`` is NaN).

        ``(r**2).sum(axis=0)`` equals :meth:`deviance`.
        """
        y, mu, observed = _prepare(y, mu)
        self._check_y(y, observed)
        m = self._mu(mu)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dev = np.maximum(self._dev_terms(y, m, self._scale(y, m, observed)), 0.0)
            r = np.sign(y - m) * np.sqrt(dev)
        return np.where(observed, r, 0.0)

    def deviance(self, y, mu) -> float | np.ndarray:
        """Sum of squared deviance residuals per run."""
        return _sum_obs(self.deviance_residuals(y, mu) ** 2)

    def estimate(self, y, mu) -> float | np.ndarray:
        """Maximum-likelihood estimate of the nuisance parameter given ``mu``, per run."""
        if self.nuisance_name is None:
            raise CalibrationError(f"{type(self).__name__} has no parameter to estimate.")
        y, mu, observed = _prepare(y, mu)
        self._check_y(y, observed)
        est = self._estimate(y, self._mu(mu), observed)
        return float(est) if np.ndim(est) == 0 else est

    def _estimate(self, y, mu, observed):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, y, mu) -> ObservationModel:
        """A copy with the nuisance parameter fixed at its estimate (one run only).

        Examples
        --------
        >>> Gaussian().fit([1.0, 3.0], [2.0, 2.0])
        Gaussian(sigma=1.0)
        """
        est = self.estimate(y, mu)
        if np.ndim(est) != 0:
            raise CalibrationError(f"`fit` needs predictions of one run, got {np.size(est)} "
                                   "runs; use `estimate` for an ensemble.")
        return dataclasses.replace(self, **{self.nuisance_name: float(est)})

    def _require_scale(self, what: str) -> float:
        value = getattr(self, self.nuisance_name) if self.nuisance_name else None
        if self.nuisance_name and value is None:
            raise CalibrationError(
                f"{type(self).__name__}.{what} needs a value of `{self.nuisance_name}`; it is "
                f"None (to be estimated). Call `.fit(y, mu)` first or pass "
                f"{self.nuisance_name}=...")
        return value

    def simulate(self, mu, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


def _check_positive(value: float | None, name: str, cls: str) -> None:
    if value is not None and not (np.isfinite(value) and value > 0):
        raise CalibrationError(f"{cls}: `{name}` must be a positive number or None, got "
                               f"{value!r}.")


def _check_counts(y: np.ndarray, observed: np.ndarray, cls: str) -> None:
    neg = observed & (y < 0)
    if neg.any():
        i = int(np.argwhere(neg)[0][0])
        raise DataError(f"{cls} needs non-negative counts; observation {i} is "
                        f"{y[np.unravel_index(np.argmax(neg), y.shape)]}.")


@dataclass(frozen=True)
class Poisson(ObservationModel):
    """Poisson counts with mean ``mu``.

    Examples
    --------
    >>> import numpy as np
    >>> round(Poisson().loglik([2, 0], [1.5, 0.5]), 6)
    -1.882217
    >>> Poisson().simulate(np.array([3.0, 3.0]), np.random.default_rng(1)).shape
    (2,)
    """

    def _check_y(self, y, observed):
        _check_counts(y, observed, "Poisson")

    def _mu(self, mu):
        return np.maximum(mu, MU_FLOOR)

    def _terms(self, y, mu, scale):
        return special.xlogy(y, mu) - mu - special.gammaln(y + 1)

    def _dev_terms(self, y, mu, scale):
        return 2 * (special.xlogy(y, y / mu) - (y - mu))

    def simulate(self, mu, rng: np.random.Generator) -> np.ndarray:
        """Poisson draws with mean ``mu`` (shape of ``mu``)."""
        return rng.poisson(np.maximum(np.asarray(mu, dtype=float), 0.0)).astype(float)


@dataclass(frozen=True)
class NegativeBinomial(ObservationModel):
    """Negative binomial (NB2) counts: mean ``mu``, variance ``mu + mu**2 / phi``.

    Parameters
    ----------
    phi : float or None
        Dispersion (size); larger is closer to Poisson. ``None``: estimated by maximum
        likelihood given ``mu``, per run, within ``[PHI_MIN, PHI_MAX]`` (``PHI_MAX`` when the
        data are not over-dispersed); ``loglik`` is then the profile log-likelihood and the
        deviance residuals use the estimate. Use :meth:`fit` to fix it (for example between
        rounds of a least-squares fit).

    Examples
    --------
    >>> import numpy as np
    >>> nb = NegativeBinomial(phi=2.0)
    >>> round(nb.loglik([2, 0], [1.5, 0.5]), 6)
    -2.161502
    >>> r = nb.deviance_residuals([2, 0], [1.5, 0.5])
    >>> bool(np.isclose(np.sum(r**2), nb.deviance([2, 0], [1.5, 0.5])))
    True
    """

    phi: float | None = None
    nuisance_name: ClassVar[str | None] = "phi"
    PHI_MIN: ClassVar[float] = 1e-6
    PHI_MAX: ClassVar[float] = 1e6

    def __post_init__(self) -> None:
        _check_positive(self.phi, "phi", "NegativeBinomial")

    def _check_y(self, y, observed):
        _check_counts(y, observed, "NegativeBinomial")

    def _mu(self, mu):
        return np.maximum(mu, MU_FLOOR)

    def _scale(self, y, mu, observed):
        return self.phi if self.phi is not None else self._estimate(y, mu, observed)

    def _terms(self, y, mu, phi):
        return (special.gammaln(y + phi) - special.gammaln(phi) - special.gammaln(y + 1)
                - phi * np.log1p(mu / phi) + special.xlogy(y, mu) - y * np.log(phi + mu))

    def _dev_terms(self, y, mu, phi):
        return 2 * (special.xlogy(y, y / mu) - (y + phi) * np.log1p((y - mu) / (mu + phi)))

    def _score(self, log_phi, y, mu, observed):
        phi = np.exp(log_phi)
        s = (special.digamma(y + phi) - special.digamma(phi) + np.log(phi / (phi + mu))
             + (mu - y) / (phi + mu))
        return np.where(observed, s, 0.0).sum(axis=0)

    def _estimate(self, y, mu, observed):
        lo = np.full(mu.shape[1:], np.log(self.PHI_MIN))
        hi = np.full(mu.shape[1:], np.log(self.PHI_MAX))
        with np.errstate(divide="ignore", invalid="ignore"):
            at_max = self._score(hi, y, mu, observed) >= 0
            for _ in range(45):  # bisection on the score, all runs at once (to ~1e-12)
                mid = 0.5 * (lo + hi)
                up = self._score(mid, y, mu, observed) > 0
                lo = np.where(up, mid, lo)
                hi = np.where(up, hi, mid)
        return np.where(at_max, self.PHI_MAX, np.exp(0.5 * (lo + hi)))

    def simulate(self, mu, rng: np.random.Generator) -> np.ndarray:
        """NB2 draws with mean ``mu`` and dispersion ``phi`` (which must be set)."""
        phi = self._require_scale("simulate")
        mu = np.maximum(np.asarray(mu, dtype=float), 0.0)
        return rng.negative_binomial(phi, phi / (phi + mu)).astype(float)


@dataclass(frozen=True)
class _NormalFamily(ObservationModel):
    """Normal errors on some scale ``z(y, mu)``, with a known or estimated sigma."""

    sigma: float | None = None
    nuisance_name: ClassVar[str | None] = "sigma"

    def __post_init__(self) -> None:
        _check_positive(self.sigma, "sigma", type(self).__name__)

    def _z(self, y, mu):
        return y - mu

    def _scale(self, y, mu, observed):
        return self.sigma if self.sigma is not None else self._estimate(y, mu, observed)

    def _estimate(self, y, mu, observed):
        z = np.where(observed, self._z(y, mu), 0.0)
        n = np.maximum(observed.sum(axis=0), 1)
        return np.maximum(np.sqrt((z**2).sum(axis=0) / n), 1e-300)

    def _terms(self, y, mu, sigma):
        z = self._z(y, mu)
        return -0.5 * _LOG_2PI - np.log(sigma) - 0.5 * (z / sigma) ** 2

    def _dev_terms(self, y, mu, sigma):
        scale = 1.0 if self.sigma is None else self.sigma
        return (self._z(y, mu) / scale) ** 2


@dataclass(frozen=True)
class Gaussian(_NormalFamily):
    """Gaussian observations: ``y ~ Normal(mu, sigma)``.

    Parameters
    ----------
    sigma : float or None
        Standard deviation. ``None``: estimated (the maximum-likelihood
        ``sqrt(mean((y - mu)**2))``); ``loglik`` is then the profile log-likelihood and the
        deviance residuals are the raw residuals ``y - mu`` (the unscaled Gaussian deviance
        is the residual sum of squares).

    Examples
    --------
    >>> round(Gaussian(sigma=2.0).loglik([1.0, 4.0], [0.0, 3.0]), 6)
    -3.474171
    >>> Gaussian(sigma=2.0).deviance_residuals([1.0, 4.0], [0.0, 3.0]).tolist()
    [0.5, 0.5]
    """

    def simulate(self, mu, rng: np.random.Generator) -> np.ndarray:
        """Draws ``mu + sigma * N(0, 1)`` (``sigma`` must be set)."""
        sigma = self._require_scale("simulate")
        mu = np.asarray(mu, dtype=float)
        return mu + sigma * rng.standard_normal(mu.shape)


@dataclass(frozen=True)
class LogNormal(_NormalFamily):
    """Log-normal observations, for durations: ``log(y) ~ Normal(log(mu), sigma)``.

    ``mu`` is the median (the mean is ``mu * exp(sigma**2 / 2)``), so a model's typical
    time to resolve is compared with observed medians. Observations must be positive;
    ``mu`` is clipped below at :data:`MU_FLOOR`.

    Examples
    --------
    >>> from scipy import stats
    >>> ln = LogNormal(sigma=0.5)
    >>> bool(abs(ln.loglik([2.0], [1.5]) - stats.lognorm(s=0.5, scale=1.5).logpdf(2.0)) < 1e-12)
    True
    """

    def _check_y(self, y, observed):
        bad = observed & ~(y > 0)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise DataError(f"LogNormal needs positive observations; observation {i} is "
                            f"{y[np.unravel_index(np.argmax(bad), y.shape)]}. Durations of 0 "
                            "are not log-normal: drop them or use a floor.")

    def _mu(self, mu):
        return np.maximum(mu, MU_FLOOR)

    def _z(self, y, mu):
        return np.log(np.where(y > 0, y, 1.0)) - np.log(mu)

    def _terms(self, y, mu, sigma):  # the Jacobian of log(y) makes it a density in y
        return super()._terms(y, mu, sigma) - np.log(np.where(y > 0, y, 1.0))

    def simulate(self, mu, rng: np.random.Generator) -> np.ndarray:
        """Draws ``mu * exp(sigma * N(0, 1))`` (``sigma`` must be set)."""
        sigma = self._require_scale("simulate")
        mu = np.maximum(np.asarray(mu, dtype=float), MU_FLOOR)
        return mu * np.exp(sigma * rng.standard_normal(mu.shape))


def interval_counts(t_model, cumulative, t_obs_edges) -> np.ndarray:
    """Counts per reporting interval from a cumulative stock: ``C(t_k) - C(t_{k-1})``.

    The stock is interpolated linearly at the interval edges, then differenced. The result
    is exact when every edge is a time of the model's output grid (simulate with the edges
    among the output times).

    Parameters
    ----------
    t_model : array_like, shape (n_time,)
        Strictly increasing model output times.
    cumulative : array_like, shape (n_time,) or (n_time, n_runs)
        The cumulative stock (for example Cumulative Incidents) at ``t_model``.
    t_obs_edges : array_like, shape (n_obs + 1,)
        Strictly increasing interval edges, within the simulated span.

    Returns
    -------
    numpy.ndarray, shape (n_obs,) or (n_obs, n_runs)

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(5.0)
    >>> interval_counts(t, np.column_stack([t**2, 2 * t]), [0, 2, 4]).tolist()
    [[4.0, 4.0], [12.0, 4.0]]
    >>> interval_counts(t, t**2, [0.5, 1.5]).tolist()
    [2.0]
    """
    t = np.asarray(t_model, dtype=float)
    c = np.asarray(cumulative, dtype=float)
    e = np.asarray(t_obs_edges, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise CalibrationError(f"`t_model` must be 1-dimensional with at least 2 times, got "
                               f"shape {t.shape}.")
    if np.any(np.diff(t) <= 0):
        raise CalibrationError("`t_model` must be strictly increasing.")
    if c.ndim not in (1, 2) or c.shape[0] != t.size:
        raise CalibrationError(f"`cumulative` must have shape ({t.size},) or ({t.size}, "
                               f"n_runs) to match `t_model`, got shape {c.shape}.")
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise CalibrationError("`t_obs_edges` must be a strictly increasing 1-dimensional "
                               f"array of at least 2 edges, got {e!r:.80}.")
    tol = 1e-9 * (t[-1] - t[0])
    if e[0] < t[0] - tol or e[-1] > t[-1] + tol:
        raise CalibrationError(f"`t_obs_edges` span [{e[0]}, {e[-1]}] is outside the "
                               f"simulated span [{t[0]}, {t[-1]}]; simulate over the whole "
                               "observation window.")
    idx = np.clip(np.searchsorted(t, e, side="right") - 1, 0, t.size - 2)
    w = np.clip((e - t[idx]) / (t[idx + 1] - t[idx]), 0.0, 1.0)
    w = w.reshape(w.shape + (1,) * (c.ndim - 1))
    at_edges = c[idx] * (1 - w) + c[idx + 1] * w
    return np.diff(at_edges, axis=0)
