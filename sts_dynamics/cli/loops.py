"""``loops``: the feedback loops of a model and their share of loop dominance over a run."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from ..io import load
from ..simulate import METHODS, simulate
from .common import UsageError, check_output, parse_assignments, write_frame


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "loops", help="list a model's feedback loops and their loop dominance",
        description="Find the feedback loops of a model (Johnson's algorithm, or the "
                    "strongest-path search above --max-loops loops; SMOOTH/DELAY "
                    "internals collapsed), run it, and print the loop table: id, name, "
                    "polarity, length, share of dominance over the run (mean |relative loop "
                    "score|, Loops That Matter) and variables, then the periods in which each "
                    "loop leads.")
    p.add_argument("model", help="a .mdl/.xmile file or a bundled model name")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant (repeatable)")
    p.add_argument("--context", help="service-context preset (see `models`)")
    p.add_argument("--method", default="RK45",
                   help=f"solver, one of {', '.join(METHODS)} (default RK45; euler gives the "
                        "discrete LTM scores of Vensim/Stella at every TIME STEP)")
    p.add_argument("--loop-search", default="auto", metavar="HOW",
                   help="how loops are found: all (enumerate every loop, at most "
                        "--max-loops, the shortest), strongest (the strongest-path search of "
                        "Eberlein & Schoenberg 2020 over the run's link scores: the loops "
                        "that matter) or auto (default: all up to --max-loops loops, "
                        "strongest above)")
    p.add_argument("--max-loops", type=int, default=1000, metavar="N",
                   help="enumerate at most N loops (default 1000); with --loop-search auto, "
                        "the number above which the strongest-path search is used")
    p.add_argument("--max-length", type=int, metavar="N",
                   help="search loops of at most N variables (default: no bound)")
    p.add_argument("--top", type=int, default=25, metavar="N",
                   help="print the N loops with the largest share (default 25; 0 for all)")
    p.add_argument("--out", metavar="FILE",
                   help="write the full loop table (.csv/.parquet/.json)")
    p.add_argument("--scores", metavar="FILE",
                   help="write the loop scores over time, long format (.csv/.parquet/.json)")
    p.add_argument("--force", action="store_true", help="overwrite output files")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..loops import LOOP_SEARCH, LoopWarning, find_loops, loop_dominance

    for opt in ("max_loops", "max_length", "top"):
        v = getattr(args, opt)
        if v is not None and v < (0 if opt == "top" else 1):
            raise UsageError(f"--{opt.replace('_', '-')} must be a positive integer, got {v}.")
    if args.method not in METHODS and args.method.lower() not in {m.lower() for m in METHODS}:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {args.method!r}.")
    if args.loop_search not in LOOP_SEARCH:
        raise UsageError(f"--loop-search must be one of {', '.join(LOOP_SEARCH)}, got "
                         f"{args.loop_search!r}.")
    for path in (args.out, args.scores):
        if path:
            check_output(path, force=args.force)
    model = load(args.model, context=args.context)
    params = parse_assignments(args.set) or None
    method = next((m for m in METHODS if m.lower() == args.method.lower()), args.method)
    t_eval = None
    if method == "euler":       # every step: the discrete LTM formulas apply exactly
        ctl = model.control
        n = int(round((ctl.final_time - ctl.initial_time) / ctl.time_step))
        t_eval = ctl.initial_time + ctl.time_step * np.arange(n + 1)
    sim = simulate(model, params=params, method=method, t_eval=t_eval)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LoopWarning)
        loops = find_loops(model, max_length=args.max_length, max_loops=args.max_loops,
                           sim=sim, method=args.loop_search)
        dom = loop_dominance(sim, loops)
    for w in caught:
        if issubclass(w.category, LoopWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    table = dom.table()
    if args.out:
        write_frame(table, args.out, force=args.force, index=False)
    if args.scores:
        write_frame(dom.to_frame(), args.scores, force=args.force, index=False)
    if args.quiet:
        return 0
    found = " found by the strongest-path search" if loops.search == "strongest" else ""
    n = len(loops)
    print(f"{model.name}: {n} feedback loop{'' if n == 1 else 's'}{found} in "
          f"{len(loops.partitions)} cycle partition(s); {method} run, {dom.method} LTM scores "
          f"over t = {sim.t[0]:g} .. {sim.t[-1]:g} {model.control.time_units}".rstrip())
    if not len(loops):
        print(dom.message)
        return 0
    print_loop_table(table, top=args.top)
    print_periods(dom)
    for path in (args.out, args.scores):
        if path:
            print(f"wrote {path}")
    return 0


def print_loop_table(table, *, top: int = 25, file=None) -> None:
    """Loops by partition, largest share first, with shares in percent."""
    file = file or sys.stdout
    t = table.sort_values(["partition", "share"], ascending=[True, False], kind="stable")
    shown = t if not top else t.groupby("partition", sort=True).head(top)
    id_w = max(4, int(t["id"].str.len().max()))
    name_w = min(32, max(4, int(t["name"].str.len().max())))
    print(f"\n{'id':<{id_w}}  {'name':<{name_w}}  pol  len  share  lead  variables", file=file)
    for part, rows in shown.groupby("partition", sort=True):
        n_all = int((t["partition"] == part).sum())
        note = "" if len(rows) == n_all else f" (top {len(rows)} of {n_all})"
        print(f"-- partition {part}{note}", file=file)
        for r in rows.itertuples(index=False):
            name = r.name if len(r.name) <= name_w else r.name[: name_w - 1] + "~"
            variables = r.variables if len(r.variables) <= 90 else r.variables[:87] + "..."
            print(f"{r.id:<{id_w}}  {name:<{name_w}}  {r.polarity:^3}  {r.length:>3}  "
                  f"{100 * r.share:4.0f}%  {100 * r.dominant:3.0f}%  {variables}", file=file)
    print("share: mean |relative loop score| over the run; lead: share of the run in the "
          "dominant set", file=file)


def print_periods(dom, *, file=None) -> None:
    file = file or sys.stdout
    periods = dom.main_periods()
    if not periods:
        return
    unit = dom.model.control.time_units
    print("\nLeading loop over the run:", file=file)
    for p in periods:
        lp = dom.loops[p.loops[0]]
        label = f"{lp.id} {lp.name}" if lp.name else f"{lp.id} ({' -> '.join(lp.variables)})"
        if len(label) > 90:
            label = label[:87] + "..."
        print(f"  partition {p.partition}: {p.start:g} .. {p.end:g} {unit}  {label}".rstrip(),
              file=file)
