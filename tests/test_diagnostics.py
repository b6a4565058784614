"""Fit diagnostics against hand-computed examples and their definitions."""

import doctest
import importlib
import math

import numpy as np
import pytest
from scipy import stats

from sts_dynamics.calibrate import (
    aic,
    autocorrelation,
    bic,
    durbin_watson,
    fit_statistics,
    holdout_scores,
    ljung_box,
    mape,
    mase,
    r_squared,
    theil,
)
from sts_dynamics.errors import DataError


def test_theil_hand_computed_example():
    # A = 2, 4, 6, 8 and S = 3, 4, 8, 9, worked by hand from Sterman's (1984) definitions:
    #   mean_A = 5, mean_S = 6
    #   population variances: A: (9 + 1 + 1 + 9) / 4 = 5;  S: (9 + 4 + 4 + 9) / 4 = 6.5
    #   covariance: (-3*-3 + -1*-2 + 1*2 + 3*3) / 4 = 22 / 4 = 5.5
    #   MSE: errors 1, 0, 2, 1 -> (1 + 0 + 4 + 1) / 4 = 1.5
    #   U_M = (6 - 5)^2 / 1.5
    #   U_S = (sqrt(6.5) - sqrt(5))^2 / 1.5
    #   U_C = 2 (1 - r) s_S s_A / 1.5 = 2 (sqrt(6.5 * 5) - 5.5) / 1.5
    t = theil([2.0, 4.0, 6.0, 8.0], [3.0, 4.0, 8.0, 9.0])
    assert t["mse"] == pytest.approx(1.5)
    assert t["rmse"] == pytest.approx(math.sqrt(1.5))
    assert t["U_M"] == pytest.approx(1 / 1.5)
    assert t["U_S"] == pytest.approx((math.sqrt(6.5) - math.sqrt(5)) ** 2 / 1.5)
    assert t["U_C"] == pytest.approx(2 * (math.sqrt(32.5) - 5.5) / 1.5)
    assert t["r"] == pytest.approx(5.5 / math.sqrt(32.5))
    assert t["sd_observed"] == pytest.approx(math.sqrt(5))
    assert t["U_M"] + t["U_S"] + t["U_C"] == pytest.approx(1.0)


def test_theil_shares_sum_to_one_and_isolate_error_types():
    rng = np.random.default_rng(42)
    a = rng.normal(10, 2, 60)
    s = 0.8 * a + rng.normal(1, 1, 60)
    t = theil(a, s)
    assert t["U_M"] + t["U_S"] + t["U_C"] == pytest.approx(1.0)
    x = np.linspace(-1, 1, 21)
    assert theil(x, 2 * x)["U_S"] == pytest.approx(1.0)  # same phase and mean, wrong amplitude
    assert theil(np.sin(3 * x), -np.sin(3 * x))["U_C"] == pytest.approx(1.0)  # anti-phase


def test_theil_constant_fit_and_perfect_fit():
    # S constant at the mean of A = 1, 2, 3: MSE = 2/3 = var(A), all of it variance share
    t = theil([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert (t["U_M"], t["U_S"], t["U_C"]) == pytest.approx((0.0, 1.0, 0.0))
    assert math.isnan(t["r"])
    t = theil([1.0, 2.0], [1.0, 2.0])
    assert t["mse"] == 0 and math.isnan(t["U_M"])


def test_theil_drops_nan_pairs():
    t = theil([2.0, np.nan, 4.0, 6.0, 8.0], [3.0, 1.0, 4.0, 8.0, 9.0])
    assert t["mse"] == pytest.approx(1.5)


def test_mape_mase_r_squared_by_hand():
    assert mape([2.0, 4.0], [1.0, 5.0]) == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert math.isnan(mape([0.0, 4.0], [1.0, 5.0]))
    # |A - S| = 1, 1, 1, 1; naive one-step errors |3-1|, |2-3|, |4-2| = 2, 1, 2
    assert mase([1.0, 3.0, 2.0, 4.0], [2.0, 2.0, 3.0, 3.0]) == pytest.approx(1 / (5 / 3))
    assert mase([1.0, 2.0], [1.0, 3.0], scale_from=[0.0, 4.0, 8.0]) == pytest.approx(0.5 / 4)
    assert math.isnan(mase([2.0, 2.0], [1.0, 3.0]))
    # SS_tot = 2, SS_res = 1
    assert r_squared([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(0.5)
    assert r_squared([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-3.0)
    assert math.isnan(r_squared([1.0, 1.0], [1.0, 2.0]))


def test_durbin_watson_and_autocorrelation():
    e = np.array([1.0, 2.0, 0.0, -1.0, -2.0])
    # differences 1, -2, -1, -1 -> 7; sum of squares 10
    assert durbin_watson(e) == pytest.approx(0.7)
    d = e - e.mean()
    acf = autocorrelation(e, max_lag=3)
    assert list(acf) == [1, 2, 3]
    for k in acf:
        assert acf[k] == pytest.approx(np.sum(d[:-k] * d[k:]) / np.sum(d**2))
    assert list(autocorrelation([1.0, 2.0, 3.0], max_lag=10)) == [1, 2]
    rng = np.random.default_rng(0)
    white = rng.normal(size=2000)
    assert durbin_watson(white) == pytest.approx(2.0, abs=0.1)
    assert abs(autocorrelation(white, 1)[1]) < 0.06


def test_ljung_box_formula_and_detection():
    e = np.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.2, -0.1, 0.6])
    n = e.size
    acf = autocorrelation(e, 3)
    q = n * (n + 2) * sum(acf[k] ** 2 / (n - k) for k in (1, 2, 3))
    lb = ljung_box(e, lags=3)
    assert lb["q"] == pytest.approx(q)
    assert lb["p_value"] == pytest.approx(stats.chi2.sf(q, 3))
    rng = np.random.default_rng(1)
    ar = np.zeros(300)
    for i in range(1, 300):
        ar[i] = 0.8 * ar[i - 1] + rng.normal()
    assert ljung_box(ar)["p_value"] < 1e-6


def test_aic_bic():
    assert aic(-10.0, 3) == 26.0
    assert bic(-10.0, 2, 100) == pytest.approx(2 * math.log(100) + 20)


def test_fit_statistics_collects_everything():
    out = fit_statistics([1.0, 2.0, 4.0, 3.0, 5.0], [1.5, 2.5, 3.0, 3.5, 4.5],
                         loglik=-4.0, n_params=2)
    assert out["n"] == 5
    assert out["aic"] == 12.0
    assert out["U_M"] + out["U_S"] + out["U_C"] == pytest.approx(1.0)
    assert set(out) >= {"mape", "mase", "r_squared", "durbin_watson", "autocorrelation", "bic"}
    assert "aic" not in fit_statistics([1.0, 2.0, 4.0], [1.0, 2.0, 3.0])


def test_holdout_scores_by_hand():
    obs = [1.0, 3.0, 2.0, 4.0, 5.0, 3.0]
    fit = [1.0, 3.0, 2.0, 4.0, 4.0, 4.0]
    out = holdout_scores(obs, fit, split_index=4)
    # hold-out 5, 3; model errors 1, 1; last value 4: errors 1, 1; fit mean 2.5: 2.5, 0.5
    assert out["model"]["mae"] == pytest.approx(1.0)
    assert out["model"]["rmse"] == pytest.approx(1.0)
    assert out["model"]["bias"] == pytest.approx(0.0)
    assert out["last_value"]["mae"] == pytest.approx(1.0)
    assert out["fit_mean"]["mae"] == pytest.approx(1.5)
    assert out["fit_mean"]["bias"] == pytest.approx(-1.5)
    assert out["skill"] == pytest.approx({"last_value": 0.0, "fit_mean": 1 / 3})
    # naive one-step error of the fit window: |2|, |1|, |2| -> 5/3
    assert out["model"]["mase"] == pytest.approx(1.0 / (5 / 3))
    assert out["window"] == {"n_fit": 4.0, "n_holdout": 2.0}


def test_holdout_seasonal_baselines():
    obs = [1.0, 5.0, 2.0, 6.0, 1.0, 5.0, 2.0, 6.0]
    out = holdout_scores(obs, obs, split_index=4, season=2)
    # last season 2, 6 repeated vs hold-out 1, 5, 2, 6; its mean 4 vs the same
    assert out["seasonal_naive"]["mae"] == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert out["last_season_mean"]["mae"] == pytest.approx((3 + 1 + 2 + 2) / 4)
    assert out["skill"]["seasonal_naive"] == pytest.approx(1.0)


def test_diagnostic_errors():
    with pytest.raises(DataError, match=r"`observed` and `fitted` must be 1-dimensional of the "
                                        r"same length, got shapes \(3,\) and \(2,\)"):
        theil([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(DataError, match=r"need at least 1 pair\(s\) of observed and fitted values "
                                        r"without NaN, got 0"):
        theil([np.nan, 1.0], [1.0, np.nan])
    with pytest.raises(DataError, match=r"need at least 2 residuals without NaN, got 1"):
        durbin_watson([1.0, np.nan])
    with pytest.raises(DataError, match=r"`residuals` must be 1-dimensional"):
        durbin_watson(np.ones((2, 2)))
    with pytest.raises(DataError, match=r"`max_lag` must be at least 1, got 0"):
        autocorrelation([1.0, 2.0, 3.0], 0)
    with pytest.raises(DataError, match=r"MASE needs at least 2 values to scale by, got 1"):
        mase([1.0, 2.0], [1.0, 2.0], scale_from=[1.0])
    with pytest.raises(DataError, match=r"`n_obs` must be at least 1, got 0"):
        bic(-1.0, 1, 0)
    with pytest.raises(DataError, match=r"`split_index` must be between 2 and 3 \(a fit window "
                                        r"of at least 2 and a hold-out of at least 1\), got 4"):
        holdout_scores([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], 4)
    with pytest.raises(DataError, match=r"`season` must be between 1 and `split_index` \(2\), "
                                        r"got 3"):
        holdout_scores([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], 2, season=3)
    with pytest.raises(DataError, match=r"both windows need observations without NaN"):
        holdout_scores([1.0, 2.0, np.nan], [1.0, 2.0, 3.0], 2)
    with pytest.raises(DataError, match=r"`observed` and `fitted` must be 1-dimensional"):
        holdout_scores([1.0, 2.0, 3.0], [1.0, 2.0], 2)


@pytest.mark.parametrize("module", ["sts_dynamics.calibrate.diagnostics"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
