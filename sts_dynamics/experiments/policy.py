"""Policies and scenarios: frozen descriptions of changes to a model's constants.

A :class:`Policy` changes one or more constants at once, as a step at a date, as a ramp
between two dates, or following a table of values.  A :class:`Scenario` is the baseline
plus a sequence of policies; scenarios compose with ``+``.  :mod:`.paths` turns them into
the values (numbers, arrays, :class:`~sts_dynamics.TimeSeries`) that ``simulate`` takes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["Policy", "Scenario", "MODES", "INTERPOLATIONS"]

#: How a policy's value combines with the value before it: replace it, multiply it, add to it.
MODES = ("set", "scale", "add")
INTERPOLATIONS = ("step", "linear")

Table = tuple[tuple[float, float], ...]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a number, got {value!r}.")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number, got {value!r}.") from None
    if not math.isfinite(x):
        raise ConfigError(f"{where} must be finite, got {value!r}.")
    return x


def _table(value: Any, where: str) -> Table:
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = list(value)
    rows = []
    for item in items:
        try:
            t, v = item
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number or a table of [time, value] pairs, "
                              f"got {item!r} in it.") from None
        rows.append((_number(t, f"{where}: a time"), _number(v, f"{where}: a value")))
    if not rows:
        raise ConfigError(f"{where}: the table of [time, value] pairs is empty.")
    times = [t for t, _ in rows]
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise ConfigError(f"{where}: the times of the table must be strictly increasing, got "
                          f"{times}.")
    return tuple(rows)


@dataclass(frozen=True)
class Policy:
    """A change to one or more constants of a model.

    Parameters
    ----------
    name : str
        A short label, used in tables.
    changes : mapping of str to number or table
        New values by constant name.  A number is a new value; a sequence of
        ``(time, value)`` pairs is a table of values over time (from its first time on).
    start : float, optional
        When the change takes effect (model time units).  ``None``: from the start.
    end : float, optional
        With ``start``: the change ramps linearly from the previous value at ``start`` to
        the new value at ``end``.
    mode : {"set", "scale", "add"}
        The new value replaces the previous one, multiplies it, or is added to it.  With
        ``"scale"`` and uncertain constants, every sample is scaled (for example halving a
        delay whatever its value).
    interpolation : {"step", "linear"}
        How a table of values is read between its times.
    description : str
        Free text for reports.

    Examples
    --------
    >>> Policy("automate triage", {"automation level": 0.8}, start=13, end=26)
    Policy('automate triage': set automation level to 0.8, ramp 13-26)
    >>> Policy.step("faster reviews", {"review delay": 0.5}, at=52, mode="scale").dates
    (52.0,)
    """

    name: str
    changes: Any
    start: float | None = None
    end: float | None = None
    mode: str = "set"
    interpolation: str = "step"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a policy needs a non-empty `name`, got {self.name!r}.")
        where = f"policy {self.name!r}"
        if self.mode not in MODES:
            raise ConfigError(f"{where}: `mode` must be one of {', '.join(MODES)}, got "
                              f"{self.mode!r}.")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"{where}: `interpolation` must be 'step' or 'linear', got "
                              f"{self.interpolation!r}.")
        items = self.changes.items() if isinstance(self.changes, Mapping) else self.changes
        changes: list[tuple[str, float | Table]] = []
        try:
            items = list(items)
        except TypeError:
            raise ConfigError(f"{where}: `changes` must map constant names to values, got "
                              f"{self.changes!r}.") from None
        for item in items:
            try:
                const, value = item
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: `changes` must map constant names to values, got "
                                  f"{self.changes!r}.") from None
            if not isinstance(const, str) or not const.strip():
                raise ConfigError(f"{where}: constant names must be strings, got {const!r}.")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                changes.append((const, _number(value, f"{where}: the value of {const!r}")))
            else:
                changes.append((const, _table(value, f"{where}: the value of {const!r}")))
        if not changes:
            raise ConfigError(f"{where}: `changes` is empty; name at least one constant.")
        names = [c for c, _ in changes]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: a constant is changed twice: {names}.")
        object.__setattr__(self, "changes", tuple(changes))
        start = None if self.start is None else _number(self.start, f"{where}: `start`")
        end = None if self.end is None else _number(self.end, f"{where}: `end`")
        if end is not None and start is None:
            raise ConfigError(f"{where}: a ramp needs `start` as well as `end`.")
        if end is not None and not end > start:
            raise ConfigError(f"{where}: `end` ({end:g}) must be after `start` ({start:g}).")
        if (start is not None) and any(isinstance(v, tuple) for _, v in changes):
            raise ConfigError(f"{where}: a table of values carries its own dates; do not give "
                              "`start`/`end` with it.")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def step(cls, name: str, changes: Mapping[str, float], at: float, *, mode: str = "set",
             description: str = "") -> Policy:
        """Change constants at date ``at``."""
        return cls(name, changes, start=at, mode=mode, description=description)

    @classmethod
    def ramp(cls, name: str, changes: Mapping[str, float], start: float, end: float, *,
             mode: str = "set", description: str = "") -> Policy:
        """Move constants linearly from their previous value at ``start`` to the new value at
        ``end``."""
        return cls(name, changes, start=start, end=end, mode=mode, description=description)

    @classmethod
    def table(cls, name: str, changes: Mapping[str, Iterable[tuple[float, float]]], *,
              interpolation: str = "step", mode: str = "set", description: str = "") -> Policy:
        """Constants follow tables of ``(time, value)`` pairs from their first time on."""
        return cls(name, changes, mode=mode, interpolation=interpolation,
                   description=description)

    # -- queries ----------------------------------------------------------------------------
    @property
    def constants(self) -> tuple[str, ...]:
        """Names of the constants this policy changes."""
        return tuple(c for c, _ in self.changes)

    @property
    def dates(self) -> tuple[float, ...]:
        """Every date the policy names (start, end, table times)."""
        out: list[float] = [d for d in (self.start, self.end) if d is not None]
        for _, v in self.changes:
            if isinstance(v, tuple):
                out.extend(t for t, _ in v)
        return tuple(out)

    @property
    def timing(self) -> str:
        """``"at once"``, ``"step"``, ``"ramp"`` or ``"table"``."""
        if any(isinstance(v, tuple) for _, v in self.changes):
            return "table"
        if self.start is None:
            return "at once"
        return "step" if self.end is None else "ramp"

    def summary(self) -> str:
        verb = {"set": "set {c} to {v}", "scale": "scale {c} by {v}", "add": "add {v} to {c}"}
        parts = []
        for c, v in self.changes:
            shown = f"{v:g}" if isinstance(v, float) else \
                "[" + ", ".join(f"{t:g}: {x:g}" for t, x in v) + "]"
            parts.append(verb[self.mode].format(c=c, v=shown))
        when = {"at once": "", "table": f", {self.interpolation} table",
                "step": f", from {self.start:g}",
                "ramp": f", ramp {self.start:g}-{self.end:g}"}[self.timing]
        return "; ".join(parts) + when

    def __repr__(self) -> str:
        return f"Policy({self.name!r}: {self.summary()})"

    def to_dict(self) -> dict[str, Any]:
        """The TOML form of this policy."""
        out: dict[str, Any] = {self.mode: {c: (v if isinstance(v, float) else [list(p)
                                                                               for p in v])
                                           for c, v in self.changes}}
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        if self.timing == "table":
            out["interpolation"] = self.interpolation
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Scenario:
    """The baseline plus a sequence of policies, applied in order.

    Parameters
    ----------
    name : str
    policies : sequence of Policy
        Later policies act on the values left by earlier ones.
    description : str

    Examples
    --------
    >>> a = Policy("automate", {"automation level": 0.8})
    >>> b = Policy("game days", {"drill frequency": 1}, start=26)
    >>> s = Scenario("automate", (a,)) + b
    >>> s.name, [p.name for p in s.policies]
    ('automate + game days', ['automate', 'game days'])
    """

    name: str
    policies: Sequence[Policy] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a scenario needs a non-empty `name`, got {self.name!r}.")
        if isinstance(self.policies, Policy):
            object.__setattr__(self, "policies", (self.policies,))
        policies = tuple(self.policies)
        for p in policies:
            if not isinstance(p, Policy):
                raise ConfigError(f"scenario {self.name!r}: `policies` must hold Policy "
                                  f"objects, got {p!r}.")
        object.__setattr__(self, "policies", policies)

    @property
    def is_baseline(self) -> bool:
        """True when the scenario changes nothing."""
        return not self.policies

    def __add__(self, other: Policy | Scenario) -> Scenario:
        if isinstance(other, Policy):
            return Scenario(f"{self.name} + {other.name}", self.policies + (other,),
                            self.description)
        if isinstance(other, Scenario):
            return Scenario(f"{self.name} + {other.name}", self.policies + other.policies,
                            self.description)
        return NotImplemented

    def with_policies(self, *policies: Policy, name: str | None = None) -> Scenario:
        """A new scenario with ``policies`` appended."""
        return Scenario(name or self.name, self.policies + tuple(policies), self.description)

    @classmethod
    def compose(cls, name: str, *parts: Scenario | Policy, description: str = "") -> Scenario:
        """A scenario with the policies of all ``parts``, in order."""
        policies: list[Policy] = []
        for part in parts:
            policies.extend(part.policies if isinstance(part, Scenario) else (part,))
        return cls(name, tuple(policies), description)

    @property
    def constants(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for p in self.policies:
            seen.update(dict.fromkeys(p.constants))
        return tuple(seen)

    def __repr__(self) -> str:
        pols = ", ".join(p.name for p in self.policies) or "no policies"
        return f"Scenario({self.name!r}: {pols})"
