"""Turn scenarios into the parameter values that :func:`sts_dynamics.simulate` takes.

Each constant that a scenario touches (or that is uncertain) becomes a :class:`Path`: its
value over time for every sample, built by applying the scenario's policies in order to
the baseline (the model default, or the sampled values).  For one ``simulate`` call,
:func:`build_params` stacks the paths of one or more scenarios side by side (the run axis):
static paths become arrays; paths that change over time become one
:class:`~sts_dynamics.TimeSeries` on the union of their switch times, exact for steps
(``"step"`` interpolation) and for ramps (``"linear"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..compile import TimeSeries
from ..errors import ConfigError, UnknownNameError, close_matches
from ..model import Model
from .policy import Policy, Scenario

__all__ = ["Path", "resolve_constant", "scenario_paths", "build_params", "check_dates"]

#: Points added inside a ramp whose start and target both change over time (the product of
#: two linear functions is not linear).
_DENSE = 32


@dataclass(frozen=True, eq=False)
class Path:
    """A constant's value over time: ``f(t) -> array (len(t), n_samples or 1)``.

    ``jumps`` are discontinuities, ``kinks`` changes of slope, ``curved`` intervals where
    the value is not linear between those points.
    """

    f: Callable[[np.ndarray], np.ndarray]
    jumps: frozenset[float] = frozenset()
    kinks: frozenset[float] = frozenset()
    curved: tuple[tuple[float, float], ...] = ()
    constant_in_time: bool = True

    @classmethod
    def constant(cls, value: float | np.ndarray) -> Path:
        row = np.atleast_1d(np.asarray(value, dtype=float)).reshape(1, -1)
        return cls(lambda t: np.broadcast_to(row, (len(t), row.shape[1])))

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return self.f(np.asarray(t, dtype=float))

    def apply(self, policy: Policy, value: float | tuple) -> Path:
        """The path after ``policy`` changes this constant to/by ``value``."""
        prev = self.f
        mode = policy.mode

        def target(t: np.ndarray, v) -> np.ndarray:
            p = prev(t)
            if mode == "set":
                return np.broadcast_to(v, np.broadcast_shapes(np.shape(v), p.shape))
            return p * v if mode == "scale" else p + v

        jumps, kinks, curved = set(self.jumps), set(self.kinks), list(self.curved)
        timing = policy.timing
        if timing == "at once":
            def f(t):
                return target(t, value)
            if mode == "set":
                return Path(f)
            return Path(f, self.jumps, self.kinks, self.curved, self.constant_in_time)
        if timing == "step":
            s = policy.start

            def f(t):
                return np.where((t >= s)[:, None], target(t, value), prev(t))
            jumps.add(s)
            return Path(f, frozenset(jumps), frozenset(kinks), tuple(curved), False)
        if timing == "ramp":
            s, e = policy.start, policy.end

            def f(t):
                w = np.clip((t - s) / (e - s), 0.0, 1.0)[:, None]
                p = prev(t)
                return p + (target(t, value) - p) * w
            kinks.update((s, e))
            if not self.constant_in_time and mode != "add":
                curved.append((s, e))
            return Path(f, frozenset(jumps), frozenset(kinks), tuple(curved), False)
        # a table of values from its first time on
        times = np.array([t for t, _ in value], dtype=float)
        vals = np.array([v for _, v in value], dtype=float)
        linear = policy.interpolation == "linear"

        def f(t):
            if linear:
                tv = np.interp(t, times, vals)
            else:
                tv = vals[np.clip(np.searchsorted(times, t, side="right") - 1, 0, None)]
            return np.where((t >= times[0])[:, None], target(t, tv[:, None]), prev(t))
        jumps.add(float(times[0]))
        (kinks if linear else jumps).update(float(x) for x in times)
        if linear and not self.constant_in_time and mode == "scale":
            curved.append((float(times[0]), float(times[-1])))
        return Path(f, frozenset(jumps), frozenset(kinks), tuple(curved), False)


def resolve_constant(model: Model, name: str, where: str) -> str:
    """Canonical key of constant ``name``; clear errors for unknown names and non-constants."""
    try:
        key = model.resolve(name)
    except UnknownNameError:
        constants = list(model.constants)
        raise UnknownNameError(f"{where}: model {model.name!r} has no constant {name!r}."
                               f"{close_matches(name, constants)}") from None
    var = model.variables[key]
    if var.kind != "constant" or var.internal:
        raise ConfigError(f"{where}: {var.name!r} is a {var.kind} of model {model.name!r}, not "
                          "a constant; policies and distributions can change constants only.")
    return key


def check_dates(scenario: Scenario, t0: float, t1: float, units: str = "") -> None:
    """Raise :class:`ConfigError` when a policy names a date outside ``[t0, t1]``."""
    for p in scenario.policies:
        for d in p.dates:
            if not t0 - 1e-9 <= d <= t1 + 1e-9:
                u = f" {units}" if units else ""
                raise ConfigError(
                    f"policy {p.name!r} of scenario {scenario.name!r} names time {d:g}{u}, "
                    f"outside the horizon {t0:g}-{t1:g}{u}; move the date or lengthen the "
                    "horizon.")


def scenario_paths(model: Model, scenario: Scenario, keys: Sequence[str],
                   samples: Mapping[str, np.ndarray]) -> dict[str, Path]:
    """A :class:`Path` for each constant key in ``keys`` under ``scenario``.

    ``samples`` maps keys to sampled values (arrays of n_samples); other constants start
    from their model default.
    """
    paths: dict[str, Path] = {}
    for key in keys:
        base = samples[key] if key in samples else model.variables[key].value
        paths[key] = Path.constant(base)
    for policy in scenario.policies:
        for name, value in policy.changes:
            key = resolve_constant(model, name, f"policy {policy.name!r}")
            paths[key] = paths[key].apply(policy, value)
    return paths


@dataclass
class Block:
    """Runs of one scenario in a ``simulate`` call: its paths and the sample indices."""

    scenario: int
    paths: Mapping[str, Path]
    index: np.ndarray
    n_samples: int = field(default=1)


def _take(values: np.ndarray, block: Block) -> np.ndarray:
    """Columns of ``values`` (shape (m, 1) or (m, n_samples)) for the block's samples."""
    if values.shape[1] == 1:
        return np.broadcast_to(values, (values.shape[0], len(block.index)))
    return values[:, block.index]


def build_params(blocks: Sequence[Block], t0: float, t1: float) -> dict[str, object]:
    """``simulate`` parameters for the runs of ``blocks`` placed side by side."""
    keys: dict[str, None] = {}
    for b in blocks:
        keys.update(dict.fromkeys(b.paths))
    n_total = sum(len(b.index) for b in blocks)
    span = t1 - t0
    params: dict[str, object] = {}
    for key in keys:
        paths = [b.paths[key] for b in blocks]
        if all(p.constant_in_time for p in paths):
            t = np.array([t0])
            row = np.concatenate([_take(p(t), b)[0] for p, b in zip(paths, blocks, strict=True)])
            params[key] = float(row[0]) if n_total == 1 else row
            continue
        jumps = {j for p in paths for j in p.jumps if t0 < j <= t1}
        kinks = {k for p in paths for k in p.kinks if t0 < k < t1}
        curved = [c for p in paths for c in p.curved]
        linear = bool(kinks or curved)
        knots = {t0, *jumps}
        if linear:
            delta = 1e-9 * span
            knots.update(kinks)
            knots.update(j - delta for j in jumps)
            knots.add(t1)
            for a, b in curved:
                knots.update(np.linspace(max(a, t0), min(b, t1), _DENSE + 1)[1:-1].tolist())
        times = np.array(sorted(k for k in knots if t0 <= k <= t1))
        values = np.concatenate([_take(p(times), b) for p, b in zip(paths, blocks, strict=True)],
                                axis=1)
        if n_total == 1:
            values = values[:, 0]
        params[key] = TimeSeries(times, np.ascontiguousarray(values),
                                 "linear" if linear else "step")
    return params
