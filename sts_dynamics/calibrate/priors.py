"""Priors on calibration parameters: small frozen distributions with ``logpdf`` and ``sample``.

A prior adds ``logpdf(value)`` to the log-likelihood (a log-posterior for MCMC, a penalized
likelihood for optimizers). ``logpdf`` is vectorized and returns ``-inf`` outside the support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError

__all__ = ["Prior", "UniformPrior", "NormalPrior", "LogNormalPrior", "HalfNormalPrior"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _positive(value: float, name: str, cls: str) -> None:
    if not (np.isfinite(value) and value > 0):
        raise CalibrationError(f"{cls}: `{name}` must be a positive number, got {value!r}.")


def _finite(value: float, name: str, cls: str) -> None:
    if not np.isfinite(value):
        raise CalibrationError(f"{cls}: `{name}` must be a finite number, got {value!r}.")


def _out(x) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


@dataclass(frozen=True)
class Prior:
    """Base class of priors."""

    def logpdf(self, x) -> float | np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size=None) -> float | np.ndarray:
        """Random draws (for prior-predictive checks and starting points)."""
        raise NotImplementedError  # pragma: no cover

    @property
    def support(self) -> tuple[float, float]:  # pragma: no cover - abstract
        """(lower, upper) limits of the support."""
        raise NotImplementedError


@dataclass(frozen=True)
class UniformPrior(Prior):
    """Uniform on ``[low, high]``.

    Examples
    --------
    >>> UniformPrior(0.0, 4.0).logpdf([1.0, 5.0]).tolist()
    [-1.3862943611198906, -inf]
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        _finite(self.low, "low", "UniformPrior")
        _finite(self.high, "high", "UniformPrior")
        if not self.low < self.high:
            raise CalibrationError(f"UniformPrior: `low` must be less than `high`, got "
                                   f"low={self.low} and high={self.high}.")

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x >= self.low) & (x <= self.high)
        return _out(np.where(inside, -math.log(self.high - self.low), -np.inf))

    def sample(self, rng, size=None):
        return rng.uniform(self.low, self.high, size)

    @property
    def support(self):
        return (self.low, self.high)


@dataclass(frozen=True)
class NormalPrior(Prior):
    """Normal with mean ``mean`` and standard deviation ``sd``.

    Examples
    --------
    >>> round(NormalPrior(0.0, 1.0).logpdf(0.0), 6)
    -0.918939
    """

    mean: float
    sd: float

    def __post_init__(self) -> None:
        _finite(self.mean, "mean", "NormalPrior")
        _positive(self.sd, "sd", "NormalPrior")

    def logpdf(self, x):
        z = (np.asarray(x, dtype=float) - self.mean) / self.sd
        return _out(-0.5 * z**2 - math.log(self.sd) - _HALF_LOG_2PI)

    def sample(self, rng, size=None):
        return rng.normal(self.mean, self.sd, size)

    @property
    def support(self):
        return (-math.inf, math.inf)


@dataclass(frozen=True)
class LogNormalPrior(Prior):
    """Log-normal with median ``median`` and log-scale standard deviation ``sigma``.

    ``log(x) ~ Normal(log(median), sigma)``; a natural prior for positive rates and times.

    Examples
    --------
    >>> from scipy import stats
    >>> p = LogNormalPrior(median=2.0, sigma=0.5)
    >>> bool(abs(p.logpdf(3.0) - stats.lognorm(s=0.5, scale=2.0).logpdf(3.0)) < 1e-12)
    True
    """

    median: float
    sigma: float

    def __post_init__(self) -> None:
        _positive(self.median, "median", "LogNormalPrior")
        _positive(self.sigma, "sigma", "LogNormalPrior")

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        pos = x > 0
        lx = np.log(np.where(pos, x, 1.0))
        z = (lx - math.log(self.median)) / self.sigma
        val = -0.5 * z**2 - math.log(self.sigma) - _HALF_LOG_2PI - lx
        return _out(np.where(pos, val, -np.inf))

    def sample(self, rng, size=None):
        return self.median * np.exp(self.sigma * rng.standard_normal(size))

    @property
    def support(self):
        return (0.0, math.inf)


@dataclass(frozen=True)
class HalfNormalPrior(Prior):
    """Half-normal on ``[0, inf)`` with scale ``scale`` (for standard deviations, dispersions).

    Examples
    --------
    >>> from scipy import stats
    >>> bool(abs(HalfNormalPrior(2.0).logpdf(1.0) - stats.halfnorm(scale=2.0).logpdf(1.0)) < 1e-12)
    True
    """

    scale: float

    def __post_init__(self) -> None:
        _positive(self.scale, "scale", "HalfNormalPrior")

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        z = x / self.scale
        val = -0.5 * z**2 - math.log(self.scale) + 0.5 * math.log(2 / math.pi)
        return _out(np.where(x >= 0, val, -np.inf))

    def sample(self, rng, size=None):
        return np.abs(rng.normal(0.0, self.scale, size))

    @property
    def support(self):
        return (0.0, math.inf)
