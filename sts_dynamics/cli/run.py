"""``run``: simulate one model and print (or write) the result."""

from __future__ import annotations

import numpy as np

from ..io import load
from ..simulate import METHODS, simulate
from .common import UsageError, check_output, parse_assignments, print_table, write_frame


def add_subcommand(sub) -> None:
    p = sub.add_parser("run", help="simulate a model (file or bundled name)",
                       description="Simulate a model and print a table of its stocks (or the "
                                   "variables named with --vars).")
    p.add_argument("model", help="a .mdl/.xmile file or a bundled model name")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant (repeatable), e.g. --set 'automation level=0.8'")
    p.add_argument("--context", help="service-context preset (see `models`)")
    p.add_argument("--method", default="RK45", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--t-end", type=float, help="final time (default: the model's FINAL TIME)")
    p.add_argument("--vars", help="comma-separated variables to print/write (default: stocks)")
    p.add_argument("--every", type=float, help="print every N time units (default: ~10 rows)")
    p.add_argument("--out", help="write all variables to a .csv/.parquet/.json file")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.out:
        check_output(args.out, force=args.force)
    if args.method not in METHODS and args.method.lower() not in {m.lower() for m in METHODS}:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {args.method!r}.")
    model = load(args.model, context=args.context)
    params = parse_assignments(args.set)
    t_span = None
    if args.t_end is not None:
        t_span = (model.control.initial_time, args.t_end)
    sim = simulate(model, params=params or None, method=args.method, t_span=t_span)
    names = [n.strip() for n in args.vars.split(",")] if args.vars else list(sim.stocks)
    frame = sim.to_frame(names)
    if args.out:
        write_frame(sim.to_frame(), args.out, force=args.force)
    if not args.quiet:
        step = args.every or max((sim.t[-1] - sim.t[0]) / 10, model.control.saveper)
        keep = np.isclose(((sim.t - sim.t[0]) / step) % 1, 0, atol=1e-6) | \
            np.isclose(((sim.t - sim.t[0]) / step) % 1, 1, atol=1e-6)
        keep[-1] = True
        print(f"{model.name}: {args.method}, {sim.nfev} right-hand-side evaluations")
        print_table(frame[keep])
        if args.out:
            print(f"wrote {args.out}")
    return 0
