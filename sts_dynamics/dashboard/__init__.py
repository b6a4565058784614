"""Plotly figures and self-contained HTML briefings.

Every figure function returns a :class:`plotly.graph_objects.Figure` (nothing calls
``.show()``)::

    behaviour(result)         runs, scenarios with Monte Carlo bands, data against the fit
    loop_diagram(analysis)    causal loop diagram of the loops that matter
    loop_dominance(analysis)  relative loop scores over time, stacked, shifts marked
    kpi_bars(experiment)      scenario KPIs with their uncertainty
    credibility(calibration)  fit, residuals, Theil statistics, parameter intervals
    variance_chart(matrix)    where variances originate, are detected and are controlled
    optimization_chart(opt)   technical-only, social-only and joint optima with their KPIs
    briefing(result, path=)   one offline HTML page with key messages and the figures

Results are read by their documented attributes (duck typing), so experiment and
calibration results work without this package importing them.  Submodules (and plotly) are
imported on first use; no submodule is named like a function it provides (importing a
submodule binds its name on the package).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["behaviour", "loop_diagram", "loop_dominance", "kpi_bars", "credibility",
           "briefing", "export_png", "key_messages", "FigureDataError",
           "CALIBRATION_CONTRACT", "variance_chart", "optimization_chart"]

_WHERE = {
    "behaviour": "over_time", "loop_diagram": "cld", "loop_dominance": "dominance",
    "kpi_bars": "kpis", "credibility": "calibration", "briefing": "page",
    "export_png": "page", "key_messages": "narrative", "FigureDataError": "common",
    "CALIBRATION_CONTRACT": "data", "variance_chart": "sts_lens",
    "optimization_chart": "sts_lens",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
