"""Experiments: policies against analytic solutions, Monte Carlo against analytic means,
common random numbers, failed runs, KPIs and the frozen result with its exports."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

import sts_dynamics as sd
from sts_dynamics.errors import ConfigError, UnknownNameError
from sts_dynamics.experiments import KPI, Normal, Posterior, Triangular, Uniform

from _paths import TEACUP

DATA = Path(__file__).resolve().parent / "data" / "experiments"
LINEAR = DATA / "linear.mdl"
ADDITIVE = DATA / "additive.mdl"
WEEKS_PER_YEAR = 365.25 / 7


@pytest.fixture(scope="module")
def teacup():
    return sd.load(TEACUP)


@pytest.fixture(scope="module")
def linear():
    return sd.load(LINEAR)


# -- Monte Carlo against an analytic mean --------------------------------------------------------
def test_monte_carlo_teacup_matches_the_analytic_mean(teacup):
    """T(t) = 70 + 110 exp(-t / tau) with tau ~ U(5, 15): the mean over the distribution is
    70 + 110 E[exp(-t / tau)], the expectation integrated with scipy's quad."""
    lo, hi = 5.0, 15.0
    kpis = [KPI("T30", "Teacup Temperature", "final"),
            KPI("T10", "Teacup Temperature", "at", at=10.0),
            KPI("Tmean", "Teacup Temperature", "mean")]
    n = 4000
    res = sd.monte_carlo(teacup, {"Characteristic Time": Uniform(lo, hi)}, n_samples=n,
                         seed=7, kpis=kpis)
    assert res.values.shape == (1, 3, n) and not res.failures
    tau = res.samples["Characteristic Time"].to_numpy()

    def exact(t, tau):
        return 70 + 110 * np.exp(-t / tau)

    def exact_mean(tau):  # time average over [0, 30]
        return 70 + 110 * tau / 30 * (1 - np.exp(-30 / tau))

    for k, (name, f) in enumerate([("T30", lambda x: exact(30, x)),
                                   ("T10", lambda x: exact(10, x)),
                                   ("Tmean", exact_mean)]):
        sim = res.values[0, k]
        # the solver, run by run, against the closed form at the drawn samples
        np.testing.assert_allclose(sim, f(tau), rtol=2e-4, err_msg=name)
        # the Monte Carlo mean against the expectation over the distribution
        expected = quad(f, lo, hi)[0] / (hi - lo)
        se = sim.std(ddof=1) / math.sqrt(n)
        assert abs(sim.mean() - expected) < 4 * se, name


def test_monte_carlo_is_reproducible_and_needs_uncertainty(teacup):
    u = {"Characteristic Time": Normal(10, 2, low=1)}
    a = sd.monte_carlo(teacup, u, n_samples=50, seed=3)
    b = sd.monte_carlo(teacup, u, n_samples=50, seed=3, chunk_size=7)
    c = sd.monte_carlo(teacup, u, n_samples=50, seed=4)
    # chunks share adaptive steps, so other chunks agree to the solver's tolerance ...
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    assert not np.allclose(a.values, c.values)
    assert a.seed == 3 and a.info["chunks"] == 1 and b.info["chunks"] == 8
    # ... and fixed-step methods give the same numbers whatever the chunking
    e1 = sd.monte_carlo(teacup, u, n_samples=50, seed=3, method="euler")
    e2 = sd.monte_carlo(teacup, u, n_samples=50, seed=3, method="euler", chunk_size=7)
    np.testing.assert_array_equal(e1.values, e2.values)
    with pytest.raises(ConfigError, match="monte_carlo needs `uncertainty`"):
        sd.monte_carlo(teacup, None)


# -- policies against the analytic solution of linear stocks --------------------------------------
def _final(res, scenario, variable="Stock"):
    s = res.scenario_names.index(scenario)
    return res.trajectories[variable][s, -1]


def test_policies_match_the_analytic_solution_of_a_linear_stock(linear):
    """Stock' = Rate (default 1) over 20 weeks, so Stock(20) is the integral of the policy."""
    P = sd.Policy
    scenarios = [
        sd.Scenario("step", (P.step("step", {"Rate": 3}, at=5),)),           # 5 + 3*15
        sd.Scenario("ramp", (P.ramp("ramp", {"Rate": 3}, 5, 15),)),          # 5 + 20 + 15
        sd.Scenario("table", (P.table("t", {"Rate": [(2, 2), (8, 4)]}),)),   # 2 + 12 + 48
        sd.Scenario("linear table", (P.table("t", {"Rate": [(2, 2), (8, 4)]},
                                             interpolation="linear"),)),     # 2 + 18 + 48
        sd.Scenario("at once", (P("now", {"Rate": 2}),)),                    # 40
        sd.Scenario("add", (P.step("add", {"Rate": 0.5}, at=10, mode="add"),)),  # 20 + 5
        # a step then a ramp on top of it: 1 (0-5), 3 (5-10), 3 (1 + (t - 10) / 10) (10-20)
        sd.Scenario("composed", (P.step("a", {"Rate": 3}, at=5),
                                 P.ramp("b", {"Rate": 2}, 10, 20, mode="scale"))),
    ]
    expected = {"baseline": 20, "step": 50, "ramp": 40, "table": 62, "linear table": 68,
                "at once": 40, "add": 25, "composed": 5 + 15 + 45}
    res = sd.run_experiment(linear, scenarios, kpis=["Stock"], record=["Stock", "Rate"])
    assert res.scenario_names[0] == "baseline"  # added because none was given
    for name, value in expected.items():
        assert _final(res, name) == pytest.approx(value, rel=1e-6), name
    # the step itself, on the output grid (SAVEPER 0.5): Rate is 1 before week 5, 3 from it
    t = res.t
    rate = res.trajectories["Rate"][res.scenario_names.index("step"), :, 0]
    np.testing.assert_array_equal(rate, np.where(t >= 5, 3.0, 1.0))
    stock = res.trajectories["Stock"][res.scenario_names.index("ramp"), :, 0]
    w = np.clip((t - 5) / 10, 0, 1)
    exact = np.where(t < 5, t, 0) + np.where(t >= 5, 5 + (np.minimum(t, 15) - 5)
                                             + 10 * w ** 2, 0) + 3 * np.clip(t - 15, 0, None)
    np.testing.assert_allclose(stock, exact, rtol=1e-6, atol=1e-8)
    # every scenario in one chunk, or one run per chunk: the same numbers
    again = sd.run_experiment(linear, scenarios, kpis=["Stock"], chunk_size=1)
    np.testing.assert_allclose(again.values, res.values, rtol=1e-9)


def test_step_of_a_first_order_target_matches_the_exponential_solution(linear):
    """Level' = (Target - Level) / 10 with Target stepping from 100 to 200 at week 5."""
    res = sd.run_experiment(linear, sd.Policy.step("raise", {"Target": 200}, at=5),
                            kpis=[KPI("level", "Level")], record=["Level"])
    t = res.t
    l5 = 100 * (1 - math.exp(-0.5))
    exact = np.where(t < 5, 100 * (1 - np.exp(-t / 10)), 200 - (200 - l5) * np.exp(-(t - 5) / 10))
    got = res.trajectories["Level"][1, :, 0]
    np.testing.assert_allclose(got, exact, rtol=1e-5)


def test_scale_policy_acts_on_every_sample(linear):
    """Rate ~ U(1, 2) doubled from week 10: Stock(20) = 30 * Rate, run by run."""
    res = sd.run_experiment(linear, sd.Policy.step("double", {"Rate": 2}, at=10, mode="scale"),
                            uncertainty={"Rate": Uniform(1, 2)}, n_samples=64, seed=11,
                            kpis=["Stock"])
    rate = res.samples["Rate"].to_numpy()
    np.testing.assert_allclose(res["double"]["Stock"], 30 * rate, rtol=1e-6)
    np.testing.assert_allclose(res["baseline"]["Stock"], 20 * rate, rtol=1e-6)
    table = res.kpis().set_index("scenario")
    assert table.loc["double", "change_pct"] == pytest.approx(50, rel=1e-5)
    assert table.loc["double", "change_pct_p5"] == pytest.approx(50, rel=1e-5)


def test_common_random_numbers(linear):
    """Every scenario runs with the same parameter sets: a policy that does not reach a KPI
    leaves it unchanged run by run, and paired differences carry no sampling noise."""
    u = {"Rate": Uniform(1, 2), "Decay Time": Triangular(5, 10, 20)}
    scen = [sd.Policy("other stock", {"Target": 150}), sd.Policy("faster", {"Rate": 1.5},
                                                                  mode="scale")]
    res = sd.run_experiment(linear, scen, uncertainty=u, n_samples=200, seed=5,
                            kpis=["Stock", KPI("level", "Level")])
    base, other, faster = (res[s] for s in res.scenario_names)
    np.testing.assert_array_equal(other["Stock"], base["Stock"])
    np.testing.assert_allclose(faster["Stock"] - base["Stock"], 0.5 * base["Stock"], rtol=1e-6)
    np.testing.assert_allclose(other["level"] / base["level"], 1.5, rtol=1e-5)
    table = res.kpis().set_index(["scenario", "kpi"])
    row = table.loc[("other stock", "level")]
    assert row["change_pct_p5"] == pytest.approx(50, rel=1e-4)
    assert row["change_pct_p95"] == pytest.approx(50, rel=1e-4)
    # the same seed gives the same samples whatever the scenarios
    alone = sd.monte_carlo(linear, u, n_samples=200, seed=5, kpis=["Stock"])
    pd.testing.assert_frame_equal(alone.samples, res.samples)


# -- failed runs --------------------------------------------------------------------------------
def test_failed_runs_are_reported_and_the_others_kept():
    """additive.mdl divides by (c3 - 0.5): the parameter sets with c3 = 0.5 fail."""
    model = sd.load(ADDITIVE)
    c3 = [1.0, 0.5, 2.0, 0.5, 3.0, 1.5, 0.75, 0.5]
    post = Posterior(pd.DataFrame({"c3": c3}))
    res = sd.run_experiment(model, sd.Policy("double c1", {"c1": 2}), uncertainty=post,
                            n_samples=40, seed=2, kpis=[KPI("Y", "Y", "final")], chunk_size=16)
    drawn = res.samples["c3"].to_numpy()
    bad = np.flatnonzero(drawn == 0.5)
    assert len(bad) > 0
    failed = res.failed_runs()
    assert sorted(failed.loc[failed["scenario"] == "baseline", "run"]) == bad.tolist()
    assert (failed["c3"] == 0.5).all() and failed["message"].str.contains("Fragile").all()
    good = drawn != 0.5
    np.testing.assert_allclose(res["baseline"]["Y"].to_numpy()[good], 3 + 0.5 * drawn[good])
    np.testing.assert_allclose(res["double c1"]["Y"].to_numpy()[good], 5 + 0.5 * drawn[good])
    assert np.isnan(res["baseline"]["Y"].to_numpy()[bad]).all()
    table = res.kpis().set_index("scenario")
    assert table.loc["baseline", "runs"] == good.sum()


# -- KPIs -----------------------------------------------------------------------------------------
def test_kpi_statistics_on_a_linear_stock(linear):
    kpis = [KPI("change", "Stock", "change"), KPI("per year", "Stock", "change_per_year"),
            KPI("rate per year", "Rate", "mean_per_year"), KPI("integral", "Stock", "integral"),
            KPI("max", "Stock", "max"), KPI("min", "Stock", "min"),
            KPI("initial", "Stock", "initial"), KPI("doubled", "Stock", scale=2)]
    res = sd.run_experiment(linear, kpis=kpis)
    got = res["baseline"].iloc[0]
    assert got["change"] == pytest.approx(20)
    assert got["per year"] == pytest.approx(WEEKS_PER_YEAR)
    assert got["rate per year"] == pytest.approx(WEEKS_PER_YEAR)
    assert got["integral"] == pytest.approx(200, rel=1e-9)   # trapezoid is exact for t
    assert (got["max"], got["min"], got["initial"]) == pytest.approx((20, 0, 0))
    assert got["doubled"] == pytest.approx(40)


def test_kpis_from_meta_toml_and_the_generic_fallback(teacup):
    core = sd.load("sts_core")
    res = sd.run_experiment(core, horizon=10)
    names = res.kpi_names
    assert "incidents per year" in names and "skill" in names
    defs = {k.name: k for k in res.kpi_defs}
    assert defs["skill"].stat == "final" and defs["incidents per year"].stat == "mean"
    assert defs["time to resolve"].units == "Hour"
    fallback = sd.run_experiment(teacup)
    assert fallback.kpi_names == ("Teacup Temperature",)
    assert fallback.kpi_defs[0].stat == "final"
    with pytest.raises(UnknownNameError, match="Did you mean 'Teacup Temperature'"):
        sd.run_experiment(teacup, kpis=["Teacup Temprature"])
    with pytest.raises(ConfigError, match="`stat` must be one of"):
        KPI("x", "Teacup Temperature", "median")


def test_horizon_in_years_and_bad_horizons(linear):
    res = sd.run_experiment(linear, horizon="0.2 years", kpis=["Stock"])
    assert res.t[-1] == pytest.approx(0.2 * WEEKS_PER_YEAR)
    assert res["baseline"]["Stock"][0] == pytest.approx(0.2 * WEEKS_PER_YEAR)
    with pytest.raises(ConfigError, match="positive length"):
        sd.run_experiment(linear, horizon=-3)
    with pytest.raises(ConfigError, match="cannot convert 'parsecs'"):
        sd.run_experiment(linear, horizon="3 parsecs")


# -- input checks -------------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda: Uniform(2, 1), "`low` must be less than `high`"),
    (lambda: Normal(0, 0), "`sd` must be > 0"),
    (lambda: Normal(0, 1, low=5, high=4), "`low` must be less than `high`"),
    (lambda: sd.experiments.LogNormal(-1, 0.5), "`median` must be > 0"),
    (lambda: sd.experiments.LogNormal(1, 0), "`sigma` must be > 0"),
    (lambda: Triangular(0, 3, 2), "low <= mode <= high"),
    (lambda: Uniform(0, float("nan")), "`high` must be finite"),
    (lambda: sd.Policy("p", {"x": 1}, start=5, end=2), r"`end` \(2\) must be after `start`"),
    (lambda: sd.Policy("p", {"x": 1}, end=2), "a ramp needs `start`"),
    (lambda: sd.Policy("p", {"x": [(3, 1), (2, 2)]}), "strictly increasing"),
    (lambda: sd.Policy("p", {"x": [(1, 1)]}, start=0), "carries its own dates"),
    (lambda: sd.Policy("p", {}), "`changes` is empty"),
    (lambda: sd.Policy("p", {"x": 1}, mode="multiply"), "`mode` must be one of"),
    (lambda: sd.Policy("", {"x": 1}), "non-empty `name`"),
])
def test_invalid_distributions_and_policies(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_names_dates_and_scenarios_are_checked_against_the_model(linear):
    with pytest.raises(UnknownNameError, match="no constant 'Rat'. Did you mean 'Rate'"):
        sd.run_experiment(linear, sd.Policy("p", {"Rat": 2}))
    with pytest.raises(UnknownNameError, match="uncertainty: .* Did you mean 'Target'"):
        sd.monte_carlo(linear, {"Targt": Uniform(1, 2)})
    with pytest.raises(ConfigError, match="'Stock' is a stock .* not a constant"):
        sd.run_experiment(linear, sd.Policy("p", {"Stock": 2}))
    with pytest.raises(ConfigError, match="names time 25 Week, outside the horizon 0-20"):
        sd.run_experiment(linear, sd.Policy.step("late", {"Rate": 2}, at=25))
    with pytest.raises(ConfigError, match="outside the horizon 0-10"):
        sd.run_experiment(linear, sd.Policy.ramp("r", {"Rate": 2}, 5, 15), horizon=10)
    with pytest.raises(ConfigError, match="scenario names must be unique"):
        sd.run_experiment(linear, [sd.Scenario("a"), sd.Scenario("a")])
    with pytest.raises(ConfigError, match="`baseline` 'b' is not one of"):
        sd.run_experiment(linear, [sd.Scenario("a")], baseline="b")
    with pytest.raises(ConfigError, match="`n_samples` must be a positive integer"):
        sd.monte_carlo(linear, {"Rate": Uniform(1, 2)}, n_samples=0)


def test_distributions_agree_with_scipy():
    from scipy import stats

    u = np.linspace(0.01, 0.99, 25)
    np.testing.assert_allclose(Normal(3, 2).ppf(u), stats.norm(3, 2).ppf(u))
    np.testing.assert_allclose(Normal(3, 2, low=2, high=7).ppf(u),
                               stats.truncnorm(-0.5, 2, loc=3, scale=2).ppf(u))
    np.testing.assert_allclose(sd.experiments.LogNormal(4, 0.5).ppf(u),
                               stats.lognorm(s=0.5, scale=4).ppf(u))
    np.testing.assert_allclose(Triangular(1, 2, 5).ppf(u),
                               stats.triang(c=0.25, loc=1, scale=4).ppf(u))
    np.testing.assert_allclose(Uniform(-1, 3).ppf(u), stats.uniform(-1, 4).ppf(u))


def test_scenarios_compose():
    a = sd.Policy("a", {"x": 1})
    b = sd.Policy.step("b", {"y": 2}, at=3)
    s = sd.Scenario("a", (a,)) + b
    assert s.name == "a + b" and s.policies == (a, b)
    assert sd.Scenario.compose("both", sd.Scenario("one", a), b).policies == (a, b)
    assert s.constants == ("x", "y")
    assert b.timing == "step" and a.timing == "at once"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"
    assert hash(s) == hash(sd.Scenario("a + b", (a, b)))


# -- the result ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def result(linear):
    return sd.run_experiment(linear, sd.Policy.step("p", {"Rate": 2}, at=10),
                             uncertainty={"Rate": Uniform(1, 2)}, n_samples=5, seed=1,
                             kpis=["Stock"])


def test_result_is_frozen_and_read_only(result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.baseline = "p"
    with pytest.raises(ValueError, match="read-only"):
        result.values[0, 0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        result.trajectories["Stock"][0, 0, 0] = 1


def test_result_frames(result):
    long = result.to_frame()
    assert list(long.columns) == ["scenario", "run", "time", "variable", "value"]
    assert len(long) == 2 * 5 * len(result.t)
    one = long[(long.scenario == "p") & (long.run == 3)]
    assert one["value"].iloc[-1] == result["p"]["Stock"][3]
    wide = result.kpi_samples()
    assert list(wide.columns) == ["scenario", "run", "Stock", "Rate"]
    bands = result.bands("Stock")
    assert set(bands.columns) == {"scenario", "time", "median", "p5", "p95"}
    assert (bands["p5"] <= bands["median"]).all() and (bands["median"] <= bands["p95"]).all()
    kpis = result.kpis()
    assert list(kpis.scenario) == ["baseline", "p"]
    assert kpis.loc[0, "change"] == 0
    with pytest.raises(UnknownNameError, match="Did you mean 'Stock'"):
        result.bands("Stok")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_exports_are_atomic_and_never_overwrite(result, tmp_path, fmt):
    path = tmp_path / f"kpis.{fmt}"
    getattr(result, f"to_{fmt}")(path)
    back = {"csv": pd.read_csv, "parquet": pd.read_parquet,
            "json": lambda p: pd.read_json(p, orient="records")}[fmt](path)
    assert list(back["scenario"]) == ["baseline", "p"]
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        getattr(result, f"to_{fmt}")(path)
    getattr(result, f"to_{fmt}")(path, what="samples", force=True)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        getattr(result, f"to_{fmt}")(tmp_path / "missing" / f"x.{fmt}")


def test_save_writes_every_table(result, tmp_path):
    out = tmp_path / "results"
    written = result.save(out, formats=("csv", "json"))
    names = sorted(p.name for p in written)
    assert names == ["experiment.json", "kpi_samples.csv", "kpi_samples.json", "kpis.csv",
                     "kpis.json", "trajectories.csv", "trajectories.json"]
    with pytest.raises(FileExistsError, match="exists"):
        result.save(out)
    result.save(out, force=True)
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        result.save(tmp_path / "a" / "b")
