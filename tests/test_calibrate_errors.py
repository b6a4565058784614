"""Calibration: every bad input gives a clear error that names the problem."""

import numpy as np
import pandas as pd
import pytest

import sts_dynamics as sd
from sts_dynamics.calibrate import calibrate, check_recovery, simulate_series
from sts_dynamics.calibrate.spec import load_calibration, parse_calibration
from sts_dynamics.errors import (
    CalibrationError,
    CalibrationWarning,
    ConfigError,
    DataError,
    UnknownNameError,
)

from _paths import ROOT

DATA = ROOT / "data" / "calibrate"


@pytest.fixture(scope="module")
def linear():
    return sd.load(str(DATA / "linear_stock.mdl"))


@pytest.fixture(scope="module")
def series(linear):
    return simulate_series(linear, {"level": "Level", "arrivals": {
        "variable": "Cumulative Arrivals", "kind": "counts"}}, edges=np.arange(0, 21.0))


def test_missing_column_lists_the_columns_found(linear, series):
    with pytest.raises(DataError, match=r"missing column 'levle' in the data; columns found: "
                                        r"'level', 'arrivals'\. Did you mean 'level'\?"):
        calibrate(linear, series, params={"rate": (0.1, 10)}, observe={"levle": "Level"})


def test_series_that_maps_to_no_model_variable(linear, series):
    with pytest.raises(UnknownNameError, match=r"series 'level' maps to no model variable: "
                                               r"model 'linear_stock' has no variable 'Levl'"
                                               r"\. Did you mean 'Level'\?"):
        calibrate(linear, series, params={"rate": (0.1, 10)}, observe={"level": "Levl"})


def test_bounds_with_min_not_below_max(linear, series):
    with pytest.raises(CalibrationError, match=r"parameter 'rate': `min` must be less than "
                                               r"`max`, got min=5 and max=5"):
        calibrate(linear, series, params={"rate": (5, 5)}, observe={"level": "Level"})
    with pytest.raises(CalibrationError, match="`min` must be less than `max`"):
        calibrate(linear, series, params={"rate": (10, 1)}, observe={"level": "Level"})


def test_parameter_the_model_lacks_gets_close_matches(linear, series):
    with pytest.raises(UnknownNameError, match=r"model 'linear_stock' has no constant 'rat'\. "
                                               r"Did you mean 'rate'\?"):
        calibrate(linear, series, params={"rat": (0.1, 10)}, observe={"level": "Level"})
    with pytest.raises(CalibrationError, match="'inflow' is a flow .* not a constant"):
        calibrate(linear, series, params={"inflow": (0.1, 10)}, observe={"level": "Level"})


def test_all_nan_and_empty_data(linear, series):
    late = sd.read_series(pd.DataFrame({"t": np.arange(8.0), "level": [np.nan] * 5 + [1.0] * 3}))
    gone = sd.read_series(pd.DataFrame({"t": [0.0, 1.0], "level": [np.nan, 0.0]}))
    with pytest.raises(DataError, match="series 'level' has no observations"), \
            pytest.warns(CalibrationWarning, match="non-positive"):
        calibrate(linear, gone, params={"rate": (0.1, 10)}, observe={"level": "Level"},
                  noise={"level": "lognormal"})
    with pytest.raises(DataError, match="has no rows"):
        calibrate(linear, pd.DataFrame({"t": [], "level": []}), params={"rate": (0.1, 10)},
                  observe={"level": "Level"})
    with pytest.raises(DataError, match=r"column 'level' .* has no values \(all missing\)"):
        sd.read_series(pd.DataFrame({"t": [0.0, 1.0], "level": [np.nan, np.nan]}))
    with pytest.raises(DataError, match="no observations .* in the fitting window"):
        calibrate(linear, late, params={"rate": (0.1, 10)}, observe={"level": "Level"},
                  holdout=3)


def test_observation_and_option_errors(linear, series):
    kw = dict(params={"rate": (0.1, 10)})
    with pytest.raises(CalibrationError, match="counts per reporting interval are differences "
                                               "of a cumulative stock, but 'inflow' is a flow"):
        calibrate(linear, series, observe={"arrivals": {"variable": "inflow",
                                                        "kind": "counts"}}, **kw)
    with pytest.raises(CalibrationError, match="noise must be one of 'poisson'"):
        calibrate(linear, series, observe={"level": "Level"}, noise={"level": "cauchy"}, **kw)
    with pytest.raises(CalibrationError, match="`noise` names series 'lvl' that `observe` "
                                               "does not map"):
        calibrate(linear, series, observe={"level": "Level"}, noise={"lvl": "poisson"}, **kw)
    with pytest.raises(CalibrationError, match="`method` must be one of"):
        calibrate(linear, series, observe={"level": "Level"}, method="bfgs", **kw)
    with pytest.raises(CalibrationError, match="`uncertainty` methods are"):
        calibrate(linear, series, observe={"level": "Level"}, uncertainty="hessian", **kw)
    with pytest.raises(CalibrationError, match="uncertainty 'mcmc' takes"):
        calibrate(linear, series, observe={"level": "Level"},
                  uncertainty={"mcmc": {"chains": 4}}, **kw)
    with pytest.raises(CalibrationError, match="`holdout` must leave at least 3"):
        calibrate(linear, series, observe={"level": "Level"}, holdout=19, **kw)
    with pytest.raises(CalibrationError, match="`solver` takes"):
        calibrate(linear, series, observe={"level": "Level"}, solver={"tol": 1}, **kw)
    with pytest.raises(CalibrationError, match="`n_starts` must be a positive integer"):
        calibrate(linear, series, observe={"level": "Level"}, n_starts=0, **kw)
    with pytest.raises(DataError, match="time unit is 'day' but model 'linear_stock' runs in "
                                        "'Week'"):
        bad = sd.read_series(pd.DataFrame({"t": [0.0, 1.0, 2.0], "level": [1.0, 2, 3]}),
                             time_unit="day")
        calibrate(linear, bad, observe={"level": "Level"}, **kw)
    with pytest.raises(DataError, match="has no observations"), \
            pytest.warns(CalibrationWarning, match="non-positive"):
        z = sd.read_series(pd.DataFrame({"t": [0.0, 1.0], "level": [0.0, 0.0]}))
        calibrate(linear, z, observe={"level": "Level"}, noise={"level": "lognormal"}, **kw)


def test_zero_durations_are_missing_with_a_warning(linear):
    data = sd.read_series(pd.DataFrame({"t": np.arange(6.0), "level": [10, 0, 14, 16, 18, 20]}))
    with pytest.warns(CalibrationWarning, match="1 non-positive value"):
        fit = calibrate(linear, data, params={"rate": (0.1, 10)}, observe={"level": "Level"},
                        noise={"level": "lognormal"})
    assert any("non-positive" in n for n in fit.notes)


def test_check_recovery_errors(linear, series):
    spec = {"data": series, "params": {"rate": (0.1, 10)}, "observe": {"level": "Level"}}
    with pytest.raises(CalibrationError, match="needs a value for every free parameter; "
                                               "missing 'rate'"):
        check_recovery(linear, spec, {})
    with pytest.raises(CalibrationError, match="give a value of 'sigma' to simulate with"):
        check_recovery(linear, spec, {"rate": 2.0}, noise={"level": "gaussian"})
    with pytest.raises(CalibrationError, match="`spec` needs `data`"):
        check_recovery(linear, {"params": {"rate": (0.1, 10)}}, {"rate": 2.0})


def test_spec_errors_name_the_key(tmp_path):
    base = {"model": str(DATA / "linear_stock.mdl"),
            "data": {"file": str(tmp_path / "d.csv")},
            "observe": {"level": {"variable": "Level"}}, "params": {"rate": [0.1, 10]}}
    pd.DataFrame({"t": np.arange(5.0), "level": 10 + 2 * np.arange(5.0)}).to_csv(
        tmp_path / "d.csv", index=False)
    assert parse_calibration(base, source="s.toml").run().params["rate"] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match=r"s\.toml: unknown key\(s\) 'modle'"):
        parse_calibration({**base, "modle": 1}, source="s.toml")
    with pytest.raises(ConfigError, match=r"\[fit\]: unknown key\(s\) 'start'"):
        parse_calibration({**base, "fit": {"start": 3}}, source="s.toml")
    with pytest.raises(UnknownNameError, match="no constant 'rat'"):
        parse_calibration({**base, "params": {"rat": [0.1, 1]}}, source="s.toml")
    with pytest.raises(CalibrationError, match="`min` must be less than `max`"):
        parse_calibration({**base, "params": {"rate": [2, 1]}}, source="s.toml")
    with pytest.raises(ConfigError, match="cannot read series: file .* does not exist"):
        parse_calibration({**base, "data": {"file": "nope.csv"}}, source="s.toml")
    with pytest.raises(ConfigError, match="no observations between"):
        parse_calibration({**base, "data": {"file": str(tmp_path / "d.csv"), "start": 99}},
                          source="s.toml")
    with pytest.raises(ConfigError, match="family must be one of"):
        parse_calibration({**base, "params": {"rate": {"min": 0.1, "max": 10, "prior": {
            "family": "beta"}}}}, source="s.toml")
    with pytest.raises(ConfigError, match="does not exist .* bundled: 'github', 'kev'"):
        load_calibration("no_such_spec")


@pytest.mark.parametrize("module", ["sts_dynamics.calibrate.fit", "sts_dynamics.calibrate.mcmc",
                                    "sts_dynamics.calibrate.recovery"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
