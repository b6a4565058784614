"""``calibrate``: fit a model to data as a calibration spec (TOML) says, and write a report."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from .common import UsageError, atomic_write, check_output, progress_enabled

OUTPUTS = ("report.txt", "fitted.csv", "parameters.csv", "figure.html")


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate a model to data (a TOML spec)",
        description="Calibrate a model to observed series as a calibration spec says and write "
                    "report.txt (lmfit-style report), fitted.csv (data, fit and bands), "
                    "parameters.csv and figure.html to --out.")
    p.add_argument("spec", help="a calibration spec (.toml) or the name of a bundled one "
                                "(github, kev)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, help="override the spec's seed")
    p.add_argument("--fast", action="store_true",
                   help="apply the spec's [fast] overrides (a quick check, as in CI)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def _command(args) -> str:
    parts = ["python", "-m", "sts_dynamics", "calibrate", args.spec, "--out", args.out]
    if args.seed is not None:
        parts += ["--seed", str(args.seed)]
    if args.fast:
        parts.append("--fast")
    parts.append("--force")
    return shlex.join(parts)


def run(args) -> int:
    from .. import __version__
    from ..calibrate.figure import calibration_figure
    from ..calibrate.spec import load_calibration

    out = check_output(args.out, force=args.force, is_dir=True)
    if not args.force:
        existing = [n for n in OUTPUTS if (out / n).exists()]
        if existing:
            raise UsageError(f"{str(out / existing[0])!r} exists; pass --force to overwrite it.")
    spec = load_calibration(args.spec)
    t0 = time.perf_counter()
    result = spec.run(fast=args.fast, seed=args.seed, progress=progress_enabled(args))
    elapsed = time.perf_counter() - t0
    out.mkdir(exist_ok=True)
    seed = args.seed if args.seed is not None else spec.fit.get("seed")
    header = [f"# {spec.title or spec.name}: calibration report",
              f"# Regenerate: {_command(args)}",
              f"# sts_dynamics {__version__}; spec {args.spec}; seed {seed}"
              + ("; fast settings" if args.fast else "")]
    if spec.description:
        header += ["#"] + [f"# {line}".rstrip() for line in spec.description.strip().splitlines()]
    text = "\n".join(header) + "\n\n" + result.report()
    atomic_write(out / "report.txt", lambda p: p.write_text(text, encoding="utf-8"),
                 force=True)
    atomic_write(out / "fitted.csv", lambda p: result.fitted_frame().to_csv(p, index=False),
                 force=True)
    atomic_write(out / "parameters.csv", lambda p: result.to_frame().to_csv(p), force=True)
    fig = calibration_figure(result, title=spec.title or None)
    note = (f"<!-- {header[0][2:]} | {header[1][2:]} -->\n")
    atomic_write(out / "figure.html",
                 lambda p: p.write_text(note + fig.to_html(include_plotlyjs="cdn",
                                                           full_html=True, div_id="calibration"),
                                        encoding="utf-8"), force=True)
    if not args.quiet:
        print(text, end="")
        wrote = ", ".join(str(Path(out) / n) for n in OUTPUTS)
        print(f"calibrated in {elapsed:.1f} s; wrote {wrote}", file=sys.stdout)
    return 0
