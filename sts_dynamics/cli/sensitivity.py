"""``sensitivity``: which parameters move which KPI (Sobol, Morris or a tornado)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from .common import UsageError, check_output, print_table, progress_enabled


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "sensitivity", help="global sensitivity (Sobol, Morris) or a one-at-a-time tornado",
        description="Rank the parameters of a model by their effect on its KPIs. Parameters "
                    "and ranges come from --param, else from an experiment file's "
                    "[uncertainty] (--experiment), else from the model's meta.toml ([uncertainty], "
                    "else the ranges of its policy levers), else +-25% around every non-zero "
                    "constant.")
    p.add_argument("model", nargs="?",
                   help="a .mdl/.xmile file or a bundled model name (default: the model of "
                        "--experiment)")
    p.add_argument("--method", default="sobol", choices=("sobol", "morris", "oat"),
                   help="sobol (first-order and total indices), morris (screening) or oat "
                        "(tornado); default sobol")
    p.add_argument("--samples", type=int, metavar="N",
                   help="Sobol base samples (a power of 2; default 256) or Morris "
                        "trajectories (default 20)")
    p.add_argument("--kpi", action="append", metavar="NAME",
                   help="a KPI of the model or a variable name (repeatable; default: all KPIs)")
    p.add_argument("--param", action="append", metavar="NAME=LOW:HIGH",
                   help="vary a constant uniformly between LOW and HIGH (repeatable)")
    p.add_argument("--experiment", metavar="FILE.toml",
                   help="take parameters, horizon and context from an experiment file")
    p.add_argument("--scenario", metavar="NAME",
                   help="apply the policies of this scenario of --experiment to every run")
    p.add_argument("--context", help="service-context preset (see `models`)")
    p.add_argument("--horizon", help="run length, in model time units or like '3 years'")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="seed of the design")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run chunks of the design in N processes (default 1)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="print the N most influential parameters per KPI (default 10)")
    p.add_argument("--out", metavar="FILE", help="write the full table (.csv/.parquet/.json)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def _params(items: list[str] | None) -> dict:
    from ..experiments import Uniform

    out = {}
    for item in items or []:
        name, sep, rng = item.rpartition("=")
        lo, sep2, hi = rng.partition(":")
        if not sep or not sep2 or not name.strip():
            raise UsageError(f"--param expects NAME=LOW:HIGH, got {item!r}.")
        try:
            low, high = float(lo), float(hi)
        except ValueError:
            raise UsageError(f"--param {item!r}: LOW and HIGH must be numbers.") from None
        out[name.strip()] = Uniform(low, high)
    return out


def run(args) -> int:
    from ..experiments.sensitivity_analysis import sensitivity
    from ..io import load
    from .common import write_frame

    if args.out:
        check_output(args.out, force=args.force)
    if args.samples is not None and args.samples < 1:
        raise UsageError(f"--samples must be a positive integer, got {args.samples}.")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}.")
    uncertainty = _params(args.param) or None
    horizon = args.horizon
    scenario = None
    if args.scenario and not args.experiment:
        raise UsageError("--scenario names a scenario of --experiment; give --experiment too.")
    if not args.model and not args.experiment:
        raise UsageError("give a MODEL (a model file or bundled name) or --experiment FILE.")
    spec = None
    if args.experiment:
        from ..experiments.config import load_experiment

        spec = load_experiment(args.experiment)
        uncertainty = uncertainty or spec.uncertainty
        horizon = horizon or spec.horizon
        if args.scenario:
            names = [s.name for s in spec.scenarios]
            if args.scenario not in names:
                from ..errors import UnknownNameError, close_matches

                raise UnknownNameError(f"--scenario {args.scenario!r} is not a scenario of "
                                       f"{args.experiment}: {', '.join(map(repr, names))}."
                                       f"{close_matches(args.scenario, names)}")
            scenario = spec.scenarios[names.index(args.scenario)]
    model = load(args.model, context=args.context) if args.model else spec.model
    try:
        horizon = float(horizon) if horizon is not None else None
    except ValueError:
        pass
    kpis = args.kpi or (spec.kpis if spec is not None else None)
    kwargs = dict(method=args.method, kpis=kpis, n_samples=args.samples,
                  scenario=scenario, horizon=horizon, seed=args.seed,
                  progress=progress_enabled(args))
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as ex:
            res = sensitivity(model, uncertainty, executor=ex, **kwargs)
    else:
        res = sensitivity(model, uncertainty, **kwargs)
    if args.out:
        write_frame(res.table, args.out, force=args.force, index=False)
    if not args.quiet:
        info = res.info
        print(f"{args.method} sensitivity of {model.name}: {len(res.parameters)} parameters, "
              f"{res.n_runs} runs (seed {info['seed']}), horizon {info['horizon'][0]:g}-"
              f"{info['horizon'][1]:g}; {info['seconds']:.2f} s")
        cols = {"sobol": ["parameter", "S1", "S1_conf", "ST", "ST_conf"],
                "morris": ["parameter", "mu_star", "mu_star_conf", "mu", "sigma"],
                "oat": ["parameter", "low", "high", "kpi_low", "kpi_high", "swing"]}[args.method]
        for kpi in res.kpi_defs:
            rows = res.ranking(kpi.name)[cols].head(args.top)
            print(f"\n{kpi.label()}")
            print_table(rows.set_index("parameter"))
        if res.failures:
            print(f"\n{len(res.failures)} runs failed and are left out.")
        if args.out:
            print(f"wrote {args.out}")
    return 0
