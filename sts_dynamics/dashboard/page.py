"""Leadership briefings: one self-contained HTML file with key messages and figures."""

from __future__ import annotations

import datetime as _dt
import html
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from ..output import atomic_write_many, check_targets, write_text
from .common import kind_of

__all__ = ["briefing", "Section", "build_sections", "render_html", "export_png"]


@dataclass
class Section:
    """One figure of a briefing: heading, figure, caption."""

    id: str
    heading: str
    figure: go.Figure | None
    caption: str
    html: str = ""          # extra HTML below the figure (tables)


def _baseline_simulation(result: Any):
    """A run of an experiment's model over its horizon at default values (the baseline)."""
    from ..simulate import simulate

    horizon = dict(getattr(result, "info", {}) or {}).get("horizon")
    t_span = tuple(float(x) for x in horizon) if horizon else None
    return simulate(result.model, t_span=t_span)


def _analysis(sim: Any, notes: list[str]):
    from ..loops import LoopWarning, loop_dominance

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LoopWarning)
        dom = loop_dominance(sim)
    notes += [str(w.message) for w in caught if issubclass(w.category, LoopWarning)]
    return dom


def build_sections(result: Any, *, analysis: Any = None, sim: Any = None,
                   loops_top: int = 5, extra: Sequence[Any] = ()
                   ) -> tuple[list[Section], Any, Any, list[str]]:
    """The sections of a briefing for ``result``, and the loop analysis and run behind them.

    ``extra`` results (a VarianceMatrix, a PolicyOptimum) add their sections after the
    result's own and before the loop sections.
    """
    from .calibration import credibility
    from .cld import default_time, loop_diagram
    from .dominance import loop_dominance as dominance_figure
    from .kpis import kpi_bars
    from .over_time import behaviour
    from .sts_lens import sociotech_sections

    kind = kind_of(result)
    notes: list[str] = []
    sections: list[Section] = []
    lens = sociotech_sections(result)
    if lens:
        sections += lens
        if sim is None and analysis is None:
            sim = _model_run(result)
    elif kind == "simulation":
        sim = result
    elif kind == "loops":
        analysis = result
    elif kind == "experiment":
        sections.append(Section(
            "kpis", "Scenario outcomes", kpi_bars(result),
            "Change of each KPI against the baseline, run by run with the same parameter "
            "samples; bars are medians, whiskers the percentile band over the Monte Carlo "
            "runs."))
        if result.trajectories:
            sections.append(Section(
                "behaviour", "Behaviour over time", behaviour(result),
                "Median of every scenario over time with its percentile band over runs."))
        if sim is None:
            sim = _baseline_simulation(result)
    elif kind == "calibration":
        from .data import calibration_parts

        parts = calibration_parts(result)
        held = "; the shaded window was held out of the fit and scored against it" \
            if parts["holdout"] is not None else ""
        sections.append(Section(
            "fit", "Data against the calibrated model", behaviour(result),
            "Observed series (dots) against the calibrated model (line) and its predictive "
            f"band{held}."))
        sections.append(Section(
            "credibility", "How far to trust the model", credibility(result),
            "Residuals, the Theil decomposition of the squared error (bias U_M, variability "
            "U_S, unsystematic U_C) and the parameter estimates with their intervals."))
        if sim is None:
            sim = parts["simulation"]
    else:
        raise TypeError(f"`result` must be a Simulation, LoopAnalysis, ExperimentResult or "
                        f"CalibrationResult, got {type(result).__name__}.")
    if kind == "simulation":
        sections.append(Section("behaviour", "Behaviour over time", behaviour(sim),
                                "The model's stocks over the run."
                                if sim.n_runs is None else
                                "Median of the stocks over the runs with a 5-95% band."))
    for item in extra:
        more = sociotech_sections(item)
        if not more and not isinstance(item, Section):
            raise TypeError(f"`extra` items must be a VarianceMatrix, a PolicyOptimum or a "
                            f"Section, got {type(item).__name__}.")
        sections += more or [item]
    if analysis is None and sim is not None:
        analysis = _analysis(sim, notes)
    if analysis is not None:
        unit = analysis.model.control.time_units
        sections.append(Section(
            "dominance", "Which feedback loops drive the behaviour", dominance_figure(analysis),
            "Relative loop scores (Loops That Matter): the share of the change in the model's "
            "stocks that each loop explains, reinforcing loops above zero in reds, balancing "
            "loops below in blues; dashed lines mark where the leading loop changes."))
        if len(analysis.loops):
            t = default_time(analysis)
            sections.append(Section(
                "loops", "The loops that matter", loop_diagram(analysis, top=loops_top),
                f"The loops with the largest share of dominance. Link width: |link score| at "
                f"{unit.lower() or 't'} {t:g}; colours of the variables: sociotechnical layer; "
                "grey links or loop markers: polarity not certain." + _boundary(analysis),
                html=_loop_table(analysis)))
    return sections, analysis, sim, notes


def _model_run(result: Any):
    """A run of a sociotechnical result's model over its horizon, at the model's values."""
    from ..simulate import simulate

    horizon = getattr(result, "horizon", None)
    if horizon is None and getattr(result, "t", None) is not None and len(result.t):
        horizon = (float(result.t[0]), float(result.t[-1]))
    return simulate(result.model, t_span=tuple(horizon) if horizon else None)


def _boundary(analysis: Any) -> str:
    """The share of loop dominance of loops that cross the technical/social boundary."""
    loops = analysis.loops
    if not any(lp.crosses_boundary for lp in loops):
        return ""
    return (f" Loops that cross the technical/social boundary hold "
            f"{100 * analysis.boundary_share():.0f}% of loop dominance over the run.")


def _loop_table(analysis: Any, top: int = 10) -> str:
    tab = analysis.table()
    tab = tab.sort_values(["partition", "share"], ascending=[True, False]).head(top)
    rows = []
    for r in tab.itertuples(index=False):
        pol = {"R": "reinforcing", "B": "balancing"}.get(r.polarity, "uncertain")
        rows.append(
            f"<tr><td><b>{html.escape(r.id)}</b></td><td>{html.escape(r.name)}</td>"
            f"<td class='pol-{r.polarity}'>{pol}</td><td>{100 * r.share:.0f}%</td>"
            f"<td>{html.escape(r.layers)}</td><td class='vars'>{html.escape(r.variables)}</td>"
            "</tr>")
    return ("<table class='loops'><thead><tr><th>Loop</th><th>Name</th><th>Polarity</th>"
            "<th>Share</th><th>Layers</th><th>Variables</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


_CSS = """
body{font-family:"Segoe UI","Helvetica Neue",Arial,sans-serif;margin:0;background:#f6f7f9;
color:#1d2430}
header{background:#1f3b73;color:#fff;padding:28px 48px 22px}
header h1{margin:0 0 6px;font-size:28px;font-weight:600}
header p{margin:0;opacity:.85}
main{max-width:1180px;margin:0 auto;padding:24px 48px 48px}
.messages{background:#fff;border-left:6px solid #e67e22;padding:16px 28px;margin:8px 0 28px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.messages h2{margin:4px 0 10px;font-size:19px}
.messages li{margin:8px 0;font-size:16px;line-height:1.45}
section.figure{background:#fff;margin:0 0 28px;padding:18px 24px 12px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
section.figure h2{font-size:19px;margin:4px 0 6px}
p.caption{color:#4a5565;font-size:14px;line-height:1.45;margin:6px 0 10px}
table.loops{border-collapse:collapse;font-size:13px;width:100%;margin:8px 0 6px}
table.loops th,table.loops td{border-bottom:1px solid #e4e7eb;padding:5px 8px;text-align:left;
vertical-align:top}
table.loops td.vars{color:#4a5565}
.pol-R{color:#b2182b}.pol-B{color:#2166ac}.pol-U{color:#777}
.notes{font-size:12px;color:#6b7480;margin-top:24px}
#render-report{display:none}
"""

# Collects JavaScript errors before any figure code runs.
_HEAD_JS = """
window.__stsErrors = [];
window.addEventListener('error', function (e) {
  window.__stsErrors.push(String(e.message || e.type) + ' @ ' + (e.filename || '') + ':' +
                          (e.lineno || ''));
});
window.addEventListener('unhandledrejection', function (e) {
  window.__stsErrors.push('unhandled rejection: ' + String(e.reason));
});
"""

# Writes a render report into the page (read by the browser test from the DOM).
_TAIL_JS = """
(function () {
  var started = Date.now();
  function report(final) {
    var figs = Array.prototype.slice.call(document.querySelectorAll('div.sts-figure'));
    var out = figs.map(function (wrap) {
      var gd = wrap.querySelector('.js-plotly-plot');
      var box = gd ? gd.getBoundingClientRect() : {width: 0, height: 0};
      return {id: wrap.id, expected: parseInt(wrap.dataset.traces, 10),
              traces: gd && gd.data ? gd.data.length : 0,
              drawn: gd ? gd.querySelectorAll('g.trace').length : 0,
              svgs: gd ? gd.querySelectorAll('svg.main-svg').length : 0,
              width: Math.round(box.width), height: Math.round(box.height),
              ready: !!(gd && gd._fullLayout)};
    });
    var done = out.every(function (f) { return f.ready && f.svgs > 0; });
    if (done || final) {
      var el = document.getElementById('render-report');
      el.textContent = JSON.stringify({figures: out, errors: window.__stsErrors,
                                       complete: done});
      el.setAttribute('data-complete', done ? 'yes' : 'no');
      return true;
    }
    return false;
  }
  function poll() {
    if (!report(Date.now() - started > 8000)) { setTimeout(poll, 100); }
  }
  window.addEventListener('load', function () { setTimeout(poll, 50); });
})();
"""


def render_html(title: str, subtitle: str, messages: Sequence[str],
                sections: Sequence[Section], notes: Sequence[str] = ()) -> str:
    """The briefing page: plotly.js embedded once, so the file works offline."""
    parts = []
    first = True
    for s in sections:
        if s.figure is None:
            continue
        s.figure.update_layout(title=None, margin=dict(t=30))     # the section has a heading
        div = s.figure.to_html(full_html=False, include_plotlyjs=first,
                               div_id=f"fig-{s.id}", config={"displaylogo": False,
                                                             "responsive": True})
        first = False
        parts.append(
            f"<section class='figure'><h2>{html.escape(s.heading)}</h2>"
            f"<div class='sts-figure' id='wrap-{s.id}' data-traces='{len(s.figure.data)}'>"
            f"{div}</div><p class='caption'>{html.escape(s.caption)}</p>{s.html}</section>")
    items = "".join(f"<li>{html.escape(m)}</li>" for m in messages)
    note_html = ""
    if notes:
        note_html = "<div class='notes'>" + "<br>".join(html.escape(n) for n in notes) + \
            "</div>"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{_HEAD_JS}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>"
        f"<div class='messages'><h2>Key messages</h2><ul>{items}</ul></div>"
        + "".join(parts) + note_html +
        f"<pre id='render-report' data-complete='pending'></pre><script>{_TAIL_JS}</script>"
        "</main></body></html>")


def briefing(result: Any, path: str | os.PathLike | None = None, *, title: str | None = None,
             analysis: Any = None, sim: Any = None, force: bool = True,
             png_dir: str | os.PathLike | None = None, loops_top: int = 5,
             extra: Sequence[Any] = ()) -> str | Path:
    """A leadership briefing: one self-contained HTML file (works offline).

    A title, three to five key messages written from the results (for example "From week 30
    the alert-fatigue spiral (R2) drives the decline in Detection Capacity"), then the
    figures with short captions: scenario KPIs (experiments), the fit and its credibility
    (calibrations), behaviour over time, loop dominance and the causal loop diagram of the
    loops that matter.

    Parameters
    ----------
    result : Simulation, LoopAnalysis, ExperimentResult, CalibrationResult, VarianceMatrix or
        PolicyOptimum
        Results are recognised by their attributes (see :func:`.common.kind_of`).  An
        experiment's loops are those of its baseline run; a calibration's are those of its
        ``simulation`` when it has one; a variance matrix's or optimum's, those of a run of
        its model.
    path : path, optional
        Where to write the page (atomically); without it the HTML is returned.
    analysis, sim : optional
        A loop analysis (or the run to analyse) to use instead of the default.
    force : bool
        Overwrite ``path`` if it exists (default True; the command line asks for --force).
    png_dir : path, optional
        Also write each figure as PNG there, where kaleido and a browser are available
        (see :func:`export_png`).
    extra : sequence, optional
        More results whose sections join the page: a VarianceMatrix ("Where variances are
        controlled"), a PolicyOptimum ("Technical-only vs joint optimization") or
        :class:`Section` objects.

    Returns
    -------
    str or Path
        The HTML (no ``path``) or the path written.
    """
    from .. import __version__
    from .narrative import key_messages
    from .sts_lens import sociotech_messages

    if path is not None:
        p = Path(path)
        if p.exists() and not force:
            raise FileExistsError(f"{str(p)!r} exists; pass force=True to overwrite it.")
        if not p.parent.exists():
            raise FileNotFoundError(f"the folder {str(p.parent)!r} of {str(p)!r} does not "
                                    "exist; create it first.")
    sections, analysis, sim, notes = build_sections(result, analysis=analysis, sim=sim,
                                                    loops_top=loops_top, extra=extra)
    lens = [m for item in (result, *extra) for m in sociotech_messages(item, limit=2)]
    messages = (lens + key_messages(result, analysis=analysis, sim=sim))[:max(5, len(lens))]
    if len(messages) < 3 and analysis is not None and len(analysis.loops):
        lp = analysis.loops
        n_r = sum(1 for x in lp if x.polarity == "R")
        n_b = sum(1 for x in lp if x.polarity == "B")
        messages.append(f"The model has {len(lp)} feedback loops ({n_r} reinforcing, {n_b} "
                        f"balancing) in {len(lp.partitions)} connected structure(s).")
    model = getattr(result, "model", None) or getattr(analysis, "model", None)
    name = getattr(model, "name", "model")
    kind = kind_of(result)
    default_title = {"experiment": f"Policy experiment briefing: {name}",
                     "calibration": f"Calibration briefing: {name}"}.get(
        kind, f"Sociotechnical briefing: {name}" if sociotech_messages(result) else
        f"Feedback briefing: {name}")
    subtitle = (f"Generated {_dt.date.today().isoformat()} by sts_dynamics {__version__} "
                f"from model '{name}'.")
    page = render_html(title or default_title, subtitle, messages, sections, notes)
    if png_dir is not None:
        export_png([s.figure for s in sections if s.figure is not None], png_dir,
                   names=[s.id for s in sections if s.figure is not None], force=force)
    if path is None:
        return page
    return write_text(page, path, force=force)


def export_png(figures: Sequence[go.Figure], folder: str | os.PathLike, *,
               names: Sequence[str] | None = None, scale: float = 2.0, width: int = 1100,
               force: bool = False) -> list[Path]:
    """Write figures as PNG files (for slides), where kaleido and a Chrome/Chromium exist.

    All figures go through one browser session, to temporary files that are renamed into place
    once all are written.  Install the extra ``pip install "sts_dynamics[png]"``; kaleido finds
    an installed Chrome or Chromium (or run ``plotly_get_chrome``).

    Parameters
    ----------
    figures : sequence of plotly Figure
    folder : path
        Created if missing.
    names : sequence of str, optional
        File names without ``.png`` (default ``figure1``, ``figure2``, ...).
    scale, width : float, int
        The image is ``scale * width`` pixels wide (default 2,200: sharp on a projector).
    force : bool
        Replace existing files; otherwise an existing file raises ``FileExistsError`` before
        anything is written.

    Returns
    -------
    list of Path
        The files written; ``[]`` with a warning when static export is unavailable (the HTML
        briefing does not need it).
    """
    folder = Path(folder)
    names = list(names) if names is not None else [f"figure{i + 1}" for i in
                                                   range(len(figures))]
    if len(names) != len(figures):
        raise ValueError(f"`names` has {len(names)} entries for {len(figures)} figures.")
    targets = [folder / f"{n}.png" for n in names]
    if folder.is_dir():
        check_targets(targets, force=force)
    try:
        import kaleido  # noqa: F401
    except ImportError:
        warnings.warn("PNG export needs the kaleido package (pip install "
                      "\"sts_dynamics[png]\") and a Chrome or Chromium; no PNG files were "
                      "written.", stacklevel=2)
        return []
    if not figures:
        return []
    folder.mkdir(parents=True, exist_ok=True)

    def write(tmps: list[Path]) -> None:
        pio.write_images(list(figures), tmps, format="png", scale=scale, width=width)
    try:
        return atomic_write_many(targets, write, force=force)
    except FileExistsError:
        raise
    except Exception as exc:  # noqa: BLE001 - the browser behind kaleido may be missing
        warnings.warn(f"PNG export failed ({type(exc).__name__}: {exc}); no PNG files were "
                      "written.", stacklevel=2)
    return []
