"""Key variances: declared in ``<model>.meta.toml`` (``[[variance]]``) or by the user.

A *variance* (in sociotechnical-systems theory, an unprogrammed event that disturbs the work:
Emery & Trist; Cherns 1976) is injected through a constant of the model, its *injection
point*.  ``magnitude`` is added to that constant's value while the variance lasts.

Timing, two ways:

- the model times it itself (the constant feeds a ``PULSE`` or ``STEP``): ``start`` and
  ``duration`` name the model's timing constants (as in sts_core's meta.toml), and the
  constant is raised for the whole run;
- sts_dynamics times it: ``start`` (and optionally ``duration``) are numbers in model time
  units, and the constant is raised from ``start`` for ``duration`` (without a duration: from
  ``start`` on, a step) through a :class:`~sts_dynamics.TimeSeries`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError, UnknownNameError, close_matches
from ..model import LAYERS, Model

__all__ = ["Variance", "declared_variances", "resolve_variances", "timing"]

_KEYS = ("name", "inject", "magnitude", "start", "duration", "layer", "detection", "response",
         "description")


@dataclass(frozen=True)
class Variance:
    """A key variance and how to inject it.

    Parameters
    ----------
    name : str
    inject : str
        The constant that injects it (its injection point).
    magnitude : float
        Added to the constant while the variance lasts.
    start, duration : str or float, optional
        Names of the model's timing constants, or numbers (model time units) when
        sts_dynamics times the injection.  Without ``start`` the model's own timing is
        unknown and the onset is read from the response.
    layer : str, optional
        Layer of origin; default: the injection constant's layer.
    detection : sequence of str
        Variables at which the variance can be detected (default: the model's KPI variables).
    response : str, optional
        The variable (or KPI name) whose return to the baseline defines "absorbed"; default:
        the detection variable that responds most.
    description : str

    Examples
    --------
    >>> Variance("outage", "outage size", 1.0, start=10, duration=2).self_timed
    True
    """

    name: str
    inject: str
    magnitude: float
    start: str | float | None = None
    duration: str | float | None = None
    layer: str | None = None
    detection: tuple[str, ...] = field(default_factory=tuple)
    response: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"variance {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a variance needs a `name`, got {self.name!r}.")
        if not isinstance(self.inject, str) or not self.inject.strip():
            raise ConfigError(f"{where} has no injection point: give `inject`, the constant "
                              f"that injects it (for example 'automation failure severity'), "
                              f"got {self.inject!r}.")
        try:
            mag = float(self.magnitude)
        except (TypeError, ValueError):
            mag = math.nan
        if not math.isfinite(mag):
            raise ConfigError(f"{where}: `magnitude` must be a finite number, got "
                              f"{self.magnitude!r}.")
        object.__setattr__(self, "magnitude", mag)
        for key in ("start", "duration"):
            v = getattr(self, key)
            if v is None or isinstance(v, str):
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                x = math.nan
            if not math.isfinite(x) or (key == "duration" and x <= 0):
                raise ConfigError(f"{where}: `{key}` must be a constant name or a "
                                  f"{'positive ' if key == 'duration' else ''}number, got {v!r}.")
            object.__setattr__(self, key, x)
        if isinstance(self.start, str) != isinstance(self.duration, str) and \
                self.duration is not None and self.start is not None:
            raise ConfigError(f"{where}: give `start` and `duration` both as constant names (the "
                              "model times the variance) or both as numbers (sts_dynamics "
                              "times it).")
        if self.start is None and isinstance(self.duration, float):
            raise ConfigError(f"{where}: a numeric `duration` needs a numeric `start`.")
        if self.layer is not None and self.layer not in LAYERS:
            raise ConfigError(f"{where}: `layer` must be one of {', '.join(LAYERS)}, got "
                              f"{self.layer!r}.{close_matches(str(self.layer), LAYERS)}")
        det = self.detection
        if isinstance(det, str):
            det = (det,)
        object.__setattr__(self, "detection", tuple(det or ()))

    @property
    def self_timed(self) -> bool:
        """True when sts_dynamics times the injection (numeric ``start``)."""
        return isinstance(self.start, float)

    @classmethod
    def from_spec(cls, spec: Any, where: str = "variances") -> Variance:
        """From a mapping with the keys of a meta.toml ``[[variance]]`` table."""
        if isinstance(spec, Variance):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: a variance must be a table with `name`, `inject` and "
                              f"`magnitude`, got {spec!r}.")
        for key in spec:
            if key not in _KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} in variance "
                                  f"{spec.get('name', '?')!r}.{close_matches(str(key), _KEYS)}"
                                  f" Allowed keys: {', '.join(_KEYS)}.")
        name = spec.get("name")
        if "inject" not in spec:
            raise ConfigError(f"{where}: variance {name!r} has no injection point: give "
                              "`inject`, the constant that injects it.")
        if "magnitude" not in spec:
            raise ConfigError(f"{where}: variance {name!r} needs `magnitude`.")
        return cls(**{k: (tuple(v) if k == "detection" and not isinstance(v, str) else v)
                      for k, v in spec.items()})


def declared_variances(model: Model) -> list[Variance]:
    """The ``[[variance]]`` tables of the model's meta.toml, checked."""
    table = (model.metadata or {}).get("variance", [])
    if isinstance(table, Mapping):
        table = [table]
    return [Variance.from_spec(spec, f"{model.name}.meta.toml [[variance]]") for spec in table]


def _constant(model: Model, name: str, where: str) -> str:
    try:
        key = model.resolve(name)
    except UnknownNameError:
        raise UnknownNameError(f"{where}: model {model.name!r} has no constant {name!r}."
                               f"{close_matches(name, list(model.constants))}") from None
    var = model.variables[key]
    if var.kind != "constant" or var.internal:
        raise ConfigError(f"{where}: {var.name!r} is a {var.kind} of model {model.name!r}, not "
                          "a constant; a variance is injected through a constant.")
    return key


def _variable(model: Model, name: str, where: str) -> str:
    try:
        key = model.resolve(name)
    except UnknownNameError:
        public = [v.name for v in model.variables.values() if not v.internal]
        raise UnknownNameError(f"{where}: model {model.name!r} has no variable {name!r}."
                               f"{close_matches(name, public)}") from None
    if model.variables[key].kind == "lookup":
        raise ConfigError(f"{where}: {model.variables[key].name!r} is a lookup table, not a "
                          "variable with values over time.")
    return key


def resolve_variances(model: Model, variances: Any = None) -> list[Variance]:
    """Variances to trace, every name checked against the model.

    ``variances`` may be ``None`` (the declared ones), names of declared variances,
    :class:`Variance` objects or mappings; names and objects can be mixed.
    """
    declared = {v.name: v for v in declared_variances(model)}
    if variances is None:
        chosen = list(declared.values())
        if not chosen:
            raise ConfigError(f"model {model.name!r} declares no variances (no [[variance]] in "
                              f"{model.name}.meta.toml); pass `variances=[{{'name': ..., "
                              "'inject': <constant>, 'magnitude': ..., 'start': ..., "
                              "'duration': ...}]`.")
    else:
        if isinstance(variances, str | Variance | Mapping):
            variances = [variances]
        chosen = []
        for item in variances:
            if isinstance(item, str):
                if item not in declared:
                    raise UnknownNameError(
                        f"variances: model {model.name!r} declares no variance {item!r}."
                        f"{close_matches(item, declared)} Declared: "
                        f"{', '.join(map(repr, declared)) or 'none'}.")
                chosen.append(declared[item])
            else:
                chosen.append(Variance.from_spec(item))
    names = [v.name for v in chosen]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"variances: names must be unique; repeated: "
                          f"{', '.join(map(repr, dup))}.")
    if not chosen:
        raise ConfigError("variances: nothing to trace (an empty list).")
    out = []
    for v in chosen:
        where = f"variance {v.name!r}"
        key = _constant(model, v.inject, where)
        changes: dict[str, Any] = {"inject": model.variables[key].name}
        for attr in ("start", "duration"):
            val = getattr(v, attr)
            if isinstance(val, str):
                changes[attr] = model.variables[_constant(model, val, where)].name
        changes["detection"] = tuple(model.variables[_variable(model, d, where)].name
                                     for d in v.detection)
        if v.response is not None and not _is_kpi(model, v.response):
            changes["response"] = model.variables[_variable(model, v.response, where)].name
        out.append(replace(v, **changes))
    return out


def _is_kpi(model: Model, name: str) -> bool:
    kpis = (model.metadata or {}).get("kpis") or {}
    return isinstance(kpis, Mapping) and name in kpis


def timing(model: Model, v: Variance, t0: float) -> tuple[float | None, float]:
    """``(start, duration)`` in model time: numbers, or the values of the timing constants.

    ``start`` is ``None`` when unknown; ``duration`` is 0 for a step.
    """
    consts = model.constants

    def value(x: str | float | None) -> float | None:
        if x is None:
            return None
        if isinstance(x, str):
            return float(consts[model[x].name])
        return float(x)

    start = value(v.start)
    dur = value(v.duration)
    return start, (0.0 if dur is None else dur)
