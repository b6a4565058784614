"""The bundled real-data calibrations end to end (fast settings) and the calibrate verb."""

import math

import pandas as pd
import pytest

from sts_dynamics.calibrate import calibration_figure, load_calibration
from sts_dynamics.cli import main


@pytest.fixture(scope="module")
def github_fast():
    return load_calibration("github").run(fast=True)


def test_github_spec_runs_end_to_end(github_fast):
    fit = github_fast
    assert fit.model.name == "sts_core"
    assert set(fit.targets) == {"count", "median_ttr_hours"}
    assert fit.targets["count"]["kind"] == "counts"
    assert fit.split_index == 248 - 52 and set(fit.holdout) == {"count", "median_ttr_hours"}
    # the fitted counts carry the data's level: mean weekly counts agree within 10%
    d = fit.diagnostics["count"]
    assert d["mean_fitted"] == pytest.approx(d["mean_observed"], rel=0.1)
    assert 1 < fit.nuisance["count"]["phi"] < 1e3
    assert all(math.isfinite(v) for v in fit.params.values())
    frame = fit.fitted_frame()
    assert len(frame) == 248 and {"count_fitted", "count_pred_upper"} <= set(frame)
    fig = calibration_figure(fit)
    assert len(fig.data) >= 8


def test_kev_spec_runs_end_to_end():
    fit = load_calibration("kev").run(fast=True)
    # the mandated window is 21 days in nearly every month: 3 weeks of governance delay
    assert fit.params["governance review delay"] == pytest.approx(3.0, rel=0.05)
    assert fit.data.date[0] == pd.Timestamp("2022-03-01", tz="UTC")
    assert any("salience delay reduction" in d.combination
               for d in fit.identifiability.weak)


def test_cli_writes_the_report_figure_and_tables(tmp_path, capsys):
    out = tmp_path / "kev"
    assert main(["calibrate", "kev", "--out", str(out), "--fast", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    report = (out / "report.txt").read_text()
    assert report.startswith("# CISA KEV")
    assert f"# Regenerate: python -m sts_dynamics calibrate kev --out {out} --fast --force" \
        in report
    for section in ("[[Fit Statistics]]", "[[Variables]]", "[[Correlations]]", "[[Intervals]]",
                    "[[Identifiability]]", "[[Diagnostics]]"):
        assert section in report
    fitted = pd.read_csv(out / "fitted.csv")
    assert {"median_window_days", "median_window_days_fitted"} <= set(fitted)
    params = pd.read_csv(out / "parameters.csv", index_col=0)
    assert "governance review delay" in params.index
    assert "plotly" in (out / "figure.html").read_text()
    # outputs exist: refuse without --force, one line, exit code 2
    assert main(["calibrate", "kev", "--out", str(out), "--fast", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists; pass --force" in err and len(err.splitlines()) == 1


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "sts_core"\n[data]\nfile = "x.csv"\nbogus = 1\n')
    cases = [
        (["calibrate", "no_such", "--out", str(tmp_path / "o")], "does not exist"),
        (["calibrate", str(bad), "--out", str(tmp_path / "o")], "unknown key(s) 'bogus'"),
        (["calibrate", "kev", "--out", str(tmp_path / "missing" / "o")], "does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
