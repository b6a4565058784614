"""Key messages written from results: loop dominance, scenarios, calibration."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..experiments.kpis import is_share
from .common import kind_of

__all__ = ["loop_messages", "experiment_messages", "calibration_messages", "key_messages"]


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    ax = abs(x)
    if ax != 0 and (ax >= 1e5 or ax < 1e-2):
        return f"{x:.2g}"
    return f"{x:,.0f}" if ax >= 100 else f"{x:.4g}"


def _loop_label(lp: Any) -> str:
    kind = {"R": "reinforcing", "B": "balancing"}.get(lp.polarity, "")
    if lp.name:
        return f"the {lp.name} loop ({lp.id})"
    via = " → ".join(lp.variables[:3]) + (" → …" if lp.length > 3 else "")
    return f"the {kind} loop {lp.id} ({via})".replace("the  loop", "the loop")


def _stock_move(sim: Any, lp: Any, t0: float, t1: float) -> str:
    """'the rise of X' / 'the decline in X' for the loop's stock that moves most."""
    if sim is None:
        return ""
    model = sim.model
    best, best_change = None, 0.0
    k0 = int(np.argmin(np.abs(sim.t - t0)))
    k1 = int(np.argmin(np.abs(sim.t - t1)))
    for name in lp.stocks:
        key = model.resolve(name)
        if model.variables[key].internal:
            continue
        y = np.asarray(sim.values[key], dtype=float)
        y = y if y.ndim == 1 else np.nanmedian(y, axis=1)
        a, b = y[k0], y[k1]
        scale = max(abs(a), float(np.nanmax(np.abs(y))) * 1e-3, 1e-12)
        change = (b - a) / scale
        if abs(change) > abs(best_change):
            best, best_change = model.variables[key].name, change
    if best is None or abs(best_change) < 0.01:
        return ""
    return f"the rise of {best}" if best_change > 0 else f"the decline in {best}"


def loop_messages(analysis: Any, sim: Any = None, *, limit: int = 3) -> list[str]:
    """Messages about which loops drive the behaviour, and when that changes."""
    loops = analysis.loops
    if not len(loops):
        return [analysis.message] if analysis.message else []
    unit = analysis.model.control.time_units.lower() or "time"
    out = []
    periods = [p for p in analysis.main_periods() if p.partition == 0]
    share = analysis.share()
    for i, p in enumerate(periods[:3]):
        lp = loops[p.loops[0]]
        move = _stock_move(sim, lp, p.start, p.end)
        what = f"drives {move}" if move else "leads the behaviour"
        pct = 100 * float(np.nanmean(np.abs(analysis._median_relative()[
            (analysis.t >= p.start) & (analysis.t <= p.end), loops.index(lp.id)])))
        pct_txt = f", with {pct:.0f}% of loop dominance on average" if np.isfinite(pct) else ""
        if i == 0 and len(periods) > 1:
            out.append(f"Until {unit} {_fmt(p.end)}, {_loop_label(lp)} {what}{pct_txt}.")
        elif i == 0:
            out.append(f"Over the whole run, {_loop_label(lp)} {what}{pct_txt}.")
        else:
            out.append(f"From {unit} {_fmt(p.start)}, {_loop_label(lp)} {what}{pct_txt}.")
    part0 = [lp for lp in loops if lp.partition == 0]
    r = sum(float(share[lp.id]) for lp in part0 if lp.polarity == "R")
    b = sum(float(share[lp.id]) for lp in part0 if lp.polarity == "B")
    tot = sum(float(share[lp.id]) for lp in part0)
    if tot > 0 and len(part0) > 1:
        out.append(f"Over the run, reinforcing loops hold {100 * r / tot:.0f}% of loop dominance "
                   f"and balancing loops {100 * b / tot:.0f}% ({len(part0)} loops in the main "
                   f"feedback structure).")
    if any(lp.layers and lp.layers != ("unassigned",) for lp in loops):
        cross = analysis.boundary_share()
        n_cross = sum(1 for lp in loops if lp.crosses_boundary)
        if n_cross:
            out.append(f"Loops that cross the technical/social boundary ({n_cross} of "
                       f"{len(loops)}) hold {100 * cross:.0f}% of loop dominance: "
                       + ("the behaviour is sociotechnical, not technical or social alone."
                          if cross >= 0.3 else "most of the behaviour stays within one "
                          "subsystem."))
    return out[:limit + 1]


def _is_share_row(r: dict) -> bool:
    """A dimensionless KPI in [0, 1]: its change reads in percentage points (as in kpi_bars)."""
    vals = [r[c] for c in ("median", "baseline") if c in r]
    return "change" in r and is_share(r.get("units", ""), vals)


def experiment_messages(result: Any, *, limit: int = 2) -> list[str]:
    """The largest KPI changes of the scenarios against the baseline, with their bands.

    Shares (dimensionless KPIs in [0, 1]) are reported in percentage points, as the KPI bars
    show them: a percent change of a share near zero says little.
    """
    df = result.kpis()
    base = getattr(result, "baseline", None)
    df = df[df["scenario"] != base] if base is not None else df
    if df.empty or "change_pct" not in df.columns:
        return []
    rows = [r._asdict() for r in df.itertuples(index=False)]
    for r in rows:
        r["_share"] = _is_share_row(r)
        r["_size"] = abs(100 * float(r["change"])) if r["_share"] else abs(float(r["change_pct"]))
    rows = sorted((r for r in rows if np.isfinite(r["_size"])), key=lambda r: -r["_size"])
    out, seen = [], set()
    for r in rows:
        if r["scenario"] in seen:
            continue
        seen.add(r["scenario"])
        share = r["_share"]
        col = "change" if share else "change_pct"
        scale, unit = (100.0, " percentage points") if share else (1.0, "%")
        bands = [c for c in r if re.fullmatch(rf"{col}_p[0-9.]+", str(c))]
        verb = "raises" if r[col] > 0 else "lowers"
        band = ""
        if len(bands) >= 2 and np.isfinite(r[bands[0]]) and np.isfinite(r[bands[-1]]):
            lo, hi = bands[0], bands[-1]
            band = (f" ({lo.removeprefix(col + '_')}–{hi.removeprefix(col + '_')} over runs: "
                    f"{scale * r[lo]:+.0f}{'' if share else '%'} to {scale * r[hi]:+.0f}{unit})")
        levels = ""
        if share and np.isfinite(r.get("baseline", np.nan)) and np.isfinite(r["median"]):
            levels = f", from {100 * r['baseline']:.0f}% to {100 * r['median']:.0f}%"
        out.append(f"Scenario “{r['scenario']}” {verb} {r['kpi']} by "
                   f"{scale * abs(r[col]):.0f}{unit}{levels} against the baseline{band}.")
        if len(out) >= limit:
            break
    return out


def calibration_messages(parts: dict[str, Any], *, limit: int = 2) -> list[str]:
    from .calibration import theil_table

    out = []
    th = theil_table(parts)
    for name, row in th.iterrows():
        if not np.isfinite(row["U_C"]):
            continue
        main = max(("U_M", "U_S", "U_C"), key=lambda k: row[k])
        meaning = {"U_M": "a bias the model does not explain",
                   "U_S": "a difference in variability (often noise the model smooths out)",
                   "U_C": "unsystematic point-by-point error, as it should be for a good fit"}
        out.append(f"For {name}, {100 * row[main]:.0f}% of the squared error is {meaning[main]} "
                   f"(Theil {main}).")
        if len(out) >= limit:
            break
    for w in parts["warnings"][:1]:
        out.append(w if w.endswith(".") else w + ".")
    return out[:limit]


def key_messages(result: Any, *, analysis: Any = None, sim: Any = None,
                 limit: int = 5) -> list[str]:
    """Three to five key messages for a briefing."""
    kind = kind_of(result)
    msgs: list[str] = []
    if kind == "experiment":
        msgs += experiment_messages(result)
    elif kind == "calibration":
        from .data import calibration_parts

        msgs += calibration_messages(calibration_parts(result))
    if analysis is not None:
        msgs += loop_messages(analysis, sim)
    return msgs[:limit]
