"""``optimize``: joint optimization of technical and social levers from a TOML file."""

from __future__ import annotations

import sys

from .common import UsageError, add_table_options, check_table_outputs, write_frame


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "optimize", help="optimize technical and social levers jointly (TOML file)",
        description="Search the lever settings that minimize the file's objective (differential "
                    "evolution, each generation one vectorized ensemble), with the technical "
                    "levers only, the social levers only and both jointly, and print the "
                    "comparison with KPIs. Without FILE, runs the bundled example "
                    "(models/optimizations/default.toml; format in docs/sociotech.md).")
    p.add_argument("file", nargs="?", default="default", metavar="FILE.toml",
                   help="optimization file or bundled name (default: 'default')")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the search and samples")
    p.add_argument("--maxiter", type=int, metavar="N", help="generations of the search")
    p.add_argument("--no-compare", action="store_true",
                   help="optimize jointly only (skip the single-subsystem searches)")
    add_table_options(p, "comparison", "Technical-only vs joint optimization")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..sociotech.config import load_optimization

    check_table_outputs(args)
    if args.maxiter is not None and args.maxiter < 1:
        raise UsageError(f"--maxiter must be a positive integer, got {args.maxiter}.")
    spec = load_optimization(args.file)
    overrides = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.maxiter is not None:
        overrides["maxiter"] = args.maxiter
    if args.no_compare:
        overrides["compare"] = False
    opt = spec.run(**overrides)
    table = opt.compare()
    if args.out:
        write_frame(table, args.out, force=args.force)
    if args.dashboard:
        from ..dashboard import briefing

        briefing(opt, args.dashboard, force=args.force, title=spec.title or None)
    if args.quiet:
        return 0
    print_optimum(opt, title=spec.title)
    for path in (args.out, args.dashboard):
        if path:
            print(f"wrote {path}")
    return 0


def print_optimum(opt, *, title: str = "", file=None) -> None:
    file = file or sys.stdout
    import pandas as pd

    if title:
        print(title, file=file)
    robust = f"; robust: {opt.robust} over {opt.n_samples} samples" if opt.robust else ""
    print(f"{opt.model.name}: minimize {opt.objective!r}"
          + (f" subject to {', '.join(opt.constraints)}" if opt.constraints else "")
          + f" over t = {opt.horizon[0]:g} .. {opt.horizon[1]:g} "
          f"{opt.model.control.time_units}{robust}".rstrip(), file=file)
    for name, what in opt.names.items():
        print(f"  {name} = {what}", file=file)
    t = opt.compare().T
    with pd.option_context("display.max_rows", 200, "display.width", 120):
        print("\n" + t.to_string(float_format=lambda x: f"{x:.4g}"), file=file)
    for msg in opt.messages():
        print(f"\n{msg}", file=file)
    for note in opt.notes:
        print(f"note: {note}", file=file)
    print(f"\n{opt.simulations} vectorized simulations, {opt.runs} runs, {opt.seconds:.1f} s, "
          f"seed {opt.seed}", file=file)
