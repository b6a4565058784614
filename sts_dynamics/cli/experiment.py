"""``experiment``: run a policy experiment file (default: the bundled one) and print KPIs."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments.distributions import SAMPLING_METHODS, nearest_powers_of_two
from ..experiments.kpis import is_share
from .common import UsageError, check_output, print_table, progress_enabled

#: Files an experiment writes into its output folder (see ExperimentResult.save).
OUTPUT_TABLES = ("kpis", "kpi_samples", "trajectories", "failed_runs")


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "experiment", help="run a policy experiment (scenarios, Monte Carlo) and print KPIs",
        description="Run the scenarios of an experiment file (TOML; see docs/experiments.md) "
                    "over Monte Carlo samples of its uncertain parameters, and print the KPI "
                    "table relative to the baseline. Without FILE, runs the bundled default "
                    "experiment on sts_core.")
    p.add_argument("file", nargs="?", metavar="FILE.toml",
                   help="experiment file or bundled experiment name (default: 'default')")
    p.add_argument("--out", metavar="DIR",
                   help="write kpis, kpi_samples, trajectories (and failed_runs) to DIR")
    p.add_argument("--format", default=None, metavar="FMT[,FMT]",
                   help="output formats: csv, parquet, json (default: the file's, else csv)")
    p.add_argument("--samples", type=int, metavar="N", help="Monte Carlo samples")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the sampling")
    p.add_argument("--sampling", choices=SAMPLING_METHODS, default=None,
                   help="how the Monte Carlo samples are drawn: independent random draws, a "
                        "Latin hypercube or a scrambled Sobol sequence (needs --samples a "
                        "power of 2); default: the file's, else random")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run chunks of the ensemble in N processes (default 1)")
    p.add_argument("--dashboard", metavar="FILE.html",
                   help="also write an HTML briefing (needs sts_dynamics.dashboard)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


#: Functions of sts_dynamics.dashboard that turn an ExperimentResult into an HTML page.
def _check_dashboard(path: str, force: bool) -> None:
    if Path(path).suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--dashboard {path!r}: use an .html file name.")
    check_output(path, force=force)


def _write_dashboard(result, path: str, force: bool) -> None:
    from ..dashboard import briefing

    check_output(path, force=force)
    briefing(result, path, force=force)


def _check_out(folder: Path, formats: tuple[str, ...], force: bool) -> None:
    check_output(folder, force=force, is_dir=True)
    if folder.is_dir() and not force:
        for name in (*OUTPUT_TABLES, "experiment"):
            for fmt in (*formats, "json"):
                p = folder / f"{name}.{fmt}"
                if p.exists():
                    raise UsageError(f"{str(p)!r} exists; pass --force to overwrite it.")


def _check_sobol(spec, args) -> None:
    """Sobol sampling needs a power of 2 samples: say so in the command line's terms."""
    from ..experiments.core import DEFAULT_SAMPLES

    if (args.sampling or spec.sampling) != "sobol" or spec.uncertainty is None:
        return
    n = args.samples if args.samples is not None else spec.n_samples or DEFAULT_SAMPLES
    if n & (n - 1):
        near = nearest_powers_of_two(n)
        given = ("--samples" if args.samples is not None else "the experiment's samples"
                 if spec.n_samples else "the default number of samples")
        hint = "" if args.samples is not None else "; pass --samples"
        raise UsageError(f"{given} must be a power of 2 for sampling='sobol' (got {n}; use "
                         f"{near[0]} or {near[1]}){hint}.")


def run(args) -> int:
    from ..experiments.config import load_experiment

    if args.samples is not None and args.samples < 1:
        raise UsageError(f"--samples must be a positive integer, got {args.samples}.")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}.")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}.")
    if args.dashboard:
        _check_dashboard(args.dashboard, args.force)
    spec = load_experiment(args.file)
    formats = tuple(f.strip() for f in args.format.split(",")) if args.format else spec.formats
    for fmt in formats:
        if fmt not in ("csv", "parquet", "json"):
            raise UsageError(f"--format: unknown format {fmt!r}; use csv, parquet or json.")
    folder = Path(args.out) if args.out else spec.output_folder
    if folder is not None:
        _check_out(folder, formats, args.force)
    overrides = {"progress": progress_enabled(args)}
    if args.samples is not None:
        overrides["n_samples"] = args.samples
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.sampling is not None:
        overrides["sampling"] = args.sampling
    _check_sobol(spec, args)
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as ex:
            result = spec.run(executor=ex, **overrides)
    else:
        result = spec.run(**overrides)
    if not args.quiet:
        print_summary(result, title=spec.title)
    if folder is not None:
        result.save(folder, formats=formats, force=args.force)
        if not args.quiet:
            print(f"wrote {folder}/ ({', '.join(formats)})")
    if args.dashboard:
        _write_dashboard(result, args.dashboard, args.force)
        if not args.quiet:
            print(f"wrote {args.dashboard}")
    return 0


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}" if abs(x) >= 1 else f"{x:.3f}"


def kpi_table(result) -> pd.DataFrame:
    """The KPI table formatted for a terminal: one row per KPI and scenario."""
    table = result.kpis()
    order = {name: i for i, name in enumerate(result.kpi_names)}
    table = table.sort_values("kpi", key=lambda c: c.map(order), kind="stable")
    lo, hi = result.percentiles
    rows = []
    mc = result.n_samples > 1
    for _, r in table.iterrows():
        is_base = r["scenario"] == result.baseline
        pct = np.isfinite(r["change_pct"])
        if is_base:
            change = band = ""
        elif is_share(r["units"], [r["median"], r["baseline"]]):
            # a share near zero in some runs makes percent changes explode: percentage points
            change = f"{100 * r['change']:+.1f} pp"
            band = (f"[{100 * r[f'change_p{lo:g}']:+.1f} pp, "
                    f"{100 * r[f'change_p{hi:g}']:+.1f} pp]")
        elif pct:
            change = f"{r['change_pct']:+.1f}%"
            band = f"[{r[f'change_pct_p{lo:g}']:+.1f}%, {r[f'change_pct_p{hi:g}']:+.1f}%]"
        else:
            change = _fmt(r["change"])
            band = f"[{_fmt(r[f'change_p{lo:g}'])}, {_fmt(r[f'change_p{hi:g}'])}]"
        rows.append({
            "KPI": r["kpi"] + (f" [{r['units']}]" if r["units"] else ""),
            "scenario": r["scenario"],
            "median": _fmt(r["median"]),
            f"p{lo:g}-p{hi:g}": f"{_fmt(r[f'p{lo:g}'])} - {_fmt(r[f'p{hi:g}'])}" if mc else "",
            "vs baseline": change,
            f"change p{lo:g}-p{hi:g}": band if mc else "",
        })
    df = pd.DataFrame(rows)
    if not mc:
        df = df.drop(columns=[f"p{lo:g}-p{hi:g}", f"change p{lo:g}-p{hi:g}"])
    df.loc[df["KPI"].duplicated(), "KPI"] = ""
    return df.set_index("KPI")


#: How the summary line names the samples of each sampling method.
_SAMPLING_NAMES = {"random": "Monte Carlo", "lhs": "Latin-hypercube",
                   "sobol": "scrambled Sobol"}


def print_summary(result, *, title: str = "", file=None) -> None:
    info = result.info
    t0, t1 = info.get("horizon", (result.t[0], result.t[-1]))
    units = info.get("time_units") or "time units"
    head = title or f"Experiment on {result.model.name}"
    kind = _SAMPLING_NAMES.get(info.get("sampling", "random"), "Monte Carlo")
    runs = (f"{result.n_samples} {kind} samples (seed {result.seed}), the same for every "
            "scenario" if result.n_samples > 1 else "one run per scenario")
    print(f"{head}: {len(result.scenarios)} scenarios, horizon {t0:g}-{t1:g} {units}, {runs}; "
          f"{info.get('seconds', 0):.2f} s", file=file)
    print_table(kpi_table(result), file=file)
    if result.failures:
        failed = result.failed_runs()
        print(f"{len(failed)} runs failed and are left out (first: scenario "
              f"{failed['scenario'][0]!r}, run {failed['run'][0]}: {failed['message'][0]})",
              file=file)
