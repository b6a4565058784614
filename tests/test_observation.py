"""Observation models and priors: likelihoods against scipy.stats, deviance identities,
vectorization over runs, simulation moments, and every error message."""

import doctest
import importlib

import numpy as np
import pytest
from scipy import optimize, stats

from sts_dynamics.calibrate import (
    Gaussian,
    HalfNormalPrior,
    LogNormal,
    LogNormalPrior,
    NegativeBinomial,
    NormalPrior,
    Poisson,
    UniformPrior,
    interval_counts,
)
from sts_dynamics.errors import CalibrationError, DataError

Y = np.array([0.0, 1.0, 3.0, 7.0, 2.0, 12.0])
MU = np.array([0.4, 1.5, 2.0, 5.5, 2.0, 8.0])
MU2 = np.column_stack([MU, 1.3 * MU, 0.7 * MU])  # (n_obs, n_runs)


# ---------------------------------------------------------------- likelihoods vs scipy
def test_poisson_loglik_matches_scipy():
    assert Poisson().loglik(Y, MU) == pytest.approx(stats.poisson.logpmf(Y, MU).sum(), rel=1e-12)


def test_poisson_loglik_vectorized_over_runs():
    got = Poisson().loglik(Y, MU2)
    want = stats.poisson.logpmf(Y[:, None], MU2).sum(axis=0)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("phi", [0.3, 2.0, 15.0, 1e4])
def test_negative_binomial_loglik_matches_scipy(phi):
    nb = NegativeBinomial(phi=phi)
    want = stats.nbinom.logpmf(Y[:, None], phi, phi / (phi + MU2)).sum(axis=0)
    np.testing.assert_allclose(nb.loglik(Y, MU2), want, rtol=1e-10)
    assert nb.loglik(Y, MU) == pytest.approx(want[0], rel=1e-10)


def test_negative_binomial_variance_is_nb2():
    rng = np.random.default_rng(20240501)
    mu, phi = 6.0, 2.5
    draws = NegativeBinomial(phi=phi).simulate(np.full(200_000, mu), rng)
    assert draws.mean() == pytest.approx(mu, rel=0.01)
    assert draws.var() == pytest.approx(mu + mu**2 / phi, rel=0.02)


def test_negative_binomial_profile_estimate_matches_scipy_optimizer():
    rng = np.random.default_rng(7)
    mu = rng.uniform(2, 20, size=300)
    y = NegativeBinomial(phi=3.0).simulate(mu, rng)

    def neg(logphi):
        phi = np.exp(logphi)
        return -stats.nbinom.logpmf(y, phi, phi / (phi + mu)).sum()

    best = optimize.minimize_scalar(neg, bounds=(-5, 8), method="bounded",
                                    options={"xatol": 1e-10})
    nb = NegativeBinomial()
    assert nb.estimate(y, mu) == pytest.approx(np.exp(best.x), rel=1e-5)
    assert nb.loglik(y, mu) == pytest.approx(-best.fun, abs=1e-6)
    assert 2.3 < nb.estimate(y, mu) < 3.9  # recovers the true phi = 3 within sampling error


def test_negative_binomial_estimate_vectorized_and_poisson_limit():
    rng = np.random.default_rng(3)
    mu = np.full(400, 5.0)
    y_pois = Poisson().simulate(mu, rng)
    y_nb = NegativeBinomial(phi=1.0).simulate(mu, rng)
    est = NegativeBinomial().estimate(np.column_stack([y_pois, y_nb]),
                                      np.column_stack([mu, mu]))
    assert est.shape == (2,)
    assert est[0] > 50  # not over-dispersed: phi large (toward PHI_MAX)
    assert 0.7 < est[1] < 1.4
    single = [NegativeBinomial().estimate(y, mu) for y in (y_pois, y_nb)]
    np.testing.assert_allclose(est, single, rtol=1e-12)


def test_gaussian_and_lognormal_match_scipy():
    y = np.array([1.2, 0.7, 3.1, 2.2])
    mu = np.array([1.0, 1.0, 2.5, 2.0])
    assert Gaussian(sigma=0.4).loglik(y, mu) == pytest.approx(
        stats.norm.logpdf(y, mu, 0.4).sum(), rel=1e-12)
    assert LogNormal(sigma=0.6).loglik(y, mu) == pytest.approx(
        stats.lognorm(s=0.6, scale=mu).logpdf(y).sum(), rel=1e-12)


def test_estimated_sigma_gives_profile_loglik():
    y = np.array([1.2, 0.7, 3.1, 2.2])
    mu = np.array([1.0, 1.0, 2.5, 2.0])
    s2 = np.mean((y - mu) ** 2)
    assert Gaussian().estimate(y, mu) == pytest.approx(np.sqrt(s2))
    assert Gaussian().loglik(y, mu) == pytest.approx(-2 * (np.log(2 * np.pi * s2) + 1))
    assert Gaussian().loglik(y, mu) == pytest.approx(Gaussian(np.sqrt(s2)).loglik(y, mu))
    z2 = np.mean(np.log(y / mu) ** 2)
    assert LogNormal().estimate(y, mu) == pytest.approx(np.sqrt(z2))
    # unknown sigma: residuals are the raw (log-scale) residuals
    np.testing.assert_allclose(Gaussian().deviance_residuals(y, mu), y - mu)
    np.testing.assert_allclose(LogNormal().deviance_residuals(y, mu), np.log(y / mu))


def test_fit_fixes_the_nuisance_parameter():
    y = np.array([1.0, 3.0])
    assert Gaussian().fit(y, [2.0, 2.0]) == Gaussian(sigma=1.0)
    nb = NegativeBinomial().fit(Y, MU)
    assert nb.phi == pytest.approx(NegativeBinomial().estimate(Y, MU))


# ---------------------------------------------------------------- deviance identities
@pytest.mark.parametrize("model", [Poisson(), NegativeBinomial(phi=1.7),
                                   Gaussian(sigma=0.8), LogNormal(sigma=0.5)])
def test_deviance_is_twice_loglik_gap_to_saturated(model):
    y = Y + 1.0 if isinstance(model, LogNormal) else Y  # log-normal needs y > 0
    r = model.deviance_residuals(y, MU2)
    assert r.shape == MU2.shape
    dev = model.deviance(y, MU2)
    np.testing.assert_allclose((r**2).sum(axis=0), dev, rtol=1e-12)
    saturated = model.loglik(y, y)
    np.testing.assert_allclose(dev, 2 * (saturated - model.loglik(y, MU2)), rtol=1e-9,
                               atol=1e-9)
    # signed like y - mu
    assert np.all(np.sign(r) == np.sign(np.broadcast_to(y[:, None], MU2.shape) - MU2))


def test_poisson_deviance_by_formula():
    y, mu = np.array([0.0, 2.0, 5.0]), np.array([1.0, 2.0, 3.0])
    want = 2 * np.array([1.0, 0.0, 5 * np.log(5 / 3) - 2])
    np.testing.assert_allclose(Poisson().deviance_residuals(y, mu) ** 2, want, rtol=1e-12)


def test_least_squares_on_deviance_residuals_gives_the_mle():
    # a constant-rate model: the Poisson MLE of the rate is the mean of the counts
    y = np.array([3.0, 0.0, 4.0, 6.0, 2.0, 5.0, 1.0])
    fit = optimize.least_squares(
        lambda p: Poisson().deviance_residuals(y, np.full(y.size, np.exp(p[0]))), x0=[0.0],
        xtol=1e-14, ftol=1e-14, gtol=1e-14)
    assert np.exp(fit.x[0]) == pytest.approx(y.mean(), rel=1e-7)


# ---------------------------------------------------------------- missing data and failures
def test_nan_observations_contribute_nothing():
    y = Y.copy()
    y[[1, 4]] = np.nan
    keep = ~np.isnan(y)
    for model in (Poisson(), NegativeBinomial(phi=2.0), Gaussian(sigma=1.0)):
        assert model.loglik(y, MU) == pytest.approx(model.loglik(y[keep], MU[keep]))
        r = model.deviance_residuals(y, MU)
        assert r.shape == MU.shape and r[1] == 0 and r[4] == 0
    assert Gaussian().estimate(y, MU) == pytest.approx(Gaussian().estimate(y[keep], MU[keep]))


def test_failed_run_gets_minus_infinity_only_for_that_run():
    mu = MU2.copy()
    mu[2, 1] = np.nan
    ll = Poisson().loglik(Y, mu)
    assert ll[1] == -np.inf
    np.testing.assert_allclose(ll[[0, 2]], Poisson().loglik(Y, MU2)[[0, 2]])


def test_y_may_have_the_run_axis_like_mu():
    rng = np.random.default_rng(11)
    y2 = Poisson().simulate(MU2, rng)
    assert y2.shape == MU2.shape
    got = Poisson().loglik(y2, MU2)
    want = [Poisson().loglik(y2[:, j], MU2[:, j]) for j in range(3)]
    np.testing.assert_allclose(got, want)


def test_zero_predicted_count_is_finite():
    assert np.isfinite(Poisson().loglik([1.0], [0.0]))
    assert np.isfinite(Poisson().deviance([1.0], [-1e-14]))


def test_simulate_is_seeded_and_has_the_right_mean():
    mu = np.full((5000, 2), 4.0)
    a = Poisson().simulate(mu, np.random.default_rng(5))
    b = Poisson().simulate(mu, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.mean() == pytest.approx(4.0, rel=0.03)
    g = Gaussian(sigma=2.0).simulate(np.zeros(20000), np.random.default_rng(1))
    assert g.std() == pytest.approx(2.0, rel=0.03)
    ln = LogNormal(sigma=0.5).simulate(np.full(20000, 3.0), np.random.default_rng(2))
    assert np.median(ln) == pytest.approx(3.0, rel=0.03)


# ---------------------------------------------------------------- errors
def test_error_negative_counts():
    with pytest.raises(DataError, match=r"Poisson needs non-negative counts; observation 1 is -2"):
        Poisson().loglik([1.0, -2.0], [1.0, 1.0])
    with pytest.raises(DataError, match=r"NegativeBinomial needs non-negative counts"):
        NegativeBinomial(phi=1.0).deviance_residuals([-1.0], [1.0])


def test_error_lognormal_nonpositive():
    with pytest.raises(DataError, match=r"LogNormal needs positive observations; observation 0 "
                                        r"is 0.0\. Durations of 0 are not log-normal"):
        LogNormal(sigma=1.0).loglik([0.0, 1.0], [1.0, 1.0])


def test_error_shapes():
    with pytest.raises(CalibrationError, match=r"`y` must have shape \(3,\) or \(3, 2\) to "
                                               r"match `mu`, got shape \(4,\)"):
        Poisson().loglik(np.ones(4), np.ones((3, 2)))
    with pytest.raises(CalibrationError, match=r"`mu` must have shape \(n_obs,\) or "
                                               r"\(n_obs, n_runs\), got shape \(2, 2, 2\)"):
        Poisson().loglik(np.ones(2), np.ones((2, 2, 2)))


@pytest.mark.parametrize("cls,name", [(NegativeBinomial, "phi"), (Gaussian, "sigma"),
                                      (LogNormal, "sigma")])
@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_error_nuisance_must_be_positive(cls, name, bad):
    with pytest.raises(CalibrationError, match=rf"{cls.__name__}: `{name}` must be a positive "
                                               r"number or None, got"):
        cls(bad)


@pytest.mark.parametrize("cls,name", [(NegativeBinomial, "phi"), (Gaussian, "sigma"),
                                      (LogNormal, "sigma")])
def test_error_simulate_needs_the_nuisance(cls, name):
    with pytest.raises(CalibrationError, match=rf"{cls.__name__}.simulate needs a value of "
                                               rf"`{name}`; it is None"):
        cls().simulate(np.ones(3), np.random.default_rng(0))


def test_error_fit_needs_one_run_and_estimate_needs_a_nuisance():
    with pytest.raises(CalibrationError, match=r"`fit` needs predictions of one run, got 3 runs"):
        Gaussian().fit(Y, MU2)
    with pytest.raises(CalibrationError, match=r"Poisson has no parameter to estimate"):
        Poisson().estimate(Y, MU)


# ---------------------------------------------------------------- interval counts
def test_interval_counts_exact_on_grid_and_vectorized():
    t = np.linspace(0, 10, 41)
    cum = np.column_stack([t**2, 3 * t, np.sqrt(t)])
    edges = np.array([0.0, 2.5, 5.0, 10.0])
    got = interval_counts(t, cum, edges)
    want = np.diff(np.column_stack([edges**2, 3 * edges, np.sqrt(edges)]), axis=0)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(interval_counts(t, cum[:, 0], edges), want[:, 0])


def test_interval_counts_interpolates_between_grid_points():
    t = np.array([0.0, 1.0, 2.0])
    cum = np.array([0.0, 10.0, 30.0])
    # C(0.5) = 5, C(1.5) = 20
    np.testing.assert_allclose(interval_counts(t, cum, [0.5, 1.5, 2.0]), [15.0, 10.0])


def test_interval_counts_telescopes_to_the_total():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 50, 200))
    cum = np.cumsum(rng.uniform(0, 1, (200, 4)), axis=0)
    edges = np.linspace(t[0], t[-1], 13)
    got = interval_counts(t, cum, edges)
    np.testing.assert_allclose(got.sum(axis=0), cum[-1] - cum[0], rtol=1e-12)


def test_interval_counts_errors():
    t = np.arange(5.0)
    with pytest.raises(CalibrationError, match=r"`t_obs_edges` span \[-1.0, 2.0\] is outside the "
                                               r"simulated span \[0.0, 4.0\]"):
        interval_counts(t, t, [-1.0, 2.0])
    with pytest.raises(CalibrationError, match=r"`t_model` must be strictly increasing"):
        interval_counts([0.0, 1.0, 1.0], [0.0, 1.0, 2.0], [0.0, 1.0])
    with pytest.raises(CalibrationError, match=r"`cumulative` must have shape \(5,\) or \(5, "
                                               r"n_runs\) to match `t_model`, got shape \(4,\)"):
        interval_counts(t, np.ones(4), [0.0, 1.0])
    with pytest.raises(CalibrationError, match=r"`t_obs_edges` must be a strictly increasing"):
        interval_counts(t, t, [2.0, 1.0])
    with pytest.raises(CalibrationError, match=r"`t_model` must be 1-dimensional with at least "
                                               r"2 times"):
        interval_counts([0.0], [0.0], [0.0, 1.0])


# ---------------------------------------------------------------- priors
@pytest.mark.parametrize("prior,dist", [
    (UniformPrior(1.0, 3.0), stats.uniform(1.0, 2.0)),
    (NormalPrior(2.0, 0.5), stats.norm(2.0, 0.5)),
    (LogNormalPrior(2.0, 0.5), stats.lognorm(s=0.5, scale=2.0)),
    (HalfNormalPrior(1.5), stats.halfnorm(scale=1.5)),
])
def test_priors_match_scipy(prior, dist):
    x = np.array([-0.5, 0.3, 1.0, 2.2, 2.9, 4.0])
    np.testing.assert_allclose(prior.logpdf(x), dist.logpdf(x), rtol=1e-12)
    draws = prior.sample(np.random.default_rng(0), 20000)
    assert np.mean(draws) == pytest.approx(dist.mean(), rel=0.03)
    lo, hi = prior.support
    assert np.all((draws >= lo) & (draws <= hi))
    assert isinstance(prior.logpdf(1.0), float)


def test_prior_errors():
    with pytest.raises(CalibrationError, match=r"UniformPrior: `low` must be less than `high`, "
                                               r"got low=2.0 and high=1.0"):
        UniformPrior(2.0, 1.0)
    with pytest.raises(CalibrationError, match=r"UniformPrior: `low` must be a finite number"):
        UniformPrior(-np.inf, 1.0)
    with pytest.raises(CalibrationError, match=r"NormalPrior: `sd` must be a positive number, "
                                               r"got 0"):
        NormalPrior(0.0, 0)
    with pytest.raises(CalibrationError, match=r"NormalPrior: `mean` must be a finite number"):
        NormalPrior(np.nan, 1.0)
    with pytest.raises(CalibrationError, match=r"LogNormalPrior: `median` must be a positive"):
        LogNormalPrior(-1.0, 1.0)
    with pytest.raises(CalibrationError, match=r"HalfNormalPrior: `scale` must be a positive"):
        HalfNormalPrior(-2.0)


@pytest.mark.parametrize("module", ["sts_dynamics.calibrate.observation",
                                    "sts_dynamics.calibrate.priors"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
