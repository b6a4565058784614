"""optimize_policy on a toy two-lever model with an analytic optimum (tests/data/sociotech).

incidents + 0.1 * cost over 10 weeks, cost = training hours (1 per hour):
    f(a, b) = 10 (1 + (a - 0.4 - 0.1 b)^2 + 0.05 (b - 2)^2) + 0.1 b
joint optimum a = 0.59, b = 1.9 (f = 10.195); technical only (b held at 0): a = 0.4, f = 12;
social only (a held at 0.5): b = 1.75, f = 10.2625.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.errors import ConfigError, UnknownNameError
from sts_dynamics.experiments import Uniform
from sts_dynamics.sociotech import parse_expression
from sts_dynamics.sociotech import problem as problem_module

HERE = Path(__file__).parent
TOY = HERE / "data" / "sociotech" / "two_levers.mdl"


@pytest.fixture(scope="module")
def toy():
    return sd.load(TOY)


@pytest.fixture(scope="module")
def jo(toy):
    return sd.optimize_policy(toy, seed=1)


def test_finds_the_analytic_optimum(jo):
    assert jo.x["automation level"] == pytest.approx(0.59, abs=1e-3)
    assert jo.x["training hours"] == pytest.approx(1.9, abs=1e-3)
    assert jo.value == pytest.approx(10.195, abs=1e-6)
    assert jo.feasible and jo.cost == pytest.approx(1.9, abs=1e-3)
    assert jo.names["incidents"].startswith("KPI 'incidents'")


def test_single_subsystem_optima_and_the_comparison(jo):
    t = jo.compare()
    assert list(t.index) == ["baseline", "technical only", "social only", "joint"]
    assert t.loc["baseline", "objective"] == pytest.approx(12.1)
    assert t.loc["technical only", "automation level"] == pytest.approx(0.4, abs=1e-3)
    assert t.loc["technical only", "training hours"] == 0            # held at its value
    assert t.loc["technical only", "objective"] == pytest.approx(12.0, abs=1e-6)
    assert t.loc["social only", "training hours"] == pytest.approx(1.75, abs=1e-3)
    assert t.loc["social only", "automation level"] == 0.5
    assert t.loc["social only", "objective"] == pytest.approx(10.2625, abs=1e-6)
    assert t.loc["joint", "incidents"] == pytest.approx(10.005, abs=1e-5)
    assert jo.strategies["technical only"].searched == ("automation level",)
    frame = jo.to_frame()
    assert list(frame["lever"]) == ["automation level", "training hours"]
    assert frame.loc[1, "joint"] == pytest.approx(1.9, abs=1e-3)
    assert "Joint optimization improves" in " ".join(jo.messages())


@pytest.mark.parametrize("objective, constraints", [
    ("incidents + 0.1 * cost", None),
    ("incident rate ^ 2 + abs(training hours - 5) / 10", "automation level >= 0.7"),
    ("max(incidents, 10.5) + cost", None),
])
def test_joint_is_never_worse_than_either_subsystem(toy, objective, constraints):
    opt = sd.optimize_policy(toy, objective=objective, constraints=constraints, seed=7,
                             maxiter=30, popsize=8)
    t = opt.compare()
    assert t.loc["joint", "objective"] <= t.loc["technical only", "objective"] + 1e-12
    assert t.loc["joint", "objective"] <= t.loc["social only", "objective"] + 1e-12
    assert t.loc["joint", "feasible"]


def test_each_generation_is_one_vectorized_ensemble(toy, monkeypatch):
    sizes = []
    real = problem_module.run_chunk

    def spy(model, settings, params, n):
        sizes.append(n)
        return real(model, settings, params, n)

    monkeypatch.setattr(problem_module, "run_chunk", spy)
    opt = sd.optimize_policy(toy, seed=3, compare=False, polish=False, maxiter=5, popsize=6)
    de_calls = [n for n in sizes if n == 12]           # population: 6 x 2 decision variables
    assert len(de_calls) == opt.strategies["joint"].nit + 1    # the initial population too
    assert opt.simulations == len(sizes)


def test_budget_constraint(toy):
    opt = sd.optimize_policy(toy, budget=0.5, seed=3, compare=False)
    # b is capped at 0.5 by the budget, then a = 0.4 + 0.1 b
    assert opt.x["training hours"] == pytest.approx(0.5, abs=1e-3)
    assert opt.x["automation level"] == pytest.approx(0.45, abs=1e-3)
    assert opt.constraints == ("cost <= 0.5",) and opt.feasible


def test_time_varying_levers(toy):
    # Drift Loss integrates (a - (0.2 + 0.05 t))^2: over each half of the run, the best
    # constant is the mean target of that half, 0.325 and 0.575
    opt = sd.optimize_policy(toy, {"automation level": (0, 1)}, "Drift Loss",
                             time_varying=2, seed=2, compare=False)
    np.testing.assert_allclose(opt.x["automation level"], (0.325, 0.575), atol=1e-3)
    np.testing.assert_allclose(opt.period_starts, (0, 5))
    assert opt.value == pytest.approx(2 * 5 * 0.125 ** 2 / 3, abs=1e-6)
    pol = opt.policy()
    res = sd.run_experiment(toy, [pol], kpis=["Drift Loss"])
    row = res.kpis().set_index("scenario").loc[pol.name]
    assert row["median"] == pytest.approx(opt.value, abs=1e-6)


def test_robust_optimum_has_bands(toy):
    opt = sd.optimize_policy(toy, robust=("p90", 16), seed=3, maxiter=40,
                             uncertainty={"normal incident rate": Uniform(0.8, 1.2)})
    # the uncertain constant shifts the objective, not the optimum
    assert opt.x["automation level"] == pytest.approx(0.59, abs=1e-3)
    assert opt.x["training hours"] == pytest.approx(1.9, abs=1e-3)
    t = opt.compare()
    assert {"objective p5", "objective p95", "incidents p5", "incidents p95"} <= set(t.columns)
    assert (t["incidents p5"] < t["incidents"]).all() and (t["incidents"] <
                                                             t["incidents p95"]).all()
    per_run = opt.samples["objective"][list(t.index).index("joint")]
    assert opt.value == pytest.approx(np.percentile(per_run, 90))
    ch = opt.changes()
    assert set(ch["strategy"]) == {"technical only", "social only", "joint"}
    fig = sd.dashboard.optimization_chart(opt)
    assert {tr.name for tr in fig.data if tr.name} == {"technical only", "social only",
                                                        "joint"}


def test_expression_language_is_safe():
    e = parse_expression('max("Time to Resolve", 2) ^ 2 + abs(-x y) * 1e-3')
    assert e.names == ("Time to Resolve", "x y")
    assert float(e.evaluate({"Time to Resolve": 3.0, "x y": 2000.0})) == pytest.approx(11.0)
    for bad, msg in [("__import__('os')", "calls of '__import__'"),
                     ("__import__('os').system('ls')", "unexpected character '.'"),
                     ("x.real", "unexpected character '.'"), ("x[0]", "unexpected character"),
                     ("lambda: 1", "unexpected character ':'"), ("x, y", "Tuple is not allowed"),
                     ("1 +", "not a valid expression"), ("min(1)", "at least 2"),
                     ("abs(1, 2)", r"abs\(\) takes 1"), ("x < 1", "belong in constraints"),
                     ("", "non-empty expression")]:
        with pytest.raises(ConfigError, match=msg):
            parse_expression(bad)
    with pytest.raises(ConfigError, match="needs a comparison"):
        parse_expression("cost", what="constraint", comparison=True)
    with pytest.raises(ConfigError, match="one comparison"):
        parse_expression("0 < cost < 3", what="constraint", comparison=True)


def test_bad_input(toy):
    levers = {"automation level": (0, 1)}
    with pytest.raises(ConfigError, match="'Incident Rate' is a flow .* not a constant"):
        sd.optimize_policy(toy, {"Incident Rate": (0, 1)})
    with pytest.raises(UnknownNameError, match="no lever or constant 'automaton level'.*"
                                               "Did you mean 'automation level'"):
        sd.optimize_policy(toy, {"automaton level": (0, 1)})
    with pytest.raises(ConfigError, match="min < max"):
        sd.optimize_policy(toy, {"automation level": (0.9, 0.2)})
    with pytest.raises(ConfigError, match="min < max"):
        sd.optimize_policy(toy, {"automation level": (0.5, 0.5)})
    with pytest.raises(UnknownNameError, match="unknown name 'incidnets'.*'incidents'"):
        sd.optimize_policy(toy, levers, "incidnets + cost")
    with pytest.raises(ConfigError, match="calls of 'eval' are not allowed"):
        sd.optimize_policy(toy, levers, "eval('1')")
    with pytest.raises(UnknownNameError, match="constraint 'stafing >= 3': unknown name"):
        sd.optimize_policy(toy, levers, constraints="stafing >= 3")
    with pytest.raises(ConfigError, match="`robust` needs `uncertainty`"):
        sd.optimize_policy(toy, levers, robust="mean")
    with pytest.raises(ConfigError, match="used only by a robust optimization"):
        sd.optimize_policy(toy, levers, uncertainty={"normal incident rate": Uniform(1, 2)})
    with pytest.raises(ConfigError, match="`robust` must be 'mean' or a percentile"):
        sd.optimize_policy(toy, levers, robust="median")
    with pytest.raises(ConfigError, match="is a lever being optimized"):
        sd.optimize_policy(toy, levers, robust="mean",
                           uncertainty={"automation level": Uniform(0, 1)})
    with pytest.raises(ConfigError, match="`time_varying` must be"):
        sd.optimize_policy(toy, levers, time_varying=0)
    with pytest.raises(ConfigError, match="`budget` must be a finite number"):
        sd.optimize_policy(toy, levers, budget="lots")
    with pytest.raises(UnknownNameError, match="`costs` names 'staffing'"):
        sd.optimize_policy(toy, levers, costs={"staffing": 3})
