"""Monte Carlo benchmark: 10,000 runs of sts_core over three years (156 weeks).

Run:  python benchmarks/bench_experiments.py [--samples 10000] [--workers 2] [--quick]

The uncertain parameters are those of the bundled default experiment
(models/experiments/default.toml: seven assumptions with uniform, triangular, normal and
lognormal distributions).  Every configuration draws the same samples (seed 1) and computes
the model's eight KPIs (meta.toml [kpis]) of every run; trajectories of the KPI variables
are kept (157 weekly points per run).  Wall time includes sampling, the vectorized solves,
KPIs and collecting the results; it excludes loading the model.

Ensembles run with single-threaded BLAS (simulate() limits it): OpenBLAS threads make the
solver's small vector products several times slower.  Other processes compete for
the two cores on a shared machine, so the header prints the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import sts_dynamics as sd
from sts_dynamics.experiments.config import load_experiment


def timed(model, unc, n, **kw):
    start = time.perf_counter()
    res = sd.monte_carlo(model, unc, n_samples=n, seed=1, horizon=156, **kw)
    return time.perf_counter() - start, res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1,000 samples")
    args = ap.parse_args(argv)
    n = 1000 if args.quick else args.samples
    spec = load_experiment("default")
    model, unc = spec.model, spec.uncertainty
    sd.monte_carlo(model, unc, n_samples=8, seed=0, horizon=156)  # warm up (compile)
    configs = [
        ("RK45 rtol 1e-6 (default), 1 process", dict(), 1),
        (f"RK45 rtol 1e-6 (default), {args.workers} processes", dict(), args.workers),
        ("RK45 rtol 1e-4, atol 1e-6, 1 process", dict(rtol=1e-4, atol=1e-6), 1),
        (f"RK45 rtol 1e-4, atol 1e-6, {args.workers} processes", dict(rtol=1e-4, atol=1e-6),
         args.workers),
    ]
    print(f"sts_core Monte Carlo: {n:,} runs x 156 weeks, {len(unc)} uncertain parameters, "
          f"8 KPIs; {os.cpu_count()} CPUs, Python {platform.python_version()}, NumPy "
          f"{np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
          f"load average {os.getloadavg()[0]:.2f} before the runs")
    print(f"{'configuration':<44} {'chunks':>6} {'wall s':>8} {'runs/s':>8} {'failed':>6}")
    ref = None
    for label, kw, workers in configs:
        if workers > 1:
            with ProcessPoolExecutor(workers) as ex:
                ex.submit(int, 0).result()  # start the workers before timing
                secs, res = timed(model, unc, n, executor=ex, **kw)
        else:
            secs, res = timed(model, unc, n, **kw)
        print(f"{label:<44} {res.info['chunks']:>6} {secs:>8.2f} {n / secs:>8.0f} "
              f"{len(res.failures):>6}", flush=True)
        if ref is None:
            ref = res
        else:
            # per KPI, relative to its 5-95 % range over the runs
            spread = np.nanpercentile(ref.values, 95, axis=2) - \
                np.nanpercentile(ref.values, 5, axis=2)
            diff = np.nanmax(np.abs(res.values - ref.values) / spread[..., None])
            print(f"{'':<44} largest KPI difference from the first row: {diff:.1e} of the "
                  "KPI's 5-95 % range")
    table = ref.kpis()[["kpi", "units", "median", "p5", "p95"]]
    print("\nKPIs of the baseline (median and 5-95 % band over the samples):")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
