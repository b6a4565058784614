"""Dashboard figures and briefings (without a browser; see test_dashboard_browser.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import sts_dynamics as sd
from sts_dynamics import dashboard as db
from sts_dynamics.dashboard.common import FigureDataError, kind_of
from sts_dynamics.experiments import Uniform

HERE = Path(__file__).parent
BASS = HERE / "data" / "bass.mdl"


@pytest.fixture(scope="module")
def bass():
    return sd.load(BASS)


@pytest.fixture(scope="module")
def sim(bass):
    return sd.simulate(bass, method="euler")


@pytest.fixture(scope="module")
def dom(sim):
    return sd.loop_dominance(sim)


@pytest.fixture(scope="module")
def experiment(bass):
    return sd.run_experiment(bass, [sd.Policy("more contacts", {"contact rate": 130})],
                             uncertainty={"adoption fraction": Uniform(0.012, 0.018)},
                             n_samples=20, seed=1, record=["Adopters", "adopting"])


def calibration_like(sim):
    """A stand-in with the documented attributes of a CalibrationResult."""
    t = sim.t[::8]
    fit = pd.DataFrame({"Adopters": sim["Adopters"][::8]}, index=pd.Index(t, name="time"))
    rng = np.random.default_rng(0)
    data = fit * (1 + 0.05 * rng.standard_normal(fit.shape))
    return SimpleNamespace(
        data=data, fitted=fit, lower=fit * 0.9, upper=fit * 1.1,
        params={"contact rate": 100.0, "adoption fraction": 0.015},
        intervals=pd.DataFrame({"lower": [90.0, 0.013], "upper": [112.0, 0.017]},
                               index=["contact rate", "adoption fraction"]),
        holdout=12.0, warnings=["contact rate x adoption fraction is weakly identified"],
        simulation=sim)


def test_sd_dashboard_attribute():
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(db.__path__):       # importing submodules binds names
        importlib.import_module(f"sts_dynamics.dashboard.{mod.name}")
    for name in db.__all__:
        obj = getattr(db, name)
        assert not hasattr(obj, "__path__") and type(obj).__name__ != "module", name
    assert sd.dashboard.briefing is db.briefing
    assert "loop_dominance" in dir(db)


def test_kinds(sim, dom, experiment):
    assert kind_of(sim) == "simulation" and kind_of(dom) == "loops"
    assert kind_of(experiment) == "experiment"
    assert kind_of(calibration_like(sim)) == "calibration"


def test_behaviour_run_and_ensemble(bass, sim):
    fig = db.behaviour(sim)
    assert isinstance(fig, go.Figure) and len(fig.data) == 2      # the two stocks
    ens = sd.simulate(bass, method="euler", params={"contact rate": [80.0, 100.0, 120.0]})
    fig = db.behaviour(ens, ["Adopters"])
    assert [tr.name for tr in fig.data][-1].startswith("median of 3 runs")
    assert fig.data[1].fill == "tonexty"                           # the band


def test_behaviour_experiment_bands(experiment):
    fig = db.behaviour(experiment, ["Adopters"])
    names = {tr.name for tr in fig.data if tr.showlegend is not False}
    assert {"baseline", "more contacts"} <= names
    assert sum(tr.fill == "tonexty" for tr in fig.data) == 2


def test_behaviour_calibration_data_vs_fit(sim):
    fig = db.behaviour(calibration_like(sim))
    modes = {tr.name: tr.mode for tr in fig.data}
    assert modes["data"] == "markers" and modes["fit"] == "lines"


def test_missing_variables_are_named(sim, experiment):
    with pytest.raises(FigureDataError, match=r"'Adoptors', which model 'bass' lacks\. Did you "
                                              r"mean 'Adopters'"):
        db.behaviour(sim, ["Adoptors"])
    with pytest.raises(FigureDataError, match=r"needs the variables 'Potential Adopters'.*"
                                              r"'Adopters', 'adopting'"):
        db.behaviour(experiment, ["Potential Adopters"])
    with pytest.raises(FigureDataError, match=r"needs the attributes 'data', 'fitted'"):
        db.credibility(SimpleNamespace(params={}))
    cal = calibration_like(sim)
    with pytest.raises(FigureDataError, match=r"observed series 'Incidents'"):
        db.credibility(cal, ["Incidents"])
    with pytest.raises(FigureDataError, match=r"KPIs 'uptime'"):
        db.kpi_bars(experiment, kpis=["uptime"])


def test_loop_dominance_figure(dom):
    fig = db.loop_dominance(dom)
    by_name = {tr.name: tr for tr in fig.data}
    r1, b1 = by_name["R1 word of mouth"], by_name["B1 market saturation"]
    assert r1.stackgroup == "reinforcing" and b1.stackgroup == "balancing"
    assert np.nanmax(r1.y) > 0.9 and np.nanmin(b1.y) < -0.9
    assert r1.line.color.startswith("#b2") and b1.line.color.startswith("#21")  # red, blue
    shifts = [a.text for a in fig.layout.annotations]
    assert "R1 → B1" in shifts


def test_loop_diagram(dom):
    fig = db.loop_diagram(dom, time=5.0)
    texts = [a.text for a in fig.layout.annotations]
    assert "<b>R1</b>" in texts and "<b>B1</b>" in texts
    assert "<i>word of mouth</i>" in texts
    signs = [t for t in texts if t in ("<b>+</b>", "<b>−</b>", "<b>?</b>")]
    assert signs.count("<b>−</b>") == 1 and len(signs) == 8       # 8 distinct links
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    widths = sorted(a.arrowwidth for a in arrows)
    assert widths[0] < 1.2 < widths[-1]                            # width by link score
    layers = {tr.name for tr in fig.data if tr.mode == "markers+text"}
    assert layers == {"social layer", "environment layer"}
    assert db.loop_diagram(dom.loops).layout.annotations        # a LoopSet works too


def test_uncertain_polarity_is_grey():
    dom = sd.loop_dominance(sd.simulate(sd.load(
        HERE / "test-models" / "samples" / "Roessler_Chaos" / "roessler_chaos.mdl")))
    fig = db.loop_diagram(dom, loops=["U1"])
    grey = [a for a in fig.layout.annotations if a.text == "<b>?</b>"]
    assert grey and grey[0].font.color == "#9e9e9e"
    marker = [a for a in fig.layout.annotations if a.text == "<b>U1</b>"][0]
    assert marker.bgcolor == "#9e9e9e"


def test_kpi_bars(experiment):
    fig = db.kpi_bars(experiment)
    assert {tr.name for tr in fig.data} == {"more contacts"}      # baseline is the reference
    assert all(tr.error_y.array is not None for tr in fig.data)
    fig = db.kpi_bars(experiment, relative=False)
    assert {tr.name for tr in fig.data} == {"baseline", "more contacts"}


def test_credibility_panel(sim):
    fig = db.credibility(calibration_like(sim))
    names = [tr.name for tr in fig.data]
    assert {"U_M", "U_S", "U_C", "fit", "data", "residual"} <= set(names)
    est = [tr for tr in fig.data if tr.name == "estimate / |estimate|"][0]
    assert list(est.y) == ["contact rate", "adoption fraction"]


def test_briefing_from_simulation(sim, tmp_path):
    out = db.briefing(sim, tmp_path / "b.html")
    text = out.read_text(encoding="utf-8")
    assert text.count("<script type=\"text/javascript\">/**\n* plotly.js") <= 1
    assert "plotly.js v" in text or "Plotly" in text              # embedded, offline
    assert "<script src=" not in text and "<link " not in text     # nothing fetched
    assert text.count("class='sts-figure'") == 3
    assert "Until year 9.625, the word of mouth loop (R1) drives the rise of Adopters" in text
    assert "From year 9.688, the market saturation loop (B1)" in text
    assert "render-report" in text
    assert not list(tmp_path.glob(".b.html*"))                      # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask            # not mkstemp's 0600
    with pytest.raises(FileExistsError, match="exists"):
        db.briefing(sim, out, force=False)


def test_briefing_from_experiment_and_calibration(experiment, sim):
    page = db.briefing(experiment)
    assert isinstance(page, str) and "Scenario outcomes" in page
    assert "Scenario “more contacts” lowers Potential Adopters" in page
    page = db.briefing(calibration_like(sim))
    assert "How far to trust the model" in page and "Which feedback loops" in page
    assert "Theil" in page


def test_briefing_without_loops(tmp_path):
    m = sd.load(HERE / "test-models" / "tests" / "smooth_and_stock" /
                "test_smooth_and_stock.mdl")
    page = db.briefing(sd.simulate(m))
    assert "has no feedback loops" in page


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"  # the PNG signature, then the IHDR chunk
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_png_export_without_kaleido_warns(dom, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_kaleido(name, *args, **kw):
        if name == "kaleido":
            raise ImportError("no kaleido")
        return real_import(name, *args, **kw)
    monkeypatch.setattr(builtins, "__import__", no_kaleido)
    with pytest.warns(UserWarning, match="kaleido"):
        assert db.export_png([db.loop_dominance(dom)], tmp_path / "png") == []
    assert not (tmp_path / "png").exists()


CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                             "(.ci/run installs Debian's chromium)")
def test_png_export_writes_figures_atomically_and_never_overwrites(dom, sim, tmp_path):
    pytest.importorskip("kaleido", reason="the png extra (kaleido) is in the test extra")
    figs = [db.loop_dominance(dom), db.behaviour(sim)]
    out = tmp_path / "slides"
    written = db.export_png(figs, out, names=["dominance", "behaviour"], scale=1.5, width=800)
    assert written == [out / "dominance.png", out / "behaviour.png"]
    assert _png_size(written[0])[0] == 1200  # scale x width pixels
    assert sorted(p.name for p in out.iterdir()) == ["behaviour.png", "dominance.png"]
    before = written[0].read_bytes()
    with pytest.raises(FileExistsError, match="dominance.png' exists; pass force=True"):
        db.export_png(figs, out, names=["dominance", "behaviour"])
    assert written[0].read_bytes() == before
    again = db.export_png(figs[:1], out, names=["dominance"], width=500, scale=1, force=True)
    assert _png_size(again[0])[0] == 500
    assert sorted(p.name for p in out.iterdir()) == ["behaviour.png", "dominance.png"]


def test_bad_input(sim):
    with pytest.raises(TypeError, match="`result` must be"):
        db.behaviour(42)
    with pytest.raises(TypeError, match="`analysis` must be a LoopAnalysis"):
        db.loop_dominance(sim)
    with pytest.raises(TypeError, match="`result` must be a Simulation, LoopAnalysis"):
        db.briefing("report")


def test_real_calibration_result():
    from sts_dynamics.calibrate import simulate_series
    from sts_dynamics.calibrate.fit import calibrate

    m = sd.load(BASS)
    data = simulate_series(m, {"adopters": "Adopters"}, {"contact rate": 100.0},
                           t=np.arange(0, 15.01, 0.5),
                           noise={"adopters": {"family": "gaussian", "sigma": 2000.0}}, seed=1,
                           time_unit="year")
    fit = calibrate(m, data, params={"contact rate": (50.0, 150.0)},
                    observe={"adopters": "Adopters"}, holdout=6)
    assert kind_of(fit) == "calibration"
    fig = db.credibility(fit)
    names = {tr.name for tr in fig.data}
    assert {"U_M", "U_S", "U_C", "expected for a correct model (5-95%)"} <= names
    est = [tr for tr in fig.data if tr.name == "estimate / |estimate|"][0]
    assert list(est.y) == ["contact rate"]
    page = db.briefing(fit)
    assert "Calibration briefing: bass" in page and "(Theil U_" in page
    assert "word of mouth loop (R1)" in page              # loops of the fitted run


def test_kpi_bars_show_shares_in_percentage_points():
    import pandas as pd

    from sts_dynamics.dashboard import kpi_bars

    # awareness collapses to near zero in some baseline runs: percent changes explode
    df = pd.DataFrame({
        "scenario": ["baseline", "policy", "baseline", "policy"],
        "kpi": ["awareness", "awareness", "incidents", "incidents"],
        "units": ["", "", "incident/Year", "incident/Year"],
        "median": [0.48, 0.30, 100.0, 80.0], "baseline": [0.48, 0.48, 100.0, 100.0],
        "change": [0.0, -0.18, 0.0, -20.0], "change_p5": [0.0, -0.25, 0.0, -30.0],
        "change_p95": [0.0, 0.29, 0.0, -10.0],
        "change_pct": [0.0, -37.5, 0.0, -20.0], "change_pct_p5": [0.0, -40.0, 0.0, -30.0],
        "change_pct_p95": [0.0, 6000.0, 0.0, -10.0],
    })
    fig = kpi_bars(df)  # a kpis() table: the baseline scenario is left out of the bars
    assert {t.name for t in fig.data} == {"policy"}
    bars = {t.yaxis: t for t in fig.data}
    aw = bars["y"]
    assert aw.y[0] == pytest.approx(-18.0)          # percentage points, not -37.5 %
    assert aw.error_y.array[0] == pytest.approx(47.0)  # 0.29 - (-0.18) in points
    inc = bars["y2"]
    assert inc.y[0] == pytest.approx(-20.0)         # a count keeps its percent change
    assert "percentage points" in fig.layout.yaxis.title.text
    assert "% change" in fig.layout.yaxis2.title.text


def test_key_messages_report_shares_in_percentage_points():
    import pandas as pd

    from sts_dynamics.dashboard.narrative import experiment_messages

    class Result:
        baseline = "baseline"

        def kpis(self):
            return pd.DataFrame({
                "scenario": ["baseline", "policy", "baseline", "policy", "other", "other"],
                "kpi": ["awareness", "awareness", "incidents", "incidents", "incidents",
                        "awareness"],
                "units": ["", "", "incident/Year", "incident/Year", "incident/Year", ""],
                "median": [0.48, 0.20, 100.0, 80.0, 95.0, 0.47],
                "baseline": [0.48, 0.48, 100.0, 100.0, 100.0, 0.48],
                "change": [0.0, -0.28, 0.0, -20.0, -5.0, -0.01],
                "change_p5": [0.0, -0.35, 0.0, -30.0, -8.0, -0.02],
                "change_p95": [0.0, 0.29, 0.0, -10.0, -1.0, 0.0],
                "change_pct": [0.0, -58.3, 0.0, -20.0, -5.0, -2.1],
                "change_pct_p5": [0.0, -40.0, 0.0, -30.0, -8.0, -4.0],
                "change_pct_p95": [0.0, 6000.0, 0.0, -10.0, -1.0, 0.0],
            })

    msgs = experiment_messages(Result(), limit=2)
    # the share falls 28 points (ranked above the 20 % fall of incidents in the same
    # scenario), never the exploding "-58 % (… to +6000 %)"
    assert msgs[0] == ("Scenario “policy” lowers awareness by 28 percentage points, from 48% "
                       "to 20% against the baseline (p5–p95 over runs: -35 to +29 percentage "
                       "points).")
    assert msgs[1] == ("Scenario “other” lowers incidents by 5% against the baseline "
                       "(p5–p95 over runs: -8% to -1%).")
    assert "6000" not in " ".join(msgs)


def test_briefing_never_overwrites_without_force(sim, tmp_path):
    page = tmp_path / "b.html"
    db.briefing(sim, page)
    before = page.read_text(encoding="utf-8")
    page.write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        db.briefing(sim, page, force=False)
    assert page.read_text(encoding="utf-8") == "keep me"
    db.briefing(sim, page)  # force=True is the library default
    assert page.read_text(encoding="utf-8") == before
