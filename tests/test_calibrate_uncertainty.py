"""Calibration uncertainty against references from outside our code.

A stock filled at a constant rate, Level(t) = L0 + r t, observed with Gaussian noise, is a
linear regression: scipy.stats.linregress gives the estimates and standard errors, and the
profile likelihood (sigma concentrated out) has a closed form. With a known sigma and a
normal prior on r, the posterior of r is normal (conjugate).
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sts_dynamics as sd
from sts_dynamics.calibrate import NormalPrior, Parameter, calibrate, split_rhat

from _paths import ROOT

DATA = ROOT / "data" / "calibrate"
N = 41
T = np.arange(N, dtype=float)
FREE = {"rate": {"value": 1.0, "min": -50.0, "max": 50.0, "transform": "none"},
        "initial level": {"value": 0.0, "min": -100.0, "max": 100.0, "transform": "none"}}


@pytest.fixture(scope="module")
def linear():
    return sd.load(str(DATA / "linear_stock.mdl"))


@pytest.fixture(scope="module")
def noisy():
    y = 10 + 2 * T + np.random.default_rng(42).normal(0, 3.0, N)
    return y, sd.read_series(pd.DataFrame({"t": T, "level": y}))


@pytest.fixture(scope="module")
def linear_fit(linear, noisy):
    return calibrate(linear, noisy[1], params=FREE, observe={"level": "Level"},
                     uncertainty=["jacobian", "profile", "bootstrap"], seed=7)


def test_estimates_and_standard_errors_match_scipy_linregress(noisy, linear_fit):
    ref = stats.linregress(T, noisy[0])
    fit = linear_fit
    assert fit.params["rate"] == pytest.approx(ref.slope, rel=1e-7)
    assert fit.params["initial level"] == pytest.approx(ref.intercept, rel=1e-7)
    # lmfit-style scaled covariance s^2 (J^T J)^-1 is the OLS covariance
    assert fit.stderr["rate"] == pytest.approx(ref.stderr, rel=1e-5)
    assert fit.stderr["initial level"] == pytest.approx(ref.intercept_stderr, rel=1e-5)
    i, j = fit.free.index("rate"), fit.free.index("initial level")
    r_ols = -T.mean() / math.sqrt(np.mean(T**2))  # corr(slope, intercept) of OLS
    assert fit.correlations[i, j] == pytest.approx(r_ols, rel=1e-5)
    assert fit.nuisance["level"]["sigma"] == pytest.approx(
        math.sqrt(np.sum((noisy[0] - ref.intercept - ref.slope * T) ** 2) / N), rel=1e-6)


def test_profile_matches_the_closed_form_and_wald(noisy, linear_fit):
    # profile log-likelihood with sigma concentrated: n/2 log(RSS(r) / RSS_min) = 1.92
    ref = stats.linregress(T, noisy[0])
    rss = np.sum((noisy[0] - ref.intercept - ref.slope * T) ** 2)
    c = 1 / np.sum((T - T.mean()) ** 2)  # (X^T X)^-1 of the slope
    half = math.sqrt(c * rss * (math.exp(stats.chi2.ppf(0.95, 1) / N) - 1))
    lo, hi = linear_fit.intervals["rate"]["profile"]
    assert lo == pytest.approx(ref.slope - half, abs=2e-3 * half)
    assert hi == pytest.approx(ref.slope + half, abs=2e-3 * half)
    # near-linear problem: the Wald interval agrees to a few percent
    wlo, whi = linear_fit.intervals["rate"]["jacobian"]
    assert (whi - wlo) == pytest.approx(hi - lo, rel=0.05)
    assert not linear_fit.profile.open_ends


def test_parametric_bootstrap_standard_errors_match_ols(noisy, linear_fit):
    ref = stats.linregress(T, noisy[0])
    b = linear_fit.bootstrap
    assert b.estimates.shape == (200, 2) and b.n_failed == 0
    j = linear_fit.free.index("rate")
    # B = 200: the bootstrap sd is within ~10% of its target (sigma_ML-based: slightly less)
    assert b.stderr[j] == pytest.approx(ref.stderr * math.sqrt((N - 2) / N), rel=0.15)
    lo, hi = linear_fit.intervals["rate"]["bootstrap"]
    assert lo < ref.slope < hi


def test_mcmc_matches_the_conjugate_normal_posterior(linear):
    sigma, m0, s0, l0 = 4.0, 1.0, 0.05, 10.0
    y = l0 + 2 * T + np.random.default_rng(1).normal(0, sigma, N)
    data = sd.read_series(pd.DataFrame({"t": T, "level": y}))
    prior = NormalPrior(m0, s0)
    params = {"rate": Parameter("rate", 1.5, min=-50, max=50, transform="none", prior=prior),
              "initial level": l0}
    fit = calibrate(linear, data, params=params, observe={"level": "Level"},
                    noise={"level": {"family": "gaussian", "sigma": sigma}}, seed=3,
                    uncertainty={"mcmc": {"steps": 400, "walkers": 48}})
    # conjugate update: precision adds, the mean is precision-weighted
    prec = 1 / s0**2 + np.sum(T**2) / sigma**2
    mean = (m0 / s0**2 + np.sum(T * (y - l0)) / sigma**2) / prec
    sd_post = 1 / math.sqrt(prec)
    s = fit.posterior.summary()["rate"]
    assert s["mean"] == pytest.approx(mean, abs=0.15 * sd_post)
    assert s["sd"] == pytest.approx(sd_post, rel=0.1)
    assert s["rhat"] < 1.05 and s["ess"] > 300
    # MAP by least squares with the prior as a residual: the posterior mean (normal)
    assert fit.params["rate"] == pytest.approx(mean, rel=1e-6)
    lo, hi = fit.intervals["rate"]["mcmc"]
    z = stats.norm.ppf(0.975)
    assert lo == pytest.approx(mean - z * sd_post, abs=0.25 * sd_post)
    assert hi == pytest.approx(mean + z * sd_post, abs=0.25 * sd_post)
    assert "[[Posterior]]" in fit.report() and fit.band_method == "mcmc"


def test_split_rhat_flags_chains_that_disagree():
    rng = np.random.default_rng(0)
    good = rng.standard_normal((1000, 6, 1))
    bad = good + np.arange(6)[None, :, None]  # each chain around its own mean
    assert split_rhat(good)[0] == pytest.approx(1.0, abs=0.01)
    assert split_rhat(bad)[0] > 1.5


def test_svd_names_the_product_that_alone_is_identified():
    m = sd.load(str(DATA / "product.mdl"))
    t = np.arange(0, 41.0)
    from sts_dynamics.calibrate import simulate_series

    data = simulate_series(m, {"level": "Level", "drained": "Drained"}, t=t)
    fit = calibrate(m, data, params={"a": (0.1, 10), "b": (0.1, 10), "c": (0.1, 10)},
                    observe={"level": "Level", "drained": "Drained"},
                    noise={"level": {"family": "gaussian", "sigma": 0.1},
                           "drained": {"family": "gaussian", "sigma": 0.1}})
    weak = fit.identifiability.weak
    assert len(weak) == 1
    w = dict(zip(fit.free, weak[0].weights, strict=True))
    # log(a) - log(b): moving along a * b = constant changes nothing
    assert abs(w["a"]) == pytest.approx(abs(w["b"]), rel=1e-3) and w["a"] * w["b"] < 0
    assert abs(w["c"]) < 1e-3
    assert "log(a) - log(b)" in weak[0].combination or "log(b) - log(a)" in weak[0].combination
    assert fit.params["a"] * fit.params["b"] == pytest.approx(6.0, rel=1e-6)
    assert fit.params["c"] == pytest.approx(1.0, rel=1e-6)
    assert "WEAK" in fit.report()
