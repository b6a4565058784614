"""The briefing in a real browser: headless Chromium renders every figure without errors.

Runs Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it) twice per page: ``--dump-dom``
after a virtual-time budget, to read the render report that the page writes into its DOM
(per figure: traces expected and drawn, SVG layers, plot size; JavaScript errors caught by
``window.onerror``), and ``--screenshot`` for ``tests/artifacts/briefing.png``.  Console
errors in Chromium's log fail the test too.  Skipped when Chromium is not installed.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import sts_dynamics as sd
from sts_dynamics import dashboard as db
from sts_dynamics.experiments import Uniform

HERE = Path(__file__).parent
ARTIFACTS = HERE / "artifacts"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                                "(.ci/run installs Debian's chromium)"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=15000", "--window-size=1280,5200", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines()
            if "CONSOLE" in ln and ("Uncaught" in ln or "Error" in ln or ":ERROR:" in ln)]


def render_report(page: Path, profile: Path) -> dict:
    proc = chromium(page, profile, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not console_errors(proc.stderr), console_errors(proc.stderr)
    m = re.search(r"<pre id=\"render-report\"[^>]*>(.*?)</pre>", proc.stdout, re.S)
    assert m, "the page wrote no render report (did its scripts run?)"
    return json.loads(html.unescape(m.group(1)))


def check_figures(report: dict, n_figures: int) -> None:
    assert report["errors"] == [], report["errors"]
    assert report["complete"], report
    figs = report["figures"]
    assert len(figs) == n_figures
    for f in figs:
        assert f["ready"] and f["svgs"] >= 1, f
        assert f["traces"] == f["expected"] > 0, f         # every trace of the figure
        assert f["drawn"] >= 1, f                         # the plot area is not empty
        assert f["width"] > 300 and f["height"] > 200, f


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("briefings")
    bass = sd.load(HERE / "data" / "bass.mdl")
    res = sd.run_experiment(bass, [sd.Policy("more contacts", {"contact rate": 130})],
                            uncertainty={"adoption fraction": Uniform(0.012, 0.018)},
                            n_samples=20, seed=1, record=["Adopters", "adopting"])
    sim = sd.simulate(bass, method="euler")
    t = sim.t[::8]
    fit = pd.DataFrame({"Adopters": sim["Adopters"][::8]}, index=pd.Index(t, name="time"))
    data = fit * (1 + 0.05 * np.random.default_rng(0).standard_normal(fit.shape))
    cal = SimpleNamespace(data=data, fitted=fit, lower=fit * 0.9, upper=fit * 1.1,
                          params={"contact rate": 100.0}, intervals={"contact rate": (90, 110)},
                          simulation=sim)
    return {"experiment": db.briefing(res, folder / "experiment.html"),
            "calibration": db.briefing(cal, folder / "calibration.html")}


def test_experiment_briefing_renders(pages, tmp_path):
    report = render_report(pages["experiment"], tmp_path / "profile")
    check_figures(report, 4)          # KPIs, behaviour, loop dominance, causal loop diagram
    ids = [f["id"] for f in report["figures"]]
    assert ids == ["wrap-kpis", "wrap-behaviour", "wrap-dominance", "wrap-loops"]


def test_calibration_briefing_renders(pages, tmp_path):
    report = render_report(pages["calibration"], tmp_path / "profile")
    check_figures(report, 4)          # fit, credibility, loop dominance, causal loop diagram


def test_screenshot(pages, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "briefing.png"
    if shot.exists():
        shot.unlink()
    proc = chromium(pages["experiment"], tmp_path / "profile", f"--screenshot={shot}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
