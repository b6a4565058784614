"""Sensitivity: Sobol indices of the Ishigami function and of a linear model (known in closed
form), Morris elementary effects and the OAT tornado of a linear model."""

import math
from pathlib import Path

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.errors import ConfigError, SimulationError, UnknownNameError
from sts_dynamics.experiments import KPI, Normal, Uniform

DATA = Path(__file__).resolve().parent / "data" / "experiments"
Y = [KPI("Y", "Y", "final")]


@pytest.fixture(scope="module")
def ishigami():
    return sd.load(DATA / "ishigami.mdl")


@pytest.fixture(scope="module")
def additive():
    return sd.load(DATA / "additive.mdl")


def ishigami_indices(a=7.0, b=0.1):
    """Closed-form Sobol indices of the Ishigami function (Ishigami & Homma 1990; the values
    SALib's test suite uses: S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437)."""
    pi = math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * 8 / 225
    v = v1 + v2 + v13
    return np.array([v1, v2, 0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_sobol_indices_of_the_ishigami_function(ishigami):
    u = {f"x{i}": Uniform(-math.pi, math.pi) for i in (1, 2, 3)}
    res = sd.sensitivity(ishigami, u, method="sobol", kpis=Y, n_samples=1024, seed=3)
    assert res.n_runs == 1024 * 5
    table = res.ranking("Y").set_index("parameter").loc[["x1", "x2", "x3"]]
    s1, st = ishigami_indices()
    assert s1 == pytest.approx([0.3139, 0.4424, 0], abs=1e-4)
    np.testing.assert_allclose(table["S1"], s1, atol=0.06)
    np.testing.assert_allclose(table["ST"], st, atol=0.06)
    # the confidence intervals cover the true values
    assert (abs(table["ST"] - st) <= 2 * table["ST_conf"]).all()
    assert (table["S1_conf"] > 0).all()
    assert list(res.ranking("Y")["parameter"]) == ["x1", "x2", "x3"]  # ordered by ST


def test_sobol_indices_of_a_linear_model(additive):
    """Y = 2 c1 + c2 + 0.5 c3 with independent inputs of equal variance: S_i = a_i^2 / sum."""
    u = {name: Uniform(0, 2) for name in ("c1", "c2", "c3")}
    res = sd.sensitivity(additive, u, method="sobol", kpis=Y, n_samples=512, seed=1)
    table = res.ranking("Y").set_index("parameter").loc[["c1", "c2", "c3"]]
    exact = np.array([4, 1, 0.25]) / 5.25
    np.testing.assert_allclose(table["S1"], exact, atol=0.03)
    np.testing.assert_allclose(table["ST"], exact, atol=0.03)


def test_morris_elementary_effects_of_a_linear_model(additive):
    """Moving c_i across its range changes Y by a_i (high - low): mu* = |a_i| (high - low)."""
    u = {"c1": Uniform(0, 2), "c2": Uniform(-1, 3), "c3": Uniform(1, 1.5)}
    res = sd.sensitivity(additive, u, method="morris", kpis=Y, n_samples=10, seed=4)
    assert res.n_runs == 10 * 4
    t = res.ranking("Y").set_index("parameter")
    np.testing.assert_allclose(t.loc[["c1", "c2", "c3"], "mu_star"], [4, 4, 0.25], rtol=1e-6)
    np.testing.assert_allclose(t.loc[["c1", "c2", "c3"], "sigma"], 0, atol=1e-6)
    assert "mu_star_conf" in t


def test_oat_tornado_of_a_linear_model(additive):
    u = {"c1": Uniform(0, 2), "c2": Normal(1, 1), "c3": Uniform(0.6, 1.4)}
    res = sd.sensitivity(additive, u, method="oat", kpis=Y, quantiles=(0.1, 0.9))
    assert res.n_runs == 7
    t = res.ranking("Y").set_index("parameter")
    z = 1.2815515655446004  # standard normal 90th percentile
    np.testing.assert_allclose(t.loc["c1", ["low", "high"]], [0.2, 1.8])
    np.testing.assert_allclose(t.loc["c2", ["low", "high"]], [1 - z, 1 + z])
    np.testing.assert_allclose(t["swing"].loc[["c1", "c2", "c3"]],
                               [2 * 1.6, 1 * 2 * z, 0.5 * 0.64], rtol=1e-6)
    assert t["base"].iloc[0] == pytest.approx(3.5)  # the defaults: 2 + 1 + 0.5
    assert list(t.index) == ["c1", "c2", "c3"]  # largest swing first


def test_default_parameters_and_bad_input(additive):
    res = sd.sensitivity(additive, method="oat", kpis=Y)  # +-25 % around the defaults
    assert res.parameters == ("c1", "c2", "c3")
    core = sd.load("sts_core")
    from sts_dynamics.experiments.sensitivity_analysis import default_uncertainty

    levers = default_uncertainty(core)
    assert "automation level" in levers.names and len(levers) == 6  # meta.toml [[lever]]
    with pytest.raises(ConfigError, match="must be a power of 2 .* try 1024"):
        sd.sensitivity(additive, method="sobol", kpis=Y, n_samples=1000)
    with pytest.raises(ConfigError, match="`method` must be one of sobol, morris, oat"):
        sd.sensitivity(additive, method="fast")
    with pytest.raises(UnknownNameError, match="Did you mean 'Y'"):
        res.ranking("y2")


def test_a_failing_design_is_reported(additive):
    """The lowest Morris level of c3 is 0.5, where the model divides by zero."""
    u = {"c3": Uniform(0.5, 1)}
    with pytest.raises(SimulationError, match="runs of the morris design failed .* c3=0.5"):
        sd.sensitivity(additive, u, method="morris", kpis=[KPI("F", "Fragile")],
                       n_samples=4, seed=0)
    res = sd.sensitivity(additive, u, method="oat", kpis=[KPI("F", "Fragile")],
                         quantiles=(0, 1))  # a tornado keeps the runs that succeed
    assert len(res.failures) == 1 and np.isnan(res.table["kpi_low"][0])
