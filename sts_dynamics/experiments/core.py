"""``run_experiment()`` and ``monte_carlo()``: scenarios x parameter samples, vectorized."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..model import Model
from ..simulate import DEFAULT_ATOL, DEFAULT_RTOL, FIXED_STEP_METHODS, METHODS
from .distributions import Uncertainty, as_uncertainty, check_sampling
from .kpis import per_year, resolve_kpis
from .paths import check_dates, resolve_constant, scenario_paths
from .policy import Policy, Scenario
from .result import ExperimentResult
from .runner import Settings, run_ensemble

__all__ = ["run_experiment", "monte_carlo", "parse_horizon", "prepare"]

#: Default number of Monte Carlo samples.
DEFAULT_SAMPLES = 500
#: Trajectories are kept by default only while they stay below this size (bytes).
_RECORD_BYTES = 200e6
_HORIZON = re.compile(r"^\s*([0-9.eE+-]+)\s*([A-Za-z]+)?\s*$")


def parse_horizon(model: Model, horizon: Any) -> tuple[float, float]:
    """``(t0, t1)`` from a length in model time units or a string such as ``"3 years"``."""
    t0 = model.control.initial_time
    if horizon is None:
        return t0, model.control.final_time
    if isinstance(horizon, str):
        m = _HORIZON.match(horizon)
        if not m:
            raise ConfigError(f"`horizon` must be a number of model time units or a string such "
                              f"as '3 years', got {horizon!r}.")
        value, unit = float(m.group(1)), m.group(2)
        if unit:
            here = per_year(model.control.time_units)
            there = per_year(unit)
            if here is None or there is None:
                raise ConfigError(
                    f"`horizon` {horizon!r}: cannot convert {unit!r} to the model's time unit "
                    f"{model.control.time_units!r}; give a number of "
                    f"{model.control.time_units or 'model time units'}.")
            value = value * here / there
        horizon = value
    try:
        length = float(horizon)
    except (TypeError, ValueError):
        raise ConfigError(f"`horizon` must be a number, got {horizon!r}.") from None
    if not (math.isfinite(length) and length > 0):
        raise ConfigError(f"`horizon` must be a positive length of time, got {horizon!r}.")
    return t0, t0 + length


def _output_grid(model: Model, t0: float, t1: float, step: float | None, method: str
                 ) -> np.ndarray:
    ctl = model.control
    if step is None:
        base = ctl.saveper if method not in FIXED_STEP_METHODS else \
            max(ctl.saveper, ctl.time_step)
        n_int = math.ceil((t1 - t0) / base - 1e-9)
        step = base * max(1, math.ceil(n_int / 1000))
    elif not step > 0:
        raise ConfigError(f"`output_step` must be > 0, got {step!r}.")
    n = int(math.floor((t1 - t0) / step + 1e-9))
    t = t0 + step * np.arange(n + 1)
    if t[-1] < t1 - 1e-9 * max(1.0, abs(t1)):
        t = np.append(t, t1)
    return t


def _scenarios(scenarios: Any, baseline: str | None) -> tuple[list[Scenario], str]:
    if scenarios is None:
        items: list[Any] = []
    elif isinstance(scenarios, Scenario | Policy):
        items = [scenarios]
    else:
        items = list(scenarios)
    out: list[Scenario] = []
    for item in items:
        if isinstance(item, Policy):
            item = Scenario(item.name, (item,), item.description)
        if not isinstance(item, Scenario):
            raise ConfigError(f"`scenarios` must hold Scenario or Policy objects, got {item!r}.")
        out.append(item)
    names = [s.name for s in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"scenario names must be unique; repeated: "
                          f"{', '.join(map(repr, sorted(dup)))}.")
    if baseline is None:
        plain = [s.name for s in out if s.is_baseline]
        if "baseline" in names:
            baseline = "baseline"
        elif plain:
            baseline = plain[0]
        else:
            out.insert(0, Scenario("baseline", (), "the model as it is"))
            baseline = "baseline"
    elif baseline not in names:
        raise ConfigError(f"`baseline` {baseline!r} is not one of the scenarios "
                          f"{', '.join(map(repr, names))}.")
    return out, baseline


def prepare(model: Model, scenarios: Any, uncertainty: Any, horizon: Any, baseline: Any
            ) -> tuple[list[Scenario], str, Uncertainty | None, tuple[float, float], dict]:
    """Validate the inputs of an experiment; return scenarios, baseline, uncertainty, span and
    the constant keys of the uncertain names."""
    if isinstance(model, str):
        from ..io import load

        model = load(model)
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a Model from sts_dynamics.load() or a model name, got "
                        f"{type(model).__name__}.")
    scen, base = _scenarios(scenarios, baseline)
    unc = as_uncertainty(uncertainty)
    t0, t1 = parse_horizon(model, horizon)
    keys: dict[str, str] = {}
    if unc is not None:
        for name in unc.names:
            keys[name] = resolve_constant(model, name, "uncertainty")
    for s in scen:
        for p in s.policies:
            for c in p.constants:
                resolve_constant(model, c, f"policy {p.name!r} of scenario {s.name!r}")
        check_dates(s, t0, t1, model.control.time_units)
    return scen, base, unc, (t0, t1), keys


def run_experiment(model: Model | str, scenarios: Any = None, *, horizon: Any = None,
                   kpis: Any = None, uncertainty: Any = None, n_samples: int | None = None,
                   seed: int | None = None, baseline: str | None = None, method: str = "RK45",
                   rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                   max_step: float | None = None, dt: float | None = None,
                   output_step: float | None = None, record: Sequence[str] | None = None,
                   executor: Any = None, chunk_size: int | None = None, progress: bool = False,
                   percentiles: tuple[float, float] = (5.0, 95.0), sampling: str = "random"
                   ) -> ExperimentResult:
    """Run scenarios (a baseline plus policies) over parameter samples and compute KPIs.

    Every scenario runs with the same parameter samples (common random numbers), so that
    differences between scenarios are paired run by run.  All runs of all scenarios go
    through one vectorized :func:`~sts_dynamics.simulate` call per chunk.

    Parameters
    ----------
    model : Model or str
        A model, or a bundled model name / model file.
    scenarios : Scenario, Policy or sequence of them, optional
        A bare policy becomes a scenario of its own.  A baseline scenario (no policies,
        named ``"baseline"``) is added unless one is given.
    horizon : float or str, optional
        Length of the run from INITIAL TIME, in model time units or as ``"3 years"``;
        defaults to FINAL TIME.  Policy dates must fall inside it.
    kpis : sequence, optional
        KPI names from the model's meta.toml ``[kpis]``, variable names or
        :class:`~sts_dynamics.experiments.KPI` objects; default: the model's KPIs, else the
        final value of every stock.
    uncertainty : mapping or Uncertainty or DataFrame, optional
        Distributions of constants (``{"name": Uniform(1, 2)}``) or posterior samples.
    n_samples : int, optional
        Number of parameter samples (default 500 with uncertainty, 1 without).
    seed : int, optional
        Seed of the sampling; ``None`` draws one (stored in the result).
    sampling : {"random", "lhs", "sobol"}
        How the parameter sets are drawn (see
        :meth:`~sts_dynamics.experiments.Uncertainty.sample`): independent random draws
        (the default), a Latin hypercube (each marginal stratified into ``n_samples``
        equally likely intervals, one sample in each: means and percentiles converge faster
        for the same number of runs) or a scrambled Sobol sequence (``n_samples`` must be a
        power of 2).  Stored in ``result.info["sampling"]``.
    baseline : str, optional
        Name of the reference scenario of :meth:`ExperimentResult.kpis`.
    method, rtol, atol, max_step, dt
        Passed to :func:`~sts_dynamics.simulate`.
    output_step : float, optional
        Spacing of the output grid (default SAVEPER, coarsened to at most 1000 intervals).
    record : sequence of str, optional
        Variables whose trajectories to keep (default: the KPI variables, as long as they
        fit in about 200 MB; pass ``[]`` to keep none).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Runs chunks in parallel; results are identical to a run without it.
    chunk_size : int, optional
        Runs per ``simulate`` call (default: as many as about 500 MB of outputs allow, in
        chunks of equal size, a multiple of the executor's workers).  Adaptive solvers share
        their steps within a chunk, so other chunkings agree to the solver's tolerance;
        fixed-step methods give identical numbers.
    progress : bool
        Show a tqdm progress bar (after one second).
    percentiles : (float, float)
        Default band of the KPI table.

    Returns
    -------
    ExperimentResult

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> from sts_dynamics.experiments import Uniform
    >>> m = sd.load("tests/test-models/samples/teacup/teacup.mdl")  # doctest: +SKIP
    >>> res = sd.run_experiment(m, [sd.Policy("warm room", {"Room Temperature": 80})],
    ...                         uncertainty={"Characteristic Time": Uniform(5, 15)},
    ...                         n_samples=100, seed=1)  # doctest: +SKIP
    >>> res.kpis()[["scenario", "kpi", "median", "change"]]  # doctest: +SKIP
    >>> lhs = sd.run_experiment(m, uncertainty={"Characteristic Time": Uniform(5, 15)},
    ...                         n_samples=64, seed=1, sampling="lhs")  # doctest: +SKIP
    >>> lhs.info["sampling"]  # doctest: +SKIP
    'lhs'
    """
    if isinstance(model, str):
        from ..io import load

        model = load(model)
    if method not in METHODS and str(method).lower() not in {m.lower() for m in METHODS}:
        raise ConfigError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}.")
    scen, base, unc, (t0, t1), keys = prepare(model, scenarios, uncertainty, horizon, baseline)
    resolved = resolve_kpis(model, kpis)
    if unc is None or len(unc) == 0:
        n = 1
    else:
        n = DEFAULT_SAMPLES if n_samples is None else n_samples
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"`n_samples` must be a positive integer, got {n_samples!r}.")
    n = int(n)
    check_sampling(sampling, n)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**32))
    rng = np.random.default_rng(seed)
    drawn = unc.sample(n, rng, method=sampling) if unc is not None else {}
    samples = {keys[name]: vals for name, vals in drawn.items()}
    t_eval = _output_grid(model, t0, t1, output_step, method)
    kpi_keys = [key for _, key in resolved]
    if record is None:
        keep = list(dict.fromkeys(kpi_keys))
        size = 8 * len(keep) * len(scen) * len(t_eval) * n
        record_keys = keep if size <= _RECORD_BYTES else []
    else:
        record_keys = [model.resolve(r) for r in record]
    touched = dict.fromkeys(samples)
    for s in scen:
        for p in s.policies:
            touched.update(dict.fromkeys(resolve_constant(model, c, "policy")
                                         for c in p.constants))
    paths = [scenario_paths(model, s, list(touched), samples) for s in scen]
    solver = {"method": method, "rtol": rtol, "atol": atol, "max_step": max_step, "dt": dt}
    settings = Settings((t0, t1), t_eval, tuple(resolved), tuple(record_keys),
                        model.control.time_units, solver)
    out = run_ensemble(model, paths, n, settings, executor=executor, chunk_size=chunk_size,
                       progress=progress, desc="experiment")
    v = model.variables
    trajectories = ({v[k].name: out.record[j] for j, k in enumerate(record_keys)}
                    if out.record is not None else {})
    names = [s.name for s in scen]
    frame = pd.DataFrame({name: drawn[name] for name in drawn}) if drawn else \
        pd.DataFrame(index=range(n))
    info = {"method": method, "sampling": sampling, "horizon": [t0, t1],
            "time_units": model.control.time_units,
            "chunks": out.n_chunks, "seconds": round(out.seconds, 3),
            "uncertainty": unc.describe() if unc is not None else {}}
    return ExperimentResult(
        model=model, scenarios=tuple(scen), baseline=base,
        kpi_defs=tuple(k for k, _ in resolved), values=out.kpis, samples=frame, t=t_eval,
        trajectories=trajectories,
        failures=tuple((names[s], i, msg) for s, i, msg in out.failed),
        seed=seed, percentiles=tuple(percentiles), info=info)


def monte_carlo(model: Model | str, uncertainty: Any, *, scenarios: Any = None,
                n_samples: int = 1000, seed: int | None = None, sampling: str = "random",
                **kwargs: Any) -> ExperimentResult:
    """Monte Carlo over parameter distributions: :func:`run_experiment` with uncertainty.

    Parameters
    ----------
    model : Model or str
    uncertainty : mapping, Uncertainty or DataFrame
        Required: the distributions (or posterior samples) to draw from.
    scenarios : optional
        Default: the baseline only.
    n_samples : int
        Number of parameter sets (default 1000).
    seed : int, optional
    sampling : {"random", "lhs", "sobol"}
        Independent random draws, a Latin hypercube or a scrambled Sobol sequence
        (``n_samples`` a power of 2); see :func:`run_experiment`.
    **kwargs
        Further options of :func:`run_experiment`.

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> from sts_dynamics.experiments import Uniform
    >>> m = sd.load("tests/test-models/samples/teacup/teacup.mdl")  # doctest: +SKIP
    >>> mc = sd.monte_carlo(m, {"Characteristic Time": Uniform(5, 15)}, n_samples=200,
    ...                     seed=0)  # doctest: +SKIP
    >>> mc = sd.monte_carlo(m, {"Characteristic Time": Uniform(5, 15)}, n_samples=64,
    ...                     seed=0, sampling="sobol")  # doctest: +SKIP
    """
    unc = as_uncertainty(uncertainty)
    if unc is None or len(unc) == 0:
        raise ConfigError("monte_carlo needs `uncertainty`: distributions of at least one "
                          "constant, for example {'name': Uniform(low, high)}.")
    return run_experiment(model, scenarios, uncertainty=unc, n_samples=n_samples, seed=seed,
                          sampling=sampling, **kwargs)
