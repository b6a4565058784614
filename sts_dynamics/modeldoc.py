"""Model documentation generated from the model files, so that it cannot drift.

``python -m sts_dynamics models --markdown > docs/models.md`` regenerates the page; a test
checks that the committed page equals :func:`library_markdown`.
"""

from __future__ import annotations

import re

from .io import bundled_models, load
from .model import Model

__all__ = ["model_markdown", "library_markdown"]


def _cell(text: str) -> str:
    text = re.sub(r"\[\s*layer\s*:[^\]]*\]", "", text or "", flags=re.IGNORECASE)
    return " ".join(text.replace("|", "\\|").split())


def model_markdown(model: Model) -> str:
    """A Markdown page for one model: stocks, flows, loops, parameters, levers.

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> md = model_markdown(sd.load("operator_skill"))  # doctest: +SKIP
    """
    meta = model.metadata
    v = model.variables
    out = [f"## `{model.name}`", ""]
    if meta.get("description"):
        out += [meta["description"], ""]
    ctl = model.control
    unit = ctl.time_units or meta.get("time_unit", "")
    out += [f"Time: {ctl.initial_time:g} to {ctl.final_time:g} {unit}, TIME STEP "
            f"{ctl.time_step:g}, SAVEPER {ctl.saveper:g}.", ""]
    out += ["### Stocks", "", "| stock | layer | units | inflows | outflows | description |",
            "|---|---|---|---|---|---|"]
    for k in model.stocks:
        s = v[k]
        if s.internal:
            continue
        ins = ", ".join(_flow_name(model, f) for f in s.inflows) or "-"
        outs = ", ".join(_flow_name(model, f) for f in s.outflows) or "-"
        out.append(f"| {s.name} | {s.layer} | {_cell(s.units)} | {ins} | {outs} | "
                   f"{_cell(s.documentation)} |")
    out += ["", "### Flows and auxiliaries", "",
            "| variable | kind | layer | units | description |", "|---|---|---|---|---|"]
    for var in v.values():
        if var.internal or var.kind not in ("flow", "auxiliary"):
            continue
        out.append(f"| {var.name} | {var.kind} | {var.layer} | {_cell(var.units)} | "
                   f"{_cell(var.documentation)} |")
    loops = meta.get("loop", [])
    if loops:
        out += ["", "### Feedback loops", "", "| id | name | polarity | variables (in order) |",
                "|---|---|---|---|"]
        for lp in loops:
            out.append(f"| {lp.get('id', '')} | {lp.get('name', '')} | {lp.get('polarity', '')} "
                       f"| {' -> '.join(lp.get('variables', []))} |")
    out += ["", "### Parameters", "", "| constant | default | units | layer | source / note |",
            "|---|---|---|---|---|"]
    for var in v.values():
        if var.kind != "constant" or var.internal:
            continue
        out.append(f"| {var.name} | {var.value:g} | {_cell(var.units)} | {var.layer} | "
                   f"{_cell(var.documentation)} |")
    levers = meta.get("lever", [])
    if levers:
        out += ["", "### Policy levers", "", "| lever | constant | subsystem | range | unit |",
                "|---|---|---|---|---|"]
        for lv in levers:
            rng = lv.get("range", [])
            out.append(f"| {lv.get('name', '')} | {lv.get('constant', '')} | "
                       f"{lv.get('subsystem', '')} | {' to '.join(map(str, rng))} | "
                       f"{lv.get('unit', '')} |")
    return "\n".join(out) + "\n"


def _flow_name(model: Model, key: str) -> str:
    var = model.variables[key]
    return var.name if not var.internal else f"({_cell(str(var.name))})"


def library_markdown() -> str:
    """The page ``docs/models.md``: every bundled model."""
    parts = ["# The model library", "",
             "Generated from the model files in `models/` by `python -m sts_dynamics models "
             "--markdown`; do not edit by hand.", ""]
    for name in bundled_models():
        parts.append(model_markdown(load(name)))
    return "\n".join(parts)
