"""Core engine benchmark: sts_dynamics vs PySD vs pysimlin on the same model files, one run.

Run:  python benchmarks/bench_core.py [--quick] [--models teacup,SIR,sts_core]

For each model it prints: single-run wall time, 1,000 and 10,000 runs with different
parameter values, the cost of one right-hand-side call, and each tool's accuracy against a
high-accuracy reference (DOP853 at rtol = atol = 1e-10) at whole time units.  PySD's many-run
times are extrapolated from the runs it does (stated in the table); pysimlin runs are real.
Accuracy is the largest error of the tracked stock relative to its range over the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import timeit
import warnings
from pathlib import Path

import numpy as np

import sts_dynamics as sd
from sts_dynamics.model import key_of

HERE = Path(__file__).resolve().parent
TM = HERE.parent / "tests" / "test-models" / "samples"
# model -> (path or bundled name, varied constant, low, high, tracked stock)
CASES = {
    "teacup": (TM / "teacup" / "teacup.mdl", "Characteristic Time", 5.0, 20.0,
               "Teacup Temperature"),
    "SIR": (TM / "SIR" / "SIR.mdl", "Contact Infectivity", 0.2, 0.4, "Infectious"),
    "sts_core": ("sts_core", "automation level", 0.3, 0.9, "Operator Skill"),
    "alert_fidelity": ("alert_fidelity", "alert tuning effort", 0.1, 0.9, "Alert Precision"),
}
FAST = dict(method="DOP853", rtol=1e-6, atol=1e-8)
# Looser tolerances still far more accurate than Euler at the model's TIME STEP:
LOOSE = dict(method="RK45", rtol=1e-4, atol=1e-6)
# fewer evaluations per unit time than RK45 where a fast time constant limits the step:
THIRD = dict(method="RK23", rtol=1e-4, atol=1e-6)
STIFF = dict(method="LSODA", rtol=1e-4, atol=1e-6)


def best(f, repeat=5, number=1):
    return min(timeit.repeat(f, repeat=repeat, number=number)) / number


def err(x, ref):
    span = np.ptp(ref, axis=0)
    span = np.where(span > 0, span, np.maximum(np.abs(ref).max(axis=0), 1e-12))
    return float(np.max(np.abs(x - ref) / span))


def run_case(name, spec, sizes, quick):
    path, pname, lo, hi, stock = spec
    model = sd.load(path)
    if stock not in model or pname not in model:
        return None
    ctl = model.control
    te = np.arange(ctl.initial_time, ctl.final_time + 1e-9, 1.0)
    rng = np.random.default_rng(0)
    row = {"model": name, "states": len(model.stocks)}
    # reference and accuracy (single run at the default parameter values)
    ref = sd.simulate(model, t_eval=te, method="DOP853", rtol=1e-10, atol=1e-10)[stock]
    sim_fast = sd.simulate(model, t_eval=te, **FAST)
    row["sts_err"] = err(sim_fast[stock], ref)
    row["sts_single_ms"] = 1e3 * best(lambda: sd.simulate(model, **FAST))
    row["sts_euler_ms"] = 1e3 * best(lambda: sd.simulate(model, method="euler"))
    cm = sd.compile_model(model)
    prep = cm.prepare()
    rates = cm.make_rates(prep, [None])
    y = list(prep.y0)
    row["rhs_us"] = 1e6 * best(lambda: rates(ctl.initial_time, y), repeat=5, number=2000)
    row["loose_err"] = err(sd.simulate(model, t_eval=te, **LOOSE)[stock], ref)
    row["loose_single_ms"] = 1e3 * best(lambda: sd.simulate(model, **LOOSE))
    row["rk23_err"] = err(sd.simulate(model, t_eval=te, **THIRD)[stock], ref)
    row["rk23_single_ms"] = 1e3 * best(lambda: sd.simulate(model, **THIRD))
    row["lsoda_err"] = err(sd.simulate(model, t_eval=te, **STIFF)[stock], ref)
    row["lsoda_single_ms"] = 1e3 * best(lambda: sd.simulate(model, **STIFF))
    for n in sizes:
        vals = rng.uniform(lo, hi, n)
        row[f"sts_{n}_s"] = best(lambda v=vals: sd.simulate(model, params={pname: v},
                                                             t_eval=te, **FAST), repeat=2)
        row[f"loose_{n}_s"] = best(lambda v=vals: sd.simulate(model, params={pname: v},
                                                               t_eval=te, **LOOSE), repeat=2)
        row[f"rk23_{n}_s"] = best(lambda v=vals: sd.simulate(model, params={pname: v},
                                                              t_eval=te, **THIRD), repeat=2)
    # PySD
    try:
        import pysd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tmp = Path(tempfile.mkdtemp())  # PySD writes its translation next to the file
            src = Path(model.source)
            shutil.copy(src, tmp / src.name)
            pm = pysd.read_vensim(str(tmp / src.name))
            pysd_stock = key_of(stock)
            out = pm.run(return_timestamps=te, return_columns=[stock])
            row["pysd_err"] = err(out[stock].to_numpy(), ref)
            times = [timeit.timeit(lambda: pm.run(return_columns=[stock]), number=1)
                     for _ in range(3 if quick else 5)]
            row["pysd_single_ms"] = 1e3 * min(times)
            k = 5 if quick else 20
            vals = rng.uniform(lo, hi, k)
            t0 = time.perf_counter()
            for v in vals:
                pm.run(params={pname: v}, return_columns=[stock])
            per = (time.perf_counter() - t0) / k
            for n in sizes:
                row[f"pysd_{n}_s"] = per * n  # extrapolated from k runs
            del pysd_stock
    except Exception as exc:  # pragma: no cover - reported in the table
        row["pysd_note"] = f"{type(exc).__name__}: {str(exc)[:60]}"
    # pysimlin
    try:
        import simlin

        sm = simlin.load(str(model.source))
        names = {key_of(n): n for n in sm.get_var_names()}
        sp, ss = names[key_of(pname)], names[key_of(stock)]

        def one(v=None):
            s = sm.simulate(overrides=None if v is None else {sp: float(v)})
            s.run_to_end()
            return s.get_series(ss)
        s = sm.simulate()
        s.run_to_end()
        tt = np.asarray(s.get_series("time"))
        series = np.asarray(s.get_series(ss))
        idx = [int(np.argmin(np.abs(tt - x))) for x in te]
        row["simlin_err"] = err(series[idx], ref)
        row["simlin_single_ms"] = 1e3 * best(one)
        for n in sizes:
            vals = rng.uniform(lo, hi, n)
            t0 = time.perf_counter()
            for v in vals:
                one(v)
            row[f"simlin_{n}_s"] = time.perf_counter() - t0
    except Exception as exc:  # pragma: no cover
        row["simlin_note"] = f"{type(exc).__name__}: {str(exc)[:60]}"
    return row


def fmt(x, unit=""):
    if x is None:
        return "n/a"
    return f"{x:.3g}{unit}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, 1,000 runs only")
    ap.add_argument("--models", default=",".join(CASES))
    args = ap.parse_args(argv)
    sizes = (1000,) if args.quick else (1000, 10000)
    rows = []
    for name in args.models.split(","):
        try:
            row = run_case(name, CASES[name], sizes, args.quick)
        except sd.StsDynamicsError as exc:
            print(f"{name}: skipped ({exc})", file=sys.stderr)
            continue
        if row:
            rows.append(row)
    print("\n| model | states | tool | single run | " + " | ".join(f"{n:,} runs" for n in sizes)
          + " | error vs reference |")
    print("|---|---|---|---|" + "---|" * len(sizes) + "---|")
    for r in rows:
        for tool, label in (("sts", "sts_dynamics (DOP853, rtol 1e-6)"),
                            ("loose", "sts_dynamics (RK45, rtol 1e-4)"),
                            ("rk23", "sts_dynamics (RK23, rtol 1e-4)"),
                            ("lsoda", "sts_dynamics (LSODA, rtol 1e-4; single run only)"),
                            ("pysd", "PySD run() (Euler; many runs extrapolated)"),
                            ("simlin", "pysimlin (Euler)")):
            if f"{tool}_single_ms" not in r:
                note = r.get(f"{tool}_note", "not installed")
                print(f"| {r['model']} | {r['states']} | {label} | {note} |" + " |" * len(sizes)
                      + " |")
                continue
            cells = [fmt(r.get(f"{tool}_{n}_s"), " s") for n in sizes]
            print(f"| {r['model']} | {r['states']} | {label} | {fmt(r[f'{tool}_single_ms'], ' ms')}"
                  f" | {' | '.join(cells)} | {r[f'{tool}_err']:.1e} |")
    print("\nSpeed-ups use the faster sts_dynamics setting whose error is below the other "
          "tool's.")
    print("\n| model | RHS call | Euler single run | single-run speed-up vs PySD | "
          + " | ".join(f"{n:,} runs vs pysimlin" for n in sizes) + " |")
    print("|---|---|---|---|" + "---|" * len(sizes))
    for r in rows:
        def pick(key, other_err, r=r):
            ok = [t for t in ("loose", "rk23", "lsoda", "sts") if r[f"{t}_err"] <= other_err
                  and f"{t}_{key}" in r]
            return min((r[f"{t}_{key}"] for t in ok), default=None)
        su = None
        if "pysd_single_ms" in r and pick("single_ms", r["pysd_err"]):
            su = r["pysd_single_ms"] / pick("single_ms", r["pysd_err"])
        ratios = []
        for n in sizes:
            mine = pick(f"{n}_s", r.get("simlin_err", -1))
            ratios.append(r[f"simlin_{n}_s"] / mine if mine and f"simlin_{n}_s" in r else None)
        print(f"| {r['model']} | {r['rhs_us']:.2f} us | {r['sts_euler_ms']:.2f} ms | "
              f"{fmt(su, 'x')} | " + " | ".join(fmt(x, "x") for x in ratios) + " |")
    med = [r["rhs_us"] for r in rows]
    if med:
        print(f"\nmedian RHS call: {statistics.median(med):.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
