"""``dashboard``: write a leadership briefing (one offline HTML file)."""

from __future__ import annotations

import importlib
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np

from ..simulate import METHODS
from .common import UsageError, check_output, parse_assignments, progress_enabled

_EXPERIMENT_KEYS = {"policies", "scenarios", "kpis", "samples", "uncertainty", "horizon"}
_CALIBRATION_KEYS = {"calibration", "observe", "observations", "data", "series", "fit"}


def add_subcommand(sub) -> None:
    p = sub.add_parser(
        "dashboard", help="write a leadership briefing (offline HTML) from an experiment, "
                          "a calibration or a model",
        description="Build a briefing: key messages written from the results, then the "
                    "figures (scenario KPIs, behaviour over time, loop dominance, the causal "
                    "loop diagram of the loops that matter, calibration credibility), in one "
                    "self-contained HTML file that works offline. SOURCE is an experiment file "
                    "or bundled experiment (default: the bundled default experiment), a "
                    "calibration spec or bundled calibration (for example github), or a model "
                    "file / bundled model, which is run and "
                    "analysed for loop dominance.")
    p.add_argument("source", nargs="?", metavar="SOURCE",
                   help="experiment TOML or name, calibration spec, or model (default: the "
                        "bundled default experiment)")
    p.add_argument("--out", default="briefing.html", metavar="FILE.html",
                   help="the HTML file to write (default briefing.html)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--title", help="title of the briefing")
    p.add_argument("--samples", type=int, metavar="N", help="Monte Carlo samples (experiments)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="seed of the sampling (experiments, calibrations)")
    p.add_argument("--fast", action="store_true",
                   help="a calibration's fast setting (fewer starts and samples)")
    p.add_argument("--method", default=None,
                   help=f"solver for a model, one of {', '.join(METHODS)} (default RK45)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant of a model (repeatable)")
    p.add_argument("--context", help="service-context preset for a model (see `models`)")
    p.add_argument("--png", metavar="DIR",
                   help="also write each figure as PNG into DIR (needs the png extra, kaleido, "
                        "and Chrome or Chromium)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def _kind(source: str | None) -> str:
    """``experiment``, ``calibration`` or ``model``."""
    if source is None:
        return "experiment"
    path = Path(source)
    if path.is_file():
        if path.suffix.lower() != ".toml":
            return "model"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{source}: invalid TOML: {exc}") from None
        keys = set(data)
        if keys & _CALIBRATION_KEYS and not keys & {"policies", "scenarios"}:
            return "calibration"
        if keys & _EXPERIMENT_KEYS or "model" in keys:
            return "experiment"
        raise UsageError(f"{source}: neither an experiment file (policies, scenarios, kpis) nor "
                         "a calibration spec (observe, data).")
    from ..experiments.config import bundled_experiments
    from ..io import bundled_models

    if source in bundled_experiments():
        return "experiment"
    cal = _calibration_module()
    if cal is not None and source in getattr(cal, "bundled_calibrations", dict)():
        return "calibration"
    if source in bundled_models() or path.suffix.lower() in (".mdl", ".xmile", ".xml",
                                                            ".stmx"):
        return "model"
    raise UsageError(f"{source!r} is not an experiment file or name, a calibration spec or a "
                     "model; see `python -m sts_dynamics models`.")


def run(args) -> int:
    from ..dashboard import briefing

    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {args.out!r}: use an .html file name.")
    for opt in ("samples", "seed"):
        v = getattr(args, opt)
        if v is not None and v < (1 if opt == "samples" else 0):
            sign = "positive" if opt == "samples" else "non-negative"
            raise UsageError(f"--{opt} must be a {sign} integer, got {v}.")
    if args.method is not None and args.method.lower() not in {m.lower() for m in METHODS}:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {args.method!r}.")
    check_output(args.out, force=args.force)
    kind = _kind(args.source)
    if kind == "experiment":
        result = _experiment(args)
    elif kind == "calibration":
        result = _calibration(args)
    else:
        result = _model_run(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        path = briefing(result, args.out, title=args.title, force=args.force,
                        png_dir=args.png)
    if not args.quiet:
        print(f"wrote {path} ({kind} briefing, {Path(path).stat().st_size / 1e6:.1f} MB, "
              "works offline)")
        if args.png:
            n = len(list(Path(args.png).glob("*.png"))) if Path(args.png).is_dir() else 0
            print(f"PNG figures in {args.png}: {n}" if n else
                  "no PNG figures written (static export needs kaleido and Chromium)",
                  file=sys.stdout if n else sys.stderr)
    return 0


def _experiment(args):
    from ..experiments.config import load_experiment

    spec = load_experiment(args.source)
    overrides = {"progress": progress_enabled(args)}
    if args.samples is not None:
        overrides["n_samples"] = args.samples
    if args.seed is not None:
        overrides["seed"] = args.seed
    return spec.run(**overrides)


def _calibration_module():
    """The module that reads calibration specs (``load_calibration``), if installed."""
    for name in ("..calibrate.spec", "..calibrate"):
        try:
            mod = importlib.import_module(name, __package__)
        except ImportError:
            continue
        if hasattr(mod, "load_calibration"):
            return mod
    return None


def _calibration(args):
    mod = _calibration_module()
    if mod is None:
        raise UsageError(f"{args.source}: briefings from a calibration spec need the "
                         "calibration runner (sts_dynamics.calibrate.load_calibration), which "
                         "this installation does not have yet; pass a model or an experiment.")
    spec = mod.load_calibration(args.source)
    if not hasattr(spec, "run"):
        return spec
    try:
        return spec.run(fast=args.fast, seed=args.seed, progress=progress_enabled(args))
    except TypeError:                      # a runner without those options
        return spec.run()


def _model_run(args):
    from ..io import load
    from ..simulate import simulate

    model = load(args.source, context=args.context)
    method = next((m for m in METHODS if m.lower() == (args.method or "RK45").lower()), "RK45")
    t_eval = None
    if method == "euler":
        ctl = model.control
        n = int(round((ctl.final_time - ctl.initial_time) / ctl.time_step))
        t_eval = ctl.initial_time + ctl.time_step * np.arange(n + 1)
    return simulate(model, params=parse_assignments(args.set) or None, method=method,
                    t_eval=t_eval)
