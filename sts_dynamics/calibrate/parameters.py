"""Calibration parameters: bounds, transforms, fixed or free, and a checked set of them.

Optimizers and samplers work in an *internal* space where a parameter's transform makes the
problem better conditioned:

========  ==========================================  =======================================
name      internal value ``u``                        internal bounds
========  ==========================================  =======================================
none      ``x``                                       ``[min, max]``
log       ``log(x)``  (rates; needs ``min >= 0``)     ``[log(min), log(max)]``
logit     ``logit((x - min) / (max - min))``          unbounded (needs finite ``min``, ``max``)
========  ==========================================  =======================================

``"auto"`` picks ``logit`` when both bounds are finite, ``log`` when only ``max`` is infinite
and ``min >= 0``, and ``none`` otherwise. Transforms are monotone, so box bounds in one space
are box bounds in the other.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from ..errors import CalibrationError, CalibrationWarning, UnknownNameError, close_matches
from .priors import Prior

__all__ = ["Parameter", "ParameterSet", "make_parameters", "TRANSFORMS"]

TRANSFORMS = ("auto", "none", "log", "logit")


def _float(value, what: str, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise CalibrationError(f"parameter {name!r}: `{what}` must be a number, got "
                               f"{value!r}.") from None
    if math.isnan(out):
        raise CalibrationError(f"parameter {name!r}: `{what}` must be a number, got nan.")
    return out


@dataclass(frozen=True)
class Parameter:
    """A model constant to calibrate (or to hold fixed).

    Parameters
    ----------
    name : str
        The model variable's name.
    value : float
        Starting (or fixed) value, within ``[min, max]``.
    min, max : float
        Bounds, ``min < max``; infinite for none.
    vary : bool
        False holds the parameter at ``value``.
    transform : {"auto", "none", "log", "logit"}
        See the module docstring; ``"auto"`` is resolved when the parameter is built.
    prior : Prior, optional
        A prior on the parameter's (external) value.

    Examples
    --------
    >>> p = Parameter("skill decay rate", 0.02, min=0.005, max=0.05)
    >>> p.transform
    'logit'
    >>> round(float(p.from_internal(p.to_internal(0.03))), 12)
    0.03
    >>> Parameter("base fault rate", 1.0, min=0.0).transform
    'log'
    """

    name: str
    value: float
    min: float = -math.inf
    max: float = math.inf
    vary: bool = True
    transform: str = "auto"
    prior: Prior | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise CalibrationError(f"a parameter's `name` must be a non-empty string, got "
                                   f"{self.name!r}.")
        name = self.name
        value = _float(self.value, "value", name)
        lo, hi = _float(self.min, "min", name), _float(self.max, "max", name)
        if not lo < hi:
            raise CalibrationError(f"parameter {name!r}: `min` must be less than `max`, got "
                                   f"min={lo:g} and max={hi:g}.")
        if not lo <= value <= hi:
            raise CalibrationError(f"parameter {name!r}: `value` must lie within [min, max] = "
                                   f"[{lo:g}, {hi:g}], got {value:g}.")
        t = self.transform
        if t not in TRANSFORMS:
            raise CalibrationError(f"parameter {name!r}: `transform` must be one of "
                                   f"{', '.join(map(repr, TRANSFORMS))}, got {t!r}.")
        if t == "auto":
            finite = math.isfinite(lo) and math.isfinite(hi)
            t = "logit" if finite else "log" if lo >= 0 and math.isfinite(lo) else "none"
        if t == "log" and lo < 0:
            raise CalibrationError(f"parameter {name!r}: transform 'log' needs min >= 0, got "
                                   f"min={lo:g}.")
        if t == "logit" and not (math.isfinite(lo) and math.isfinite(hi)):
            raise CalibrationError(f"parameter {name!r}: transform 'logit' needs finite min "
                                   f"and max, got [{lo:g}, {hi:g}].")
        if self.vary and ((t == "logit" and value in (lo, hi)) or (t == "log" and value == 0)):
            raise CalibrationError(f"parameter {name!r}: `value` {value:g} is on a bound, where "
                                   f"the {t} transform is infinite; start strictly inside "
                                   f"[{lo:g}, {hi:g}].")
        if self.prior is not None and not isinstance(self.prior, Prior):
            raise CalibrationError(f"parameter {name!r}: `prior` must be a Prior, got "
                                   f"{type(self.prior).__name__}.")
        for field, v in (("value", value), ("min", lo), ("max", hi), ("transform", t),
                         ("vary", bool(self.vary))):
            object.__setattr__(self, field, v)

    def to_internal(self, x) -> float | np.ndarray:
        """External value(s) -> internal (optimizer) value(s); vectorized."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            if self.transform == "log":
                u = np.log(x)
            elif self.transform == "logit":
                u = special.logit((x - self.min) / (self.max - self.min))
            else:
                u = x
        return float(u) if u.ndim == 0 else u

    def from_internal(self, u) -> float | np.ndarray:
        """Internal value(s) -> external value(s); vectorized, always within the bounds."""
        u = np.asarray(u, dtype=float)
        if self.transform == "log":
            x = np.exp(u)
        elif self.transform == "logit":
            x = self.min + (self.max - self.min) * special.expit(u)
        else:
            x = u
        x = np.clip(x, self.min, self.max)
        return float(x) if x.ndim == 0 else x

    def log_jacobian(self, u) -> float | np.ndarray:
        """``log |dx/du|`` at internal value(s) ``u`` (for priors sampled in internal space)."""
        u = np.asarray(u, dtype=float)
        if self.transform == "log":
            out = u
        elif self.transform == "logit":
            out = math.log(self.max - self.min) - np.logaddexp(0, -u) - np.logaddexp(0, u)
        else:
            out = np.zeros_like(u)
        return float(out) if np.ndim(out) == 0 else out

    @property
    def internal_bounds(self) -> tuple[float, float]:
        """Bounds in internal space (infinite where the transform removes them)."""
        if self.transform == "logit":
            return (-math.inf, math.inf)
        if self.transform == "log":
            with np.errstate(divide="ignore"):
                return (float(np.log(self.min)), float(np.log(self.max)))
        return (self.min, self.max)

    def at_bound(self, x: float | None = None, rtol: float = 1e-3) -> str | None:
        """``"min"`` or ``"max"`` when ``x`` (default ``value``) is within ``rtol`` of a bound.

        The tolerance is ``rtol * (max - min)`` for a finite range, else ``rtol`` times the
        larger of ``|x|`` and ``|bound|``.

        Examples
        --------
        >>> Parameter("f", 0.5, min=0.0, max=1.0).at_bound(0.9999)
        'max'
        """
        x = self.value if x is None else float(x)
        width = self.max - self.min
        for side, b in (("min", self.min), ("max", self.max)):
            if not math.isfinite(b):
                continue
            tol = rtol * width if math.isfinite(width) else rtol * max(abs(x), abs(b))
            if abs(x - b) <= tol:
                return side
        return None


@dataclass(frozen=True, eq=False)
class ParameterSet:
    """An ordered set of parameters with unique names; maps free ones to internal vectors.

    Internal arrays have shape ``(n_free,)`` or ``(n_free, n_runs)`` (a trailing run axis,
    like the simulation ensemble).

    Examples
    --------
    >>> ps = ParameterSet([Parameter("a", 1.0, min=0.0), Parameter("b", 0.5, vary=False)])
    >>> ps.free
    ('a',)
    >>> ps.from_internal([[0.0, 1.0]])["a"].round(4).tolist()
    [1.0, 2.7183]
    """

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        params = tuple(self.parameters)
        if not params:
            raise CalibrationError("a ParameterSet needs at least one parameter.")
        for p in params:
            if not isinstance(p, Parameter):
                raise CalibrationError(f"ParameterSet items must be Parameter, got "
                                       f"{type(p).__name__}.")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise CalibrationError(f"parameter names must be unique; repeated: "
                                   f"{', '.join(map(repr, dupes))}.")
        object.__setattr__(self, "parameters", params)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise UnknownNameError(f"no parameter named {name!r}; the parameters are "
                               f"{', '.join(map(repr, self.names))}."
                               + close_matches(name, self.names))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def free(self) -> tuple[str, ...]:
        """Names of the parameters that vary, in order (the internal vector's order)."""
        return tuple(p.name for p in self.parameters if p.vary)

    def _free(self) -> list[Parameter]:
        return [p for p in self.parameters if p.vary]

    @property
    def x0(self) -> np.ndarray:
        """Internal starting vector of the free parameters."""
        return np.array([p.to_internal(p.value) for p in self._free()], dtype=float)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Internal (lower, upper) bounds of the free parameters."""
        b = np.array([p.internal_bounds for p in self._free()], dtype=float).reshape(-1, 2)
        return b[:, 0], b[:, 1]

    def values(self) -> dict[str, float]:
        """``{name: value}`` of every parameter."""
        return {p.name: p.value for p in self.parameters}

    def with_values(self, values: Mapping[str, float]) -> ParameterSet:
        """A copy with new values (names must exist)."""
        for n in values:
            self.__getitem__(n)  # raises UnknownNameError with close matches
        return ParameterSet(tuple(replace(p, value=float(values[p.name]))
                                  if p.name in values else p for p in self.parameters))

    def _check_u(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        n = len(self.free)
        if u.ndim not in (1, 2) or u.shape[0] != n:
            raise CalibrationError(f"internal parameters must have shape ({n},) or ({n}, "
                                   f"n_runs) for the free parameters {self.free}, got shape "
                                   f"{u.shape}.")
        return u

    def from_internal(self, u) -> dict[str, float | np.ndarray]:
        """``{name: value}`` for every parameter: free ones from ``u`` (arrays of shape
        ``(n_runs,)`` when ``u`` is 2-D), fixed ones as floats."""
        u = self._check_u(u)
        free = dict(zip(self.free, u, strict=True))
        return {p.name: p.from_internal(free[p.name]) if p.vary else p.value
                for p in self.parameters}

    def to_internal(self, values: Mapping[str, float | np.ndarray]) -> np.ndarray:
        """Internal vector (or array, for array values) of the free parameters."""
        missing = [n for n in self.free if n not in values]
        if missing:
            raise CalibrationError(f"values missing for free parameter(s) "
                                   f"{', '.join(map(repr, missing))}.")
        return np.array([p.to_internal(values[p.name]) for p in self._free()], dtype=float)

    def log_prior(self, u) -> float | np.ndarray:
        """Sum of the free parameters' prior log-densities at internal ``u`` (0 without
        priors; the densities are of the external values)."""
        u = self._check_u(u)
        total = np.zeros(u.shape[1:])
        for p, ui in zip(self._free(), u, strict=True):
            if p.prior is not None:
                total = total + p.prior.logpdf(p.from_internal(ui))
        return float(total) if np.ndim(total) == 0 else total

    def latin_hypercube(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` starting points, shape ``(n_free, n)`` in internal space, from a Latin
        hypercube that is uniform in each parameter's natural scale: in log space for
        ``log`` parameters, on ``[min, max]`` otherwise. Needs finite bounds.

        Examples
        --------
        >>> import numpy as np
        >>> ps = ParameterSet([Parameter("k", 1.0, min=0.1, max=10.0, transform="log")])
        >>> pts = ps.from_internal(ps.latin_hypercube(4, np.random.default_rng(0)))["k"]
        >>> sorted(int(np.floor(np.log10(v) * 2 + 2)) for v in pts)   # one per quarter
        [0, 1, 2, 3]
        """
        if n < 1:
            raise CalibrationError(f"`n` must be at least 1, got {n}.")
        free = self._free()
        if not free:
            raise CalibrationError("no free parameters to sample.")
        infinite = [p.name for p in free if not (math.isfinite(p.min) and math.isfinite(p.max))]
        if infinite:
            raise CalibrationError(f"a Latin hypercube needs finite bounds; give min and max for "
                                   f"{', '.join(map(repr, infinite))}.")
        from scipy.stats import qmc  # scipy.stats takes 0.5 s to import: only when used

        unit = qmc.LatinHypercube(d=len(free), rng=rng).random(n).T  # (n_free, n)
        out = np.empty_like(unit)
        for i, p in enumerate(free):
            if p.transform == "log" and p.min > 0:
                x = np.exp(np.log(p.min) + unit[i] * (np.log(p.max) - np.log(p.min)))
            else:
                x = p.min + unit[i] * (p.max - p.min)
            out[i] = p.to_internal(x)
        return out

    def at_bounds(self, values: Mapping[str, float] | None = None,
                  rtol: float = 1e-3) -> dict[str, str]:
        """``{name: "min" | "max"}`` for free parameters at (within ``rtol`` of) a bound."""
        values = self.values() if values is None else values
        out = {}
        for p in self._free():
            side = p.at_bound(values[p.name], rtol)
            if side:
                out[p.name] = side
        return out

    def warn_at_bounds(self, values: Mapping[str, float] | None = None,
                       rtol: float = 1e-3) -> dict[str, str]:
        """Like :meth:`at_bounds`, and issue a :class:`CalibrationWarning` naming them."""
        hits = self.at_bounds(values, rtol)
        if hits:
            values = self.values() if values is None else values
            text = ", ".join(f"{n!r} = {values[n]:.6g} at its {side} ({getattr(self[n], side):g})"
                             for n, side in hits.items())
            warnings.warn(f"fit ended at a bound: {text}; widen the bound or question the "
                          f"model.", CalibrationWarning, stacklevel=2)
        return hits


def make_parameters(spec: Mapping[str, object] | Sequence[Parameter],
                    defaults: Mapping[str, float] | None = None) -> ParameterSet:
    """Build a :class:`ParameterSet` from a compact specification.

    Each entry of ``spec`` is one of: a :class:`Parameter`; ``(min, max)`` (free; starting at
    ``defaults[name]`` when that lies strictly inside, else at the geometric mean when
    ``min > 0`` and ``max / min >= 10``, else at the midpoint); ``(min, max, value)``; a
    number (fixed at that value); a dict of :class:`Parameter` keywords.

    Examples
    --------
    >>> ps = make_parameters({"skill decay rate": (0.005, 0.05), "base fault rate": (0.1, 10),
    ...                       "staff": 12})
    >>> {p.name: (round(p.value, 4), p.vary) for p in ps}
    {'skill decay rate': (0.0158, True), 'base fault rate': (1.0, True), 'staff': (12.0, False)}
    """
    if not isinstance(spec, Mapping):
        return ParameterSet(tuple(spec))
    defaults = defaults or {}
    params = []
    for name, s in spec.items():
        if isinstance(s, Parameter):
            params.append(s if s.name == name else replace(s, name=name))
        elif isinstance(s, Mapping):
            params.append(Parameter(name=name, **dict(s)))
        elif isinstance(s, tuple | list):
            if len(s) not in (2, 3):
                raise CalibrationError(f"parameter {name!r}: give (min, max) or (min, max, "
                                       f"value), got {s!r}.")
            lo, hi = _float(s[0], "min", name), _float(s[1], "max", name)
            if len(s) == 3:
                value = s[2]
            elif name in defaults and lo < float(defaults[name]) < hi:
                value = float(defaults[name])
            elif not (math.isfinite(lo) and math.isfinite(hi)):
                raise CalibrationError(f"parameter {name!r}: bounds ({lo:g}, {hi:g}) are not "
                                       f"finite, so give a start: (min, max, value).")
            elif lo > 0 and hi / lo >= 10:
                value = math.sqrt(lo * hi)
            else:
                value = 0.5 * (lo + hi)
            params.append(Parameter(name, value, min=lo, max=hi))
        else:
            params.append(Parameter(name, _float(s, "value", name), vary=False))
    return ParameterSet(tuple(params))
