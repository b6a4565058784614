"""Run an ensemble (scenarios x parameter samples) in vectorized chunks.

The runs are ordered scenario-major (run ``s * n_samples + i`` is sample ``i`` under
scenario ``s``) and cut into contiguous chunks; each chunk is ONE call of
:func:`sts_dynamics.simulate` with array parameters, reduced on the spot to KPI values (and
the trajectories to keep), so that memory stays bounded.  Chunks run in this process or on
any :class:`concurrent.futures.Executor` (a Dask ``Client`` through ``get_executor()``).

A chunk whose solve raises :class:`~sts_dynamics.SimulationError` is split (first around
the runs the error names, else in halves) until the failing parameter sets are isolated;
the other runs are kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import pickle
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compile import TimeSeries
from ..errors import SimulationError
from ..model import Model
from ..simulate import simulate
from .kpis import KPI, kpi_values
from .paths import Block, Path, build_params

__all__ = ["Settings", "EnsembleOutput", "run_ensemble", "as_executor", "default_chunk_size"]

#: Rough ceiling on the memory of one chunk's outputs (``simulate`` evaluates every variable
#: on the output grid): about 2,000 runs of sts_core over 156 weeks.
_CHUNK_BYTES = 500e6


@dataclass(frozen=True, eq=False)
class Settings:
    """Everything a chunk needs besides its parameters (sent once per chunk)."""

    t_span: tuple[float, float]
    t_eval: np.ndarray
    kpis: tuple[tuple[KPI, str], ...]
    record: tuple[str, ...]
    time_units: str = ""
    solver: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ChunkOutput:
    kpis: np.ndarray            # (n_kpis, n_runs)
    record: np.ndarray | None   # (n_record, n_time, n_runs)
    failed: dict[int, str]      # run within the chunk -> message
    seconds: float = 0.0


@dataclass
class EnsembleOutput:
    """KPI values ``(n_scenarios, n_kpis, n_samples)``, trajectories ``(n_record, n_scenarios,
    n_time, n_samples)`` and failures ``[(scenario, sample, message)]``."""

    kpis: np.ndarray
    record: np.ndarray | None
    failed: list[tuple[int, int, str]]
    n_chunks: int
    seconds: float


# -- one chunk --------------------------------------------------------------------------------
def _subset(params: Mapping[str, Any], sel: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, TimeSeries):
            out[k] = v if v.values.ndim == 1 else TimeSeries(v.times, v.values[:, sel],
                                                             v.interpolation)
        elif isinstance(v, np.ndarray) and v.ndim == 1:
            out[k] = v[sel]
        else:
            out[k] = v
    return out


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def run_chunk(model: Model, settings: Settings, params: Mapping[str, Any], n: int
              ) -> ChunkOutput:
    """Simulate ``n`` runs with ``params`` and reduce them to KPIs (and kept trajectories)."""
    start = time.perf_counter()
    kp = np.full((len(settings.kpis), n), np.nan)
    rec = (np.full((len(settings.record), len(settings.t_eval), n), np.nan)
           if settings.record else None)
    failed: dict[int, str] = {}
    _solve(model, settings, dict(params), np.arange(n), kp, rec, failed)
    return ChunkOutput(kp, rec, failed, time.perf_counter() - start)


def _solve(model: Model, settings: Settings, params: dict, idx: np.ndarray, kp: np.ndarray,
           rec: np.ndarray | None, failed: dict[int, str]) -> None:
    try:
        # errstate: simulate() prepares static values (which may divide by zero for some
        # parameter sets) before it silences floating-point warnings itself
        with np.errstate(all="ignore"):
            sim = simulate(model, t_span=settings.t_span, t_eval=settings.t_eval,
                           params=params or None,
                           outputs=[key for _, key in settings.kpis] + list(settings.record),
                           **settings.solver)
    except SimulationError as exc:
        if len(idx) == 1:
            failed[int(idx[0])] = _first_line(exc)
            return
        named = [r for r in exc.runs if 0 <= r < len(idx)]
        if 0 < len(named) < len(idx):
            bad = np.zeros(len(idx), dtype=bool)
            bad[named] = True
            parts = [np.flatnonzero(~bad), np.flatnonzero(bad)]
        else:
            half = len(idx) // 2
            parts = [np.arange(half), np.arange(half, len(idx))]
        for sel in parts:
            _solve(model, settings, _subset(params, sel), idx[sel], kp, rec, failed)
        return
    n = len(idx)
    t = sim.t
    for j, (kpi, key) in enumerate(settings.kpis):
        vals = np.broadcast_to(np.asarray(sim.values[key]).reshape(len(t), -1), (len(t), n))
        kp[j, idx] = kpi_values(kpi, t, vals, settings.time_units)
    if rec is not None:
        for j, key in enumerate(settings.record):
            vals = np.asarray(sim.values[key]).reshape(len(t), -1)
            rec[j][:, idx] = np.broadcast_to(vals, (len(t), n))
    for r in sim.failed_runs:
        failed[int(idx[r])] = (f"non-finite values before time {t[-1]:g} (the run diverged); "
                               "check the parameter set")
        kp[:, idx[r]] = np.nan


# -- pickling models for other processes ------------------------------------------------------
def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` for a worker (models and results pickle natively)."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


_MODELS: OrderedDict[str, Model] = OrderedDict()


def _remote_chunk(token: str, model_bytes: bytes, task: bytes) -> ChunkOutput:
    """Worker entry point: unpickle (and cache) the model, then run one chunk."""
    model = _MODELS.get(token)
    if model is None:
        model = pickle.loads(model_bytes)
        _MODELS[token] = model
        while len(_MODELS) > 4:
            _MODELS.popitem(last=False)
    settings, params, n = pickle.loads(task)
    return run_chunk(model, settings, params, n)


# -- executors --------------------------------------------------------------------------------
def as_executor(executor: Any) -> Any:
    """An object with ``submit``: an Executor, or a Dask Client's ``get_executor()``."""
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    if hasattr(executor, "get_executor"):  # dask.distributed.Client
        return executor.get_executor()
    if callable(getattr(executor, "submit", None)):
        return executor
    raise TypeError(f"`executor` must be a concurrent.futures.Executor or a Dask Client, got "
                    f"{type(executor).__name__}.")


def _workers(executor: Any) -> int:
    if executor is None:
        return 1
    n = getattr(executor, "_max_workers", None)
    if n:
        return int(n)
    client = getattr(executor, "_client", None)
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - a best guess only
            pass
    return os.cpu_count() or 1


def default_chunk_size(n_total: int, n_values: int, n_time: int, workers: int = 1) -> int:
    """Runs per ``simulate`` call: as many as memory allows (larger chunks spread the
    per-call overhead of the vectorized right-hand side), in a multiple of ``workers``
    chunks of equal size."""
    cap = max(16, int(_CHUNK_BYTES / (8 * max(n_values, 1) * max(n_time, 1))))
    n_chunks = max(1, math.ceil(n_total / cap))
    if workers > 1 and n_total >= 2 * workers:
        n_chunks = math.ceil(n_chunks / workers) * workers
    return max(1, math.ceil(n_total / n_chunks))


# -- the ensemble -----------------------------------------------------------------------------
def _blocks(paths: Sequence[Mapping[str, Path]], n: int, a: int, b: int) -> list[Block]:
    out = []
    for s in range(a // n, (b - 1) // n + 1):
        lo, hi = max(a, s * n) - s * n, min(b, (s + 1) * n) - s * n
        out.append(Block(s, paths[s], np.arange(lo, hi)))
    return out


def run_ensemble(model: Model, paths: Sequence[Mapping[str, Path]], n_samples: int,
                 settings: Settings, *, executor: Any = None, chunk_size: int | None = None,
                 progress: bool = False, desc: str = "runs") -> EnsembleOutput:
    """Run every scenario (its constant paths in ``paths``) for ``n_samples`` samples."""
    start = time.perf_counter()
    n_scen = len(paths)
    n_total = n_scen * n_samples
    ex = as_executor(executor)
    if chunk_size is None:
        chunk_size = default_chunk_size(n_total, len(model.variables), len(settings.t_eval),
                                        _workers(ex))
    elif int(chunk_size) < 1:
        raise ValueError(f"`chunk_size` must be >= 1, got {chunk_size!r}.")
    chunk_size = int(chunk_size)
    t0, t1 = settings.t_span
    bounds = [(a, min(a + chunk_size, n_total)) for a in range(0, n_total, chunk_size)]
    kp = np.full((n_scen, len(settings.kpis), n_samples), np.nan)
    rec = (np.full((len(settings.record), n_scen, len(settings.t_eval), n_samples), np.nan)
           if settings.record else None)
    failed: list[tuple[int, int, str]] = []

    def place(a: int, b: int, out: ChunkOutput) -> None:
        pos = 0
        for blk in _blocks(paths, n_samples, a, b):
            m = len(blk.index)
            kp[blk.scenario][:, blk.index] = out.kpis[:, pos:pos + m]
            if rec is not None and out.record is not None:
                rec[:, blk.scenario][:, :, blk.index] = out.record[:, :, pos:pos + m]
            for r, msg in out.failed.items():
                if pos <= r < pos + m:
                    failed.append((blk.scenario, int(blk.index[r - pos]), msg))
            pos += m

    bar = _progress(n_total, progress, desc)
    try:
        if ex is None:
            for a, b in bounds:
                params = build_params(_blocks(paths, n_samples, a, b), t0, t1)
                place(a, b, run_chunk(model, settings, params, b - a))
                bar.update(b - a)
        else:
            token = uuid.uuid4().hex
            model_bytes = b"" if isinstance(ex, cf.ThreadPoolExecutor) else dumps(model)
            futures = {}
            threads = isinstance(ex, cf.ThreadPoolExecutor)  # same process: no pickling
            for a, b in bounds:
                params = build_params(_blocks(paths, n_samples, a, b), t0, t1)
                if threads:
                    fut = ex.submit(run_chunk, model, settings, params, b - a)
                else:
                    fut = ex.submit(_remote_chunk, token, model_bytes,
                                    dumps((settings, params, b - a)))
                futures[fut] = (a, b)
            done = (cf.as_completed(futures) if all(isinstance(f, cf.Future) for f in futures)
                    else list(futures))
            for fut in done:
                a, b = futures[fut]
                place(a, b, fut.result())
                bar.update(b - a)
    finally:
        bar.close()
    failed.sort()
    return EnsembleOutput(kp, rec, failed, len(bounds), time.perf_counter() - start)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", leave=False, mininterval=0.5, delay=1.0)
