"""Calibration: seeded synthetic recovery, optimizers, multi-start, failed parameter sets.

Reference values are the parameters the data were simulated with, or closed forms.
"""

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.calibrate import CalibrationResult, calibrate, check_recovery, simulate_series
from sts_dynamics.errors import CalibrationError, CalibrationWarning

from _paths import ROOT

DATA = ROOT / "data" / "calibrate"
TRUTH = {"base fault rate": 2.0, "growth rate": 0.01, "fault latency": 4.0,
         "resolve time at full skill": 0.6}
OBSERVE = {"count": {"variable": "Cumulative Incidents", "kind": "counts"},
           "ttr": "Time to Resolve"}
# bounds and starts away from the truth
PARAMS = {"base fault rate": (0.1, 10, 1.0), "growth rate": (0.001, 0.05, 0.02),
          "fault latency": (0.5, 20, 8.0), "resolve time at full skill": (0.1, 5, 1.0)}
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


@pytest.fixture(scope="module")
def model():
    return sd.load(str(DATA / "incidents4.mdl"))


@pytest.fixture(scope="module")
def linear():
    return sd.load(str(DATA / "linear_stock.mdl"))


def test_noise_free_recovery_to_1e_4(model):
    data = simulate_series(model, OBSERVE, TRUTH, edges=np.arange(0, 105.0), solver=TIGHT)
    fit = calibrate(model, data, params=PARAMS, observe=OBSERVE, solver=TIGHT,
                    noise={"count": "poisson", "ttr": {"family": "lognormal", "sigma": 0.1}})
    assert isinstance(fit, CalibrationResult)
    for name, value in TRUTH.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-4), name
    assert fit.chi2 < 1e-8
    assert fit.n_fit_simulations < 60  # vectorized Jacobians: one ensemble per iteration


def test_noisy_recovery_truth_within_the_95_percent_intervals(model):
    spec = {"data": simulate_series(model, OBSERVE, TRUTH, edges=np.arange(0, 157.0)),
            "params": PARAMS, "observe": OBSERVE, "uncertainty": ["jacobian", "profile"]}
    noise = {"count": {"family": "negbin", "phi": 5.0},
             "ttr": {"family": "lognormal", "sigma": 0.3}}
    rec = check_recovery(model, spec, TRUTH, noise=noise, seed=11)
    table = rec.table
    assert table["covers_jacobian"].all(), table
    assert table["covers_profile"].all(), table
    # identified parameters come close; the weakly identified fault latency is flagged
    assert rec.fit.params["resolve time at full skill"] == pytest.approx(0.6, rel=0.05)
    assert rec.fit.params["base fault rate"] == pytest.approx(2.0, rel=0.2)
    assert any("fault latency" in d.combination for d in rec.fit.identifiability.weak)
    assert rec.fit.nuisance["count"]["phi"] > 1
    assert "[[Recovery]]" in rec.report()


def test_recovery_replicates_are_refitted_as_one_batch(model):
    spec = {"data": simulate_series(model, OBSERVE, TRUTH, edges=np.arange(0, 105.0)),
            "params": PARAMS, "observe": OBSERVE}
    noise = {"count": {"family": "poisson"}, "ttr": {"family": "lognormal", "sigma": 0.2}}
    rec = check_recovery(model, spec, TRUTH, noise=noise, seed=3, n_replicates=12)
    assert sorted(rec.table["replicate"].unique()) == list(range(12))
    # 95% Wald intervals: coverage of 48 (replicate, parameter) pairs well above chance
    assert rec.coverage()["jacobian"] >= 0.8


def test_multistart_escapes_a_bad_start_and_records_the_starts(linear):
    t = np.arange(0, 51.0)
    data = simulate_series(linear, {"level": "Level"}, {"rate": 2.0, "initial level": 10.0},
                           t=t)
    params = {"rate": {"value": 0.02, "min": 0.01, "max": 100, "transform": "log"},
              "initial level": {"value": 900.0, "min": 1.0, "max": 1000.0, "transform": "log"}}
    fit = calibrate(linear, data, params=params, observe={"level": "Level"}, n_starts=4,
                    seed=0, noise={"level": {"family": "gaussian", "sigma": 1.0}})
    assert fit.params["rate"] == pytest.approx(2.0, rel=1e-6)
    assert fit.params["initial level"] == pytest.approx(10.0, rel=1e-6)
    assert len(fit.starts) == 4 and "objective" in fit.starts[0]


@pytest.mark.parametrize("method", ["nelder-mead", "powell", "differential_evolution"])
def test_other_optimizers_agree_with_least_squares(linear, method):
    rng = np.random.default_rng(5)
    t = np.arange(0, 51.0)
    y = 10 + 2 * t + rng.normal(0, 3, t.size)
    data = sd.read_series(__import__("pandas").DataFrame({"t": t, "level": y}))
    params = {"rate": {"value": 1.0, "min": 0.0, "max": 10.0, "transform": "none"},
              "initial level": {"value": 5.0, "min": 0.0, "max": 50.0, "transform": "none"}}
    kw = dict(params=params, observe={"level": "Level"}, seed=1)
    ref = calibrate(linear, data, **kw)
    other = calibrate(linear, data, method=method, **kw)
    # the OLS line (scipy) is the reference for both
    ols = np.polyfit(t, y, 1)
    assert ref.params["rate"] == pytest.approx(ols[0], rel=1e-6)
    assert other.params["rate"] == pytest.approx(ols[0], rel=1e-4)
    assert other.params["initial level"] == pytest.approx(ols[1], rel=1e-4)


def test_failed_parameter_sets_are_reported_and_the_fit_goes_on():
    m = sd.load(str(DATA / "blowup.mdl"))
    # Level' = k Level^2 has Level = L0 / (1 - k L0 t): it blows up before t = 50 if k > 0.02
    t = np.arange(0, 51.0)
    truth = 1 / (1 - 0.01 * t)
    data = sd.read_series(__import__("pandas").DataFrame({"t": t, "level": truth}))
    fit = calibrate(m, data, params={"k": (0.001, 0.2, 0.005)}, observe={"level": "Level"},
                    n_starts=3, seed=2, noise={"level": {"family": "gaussian", "sigma": 0.01}},
                    solver=TIGHT)
    assert fit.params["k"] == pytest.approx(0.01, rel=1e-5)
    assert fit.failed, "the Latin hypercube must have hit k > 0.02"
    assert all(f.values["k"] > 0.019 for f in fit.failed)
    assert "failed to simulate" in fit.report()
    # from an infeasible start alone, the fit cannot move: a clear error
    with pytest.raises(CalibrationError, match="fails at the fitted parameters"):
        calibrate(m, data, params={"k": (0.001, 0.2, 0.05)}, observe={"level": "Level"},
                  noise={"level": {"family": "gaussian", "sigma": 0.01}})


def test_fit_at_a_bound_warns(linear):
    t = np.arange(0, 51.0)
    data = simulate_series(linear, {"level": "Level"}, {"rate": 2.0}, t=t)
    with pytest.warns(CalibrationWarning, match="fit ended at a bound.*'rate' at its max"):
        fit = calibrate(linear, data, params={"rate": (0.1, 1.0)}, observe={"level": "Level"})
    assert fit.to_frame().loc["rate", "at_bound"] == "max"
    assert "AT MAX BOUND" in fit.report()


def test_fixed_step_solver_on_its_grid(linear):
    # Euler is exact for a constant inflow; observation times off the step grid interpolate
    t = np.arange(0.1, 40.0, 1.3)
    data = sd.read_series(__import__("pandas").DataFrame({"t": t, "level": 10 + 2 * t}))
    fit = calibrate(linear, data, params={"rate": (0.1, 10)}, observe={"level": "Level"},
                    solver={"method": "euler"},
                    noise={"level": {"family": "gaussian", "sigma": 0.01}})
    assert fit.params["rate"] == pytest.approx(2.0, rel=1e-8)
    assert fit.simulation.method == "euler"
