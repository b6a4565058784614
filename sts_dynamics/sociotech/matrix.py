"""``variance_matrix()``: where each key variance originates, is detected and is controlled.

The variance matrix of sociotechnical-systems analysis (the assessment's steps 4 and 5: key
variances, and the control of each) computed from the model: every variance is injected as a
pulse and traced against the undisturbed baseline.  The baseline and all variances run as ONE
vectorized ensemble (run 0 is the baseline, run i the i-th variance): the runs differ only in
the values of the injection constants.  See docs/sociotech.md for every definition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..compile import TimeSeries
from ..errors import ConfigError, SimulationError, UnknownNameError, close_matches
from ..experiments.core import parse_horizon
from ..experiments.kpis import KPI, kpi_values, resolve_kpis
from ..model import Model
from ..simulate import DEFAULT_ATOL, DEFAULT_RTOL, simulate
from .layers import adjacent_layers, control_by, near_origin
from .variances import Variance, resolve_variances, timing

__all__ = ["variance_matrix", "VarianceMatrix", "VarianceTrace", "output_grid"]

#: A variable "responds" to a variance when its normalized deviation passes this.
_RESPONDS = 1e-3


@dataclass(frozen=True)
class VarianceTrace:
    """One row of the variance matrix: how one variance travels through the system.

    Attributes
    ----------
    name, origin : str
        The variance and its layer of origin.
    inject : str
        Its injection constant; ``magnitude`` is added to it from ``start`` for ``duration``
        (0 for a step).
    detected_by, detection_layer : str
        The detection variable with the largest early normalized response, and its layer.
    detected_at : float
        First time its response leaves the tolerance band (NaN if it never does).
    detection : Mapping[str, float]
        Peak early normalized response of every detection variable.
    response : str
        The variable whose return to the baseline defines "absorbed".
    peak_response : float
        Its largest normalized deviation from the baseline.
    loop, loop_name : str or None
        The balancing loop that absorbs the variance: the one whose share of loop dominance
        grows most over the baseline's while the system responds.
    loop_layers : tuple of str
    loop_gain : float
        That growth: mean |relative loop score| in the variance run minus the baseline's.
    control_by : str
        ``"technical"``, ``"human"``, ``"technical and human"``, ``"external"`` or ``"none"``.
    absorbed : bool
        The response returned within the tolerance of the baseline and stayed there.
    time_to_absorb : float
        From ``start`` until then (NaN when not absorbed within the horizon).
    damage : Mapping[str, float]
        KPI of the variance run minus the baseline's, for each KPI.
    gap : bool
        Joint-optimization gap: no loop of the layer of origin or an adjacent layer controls
        the variance.
    gap_reason : str
    """

    name: str
    origin: str
    inject: str
    magnitude: float
    start: float
    duration: float
    detected_by: str
    detection_layer: str
    detected_at: float
    detection: Mapping[str, float]
    response: str
    peak_response: float
    loop: str | None
    loop_name: str | None
    loop_layers: tuple[str, ...]
    loop_gain: float
    control_by: str
    absorbed: bool
    time_to_absorb: float
    damage: Mapping[str, float]
    gap: bool
    gap_reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detection", MappingProxyType(dict(self.detection)))
        object.__setattr__(self, "damage", MappingProxyType(dict(self.damage)))

    @property
    def loop_label(self) -> str:
        if self.loop is None:
            return "none"
        return f"{self.loop} {self.loop_name}" if self.loop_name else self.loop


@dataclass(frozen=True, eq=False)
class VarianceMatrix:
    """The result of :func:`variance_matrix`.

    Attributes
    ----------
    model : Model
    traces : tuple of VarianceTrace
        One per variance, in the order given.
    kpis : tuple of KPI
        The KPIs of the damage columns.
    baseline_kpis : Mapping[str, float]
        Their baseline values.
    t : ndarray
        Output times.
    responses : ndarray, shape (n_time, n_variances)
        Normalized deviation of each variance's response variable from the baseline.
    tolerance : float
        The band of "absorbed" (0.05: within 5 % of the baseline's scale).
    analysis : LoopAnalysis or None
        The loop analysis of the ensemble (column 0 the baseline).
    notes : tuple of str
    """

    model: Model
    traces: tuple[VarianceTrace, ...]
    kpis: tuple[KPI, ...]
    baseline_kpis: Mapping[str, float]
    t: np.ndarray
    responses: np.ndarray
    tolerance: float = 0.05
    analysis: Any = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.t.setflags(write=False)
        self.responses.setflags(write=False)
        object.__setattr__(self, "baseline_kpis", MappingProxyType(dict(self.baseline_kpis)))

    def __len__(self) -> int:
        return len(self.traces)

    def __iter__(self) -> Iterator[VarianceTrace]:
        return iter(self.traces)

    def __getitem__(self, name: str | int) -> VarianceTrace:
        if isinstance(name, int):
            return self.traces[name]
        for tr in self.traces:
            if tr.name == name:
                return tr
        names = [tr.name for tr in self.traces]
        raise UnknownNameError(f"the variance matrix has no variance {name!r}."
                               f"{close_matches(str(name), names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(tr.name for tr in self.traces)

    def gaps(self) -> list[VarianceTrace]:
        """The variances flagged as joint-optimization gaps."""
        return [tr for tr in self.traces if tr.gap]

    def to_frame(self) -> pd.DataFrame:
        """One row per variance: origin, detection, control, absorption, damage, gap.

        Damage columns are named ``"change in <kpi>"`` (variance run minus baseline).
        """
        rows = []
        for tr in self.traces:
            row = {
                "variance": tr.name, "origin": tr.origin, "inject": tr.inject,
                "detected_by": tr.detected_by, "detection_layer": tr.detection_layer,
                "detected_at": tr.detected_at, "controlled_by_loop": tr.loop_label,
                "loop_layers": ", ".join(tr.loop_layers), "control_by": tr.control_by,
                "absorbed": tr.absorbed, "time_to_absorb": tr.time_to_absorb,
                "gap": tr.gap,
            }
            for k in self.kpis:
                row[f"change in {k.name}"] = tr.damage[k.name]
            rows.append(row)
        return pd.DataFrame(rows).set_index("variance")

    def messages(self, limit: int = 6) -> list[str]:
        """Plain-language findings, one per variance (gaps first), for a briefing."""
        unit = self.model.control.time_units.lower() or "time units"
        unit = unit if unit.endswith("s") else unit + "s"
        out = []
        for tr in sorted(self.traces, key=lambda r: not r.gap):
            when = (f"absorbed within {tr.time_to_absorb:.3g} {unit}" if tr.absorbed else
                    "not absorbed within the horizon")
            ctl = ("no balancing loop takes it up" if tr.loop is None else
                   f"{tr.loop_label} ({', '.join(tr.loop_layers)}; {tr.control_by} control) "
                   "takes it up")
            dmg = _main_damage(tr, self.kpis)
            msg = (f"{tr.name.capitalize()} ({tr.origin}) shows first in {tr.detected_by}; "
                   f"{ctl}; {when}{dmg}.")
            if tr.gap:
                msg = f"Joint-optimization gap: {msg[0].lower()}{msg[1:]} {tr.gap_reason}"
            out.append(msg)
        return out[:limit]

    def __repr__(self) -> str:
        return (f"<VarianceMatrix of {self.model.name!r}: {len(self.traces)} variances, "
                f"{len(self.gaps())} joint-optimization gap(s)>")


def _main_damage(tr: VarianceTrace, kpis: tuple[KPI, ...]) -> str:
    for k in kpis:
        d = tr.damage[k.name]
        if np.isfinite(d) and abs(d) > 0:
            units = f" {k.units}" if k.units else ""
            return f"; {k.name} {'+' if d > 0 else ''}{d:.3g}{units}"
    return ""


def output_grid(model: Model, t0: float, t1: float) -> np.ndarray:
    """SAVEPER spacing, coarsened to at most 1000 intervals; ``t1`` always included."""
    step = model.control.saveper or (t1 - t0) / 100
    n_int = math.ceil((t1 - t0) / step - 1e-9)
    step *= max(1, math.ceil(n_int / 1000))
    n = int(math.floor((t1 - t0) / step + 1e-9))
    t = t0 + step * np.arange(n + 1)
    if t[-1] < t1 - 1e-9 * max(1.0, abs(t1)):
        t = np.append(t, t1)
    return t


def _injections(model: Model, vs: list[Variance], t0: float, t1: float
                ) -> dict[str, np.ndarray | TimeSeries]:
    """Parameters of the ensemble: run 0 the baseline, run i + 1 variance i."""
    n = len(vs) + 1
    consts = model.constants
    by_const: dict[str, list[tuple[int, Variance]]] = {}
    for i, v in enumerate(vs):
        by_const.setdefault(v.inject, []).append((i + 1, v))
    out: dict[str, np.ndarray | TimeSeries] = {}
    for name, items in by_const.items():
        default = float(consts[name])
        times = {t0}
        for _, v in items:
            if v.self_timed:
                times.add(float(v.start))
                if v.duration is not None:
                    times.add(float(v.start) + float(v.duration))
        grid = np.array(sorted(t for t in times if t0 <= t <= t1 + 1e-9) or [t0])
        values = np.full((len(grid), n), default)
        for run, v in items:
            if v.self_timed:
                end = math.inf if v.duration is None else float(v.start) + float(v.duration)
                on = (grid >= float(v.start) - 1e-12) & (grid < end - 1e-12)
                values[on, run] += v.magnitude
            else:
                values[:, run] += v.magnitude
        out[name] = values[0] if len(grid) == 1 else TimeSeries(grid, values, "step")
    return out


def _normalized(x: np.ndarray, base: np.ndarray) -> np.ndarray:
    """|x - base| over the larger of the two trajectories' largest absolute value."""
    scale = max(float(np.nanmax(np.abs(base))), float(np.nanmax(np.abs(x))), 1e-12)
    return np.abs(x - base) / scale


def variance_matrix(model: Model | str, variances: Any = None, *, horizon: Any = None,
                    kpis: Any = None, tolerance: float = 0.05, early: float | None = None,
                    params: Mapping[str, float] | None = None, loops: bool = True,
                    min_loop_length: int = 3, method: str = "RK45",
                    rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> VarianceMatrix:
    """Trace each key variance: origin, detection, the loop that controls it, damage, gaps.

    Every variance is injected (its ``magnitude`` added to its injection constant from
    ``start`` for ``duration``) and compared with the undisturbed baseline; the baseline and
    all variances run as one vectorized ensemble.

    Parameters
    ----------
    model : Model or str
    variances : sequence, optional
        Names of declared variances (``[[variance]]`` of the model's meta.toml),
        :class:`~sts_dynamics.sociotech.Variance` objects or mappings with the keys of a
        ``[[variance]]`` table (``name``, ``inject``, ``magnitude``, ``start``,
        ``duration``, ``layer``, ``detection``, ``response``); default: every declared one.
    horizon : float or str, optional
        Run length from INITIAL TIME (default FINAL TIME), as in
        :func:`~sts_dynamics.run_experiment`.
    kpis : sequence, optional
        KPIs of the damage columns (default: the model's ``[kpis]``).
    tolerance : float
        "Absorbed": the response variable is back within ``tolerance`` (5 %) of the baseline
        for good.  Deviations are normalized by the larger of the largest absolute values of
        the baseline and the disturbed trajectory.
    early : float, optional
        Length of the early window after ``start`` (at least the variance's duration) in which
        detection is judged; default 5 % of the horizon.
    params : mapping, optional
        Constants to set in every run (for example a service context's values).
    loops : bool
        Identify the absorbing loops (Loops That Matter on the ensemble).
    min_loop_length : int
        Loops shorter than this (a stock and its own flow: first-order adjustment, not a
        control arrangement) are not candidates.
    method, rtol, atol
        Passed to :func:`~sts_dynamics.simulate`.

    Returns
    -------
    VarianceMatrix

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> vm = sd.variance_matrix(sd.load("sts_core"))      # doctest: +SKIP
    >>> vm.to_frame()[["origin", "detected_by", "controlled_by_loop", "gap"]]  # doctest: +SKIP
    """
    if isinstance(model, str):
        from ..io import load

        model = load(model)
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model from sts_dynamics.load() or a model name, got "
                        f"{type(model).__name__}.")
    if not (isinstance(tolerance, int | float) and 0 < tolerance < 1):
        raise ConfigError(f"`tolerance` must be a fraction in (0, 1), got {tolerance!r}.")
    if not isinstance(min_loop_length, int) or min_loop_length < 1:
        raise ConfigError(f"`min_loop_length` must be a positive integer, got "
                          f"{min_loop_length!r}.")
    vs = resolve_variances(model, variances)
    t0, t1 = parse_horizon(model, horizon)
    if early is None:
        early = 0.05 * (t1 - t0)
    elif not (isinstance(early, int | float) and early > 0):
        raise ConfigError(f"`early` must be a positive length of time, got {early!r}.")
    resolved = resolve_kpis(model, kpis)
    default_detection = tuple(dict.fromkeys(model.variables[k].name for _, k in resolved))
    params_all: dict[str, Any] = dict(params or {})
    inj = _injections(model, vs, t0, t1)
    clash = sorted(set(params_all) & set(inj))
    if clash:
        raise ConfigError(f"`params` sets the injection constant(s) {', '.join(map(repr, clash))}"
                          "; leave them to the variances.")
    params_all.update(inj)
    t_eval = output_grid(model, t0, t1)
    try:
        with np.errstate(all="ignore"):
            sim = simulate(model, t_span=(t0, t1), t_eval=t_eval, params=params_all,
                           method=method, rtol=rtol, atol=atol)
    except SimulationError as exc:
        runs = [vs[r - 1].name for r in getattr(exc, "runs", ()) if 0 < r <= len(vs)]
        which = f" (variance {', '.join(map(repr, runs))})" if runs else ""
        raise SimulationError(f"variance matrix: the ensemble failed{which}: {exc}",
                              time=exc.time, variable=exc.variable, runs=exc.runs) from None
    notes: list[str] = []
    analysis = _loop_analysis(sim, notes) if loops else None
    t = sim.t
    unit = model.control.time_units
    kp = {k.name: kpi_values(k, t, sim.values[key], unit) for k, key in resolved}
    baseline_kpis = {name: float(v[0]) for name, v in kp.items()}
    deviations: dict[str, np.ndarray] = {}
    traces, responses = [], []
    for i, v in enumerate(vs):
        run = i + 1
        detection = v.detection or default_detection
        dev = {d: _normalized(_column(sim, d, run), _column(sim, d, 0)) for d in detection}
        start, dur = timing(model, v, t0)
        if start is None:                       # onset: the first visible response
            moving = np.zeros(len(t), dtype=bool)
            for r in dev.values():
                moving |= r > 1e-9
            start = float(t[np.argmax(moving)]) if moving.any() else t0
        if start >= t1 - 1e-9:
            raise ConfigError(f"variance {v.name!r} starts at {start:g}, at or after the end of "
                              f"the horizon ({t1:g} {unit}); lengthen `horizon` or move its "
                              "start.")
        w_end = start + max(dur, early)
        early_w = (t >= start - 1e-9) & (t <= w_end + 1e-9)
        if not early_w.any():
            early_w = t >= start - 1e-9
        peaks = {d: float(np.nanmax(r[early_w])) if early_w.any() else 0.0
                 for d, r in dev.items()}
        detected_by = max(peaks, key=lambda d: (peaks[d], -detection.index(d)))
        r_det = dev[detected_by]
        over_det = np.flatnonzero((r_det > tolerance) & (t >= start - 1e-9))
        detected_at = float(t[over_det[0]]) if over_det.size else math.nan
        resp_name = _response(model, v, resolved) or detected_by
        r = _normalized(_column(sim, resp_name, run), _column(sim, resp_name, 0))
        responses.append(r)
        absorbed, absorbed_at = _absorption(t, r, start, start + dur, tolerance)
        time_to_absorb = absorbed_at - start if absorbed else math.nan
        origin = v.layer or model[v.inject].layer
        loop = None
        gain = math.nan
        if analysis is not None:
            win_end = absorbed_at if absorbed else t1
            win = (t >= start - 1e-9) & (t <= max(win_end, w_end) + 1e-9)
            loop, gain = _absorbing_loop(analysis, sim, run, win, deviations,
                                         min_loop_length)
        layers = loop.layers if loop is not None else ()
        ctl = control_by(layers) if loop is not None else "none"
        if not loops:
            gap, reason = False, "loops were not analysed"
        elif loop is None:
            gap, reason = True, ("No balancing loop gains dominance while the system "
                                 "responds: the variance is not controlled by feedback.")
        elif not near_origin(origin, layers):
            near = " or ".join(sorted(adjacent_layers(origin)))
            gap, reason = True, (f"It arises in the {origin} layer but is controlled only "
                                 f"through the {', '.join(layers)} layer(s), with no {near} "
                                 "loop near its origin.")
        else:
            gap, reason = False, ""
        traces.append(VarianceTrace(
            name=v.name, origin=origin, inject=v.inject, magnitude=v.magnitude,
            start=float(start), duration=float(dur), detected_by=detected_by,
            detection_layer=model[detected_by].layer, detected_at=detected_at,
            detection=peaks, response=resp_name, peak_response=float(np.nanmax(r)),
            loop=None if loop is None else loop.id,
            loop_name=None if loop is None else loop.name, loop_layers=tuple(layers),
            loop_gain=float(gain), control_by=ctl, absorbed=absorbed,
            time_to_absorb=float(time_to_absorb),
            damage={name: float(vals[run] - vals[0]) for name, vals in kp.items()},
            gap=gap, gap_reason=reason))
    return VarianceMatrix(model=model, traces=tuple(traces),
                          kpis=tuple(k for k, _ in resolved), baseline_kpis=baseline_kpis,
                          t=np.array(t, dtype=float),
                          responses=np.column_stack(responses) if responses else
                          np.empty((len(t), 0)),
                          tolerance=float(tolerance), analysis=analysis, notes=tuple(notes))


def _column(sim: Any, name: str, run: int) -> np.ndarray:
    x = np.asarray(sim[name], dtype=float)
    return x[:, run] if x.ndim == 2 else x


def _response(model: Model, v: Variance, resolved: list) -> str | None:
    if v.response is None:
        return None
    for k, key in resolved:
        if k.name == v.response:
            return model.variables[key].name
    kpis = (model.metadata or {}).get("kpis") or {}
    if v.response in kpis:
        spec = kpis[v.response]
        return model[spec if isinstance(spec, str) else spec["variable"]].name
    return v.response


def _absorption(t: np.ndarray, r: np.ndarray, start: float, end: float, tol: float
                ) -> tuple[bool, float]:
    """(absorbed?, time from which the response stays within ``tol`` of the baseline)."""
    after = t >= start - 1e-9
    over = np.flatnonzero((r > tol) & after)
    if not over.size:
        return True, max(end, start)
    last = over[-1]
    if last >= len(t) - 1:
        return False, math.nan
    return True, max(float(t[last + 1]), end)


def _loop_analysis(sim: Any, notes: list[str]) -> Any:
    from ..loops import LoopWarning, loop_dominance

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LoopWarning)
        dom = loop_dominance(sim)
    notes += [str(w.message) for w in caught if issubclass(w.category, LoopWarning)]
    return dom


def _absorbing_loop(analysis: Any, sim: Any, run: int, win: np.ndarray, cache: dict,
                    min_length: int) -> tuple[Any, float]:
    """The balancing loop whose mean |relative score| grows most over the baseline's in
    ``win``, among loops through a variable that responds to the variance."""
    rel = np.asarray(analysis.relative_scores)
    if rel.ndim != 3 or not win.any():
        return None, math.nan
    # an inactive partition (NaN: equilibrium) holds no dominance
    share = np.nan_to_num(np.abs(rel[win, :, run])).mean(axis=0)
    gain = share - np.nan_to_num(np.abs(rel[win, :, 0])).mean(axis=0)
    model = sim.model
    candidates = [j for j, lp in enumerate(analysis.loops)
                  if lp.polarity == "B" and lp.length >= min_length and
                  any(_responds(sim, key, run, win, cache) for key in lp.keys
                      if key in sim.values and not model.variables[key].internal)]
    if not candidates:
        return None, math.nan
    j = max(candidates, key=lambda c: gain[c])
    if gain[j] > 1e-9:
        return analysis.loops[j], float(gain[j])
    # no loop gains (a partition whose only loop is always dominant): the balancing loop
    # that dominates its partition while the system responds
    j = max(candidates, key=lambda c: share[c])
    if share[j] >= analysis.threshold:
        return analysis.loops[j], float(gain[j])
    return None, math.nan


def _responds(sim: Any, key: str, run: int, win: np.ndarray, cache: dict) -> bool:
    hit = cache.get((key, run))
    if hit is None:
        x = np.asarray(sim.values[key], dtype=float)
        if x.ndim != 2:
            hit = False
        else:
            hit = bool(np.nanmax(_normalized(x[:, run], x[:, 0])[win]) > _RESPONDS)
        cache[(key, run)] = hit
    return hit
