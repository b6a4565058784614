"""``experiment`` and ``sensitivity`` on the command line: in-process calls to main() and one
subprocess smoke test of the bundled default experiment."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_experiments_config import GOOD

from sts_dynamics.cli import main

DATA = Path(__file__).resolve().parent / "data" / "experiments"
PI = "3.141592653589793"


def _file(tmp_path, text=GOOD):
    p = tmp_path / "exp.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_default_experiment_prints_the_kpi_table(capsys):
    assert main(["experiment", "--samples", "6", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for text in ("incidents per year", "time to resolve", "skill", "governance coverage",
                 "automate triage", "all three", "vs baseline", "6 Monte Carlo samples (seed 3)"):
        assert text in out, text


def test_kpi_table_gives_shares_in_percentage_points():
    from sts_dynamics.cli.experiment import kpi_table

    class Result:
        kpi_names = ["awareness", "incidents"]
        percentiles = (5.0, 95.0)
        n_samples = 10
        baseline = "baseline"

        def kpis(self):
            return pd.DataFrame({
                "scenario": ["baseline", "policy"] * 2,
                "kpi": ["awareness"] * 2 + ["incidents"] * 2,
                "units": ["Dmnl", "Dmnl", "incident/Year", "incident/Year"],
                "median": [0.48, 0.30, 100.0, 80.0], "baseline": [0.48, 0.48, 100.0, 100.0],
                "p5": [0.004, 0.25, 90.0, 70.0], "p95": [0.59, 0.35, 110.0, 90.0],
                "change": [0.0, -0.18, 0.0, -20.0], "change_p5": [0.0, -0.24, 0.0, -30.0],
                "change_p95": [0.0, 0.25, 0.0, -10.0],
                "change_pct": [0.0, -37.5, 0.0, -20.0], "change_pct_p5": [0.0, -40.6, 0.0, -30.0],
                "change_pct_p95": [0.0, 6112.2, 0.0, -10.0],
            })
    table = kpi_table(Result())
    assert table["vs baseline"].tolist() == ["", "-18.0 pp", "", "-20.0%"]
    assert table["change p5-p95"].tolist() == ["", "[-24.0 pp, +25.0 pp]", "", "[-30.0%, -10.0%]"]


def test_experiment_file_writes_outputs_and_never_overwrites(tmp_path, capsys):
    exp = _file(tmp_path)
    out = tmp_path / "results"
    assert main(["experiment", str(exp), "--out", str(out), "--format", "csv,parquet",
                 "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    kpis = pd.read_csv(out / "kpis.csv")
    assert list(kpis["scenario"].unique()) == ["baseline", "fast", "both"]
    assert pd.read_parquet(out / "trajectories.parquet").columns.tolist() == [
        "scenario", "run", "time", "variable", "value"]
    assert (out / "experiment.json").is_file()
    assert main(["experiment", str(exp), "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["experiment", str(exp), "--out", str(out), "--force", "--seed", "5"]) == 0
    assert "wrote" in capsys.readouterr().out


def test_workers_give_the_same_table(tmp_path, capsys):
    exp = _file(tmp_path)
    assert main(["experiment", str(exp), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["experiment", str(exp), "--out", str(tmp_path / "b"), "--quiet",
                 "--workers", "2"]) == 0
    a, b = (pd.read_csv(tmp_path / d / "kpi_samples.csv") for d in "ab")
    pd.testing.assert_frame_equal(a, b, rtol=1e-6)


def _user_errors(tmp_path):
    def bad(old, new):
        p = tmp_path / f"bad{abs(hash(new))}.toml"
        p.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
        return str(p)

    exp = str(_file(tmp_path))
    return [
        (["experiment", bad("horizon = 20", "horizon = = 20")], "line 4, column"),
        (["experiment", bad("horizon = 20", "horizn = 20")], "Did you mean 'horizon'"),
        (["experiment", bad("Rate = 3", "Rat = 3")], "Did you mean 'Rate'"),
        (["experiment", bad("low = 50,", "low = 500,")], "`low` must be less than `high`"),
        (["experiment", bad("at = 5", "at = 99")], "outside the horizon"),
        (["experiment", exp, "--out", str(tmp_path / "no" / "such")], "does not exist"),
        (["experiment", "no_such.toml"], "does not exist"),
        (["experiment", exp, "--samples", "0"], "--samples must be a positive integer"),
        (["experiment", exp, "--format", "xlsx"], "unknown format 'xlsx'"),
        (["sensitivity", str(DATA / "additive.mdl"), "--param", "c1=1"], "NAME=LOW:HIGH"),
        (["sensitivity", str(DATA / "additive.mdl"), "--param", "c1=2:1"], "`low` must be"),
        (["sensitivity", str(DATA / "additive.mdl"), "--kpi", "Z"], "neither a KPI"),
        (["sensitivity", str(DATA / "additive.mdl"), "--samples", "100"], "power of 2"),
        (["sensitivity", str(DATA / "additive.mdl"), "--out", str(tmp_path / "x" / "t.csv")],
         "does not exist"),
        (["sensitivity", "--experiment", "default", "--scenario", "automate"],
         "Did you mean 'automate triage'"),
        (["sensitivity", "--method", "oat"], "give a MODEL"),
    ]


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    for argv, message in _user_errors(tmp_path):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err, (argv, err)
        assert "\n" not in err and "Traceback" not in err


def test_dashboard_writes_a_briefing(tmp_path, capsys):
    page = tmp_path / "briefing.html"
    argv = ["experiment", str(_file(tmp_path)), "--samples", "4", "--dashboard", str(page)]
    assert main(argv + ["--quiet"]) == 0
    assert page.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert main(argv) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["experiment", str(_file(tmp_path)), "--dashboard",
                 str(tmp_path / "b.png")]) == 2
    assert "use an .html file name" in capsys.readouterr().err


def test_sensitivity_prints_and_writes_the_table(tmp_path, capsys):
    ishigami = str(DATA / "ishigami.mdl")
    out = tmp_path / "sobol.csv"
    argv = ["sensitivity", ishigami, "--method", "sobol", "--samples", "512", "--kpi", "Y",
            "--seed", "2", "--out", str(out)]
    argv += [x for i in (1, 2, 3) for x in ("--param", f"x{i}=-{PI}:{PI}")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "sobol sensitivity of ishigami: 3 parameters, 2560 runs (seed 2)" in text
    table = pd.read_csv(out).set_index("parameter")
    assert table.loc["x2", "S1"] == pytest.approx(0.4424, abs=0.08)
    assert main(["sensitivity", str(DATA / "additive.mdl"), "--method", "oat", "--kpi",
                 "Y"]) == 0
    assert "swing" in capsys.readouterr().out
    assert main(["sensitivity", str(DATA / "additive.mdl"), "--method", "morris",
                 "--samples", "4", "--kpi", "Y", "--quiet"]) == 0
    # parameters, KPIs and a scenario from an experiment file
    assert main(["sensitivity", "--experiment", "default", "--scenario", "automate triage",
                 "--method", "oat", "--kpi", "skill", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "oat sensitivity of sts_core: 7 parameters, 15 runs" in text
    assert "skill decay rate" in text


def test_module_entry_point_smoke():
    res = subprocess.run([sys.executable, "-m", "sts_dynamics", "experiment", "--samples", "4"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "incidents per year" in res.stdout and "all three" in res.stdout
