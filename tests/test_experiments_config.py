"""Experiment files (TOML): the bundled default, a small file on a linear model, and every
kind of bad input as one clear error."""

from pathlib import Path

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.errors import ConfigError, UnknownNameError
from sts_dynamics.experiments.config import bundled_experiments, load_experiment

DATA = Path(__file__).resolve().parent / "data" / "experiments"

GOOD = f"""
title = "linear test"
model = "{(DATA / 'linear.mdl').as_posix()}"
horizon = 20
seed = 4
samples = 16
kpis = ["Stock", {{ name = "level", variable = "Level", stat = "final" }}]

[policies.faster]
set = {{ Rate = 3 }}
at = 5

[policies.slow-ramp]
scale = {{ "Decay Time" = 2 }}
start = 2
end = 12

[policies.tabled]
add = {{ Rate = [[0, 0], [10, 1]] }}
interpolation = "step"

[scenarios.baseline]

[scenarios.fast]
policies = ["faster"]

[scenarios.both]
policies = ["faster", "slow-ramp", "tabled"]

[uncertainty]
Target = {{ dist = "uniform", low = 50, high = 150 }}
"Decay Time" = {{ dist = "triangular", low = 5, mode = 10, high = 20 }}
"""


def write(tmp_path, text, name="exp.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_a_file_runs_like_the_python_api(tmp_path):
    spec = load_experiment(write(tmp_path, GOOD))
    assert [s.name for s in spec.scenarios] == ["baseline", "fast", "both"]
    assert spec.n_samples == 16 and spec.seed == 4 and spec.title == "linear test"
    res = spec.run()
    assert res.values.shape == (3, 2, 16)
    # Stock(20): 20 at rate 1; 5 + 3 * 15 with the step; plus 10 more with the table
    np.testing.assert_allclose(res["baseline"]["Stock"], 20, rtol=1e-9)
    np.testing.assert_allclose(res["fast"]["Stock"], 50, rtol=1e-9)
    np.testing.assert_allclose(res["both"]["Stock"], 60, rtol=1e-9)
    # the same experiment through the Python API gives the same numbers
    P = sd.Policy
    model = sd.load(DATA / "linear.mdl")
    again = sd.run_experiment(
        model,
        [sd.Scenario("baseline"), sd.Scenario("fast", (P.step("faster", {"Rate": 3}, at=5),)),
         sd.Scenario("both", (P.step("faster", {"Rate": 3}, at=5),
                              P.ramp("slow-ramp", {"Decay Time": 2}, 2, 12, mode="scale"),
                              P.table("tabled", {"Rate": [(0, 0), (10, 1)]}, mode="add")))],
        horizon=20, seed=4, n_samples=16, kpis=spec.kpis, uncertainty=spec.uncertainty)
    np.testing.assert_array_equal(again.values, res.values)
    assert res.seed == 4 and res.info["uncertainty"]["Target"] == "uniform(low=50, high=150)"


def test_the_bundled_default_experiment_is_complete():
    assert "default" in bundled_experiments()
    spec = load_experiment()
    assert spec.model.name == "sts_core"
    assert spec.baseline == "baseline" and len(spec.scenarios) == 5
    assert spec.horizon == 156 and spec.uncertainty is not None
    res = spec.run(n_samples=3)
    table = res.kpis()
    assert {"incidents per year", "time to resolve", "detection delay", "skill", "awareness",
            "alert precision", "governance coverage"} <= set(table["kpi"])
    assert np.isfinite(table["median"]).all()


def test_posterior_samples_from_a_file(tmp_path):
    (tmp_path / "post.csv").write_text("Target,Rate\n80,1\n120,2\n", encoding="utf-8")
    text = GOOD.replace("[uncertainty]\n", '[posterior]\nfile = "post.csv"\n\n[uncertainty]\n')
    text = text.replace('Target = { dist = "uniform", low = 50, high = 150 }\n', "")
    res = load_experiment(write(tmp_path, text)).run()
    assert set(res.samples["Target"]) <= {80.0, 120.0}
    # the rows are drawn whole: Rate follows Target
    assert (res.samples["Rate"] == np.where(res.samples["Target"] == 80, 1.0, 2.0)).all()


BAD = [
    # (replace this, with that, error type, message)
    ('horizon = 20', 'horizon = 20\nsamples = = 3', ConfigError,
     r"invalid TOML: Invalid value \(at line 5, column 11\)"),
    ('horizon = 20', 'horizn = 20', ConfigError, "unknown key 'horizn'. Did you mean 'horizon'"),
    ('at = 5', 'att = 5', ConfigError, r"\[policies.'faster'\]: unknown key 'att'"),
    ('set = { Rate = 3 }', 'set = { Rat = 3 }', UnknownNameError,
     "no constant 'Rat'. Did you mean 'Rate'"),
    ('Target = {', 'Targt = {', UnknownNameError, "Did you mean 'Target'"),
    ('kpis = ["Stock"', 'kpis = ["Stok"', UnknownNameError, "Did you mean 'Stock'"),
    ('low = 50, high = 150', 'low = 150, high = 50', ConfigError,
     r"\[uncertainty\] 'Target': uniform distribution: `low` must be less than `high`"),
    ('mode = 10', 'mode = 30', ConfigError, "low <= mode <= high"),
    ('dist = "uniform"', 'dist = "uniformly"', ConfigError,
     "unknown distribution 'uniformly'.*Did you mean 'uniform'"),
    ('low = 5, mode', 'lo = 5, mode', ConfigError,
     "unknown key 'lo' for a triangular distribution"),
    ('at = 5', 'at = 25', ConfigError, "names time 25 Week, outside the horizon 0-20"),
    ('end = 12', 'end = 40', ConfigError, "outside the horizon"),
    ('policies = ["faster"]', 'policies = ["fastr"]', UnknownNameError,
     "unknown policy 'fastr'.*Did you mean 'faster'"),
    ('set = { Rate = 3 }', 'set = { Rate = 3 }\nadd = { Rate = 1 }', ConfigError,
     "give exactly one of `set`, `scale` or `add`"),
    ('samples = 16', 'samples = -2', ConfigError, "`samples` must be a positive integer"),
    ('model = "', 'model = "no/such/', Exception, "does not exist"),
]


@pytest.mark.parametrize("old, new, error, match", BAD)
def test_bad_input_is_one_clear_error(tmp_path, old, new, error, match):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(error, match=match) as info:
        load_experiment(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))


def test_missing_files_and_output_folders(tmp_path):
    with pytest.raises(ConfigError, match="experiment file 'nope.toml' does not exist"):
        load_experiment("nope.toml")
    with pytest.raises(UnknownNameError, match="Did you mean 'default'"):
        load_experiment("defualt")
    text = GOOD + '\n[output]\nfolder = "out"\nformats = ["csv", "xlsx"]\n'
    with pytest.raises(ConfigError, match="unknown format 'xlsx'"):
        load_experiment(write(tmp_path, text))
    spec = load_experiment(write(tmp_path, GOOD + '\n[output]\nfolder = "a/b"\n'))
    assert spec.output_folder == tmp_path / "a" / "b"
    res = spec.run(n_samples=2)
    with pytest.raises(ConfigError, match="of output folder .* does not exist"):
        res.save(spec.output_folder)
