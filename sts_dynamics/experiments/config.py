"""Experiment files (TOML): model, context, horizon, policies, scenarios, KPIs, uncertainty.

The format is documented in ``docs/experiments.md``; the bundled default experiment
(``models/experiments/default.toml``) is its example.  :func:`load_experiment` reads and
checks a file completely (every name against the model, every date against the horizon)
before anything runs; :meth:`ExperimentSpec.run` runs it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StsDynamicsError, UnknownNameError, check_keys, close_matches
from ..io import load
from ..io.bundled import bundled_files
from ..model import Model
from ..output import FORMATS
from ..simulate import METHODS
from .core import DEFAULT_SAMPLES, prepare, run_experiment
from .distributions import (
    Posterior,
    Uncertainty,
    check_sampling,
    distribution_from_dict,
    nearest_powers_of_two,
)
from .kpis import resolve_kpis
from .policy import MODES, Policy, Scenario
from .result import ExperimentResult

__all__ = ["ExperimentSpec", "load_experiment", "bundled_experiments", "parse_experiment"]

_TOP = ("title", "description", "model", "context", "horizon", "baseline", "method", "seed",
        "samples", "sampling", "kpis", "percentiles", "policies", "scenarios", "uncertainty",
        "posterior", "output")
_POLICY = ("set", "scale", "add", "start", "end", "at", "interpolation", "description")
_SCENARIO = ("policies", "description")
_OUTPUT = ("folder", "formats", "record")
_POSTERIOR = ("file", "columns")


@dataclass(frozen=True, eq=False)
class ExperimentSpec:
    """A checked experiment file, ready to run.

    Attributes mirror the file; ``output_folder`` is resolved against the file's folder.
    """

    model: Model
    scenarios: tuple[Scenario, ...]
    baseline: str | None = None
    horizon: Any = None
    kpis: Any = None
    uncertainty: Uncertainty | None = None
    n_samples: int | None = None
    seed: int | None = None
    sampling: str = "random"
    method: str = "RK45"
    percentiles: tuple[float, float] = (5.0, 95.0)
    output_folder: Path | None = None
    formats: tuple[str, ...] = ("csv",)
    record: tuple[str, ...] | None = None
    title: str = ""
    description: str = ""
    source: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, **overrides: Any) -> ExperimentResult:
        """Run the experiment; keyword arguments override :func:`run_experiment` options
        (for example ``n_samples``, ``seed``, ``executor``, ``progress``)."""
        kwargs: dict[str, Any] = dict(
            horizon=self.horizon, kpis=self.kpis, uncertainty=self.uncertainty,
            n_samples=self.n_samples, seed=self.seed, sampling=self.sampling,
            baseline=self.baseline, method=self.method, percentiles=self.percentiles,
            record=self.record)
        kwargs.update(overrides)
        return run_experiment(self.model, list(self.scenarios), **kwargs)

    def with_options(self, **changes: Any) -> ExperimentSpec:
        return replace(self, **changes)


def bundled_experiments() -> dict[str, Path]:
    """``{name: path}`` of the bundled experiment files."""
    return bundled_files("experiments")


def _policy(name: str, spec: Any) -> Policy:
    where = f"[policies.{name!r}]"
    spec = check_keys(spec, _POLICY, where)
    modes = [m for m in MODES if m in spec]
    if len(modes) != 1:
        raise ConfigError(f"{where}: give exactly one of `set`, `scale` or `add` (a table of "
                          f"constant names and values), got {modes or 'none'}.")
    mode = modes[0]
    changes = spec[mode]
    if not isinstance(changes, Mapping) or not changes:
        raise ConfigError(f"{where}: `{mode}` must be a table such as {{ \"automation level\" "
                          f"= 0.8 }}, got {changes!r}.")
    if "at" in spec and ("start" in spec or "end" in spec):
        raise ConfigError(f"{where}: `at` is a step date; use either `at` or `start`/`end`.")
    start = spec.get("at", spec.get("start"))
    return Policy(name, dict(changes), start=start, end=spec.get("end"), mode=mode,
                  interpolation=spec.get("interpolation", "step"),
                  description=str(spec.get("description", "")))


def _scenarios(data: dict, policies: dict[str, Policy]) -> list[Scenario]:
    raw = data.get("scenarios", {})
    if not isinstance(raw, Mapping):
        raise ConfigError("`scenarios` must be a table of tables: [scenarios.\"name\"] with "
                          "`policies = [...]`.")
    out = []
    for name, spec in raw.items():
        where = f"[scenarios.{name!r}]"
        spec = check_keys(spec, _SCENARIO, where)
        names = spec.get("policies", [])
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            raise ConfigError(f"{where}: `policies` must be a list of policy names, got "
                              f"{names!r}.")
        chosen = []
        for pname in names:
            if pname not in policies:
                raise UnknownNameError(
                    f"{where}: unknown policy {pname!r}; defined: "
                    f"{', '.join(map(repr, policies)) or '(none)'}."
                    f"{close_matches(str(pname), policies)}")
            chosen.append(policies[pname])
        out.append(Scenario(str(name), tuple(chosen), str(spec.get("description", ""))))
    if not out:  # every policy on its own
        out = [Scenario(p.name, (p,), p.description) for p in policies.values()]
    return out


def _uncertainty(data: dict, folder: Path) -> Uncertainty | None:
    raw = data.get("uncertainty", {})
    if not isinstance(raw, Mapping):
        raise ConfigError("`uncertainty` must be a table: \"constant name\" = { dist = ..., "
                          "... }.")
    dists = {str(name): distribution_from_dict(spec, f"[uncertainty] {name!r}")
             for name, spec in raw.items()}
    post = data.get("posterior")
    posterior = None
    if post is not None:
        if isinstance(post, str):
            post = {"file": post}
        post = check_keys(post, _POSTERIOR, "[posterior]")
        if "file" not in post:
            raise ConfigError("[posterior]: needs `file`, a CSV or Parquet table of samples.")
        path = Path(post["file"])
        posterior = Posterior(path if path.is_absolute() else folder / path,
                              post.get("columns"))
    if not dists and posterior is None:
        return None
    return Uncertainty(dists, posterior)


def _model_path(value: Any, folder: Path) -> str | Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"`model` must be a bundled model name or a model file path, got "
                          f"{value!r}.")
    p = Path(value)
    if p.suffix:
        return p if p.is_absolute() else folder / p
    return value


def parse_experiment(data: Mapping[str, Any], *, folder: str | os.PathLike = ".",
                     source: str = "<dict>", model: Model | None = None) -> ExperimentSpec:
    """Check an experiment given as a dict (the parsed TOML); see :func:`load_experiment`."""
    folder = Path(folder)
    data = check_keys(data, _TOP, "experiment")
    if model is None:
        if "model" not in data:
            raise ConfigError("`model` is missing: name a bundled model (e.g. \"sts_core\") or "
                              "a model file.")
        model = load(_model_path(data["model"], folder), context=data.get("context"))
    raw_policies = data.get("policies", {})
    if not isinstance(raw_policies, Mapping):
        raise ConfigError("`policies` must be a table of tables: [policies.\"name\"].")
    policies = {str(n): _policy(str(n), s) for n, s in raw_policies.items()}
    scenarios = _scenarios(data, policies)
    uncertainty = _uncertainty(data, folder)
    method = data.get("method", "RK45")
    if method not in METHODS:
        raise ConfigError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}."
                          f"{close_matches(str(method), METHODS)}")
    samples = data.get("samples")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                or samples < 1):
        raise ConfigError(f"`samples` must be a positive integer, got {samples!r}.")
    sampling = check_sampling(data.get("sampling", "random"))
    if sampling == "sobol" and uncertainty is not None:
        if samples is None and DEFAULT_SAMPLES & (DEFAULT_SAMPLES - 1):
            near = nearest_powers_of_two(DEFAULT_SAMPLES)
            raise ConfigError(f"`samples` must be given, a power of 2, for sampling='sobol' "
                              f"(the default {DEFAULT_SAMPLES} is not one; use {near[0]} or "
                              f"{near[1]}).")
        check_sampling(sampling, samples, n_arg="samples")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"`seed` must be a non-negative integer, got {seed!r}.")
    pct = data.get("percentiles", [5, 95])
    if (not isinstance(pct, list) or len(pct) != 2
            or not all(isinstance(x, int | float) for x in pct) or not 0 <= pct[0] < pct[1] <= 100):
        raise ConfigError(f"`percentiles` must be two numbers [low, high] between 0 and 100, "
                          f"got {pct!r}.")
    output = check_keys(data.get("output", {}), _OUTPUT, "[output]")
    out_folder = None
    if "folder" in output:
        out_folder = Path(output["folder"])
        if not out_folder.is_absolute():
            out_folder = folder / out_folder
    formats = output.get("formats", ["csv"])
    if isinstance(formats, str):
        formats = [formats]
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"[output]: unknown format {fmt!r}; use {', '.join(FORMATS)}."
                              f"{close_matches(str(fmt), FORMATS)}")
    record = output.get("record")
    if record is not None:
        record = tuple(record)
        for r in record:
            model.resolve(r)
    kpis = data.get("kpis")
    # check everything against the model now, before any run
    scen, base, unc, _, _ = prepare(model, scenarios, uncertainty, data.get("horizon"),
                                    data.get("baseline"))
    resolve_kpis(model, kpis)
    return ExperimentSpec(
        model=model, scenarios=tuple(scenarios), baseline=base, horizon=data.get("horizon"),
        kpis=kpis, uncertainty=unc, n_samples=samples, seed=seed, sampling=sampling,
        method=method, percentiles=(float(pct[0]), float(pct[1])), output_folder=out_folder,
        formats=tuple(formats), record=record, title=str(data.get("title", "")),
        description=str(data.get("description", "")), source=source)


def load_experiment(path_or_name: str | os.PathLike | None = None) -> ExperimentSpec:
    """Read and check an experiment file (or a bundled experiment by name).

    Parameters
    ----------
    path_or_name : str or path, optional
        A TOML file, or the name of a bundled experiment; default ``"default"``.

    Raises
    ------
    ConfigError
        Syntax errors (with line and column), unknown keys (with close matches), invalid
        distributions, policy dates outside the horizon.
    UnknownNameError
        A name that the model does not define (with close matches).

    Examples
    --------
    >>> spec = load_experiment()  # doctest: +SKIP
    >>> spec.run(n_samples=50, seed=1).kpis()  # doctest: +SKIP
    """
    name = "default" if path_or_name is None else path_or_name
    path = Path(name)
    if not path.is_file():
        bundled = bundled_experiments()
        if str(name) in bundled:
            path = bundled[str(name)]
        elif path.suffix or os.sep in str(name) or "/" in str(name):
            raise ConfigError(f"experiment file {str(name)!r} does not exist.")
        else:
            raise UnknownNameError(
                f"{str(name)!r} is neither an experiment file nor a bundled experiment; bundled: "
                f"{', '.join(bundled) or '(none)'}.{close_matches(str(name), bundled)}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file.") from None
    try:
        return parse_experiment(data, folder=path.parent, source=str(path))
    except StsDynamicsError as exc:
        msg = str(exc)
        if msg.startswith(str(path)):
            raise
        raise type(exc)(f"{path}: {msg}") from None
