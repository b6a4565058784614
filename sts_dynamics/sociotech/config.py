"""Optimization files (TOML) for ``python -m sts_dynamics optimize FILE.toml``.

The format is documented in ``docs/sociotech.md``; the bundled example is
``models/optimizations/default.toml``.  :func:`load_optimization` reads and checks the whole
file (every name against the model) before anything runs.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StsDynamicsError, UnknownNameError, check_keys, close_matches
from ..io import load
from ..io.bundled import bundled_files
from ..model import Model
from .expression import parse_expression
from .levers import resolve_levers
from .optimize import DEFAULT_OBJECTIVE, _constraints, optimize_policy
from .optimum import PolicyOptimum
from .problem import check_periods, parse_robust, resolve_names

__all__ = ["OptimizationSpec", "load_optimization", "bundled_optimizations"]

_TOP = ("title", "description", "model", "context", "horizon", "objective", "constraints",
        "budget", "time_varying", "seed", "compare", "method", "kpis", "levers", "costs",
        "robust", "uncertainty", "search")
_ROBUST = ("statistic", "samples")
_SEARCH = ("maxiter", "popsize", "tol", "polish", "rtol", "atol")


@dataclass(frozen=True, eq=False)
class OptimizationSpec:
    """A checked optimization file; :meth:`run` calls :func:`optimize_policy`."""

    model: Model
    options: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    description: str = ""
    source: str = ""

    def run(self, **overrides: Any) -> PolicyOptimum:
        kwargs = dict(self.options)
        kwargs.update(overrides)
        return optimize_policy(self.model, **kwargs)


def bundled_optimizations() -> dict[str, Path]:
    """``{name: path}`` of the bundled optimization files."""
    return bundled_files("optimizations")


def load_optimization(path: str | os.PathLike) -> OptimizationSpec:
    """Read and check an optimization file (or a bundled one by name).

    Every mistake raises :class:`~sts_dynamics.errors.ConfigError` (or ``UnknownNameError``)
    with one line that starts with the file's name.
    """
    p = Path(path)
    if not p.is_file():
        bundled = bundled_optimizations()
        if str(path) in bundled:
            p = bundled[str(path)]
        else:
            hint = close_matches(str(path), bundled)
            raise ConfigError(f"optimization file {str(path)!r} not found.{hint} Bundled: "
                              f"{', '.join(bundled) or 'none'}.")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p.name}: invalid TOML: {exc}") from None
    try:
        return _parse(doc, p)
    except StsDynamicsError as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.startswith(p.name) else f"{p.name}: {msg}") from None


def _parse(doc: dict, p: Path) -> OptimizationSpec:
    doc = check_keys(doc, _TOP, "the file")
    if "model" not in doc:
        raise ConfigError("give `model`: a bundled model name or a model file relative to this "
                          "file.")
    src = str(doc["model"])
    cand = p.parent / src
    model = load(cand if cand.suffix and cand.is_file() else src, context=doc.get("context"))
    opts: dict[str, Any] = {}
    if "levers" in doc:
        levers = doc["levers"]
        if isinstance(levers, Mapping):
            levers = {k: (None if v is True or v == "declared" else v) for k, v in levers.items()}
        opts["levers"] = levers
    costs = doc.get("costs")
    if costs is not None and not isinstance(costs, Mapping):
        raise ConfigError(f"[costs] must be a table of lever names and costs, got {costs!r}.")
    lev = resolve_levers(model, opts.get("levers"), costs)
    if costs:
        opts["costs"] = dict(costs)
    objective = doc.get("objective", DEFAULT_OBJECTIVE)
    obj = parse_expression(objective, what="objective")
    resolve_names(model, obj.names, lev, "objective")
    opts["objective"] = objective
    cons = _constraints(doc.get("constraints"), doc.get("budget"))
    for c in cons:
        e = parse_expression(c, what="constraint", comparison=True)
        resolve_names(model, e.names, lev, f"constraint {c!r}")
    if "constraints" in doc:
        opts["constraints"] = doc["constraints"]
    if "budget" in doc:
        opts["budget"] = doc["budget"]
    for key in ("horizon", "seed", "compare", "method", "kpis"):
        if key in doc:
            opts[key] = doc[key]
    if "time_varying" in doc:
        check_periods(doc["time_varying"])
        opts["time_varying"] = doc["time_varying"]
    if "robust" in doc:
        r = check_keys(doc["robust"], _ROBUST, "[robust]")
        if "statistic" not in r:
            raise ConfigError("[robust] needs `statistic`: 'mean' or a percentile such as "
                              "'p90'.")
        robust = (r["statistic"], r.get("samples", 32))
        parse_robust(robust)
        opts["robust"] = robust
    if "uncertainty" in doc:
        if "robust" not in doc:
            raise ConfigError("[uncertainty] is used only by a robust optimization; add "
                              "[robust] with `statistic` = 'mean' or 'p90'.")
        from ..experiments.distributions import as_uncertainty
        from ..experiments.paths import resolve_constant

        unc = as_uncertainty(dict(doc["uncertainty"]))
        for name in unc.names:
            resolve_constant(model, name, "[uncertainty]")
        opts["uncertainty"] = unc
    elif "robust" in doc and not (model.metadata or {}).get("uncertainty"):
        raise ConfigError(f"[robust] needs [uncertainty]: distributions of uncertain constants "
                          f"(model {model.name!r} declares none).")
    if "search" in doc:
        opts.update(check_keys(doc["search"], _SEARCH, "[search]"))
    if "kpis" in opts:
        from ..experiments.kpis import resolve_kpis

        try:
            resolve_kpis(model, opts["kpis"])
        except UnknownNameError as exc:
            raise UnknownNameError(f"kpis: {exc}") from None
    return OptimizationSpec(model=model, options=opts, title=str(doc.get("title", "")),
                            description=str(doc.get("description", "")), source=str(p))
