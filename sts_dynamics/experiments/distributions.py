"""Parameter distributions for Monte Carlo and sensitivity analysis.

Every distribution is a frozen object, checked when it is built, with ``ppf(u)`` (the inverse
CDF, used by the Sobol and Morris designs on the unit hypercube) and ``sample(rng, n)``.
:class:`Posterior` draws whole rows of a table (a calibration posterior), keeping the
correlations between its columns.  :class:`Uncertainty` gathers them for an experiment and
draws its samples independently at random, as a Latin hypercube or as a scrambled Sobol
sequence (:data:`SAMPLING_METHODS`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ..errors import ConfigError, close_matches

__all__ = ["Distribution", "Uniform", "Normal", "LogNormal", "Triangular", "Posterior",
           "Uncertainty", "as_uncertainty", "distribution_from_dict", "DISTRIBUTIONS",
           "SAMPLING_METHODS", "check_sampling", "nearest_powers_of_two"]

#: How :meth:`Uncertainty.sample` draws: independent random numbers, a Latin hypercube
#: (scipy.stats.qmc.LatinHypercube) or a scrambled Sobol sequence (scipy.stats.qmc.Sobol).
SAMPLING_METHODS = ("random", "lhs", "sobol")


def _finite(owner: str, **values: float) -> dict[str, float]:
    out = {}
    for name, v in values.items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{owner}: `{name}` must be a number, got {v!r}.") from None
        if not math.isfinite(x):
            raise ConfigError(f"{owner}: `{name}` must be finite, got {v!r}.")
        out[name] = x
    return out


class Distribution:
    """Base class: a distribution of one constant."""

    kind: ClassVar[str] = ""

    def ppf(self, u: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws using ``rng``."""
        return self.ppf(rng.random(n))

    def to_dict(self) -> dict[str, Any]:
        """``{"dist": kind, parameter: value, ...}``, the TOML form."""
        out: dict[str, Any] = {"dist": self.kind}
        out.update({k: v for k, v in self.__dict__.items() if v is not None})
        return out

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.to_dict().items()
                         if k != "dist" and isinstance(v, float))
        return f"{self.kind}({args})"


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform between ``low`` and ``high``.

    Examples
    --------
    >>> Uniform(5, 15).ppf([0.0, 0.5, 1.0]).tolist()
    [5.0, 10.0, 15.0]
    """

    low: float
    high: float
    kind: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        v = _finite("uniform distribution", low=self.low, high=self.high)
        if not v["low"] < v["high"]:
            raise ConfigError(f"uniform distribution: `low` must be less than `high`, got "
                              f"low={self.low!r}, high={self.high!r}.")
        object.__setattr__(self, "low", v["low"])
        object.__setattr__(self, "high", v["high"])

    def ppf(self, u: Any) -> np.ndarray:
        return self.low + (self.high - self.low) * np.asarray(u, dtype=float)


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal with ``mean`` and standard deviation ``sd``, optionally truncated to
    ``[low, high]``.

    Examples
    --------
    >>> round(float(Normal(10, 2).ppf(0.5)), 6)
    10.0
    >>> bool(Normal(1, 5, low=0).ppf(0.0) >= 0)
    True
    """

    mean: float
    sd: float
    low: float | None = None
    high: float | None = None
    kind: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        v = _finite("normal distribution", mean=self.mean, sd=self.sd)
        if not v["sd"] > 0:
            raise ConfigError(f"normal distribution: `sd` must be > 0, got {self.sd!r}.")
        object.__setattr__(self, "mean", v["mean"])
        object.__setattr__(self, "sd", v["sd"])
        for name in ("low", "high"):
            val = getattr(self, name)
            if val is not None:
                object.__setattr__(self, name, _finite("normal distribution",
                                                       **{name: val})[name])
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ConfigError(f"normal distribution: `low` must be less than `high`, got "
                              f"low={self.low!r}, high={self.high!r}.")
        lo, hi = self._cdf_bounds()
        if not hi - lo > 1e-12:
            raise ConfigError(f"normal distribution: the truncation [{self.low}, {self.high}] "
                              f"leaves no probability mass around mean {self.mean:g} "
                              f"(sd {self.sd:g}).")

    def _cdf_bounds(self) -> tuple[float, float]:
        lo = 0.0 if self.low is None else float(ndtr((self.low - self.mean) / self.sd))
        hi = 1.0 if self.high is None else float(ndtr((self.high - self.mean) / self.sd))
        return lo, hi

    def ppf(self, u: Any) -> np.ndarray:
        lo, hi = self._cdf_bounds()
        q = lo + (hi - lo) * np.asarray(u, dtype=float)
        q = np.clip(q, 1e-15, 1 - 1e-15)
        x = self.mean + self.sd * ndtri(q)
        if self.low is not None or self.high is not None:
            x = np.clip(x, -np.inf if self.low is None else self.low,
                        np.inf if self.high is None else self.high)
        return np.asarray(x, dtype=float)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal: ``median * exp(sigma * Z)`` with Z standard normal.

    ``median`` is ``exp(mu)`` of the underlying normal and ``sigma`` its standard deviation,
    so that ``LogNormal(m, s)`` is NumPy's ``lognormal(log(m), s)``.

    Examples
    --------
    >>> round(float(LogNormal(4.0, 0.5).ppf(0.5)), 6)
    4.0
    """

    median: float
    sigma: float
    kind: ClassVar[str] = "lognormal"

    def __post_init__(self) -> None:
        v = _finite("lognormal distribution", median=self.median, sigma=self.sigma)
        if not v["median"] > 0:
            raise ConfigError(f"lognormal distribution: `median` must be > 0, got "
                              f"{self.median!r}.")
        if not v["sigma"] > 0:
            raise ConfigError(f"lognormal distribution: `sigma` must be > 0, got "
                              f"{self.sigma!r}.")
        object.__setattr__(self, "median", v["median"])
        object.__setattr__(self, "sigma", v["sigma"])

    def ppf(self, u: Any) -> np.ndarray:
        q = np.clip(np.asarray(u, dtype=float), 1e-15, 1 - 1e-15)
        return self.median * np.exp(self.sigma * ndtri(q))


@dataclass(frozen=True)
class Triangular(Distribution):
    """Triangular between ``low`` and ``high`` with its peak at ``mode``.

    Examples
    --------
    >>> Triangular(0, 0, 1).ppf([0.0, 1.0]).tolist()
    [0.0, 1.0]
    """

    low: float
    mode: float
    high: float
    kind: ClassVar[str] = "triangular"

    def __post_init__(self) -> None:
        v = _finite("triangular distribution", low=self.low, mode=self.mode, high=self.high)
        if not (v["low"] <= v["mode"] <= v["high"] and v["low"] < v["high"]):
            raise ConfigError(
                f"triangular distribution: need low <= mode <= high and low < high, got "
                f"low={self.low!r}, mode={self.mode!r}, high={self.high!r}.")
        for k, x in v.items():
            object.__setattr__(self, k, x)

    def ppf(self, u: Any) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        a, c, b = self.low, self.mode, self.high
        fc = (c - a) / (b - a)
        left = a + np.sqrt(np.clip(u, 0, None) * (b - a) * (c - a))
        right = b - np.sqrt(np.clip(1 - u, 0, None) * (b - a) * (b - c))
        return np.where(u < fc, left, right)


@dataclass(frozen=True, eq=False)
class Posterior:
    """Samples from a table, for example the posterior of a calibration.

    Monte Carlo draws whole rows (with replacement), so the correlations between the
    columns are kept.  Sensitivity designs, which need independent inputs, use each
    column's empirical quantiles.

    Parameters
    ----------
    table : DataFrame, or path of a .csv / .parquet file
        One column per constant, one row per sample.
    columns : sequence of str, optional
        The columns to use (default: all numeric columns).

    Examples
    --------
    >>> import pandas as pd
    >>> p = Posterior(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    >>> p.names
    ('a', 'b')
    """

    table: Any
    columns: Sequence[str] | None = None
    source: str = field(default="<DataFrame>")

    def __post_init__(self) -> None:
        table = self.table
        if isinstance(table, str | os.PathLike):
            path = Path(table)
            object.__setattr__(self, "source", str(path))
            if not path.is_file():
                raise ConfigError(f"posterior samples: file {str(path)!r} does not exist.")
            try:
                table = (pd.read_parquet(path) if path.suffix.lower() == ".parquet"
                         else pd.read_csv(path))
            except (ValueError, OSError) as exc:
                raise ConfigError(f"posterior samples: cannot read {str(path)!r}: {exc}") \
                    from None
        if not isinstance(table, pd.DataFrame):
            raise ConfigError(f"posterior samples: `table` must be a DataFrame or a file path, "
                              f"got {type(table).__name__}.")
        if self.columns is None:
            cols = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        else:
            cols = list(self.columns)
            for c in cols:
                if c not in table.columns:
                    raise ConfigError(f"posterior samples: no column {c!r} in {self.source}."
                                      + close_matches(str(c), map(str, table.columns)))
        if not cols or len(table) == 0:
            raise ConfigError(f"posterior samples in {self.source}: need at least one numeric "
                              "column and one row.")
        values = table[cols].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
            raise ConfigError(f"posterior samples in {self.source}: row {row} has a missing or "
                              "non-finite value.")
        frame = pd.DataFrame(values, columns=[str(c) for c in cols])
        object.__setattr__(self, "table", frame)
        object.__setattr__(self, "columns", tuple(frame.columns))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.columns or ())

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` rows drawn independently (with replacement) using ``rng``."""
        rows = rng.integers(0, len(self.table), size=n)
        return {c: self.table[c].to_numpy()[rows] for c in self.names}

    def rows_at(self, u: Any) -> dict[str, np.ndarray]:
        """The rows at points ``u`` of the unit interval: row ``floor(u * n_rows)``, clipped
        to the table (used by Latin-hypercube and Sobol sampling).

        Examples
        --------
        >>> import pandas as pd
        >>> p = Posterior(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}))
        >>> p.rows_at([0.0, 0.3, 0.99, 1.0])["a"].tolist()
        [1.0, 2.0, 4.0, 4.0]
        """
        n_rows = len(self.table)
        rows = np.clip(np.floor(np.asarray(u, dtype=float) * n_rows), 0, n_rows - 1)
        rows = rows.astype(np.intp)
        return {c: self.table[c].to_numpy()[rows] for c in self.names}

    def marginal(self, name: str) -> _Marginal:
        return _Marginal(np.sort(self.table[name].to_numpy()))


@dataclass(frozen=True, eq=False)
class _Marginal(Distribution):
    """The empirical distribution of one column of a :class:`Posterior`."""

    values: np.ndarray
    kind: ClassVar[str] = "empirical"

    def ppf(self, u: Any) -> np.ndarray:
        return np.quantile(self.values, np.clip(np.asarray(u, dtype=float), 0, 1))


DISTRIBUTIONS: Mapping[str, type[Distribution]] = {
    "uniform": Uniform, "normal": Normal, "lognormal": LogNormal, "triangular": Triangular,
}
_FIELDS = {"uniform": ("low", "high"), "normal": ("mean", "sd", "low", "high"),
           "lognormal": ("median", "sigma"), "triangular": ("low", "mode", "high")}
_REQUIRED = {"uniform": ("low", "high"), "normal": ("mean", "sd"),
             "lognormal": ("median", "sigma"), "triangular": ("low", "mode", "high")}


def distribution_from_dict(spec: Mapping[str, Any], where: str = "distribution"
                           ) -> Distribution:
    """Build a distribution from its TOML form, ``{dist = "uniform", low = 1, high = 2}``.

    Examples
    --------
    >>> distribution_from_dict({"dist": "triangular", "low": 0, "mode": 1, "high": 4})
    Triangular(low=0.0, mode=1.0, high=4.0)
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a table such as {{dist = \"uniform\", low = 0, "
                          f"high = 1}}, got {spec!r}.")
    kind = spec.get("dist", spec.get("distribution"))
    if kind is None:
        raise ConfigError(f"{where}: missing `dist` (one of {', '.join(DISTRIBUTIONS)}).")
    kind = str(kind).lower()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: unknown distribution {kind!r}; use one of "
                          f"{', '.join(DISTRIBUTIONS)}.{close_matches(kind, DISTRIBUTIONS)}")
    allowed = _FIELDS[kind]
    args = {}
    for key, value in spec.items():
        if key in ("dist", "distribution"):
            continue
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} for a {kind} distribution "
                              f"(expected {', '.join(allowed)}).{close_matches(key, allowed)}")
        args[key] = value
    missing = [k for k in _REQUIRED[kind] if k not in args]
    if missing:
        raise ConfigError(f"{where}: a {kind} distribution needs {', '.join(missing)}.")
    try:
        return DISTRIBUTIONS[kind](**args)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def nearest_powers_of_two(n: int) -> tuple[int, ...]:
    """The powers of 2 on either side of ``n``, the nearer first (the larger on a tie)."""
    below = 1 << (n.bit_length() - 1)
    above = below << 1
    return (above, below) if above - n <= n - below else (below, above)


def check_sampling(method: Any, n: int | None = None, *, arg: str = "sampling",
                   n_arg: str = "n_samples") -> str:
    """Check a sampling method (one of :data:`SAMPLING_METHODS`) and, for ``"sobol"``, that
    the number of samples ``n`` is a power of 2; return the method.

    ``arg`` and ``n_arg`` are the names of the checked arguments, as the messages give them.

    Raises
    ------
    ConfigError
        An unknown method, or a Sobol sample whose size is not a power of 2 (naming the
        nearest powers of 2).

    Examples
    --------
    >>> check_sampling("lhs", 50)
    'lhs'
    >>> check_sampling("sobol", 1000)
    Traceback (most recent call last):
    ...
    sts_dynamics.errors.ConfigError: `n_samples` must be a power of 2 for sampling='sobol' \
(got 1000; use 1024 or 512).
    """
    if not isinstance(method, str) or method not in SAMPLING_METHODS:
        raise ConfigError(f"`{arg}` must be one of {', '.join(SAMPLING_METHODS)}, got "
                          f"{method!r}.{close_matches(str(method), SAMPLING_METHODS)}")
    if method == "sobol" and n is not None and n >= 1 and n & (n - 1):
        near = nearest_powers_of_two(int(n))
        raise ConfigError(f"`{n_arg}` must be a power of 2 for {arg}='sobol' (got {n}; "
                          f"use {near[0]} or {near[1]}).")
    return method


@dataclass(frozen=True, eq=False)
class Uncertainty:
    """The uncertain constants of an experiment.

    Parameters
    ----------
    distributions : mapping of str to Distribution
        Independent distributions by constant name.
    posterior : Posterior, optional
        Joint samples of further constants (whole rows are drawn).

    Examples
    --------
    >>> import numpy as np
    >>> u = Uncertainty({"Characteristic Time": Uniform(5, 15)})
    >>> u.sample(3, np.random.default_rng(0))["Characteristic Time"].shape
    (3,)

    A Latin hypercube puts one sample in each of ``n`` equally likely intervals:

    >>> x = u.sample(4, np.random.default_rng(0), method="lhs")["Characteristic Time"]
    >>> sorted(int((v - 5) / 10 * 4) for v in x)
    [0, 1, 2, 3]
    """

    distributions: Mapping[str, Distribution] = field(default_factory=dict)
    posterior: Posterior | None = None

    def __post_init__(self) -> None:
        dists = dict(self.distributions or {})
        for name, d in dists.items():
            if not isinstance(d, Distribution):
                raise ConfigError(f"uncertainty of {name!r}: expected a distribution such as "
                                  f"Uniform(low, high), got {d!r}.")
        if self.posterior is not None and not isinstance(self.posterior, Posterior):
            raise ConfigError(f"`posterior` must be a Posterior, got {self.posterior!r}.")
        both = set(dists) & set(self.posterior.names if self.posterior else ())
        if both:
            raise ConfigError(f"uncertainty: {', '.join(map(repr, sorted(both)))} has both a "
                              "distribution and posterior samples; give one.")
        object.__setattr__(self, "distributions", dists)

    @property
    def names(self) -> tuple[str, ...]:
        """The uncertain constants: distributions first, then posterior columns."""
        post = self.posterior.names if self.posterior is not None else ()
        return tuple(self.distributions) + tuple(post)

    def __len__(self) -> int:
        return len(self.names)

    def sample(self, n: int, rng: np.random.Generator, method: str = "random"
               ) -> dict[str, np.ndarray]:
        """Draw ``n`` parameter sets: ``{name: array of n values}``.

        Parameters
        ----------
        n : int
            Number of parameter sets.
        rng : numpy.random.Generator
            The source of randomness; the same state gives the same samples.
        method : {"random", "lhs", "sobol"}
            ``"random"``: independent draws, one distribution after the other (through its
            ``ppf``), then the posterior rows by random integers.
            ``"lhs"``: a Latin hypercube (:class:`scipy.stats.qmc.LatinHypercube`) with one
            dimension per distribution plus one for the posterior row: every marginal has
            exactly one sample in each of its ``n`` intervals of probability ``1 / n``.
            ``"sobol"``: a scrambled Sobol sequence (:class:`scipy.stats.qmc.Sobol`), with
            the same dimensions; ``n`` must be a power of 2.
            Unit values become parameter values through each distribution's ``ppf``, and
            posterior rows as ``floor(u * n_rows)``.

        Returns
        -------
        dict of str to ndarray
            Distributions first, then the posterior's columns.

        Raises
        ------
        ConfigError
            An unknown method, or ``method="sobol"`` with ``n`` not a power of 2.

        Examples
        --------
        >>> import numpy as np
        >>> u = Uncertainty({"a": Uniform(0, 1), "b": Normal(0, 1)})
        >>> s = u.sample(8, np.random.default_rng(1), method="sobol")
        >>> sorted(int(v * 8) for v in s["a"])
        [0, 1, 2, 3, 4, 5, 6, 7]
        """
        check_sampling(method, n, arg="method", n_arg="n")
        if method == "random":
            out = {name: np.asarray(d.sample(rng, n), dtype=float)
                   for name, d in self.distributions.items()}
            if self.posterior is not None:
                out.update(self.posterior.sample(rng, n))
            return out
        d = len(self.distributions) + (self.posterior is not None)
        if d == 0:
            return {}
        from scipy.stats import qmc

        if method == "lhs":
            unit = qmc.LatinHypercube(d, seed=rng).random(n)
        else:
            unit = qmc.Sobol(d, scramble=True, seed=rng).random_base2(int(n).bit_length() - 1)
        out = {name: np.asarray(dist.ppf(unit[:, j]), dtype=float)
               for j, (name, dist) in enumerate(self.distributions.items())}
        if self.posterior is not None:
            out.update(self.posterior.rows_at(unit[:, -1]))
        return out

    def marginals(self) -> dict[str, Distribution]:
        """One (independent) distribution per constant, for sensitivity designs."""
        out = dict(self.distributions)
        if self.posterior is not None:
            out.update({c: self.posterior.marginal(c) for c in self.posterior.names})
        return out

    def describe(self) -> dict[str, str]:
        out = {name: str(d) for name, d in self.distributions.items()}
        if self.posterior is not None:
            out.update({c: f"posterior({self.posterior.source})" for c in self.posterior.names})
        return out


def as_uncertainty(value: Any) -> Uncertainty | None:
    """Accept ``None``, an :class:`Uncertainty`, a mapping of distributions, a
    :class:`Posterior` or a DataFrame of samples."""
    if value is None or isinstance(value, Uncertainty):
        return value
    if isinstance(value, Posterior):
        return Uncertainty({}, value)
    if isinstance(value, pd.DataFrame):
        return Uncertainty({}, Posterior(value))
    if isinstance(value, Mapping):
        dists: dict[str, Distribution] = {}
        posterior = None
        for name, d in value.items():
            if isinstance(d, Posterior):
                posterior = d
            elif isinstance(d, Mapping):
                dists[name] = distribution_from_dict(d, f"uncertainty of {name!r}")
            else:
                dists[name] = d
        return Uncertainty(dists, posterior)
    raise ConfigError(f"`uncertainty` must be a mapping of constant names to distributions, an "
                      f"Uncertainty or a DataFrame of samples, got {type(value).__name__}.")
