"""Loop-dominance benchmark: the cost of Loops That Matter relative to a plain run.

Run:  python benchmarks/bench_loops.py [--quick] [--check]

For each model it times a plain run (``sd.simulate``) and ``sd.loop_dominance`` on that run:
``cold`` on a freshly loaded model (causal graph, loop enumeration, names, polarity and
scores; loading and the run are not timed) and
``warm`` on a second run of the same model (the graph and the loop search are cached per model;
polarity and every score are recomputed).  ``ratio`` is (run + LTM) / run, the cost of an
LTM-enabled run over a plain one; the target is at most 3 for a single run.  ``--check`` exits
1 when a single-run warm ratio is above 3.  Ensembles are reported too: their plain run is
vectorized over runs, so per-value costs (loop products, dominance sets) weigh more.  Times are
the best of several repeats.

A second table times the loop search on ``tests/data/loops/many_loops.mdl`` (8 coupled stocks,
16,064 loops, one planted strong ring through all of them): the default ``"auto"`` (which
counts to 1,001 loops, then searches), the strongest-path search (``method="strongest"``),
the enumeration of every loop (``method="all"`` with a cap above the count) and the old
default, the 1,000 shortest loops; each with the loop dominance on the loops found, on a
freshly loaded model (nothing cached), and whether the planted ring is among the loops.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import sts_dynamics as sd
from sts_dynamics.io import bundled_models

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
SAMPLES = TESTS / "test-models" / "samples"
# name -> (model file or bundled name, method, ensemble parameter or None)
CASES = {
    "bass": (TESTS / "data" / "bass.mdl", "euler", ("contact rate", 80.0, 120.0)),
    "SIR": (SAMPLES / "SIR" / "SIR.mdl", "euler", ("Contact Infectivity", 0.2, 0.4)),
    "SIR (RK45)": (SAMPLES / "SIR" / "SIR.mdl", "RK45", None),
    "smooth_loop": (TESTS / "data" / "smooth_loop.mdl", "RK45", None),
    "alert_fidelity": ("alert_fidelity", "RK45", None),
    "sts_core": ("sts_core", "RK45", ("automation level", 0.3, 0.9)),
}


def ltm(sim):
    """The analysis with its dominant periods (computed lazily, forced here).

    The per-run dominant sets of an ensemble (``dom.dominant``) are computed only when asked
    for; ``--dominant`` includes them.
    """
    dom = sd.loop_dominance(sim)
    _ = dom.periods
    if FORCE_DOMINANT:
        _ = dom.dominant
    return dom


FORCE_DOMINANT = False


def best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a single-run warm ratio exceeds 3")
    ap.add_argument("--runs", type=int, default=100, help="ensemble size (default 100)")
    ap.add_argument("--dominant", action="store_true",
                    help="also compute the per-run dominant sets of ensembles")
    args = ap.parse_args(argv)
    global FORCE_DOMINANT
    FORCE_DOMINANT = args.dominant
    repeat = 3 if args.quick else 7
    bundled = bundled_models()
    rows = []
    warnings.simplefilter("ignore")
    for name, (src, method, ens) in CASES.items():
        if isinstance(src, str) and src not in bundled:
            print(f"{name}: bundled model not available, skipped")
            continue
        model = sd.load(src)
        run = best(lambda m=model, me=method: sd.simulate(m, method=me), repeat)
        sim = sd.simulate(model, method=method)
        fresh = sd.simulate(sd.load(src), method=method)       # a model never analysed
        t0 = time.perf_counter()
        dom = ltm(fresh)
        cold = time.perf_counter() - t0
        warm = best(lambda s=sim: ltm(s), repeat)
        rows.append((name, method, len(dom.loops), len(sim.t), 1, run, cold, warm))
        if ens is not None:
            p, lo, hi = ens
            params = {p: np.linspace(lo, hi, args.runs)}
            erun = best(lambda m=model, me=method, pp=params: sd.simulate(m, method=me, params=pp),
                        max(2, repeat // 2))
            esim = sd.simulate(model, method=method, params=params)
            ewarm = best(lambda s=esim: ltm(s), max(2, repeat // 2))
            rows.append((name, method, len(dom.loops), len(sim.t), args.runs, erun, float("nan"),
                         ewarm))
    print(f"{'model':<16}{'method':<7}{'loops':>6}{'times':>7}{'runs':>6}{'run ms':>9}"
          f"{'LTM cold':>10}{'LTM warm':>10}{'ratio':>7}")
    worst, worst_ens = 0.0, 0.0
    for name, method, nl, nt, runs, run, cold, warm in rows:
        ratio = (run + warm) / run
        if runs == 1:
            worst = max(worst, ratio)
        else:
            worst_ens = max(worst_ens, ratio)
        cold_s = f"{cold * 1e3:10.1f}" if np.isfinite(cold) else f"{'':>10}"
        print(f"{name:<16}{method:<7}{nl:>6}{nt:>7}{runs:>6}{run * 1e3:9.1f}{cold_s}"
              f"{warm * 1e3:10.1f}{ratio:7.2f}")
    print(f"\nworst (run + LTM) / run: {worst:.2f} for single runs (target <= 3), "
          f"{worst_ens:.2f} for ensembles of {args.runs} runs")
    many_loops(repeat)
    return 1 if args.check and worst > 3 else 0


MANY = TESTS / "data" / "loops" / "many_loops.mdl"


def many_loops(repeat: int) -> None:
    """The loop search on a model with 16,064 loops (see the module docstring)."""
    model = sd.load(MANY)
    ring = []
    for i in range(1, 9):
        ring += [model.resolve(f"Stock {i}"), model.resolve(f"inflow {i % 8 + 1}")]
    ring = tuple(ring)
    cases = [("auto (default)", dict()),
             ("strongest path", dict(method="strongest")),
             ("all loops", dict(method="all", max_loops=20_000)),
             ("1,000 shortest", dict(method="all"))]
    print(f"\n{MANY.name}: loop search, then LTM on the loops found (fresh model each time)")
    print(f"{'search':<16}{'loops':>7}{'find ms':>10}{'LTM ms':>9}{'ring':>6}{'ring share':>12}")
    for label, kw in cases:
        finds, ltms = [], []
        for _ in range(max(2, repeat // 2)):
            sim = sd.simulate(sd.load(MANY))            # nothing cached
            t0 = time.perf_counter()
            loops = sd.find_loops(sim, **kw)
            t1 = time.perf_counter()
            dom = sd.loop_dominance(sim, loops)
            t2 = time.perf_counter()
            finds.append(t1 - t0)
            ltms.append(t2 - t1)
        rid = next((lp.id for lp in loops if lp.keys == ring), None)
        share = f"{dom.share()[rid]:.3f}" if rid else "-"
        print(f"{label:<16}{len(loops):>7}{min(finds) * 1e3:10.1f}{min(ltms) * 1e3:9.1f}"
              f"{'yes' if rid else 'no':>6}{share:>12}")


if __name__ == "__main__":
    sys.exit(main())
