"""Policy levers of an optimization: the constant each sets, its subsystem, bounds and cost.

Levers come from the ``[[lever]]`` tables of the model's meta.toml (``name``, ``constant``,
``subsystem`` technical | social, ``range``, ``cost_per_unit``, ``cost_unit``) or are plain
constants of the model.  A constant that is not a declared lever belongs to the technical
subsystem when its layer is technical, else to the social one (people and the organisation
of their work), and costs nothing unless ``costs`` gives a price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, UnknownNameError, close_matches
from ..model import Model

__all__ = ["Lever", "SUBSYSTEMS", "declared_levers", "resolve_levers"]

#: The two subsystems a lever acts on.
SUBSYSTEMS = ("technical", "social")


@dataclass(frozen=True)
class Lever:
    """A lever: ``constant`` searched within ``[low, high]``.

    Attributes
    ----------
    name : str
        The lever's name (the meta.toml ``[[lever]]`` name, or the constant's).
    constant : str
        The model constant it sets.
    subsystem : {"technical", "social"}
    low, high : float
        Bounds of the search.
    default : float
        The constant's value in the model (where a lever not being optimized is held,
        clipped into the bounds).
    cost_per_unit : float
        Cost of one unit of the lever per model time unit (0 when not priced).
    cost_unit : str
    """

    name: str
    constant: str
    subsystem: str
    low: float
    high: float
    default: float
    cost_per_unit: float = 0.0
    cost_unit: str = ""

    @property
    def held(self) -> float:
        """The value at which the lever is held when it is not searched."""
        return min(max(self.default, self.low), self.high)


def declared_levers(model: Model) -> dict[str, Mapping[str, Any]]:
    """``{name: [[lever]] table}`` from the model's meta.toml."""
    table = (model.metadata or {}).get("lever", [])
    if isinstance(table, Mapping):
        table = [table]
    return {str(t.get("name", t.get("constant"))): t for t in table if isinstance(t, Mapping)}


def _number(x: Any, what: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(x, bool) or not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite number, got {x!r}.")
    return v


def resolve_levers(model: Model, levers: Any = None, costs: Mapping[str, float] | None = None
                   ) -> list[Lever]:
    """Levers to search, checked: constants of the model, bounds ``low < high``.

    ``levers`` may be ``None`` (every declared lever over its ``range``), a sequence of lever
    or constant names (the declared range), or a mapping ``{name: (low, high)}`` (``None``
    for the declared range).
    """
    declared = declared_levers(model)
    if levers is None:
        if not declared:
            raise ConfigError(f"model {model.name!r} declares no levers ([[lever]] in "
                              f"{model.name}.meta.toml); pass `levers={{'constant': (low, "
                              "high)}}`.")
        levers = {name: None for name in declared}
    elif isinstance(levers, str):
        levers = {levers: None}
    elif not isinstance(levers, Mapping):
        levers = {name: None for name in levers}
    if not levers:
        raise ConfigError("`levers` is empty; give at least one lever with its bounds.")
    costs = dict(costs or {})
    out: list[Lever] = []
    seen: set[str] = set()
    for name, bounds in levers.items():
        where = f"lever {name!r}"
        spec = declared.get(name)
        const_name = str(spec.get("constant", name)) if spec is not None else name
        try:
            key = model.resolve(const_name)
        except UnknownNameError:
            options = list(declared) + list(model.constants)
            raise UnknownNameError(f"{where}: model {model.name!r} has no lever or constant "
                                   f"{name!r}.{close_matches(str(name), options)}") from None
        var = model.variables[key]
        if var.kind != "constant" or var.internal:
            raise ConfigError(f"{where}: {var.name!r} is a {var.kind} of model {model.name!r}, "
                              "not a constant; a lever sets a constant.")
        if var.name in seen:
            raise ConfigError(f"{where}: the constant {var.name!r} is set by two levers.")
        seen.add(var.name)
        if bounds is None:
            rng = spec.get("range") if spec is not None else None
            if rng is None:
                raise ConfigError(f"{where}: give its bounds, for example {{{name!r}: (0, 1)}}"
                                  " (it has no declared range).")
            bounds = rng
        if isinstance(bounds, str) or not hasattr(bounds, "__len__") or len(bounds) != 2:
            raise ConfigError(f"{where}: bounds must be a pair (low, high), got {bounds!r}.")
        low = _number(bounds[0], f"{where}: the lower bound")
        high = _number(bounds[1], f"{where}: the upper bound")
        if not low < high:
            raise ConfigError(f"{where}: bounds must have min < max, got ({bounds[0]!r}, "
                              f"{bounds[1]!r}).")
        if spec is not None and spec.get("subsystem") is not None:
            sub = str(spec["subsystem"])
            if sub not in SUBSYSTEMS:
                raise ConfigError(f"{where}: subsystem must be one of {', '.join(SUBSYSTEMS)}, "
                                  f"got {sub!r}.")
        else:
            sub = "technical" if var.layer == "technical" else "social"
        price = costs.pop(name, costs.pop(var.name, None))
        if price is None and spec is not None and "cost_per_unit" in spec:
            price = spec["cost_per_unit"]
        if isinstance(price, str):          # "or a note": not a number, not priced
            price = None
        cost = 0.0 if price is None else _number(price, f"{where}: cost_per_unit")
        unit = str(spec.get("cost_unit", "")) if spec is not None else ""
        out.append(Lever(name=str(name), constant=var.name, subsystem=sub, low=low, high=high,
                         default=float(var.value), cost_per_unit=cost, cost_unit=unit))
    if costs:
        extra = sorted(costs)
        raise UnknownNameError(f"`costs` names {', '.join(map(repr, extra))}, which is not one "
                               f"of the levers {', '.join(repr(lv.name) for lv in out)}."
                               f"{close_matches(extra[0], [lv.name for lv in out])}")
    return out
