"""``variances``: the variance matrix of a model (where variances originate and are controlled)."""

from __future__ import annotations

import sys

from .common import (
    add_table_options,
    check_table_outputs,
    parse_assignments,
    write_frame,
)


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "variances", help="trace a model's key variances: origin, detection, control, gaps",
        description="Inject each key variance of a model (its meta.toml [[variance]] tables) "
                    "as a pulse, all in one vectorized ensemble with the baseline, and print "
                    "the variance matrix: the layer where each originates, the variable that "
                    "detects it first, the balancing loop that absorbs it and its layers, "
                    "whether control is technical or human, the time to absorb (back within "
                    "5%% of the baseline), the KPI damage, and joint-optimization gaps "
                    "(docs/sociotech.md).")
    p.add_argument("model", help="a .mdl/.xmile file or a bundled model name")
    p.add_argument("--variance", action="append", metavar="NAME",
                   help="trace only this declared variance (repeatable)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant in every run (repeatable)")
    p.add_argument("--context", help="service-context preset (see `models`)")
    p.add_argument("--horizon", help="run length in model time units or e.g. '3 years'")
    p.add_argument("--tolerance", type=float, default=0.05, metavar="F",
                   help="absorbed: back within this fraction of the baseline (default 0.05)")
    add_table_options(p, "matrix", "Where variances are controlled")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io import load
    from ..sociotech import variance_matrix

    check_table_outputs(args)
    model = load(args.model, context=args.context)
    horizon = args.horizon
    if horizon is not None:
        try:
            horizon = float(horizon)
        except ValueError:
            pass
    vm = variance_matrix(model, args.variance, horizon=horizon, tolerance=args.tolerance,
                         params=parse_assignments(args.set) or None)
    if args.out:
        write_frame(vm.to_frame(), args.out, force=args.force)
    if args.dashboard:
        from ..dashboard import briefing

        briefing(vm, args.dashboard, force=args.force)
    if args.quiet:
        return 0
    print_matrix(vm)
    for path in (args.out, args.dashboard):
        if path:
            print(f"wrote {path}")
    return 0


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def print_matrix(vm, *, file=None) -> None:
    """The matrix as two plain tables (control, then damage) and the gaps."""
    file = file or sys.stdout
    unit = vm.model.control.time_units or "time units"
    print(f"{vm.model.name}: {len(vm)} key variances traced against the baseline (one "
          f"ensemble); absorbed = back within {100 * vm.tolerance:g}% of the baseline",
          file=file)
    head = ("variance", "origin", "detected by", "controlled by loop", "loop layers",
            "control by", f"absorbed ({unit})", "gap")
    rows = []
    for tr in vm:
        rows.append((tr.name, tr.origin, tr.detected_by, _cut(tr.loop_label, 28),
                     ", ".join(tr.loop_layers) or "-", tr.control_by,
                     f"{tr.time_to_absorb:.3g}" if tr.absorbed else "not absorbed",
                     "GAP" if tr.gap else ""))
    _print_rows(head, rows, file)
    names = [k.name for k in vm.kpis]
    if names:
        print("\nKPI damage (variance run minus baseline):", file=file)
        head2 = ("variance",) + tuple(names)
        rows2 = [(tr.name,) + tuple(f"{tr.damage[n]:+.3g}" for n in names) for tr in vm]
        _print_rows(head2, rows2, file)
    gaps = vm.gaps()
    if gaps:
        print("\nJoint-optimization gaps:", file=file)
        for tr in gaps:
            print(f"  {tr.name}: {tr.gap_reason}", file=file)
    else:
        print("\nNo joint-optimization gaps: every variance is controlled in its layer of "
              "origin or an adjacent one.", file=file)


def _print_rows(head, rows, file) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(f"{h:<{w}}" for h, w in zip(head, widths, strict=True)).rstrip(), file=file)
    for r in rows:
        print("  ".join(f"{str(c):<{w}}" for c, w in zip(r, widths, strict=True)).rstrip(),
              file=file)
