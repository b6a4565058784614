"""``python -m sts_dynamics variances`` and ``optimize`` (in-process)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sts_dynamics.cli import main
from sts_dynamics.sociotech.config import bundled_optimizations, load_optimization

HERE = Path(__file__).parent
TOY = HERE / "data" / "sociotech" / "two_levers.mdl"

TOML = f"""
title = "Toy joint optimization"
model = "{TOY.as_posix()}"
objective = "incidents + 0.1 * cost"
seed = 1

[levers]
"automation level" = [0, 1]
"training hours" = true

[search]
maxiter = 40
popsize = 8
"""


def test_variances_prints_the_sts_core_matrix(capsys, tmp_path):
    out = tmp_path / "matrix.csv"
    assert main(["variances", "sts_core", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sts_core: 5 key variances traced" in text
    for name in ("automation failure", "monitoring degradation", "change surge",
                 "staff turnover", "regulatory change"):
        assert name in text
    assert "controlled by loop" in text and "KPI damage" in text
    df = pd.read_csv(out, index_col="variance")
    assert df.loc["automation failure", "origin"] == "technical"
    assert df.loc["staff turnover", "origin"] == "social"
    assert df.loc["regulatory change", "origin"] == "environment"


def test_variances_errors(capsys):
    teacup = str(HERE / "test-models" / "samples" / "teacup" / "teacup.mdl")
    assert main(["variances", teacup]) == 2
    assert "declares no variances" in capsys.readouterr().err
    assert main(["variances", str(TOY.with_name("backlog_control.mdl")), "--variance",
                 "outag"]) == 2
    assert "Did you mean 'outage'" in capsys.readouterr().err


def test_optimize_file(tmp_path, capsys):
    spec = tmp_path / "opt.toml"
    spec.write_text(TOML, encoding="utf-8")
    out = tmp_path / "compare.csv"
    assert main(["optimize", str(spec), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Toy joint optimization" in text and "technical only" in text
    assert "incidents = KPI 'incidents'" in text
    df = pd.read_csv(out, index_col="strategy")
    assert df.loc["joint", "objective"] == pytest.approx(10.195, abs=1e-5)
    assert df.loc["joint", "training hours"] == pytest.approx(1.9, abs=1e-3)
    assert main(["optimize", str(spec), "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


@pytest.mark.parametrize("old, new, message", [
    ("maxiter = 40", "maxiterr = 40", "[search]: unknown key 'maxiterr'. Did you mean"),
    ('objective = "incidents + 0.1 * cost"', 'objective = "incidnets"',
     "unknown name 'incidnets'"),
    ('"training hours" = true', '"training hours" = [5, 2]', "min < max"),
    ('"training hours" = true', '"Incident Rate" = [0, 2]', "not a constant"),
    ("[search]", "[robust]\nstatistic = 'mean'\n[search]", "needs [uncertainty]"),
    ("[search]", "[robust]\nstatistic = 'median'\n[search]", "percentile such as 'p90'"),
])
def test_optimize_file_errors(tmp_path, capsys, old, new, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(TOML.replace(old, new), encoding="utf-8")
    assert main(["optimize", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad.toml: ") and message in err


def test_bundled_optimization_is_valid():
    assert "default" in bundled_optimizations()
    spec = load_optimization("default")
    assert spec.model.name == "sts_core"
    levers = spec.options["levers"]
    assert levers == {"automation level": [0.2, 0.95], "training hours": [0, 8],
                      "alert tuning effort": [0, 200]}
    # the example's bounds hold the model's own values, and every lever has a price
    # (automation once had none, and alert tuning bounds of [0, 1] around a value of 20)
    from sts_dynamics.sociotech.levers import resolve_levers

    for lever in resolve_levers(spec.model, levers):
        assert lever.low <= lever.default <= lever.high, lever.name
        assert lever.cost_per_unit > 0, lever.name


def test_variances_dashboard(tmp_path, capsys):
    page = tmp_path / "v.html"
    backlog = str(TOY.with_name("backlog_control.mdl"))
    assert main(["variances", backlog, "--dashboard", str(page), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert "Where variances are controlled" in page.read_text(encoding="utf-8")
    assert main(["variances", backlog, "--dashboard", str(tmp_path / "v.txt")]) == 2
    assert "use an .html file name" in capsys.readouterr().err
