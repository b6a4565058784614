"""Latin-hypercube and scrambled Sobol sampling of Monte Carlo experiments: stratification
checked with scipy's own CDFs, posterior rows, variance reduction against an analytic mean,
"random" unchanged, and every bad input as one clear error."""

import doctest
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.integrate import quad
from test_experiments_config import GOOD

import sts_dynamics as sd
from sts_dynamics.cli import main
from sts_dynamics.errors import ConfigError
from sts_dynamics.experiments import (
    KPI,
    LogNormal,
    Normal,
    Posterior,
    Triangular,
    Uncertainty,
    Uniform,
)
from sts_dynamics.experiments.config import load_experiment

from _paths import TEACUP

#: Each distribution with its CDF from scipy.stats, built from the parameters independently of
#: our own code.
MARGINALS = {
    "u": (Uniform(2, 7), stats.uniform(loc=2, scale=5).cdf),
    "n": (Normal(10, 2), stats.norm(loc=10, scale=2).cdf),
    "nt": (Normal(1, 5, low=0, high=4),
           stats.truncnorm((0 - 1) / 5, (4 - 1) / 5, loc=1, scale=5).cdf),
    "ln": (LogNormal(0.015, 0.3), stats.lognorm(s=0.3, scale=0.015).cdf),
    "tri": (Triangular(1, 2, 4), stats.triang(c=(2 - 1) / (4 - 1), loc=1, scale=3).cdf),
}


def _uncertainty(posterior=None):
    return Uncertainty({k: d for k, (d, _) in MARGINALS.items()}, posterior)


def _strata(x, cdf, n):
    """The stratum (of n equally likely ones) of every value, from its CDF."""
    return np.floor(cdf(x) * n).astype(int)


@pytest.fixture(scope="module")
def teacup():
    return sd.load(TEACUP)


# -- (a) stratification of every marginal ------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lhs_puts_one_sample_in_each_equally_likely_stratum(seed):
    n = 50
    s = _uncertainty().sample(n, np.random.default_rng(seed), method="lhs")
    assert list(s) == list(MARGINALS)
    for name, (_, cdf) in MARGINALS.items():
        assert s[name].shape == (n,)
        assert sorted(_strata(s[name], cdf, n)) == list(range(n)), name
    # the dimensions are paired at random, not in lock-step
    ranks = {k: np.argsort(np.argsort(v)) for k, v in s.items()}
    assert not np.array_equal(ranks["u"], ranks["n"])


def test_random_sampling_is_not_stratified():
    """The check above discriminates: independent draws leave strata empty (the chance that
    50 draws fill 50 strata is 50!/50**50, about 3e-21)."""
    n = 50
    s = _uncertainty().sample(n, np.random.default_rng(0), method="random")
    for name, (_, cdf) in MARGINALS.items():
        assert len(set(_strata(s[name], cdf, n))) < n, name


@pytest.mark.parametrize("n", [8, 64])
def test_sobol_stratifies_every_marginal_for_a_power_of_two(n):
    """A scrambled Sobol sequence of 2**m points is a net: each one-dimensional projection has
    one point in each interval of length 1/n."""
    s = _uncertainty().sample(n, np.random.default_rng(5), method="sobol")
    for name, (_, cdf) in MARGINALS.items():
        assert sorted(_strata(s[name], cdf, n)) == list(range(n)), name


def test_lhs_and_sobol_are_reproducible_from_the_seed():
    u = _uncertainty()
    for method in ("lhs", "sobol"):
        a = u.sample(16, np.random.default_rng(3), method=method)
        b = u.sample(16, np.random.default_rng(3), method=method)
        c = u.sample(16, np.random.default_rng(4), method=method)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
            assert not np.array_equal(a[k], c[k])


# -- (b) posterior rows --------------------------------------------------------------------------
def _posterior(n_rows, seed=11):
    a = np.random.default_rng(seed).normal(size=n_rows)
    return pd.DataFrame({"a": a, "b": 2 * a + 1})  # perfectly correlated columns


@pytest.mark.parametrize("method,n_rows", [("lhs", 40), ("sobol", 32)])
def test_a_posterior_draws_each_row_once_when_n_equals_the_rows(method, n_rows):
    table = _posterior(n_rows)
    u = Uncertainty({"x": Uniform(0, 1)}, Posterior(table))
    s = u.sample(n_rows, np.random.default_rng(2), method=method)
    assert list(s) == ["x", "a", "b"]
    np.testing.assert_array_equal(np.sort(s["a"]), np.sort(table["a"].to_numpy()))
    np.testing.assert_array_equal(s["b"], 2 * s["a"] + 1)  # whole rows: columns stay paired
    # the distribution's dimension is stratified as well
    assert sorted(np.floor(s["x"] * n_rows).astype(int)) == list(range(n_rows))


def test_lhs_spreads_posterior_draws_evenly():
    table = _posterior(10)
    u = Uncertainty({}, Posterior(table))
    s = u.sample(30, np.random.default_rng(0), method="lhs")
    rows = pd.Series(s["a"]).map({v: i for i, v in enumerate(table["a"])})
    assert rows.value_counts().sort_index().tolist() == [3] * 10
    # random rows do not: some row is drawn more or less often than 3 times
    r = u.sample(30, np.random.default_rng(0), method="random")
    counts = pd.Series(r["a"]).value_counts()
    assert len(counts) < 10 or counts.max() > 3


# -- (c) variance reduction against an analytic mean ---------------------------------------------
def test_lhs_and_sobol_reduce_the_error_of_the_mean_against_the_exact_value(teacup):
    """Teacup: T(10) = 70 + 110 exp(-10 / tau) with tau ~ U(5, 15); the exact mean comes from
    scipy's quad.  Over 30 seeds with 64 runs each, random sampling's RMS error matches its
    theory (sd / sqrt(n)) and LHS's matches stratified sampling's (one point per stratum of
    width 1/n: variance ~ integral of g'(u)**2 / (12 n**3)); both designs are far better."""
    lo, hi, n, seeds = 5.0, 15.0, 64, range(30)

    def f(tau):
        return 70 + 110 * np.exp(-10 / tau)

    exact = quad(f, lo, hi)[0] / (hi - lo)
    sd_f = math.sqrt(quad(lambda t: (f(t) - exact) ** 2, lo, hi)[0] / (hi - lo))

    def g_prime(u):  # d/du of f(lo + (hi - lo) u)
        tau = lo + (hi - lo) * u
        return 110 * np.exp(-10 / tau) * 10 / tau**2 * (hi - lo)

    lhs_theory = math.sqrt(quad(lambda u: g_prime(u) ** 2, 0, 1)[0] / (12 * n**3))
    kpi = [KPI("T10", "Teacup Temperature", "at", at=10.0)]
    rms = {}
    for method in ("random", "lhs", "sobol"):
        err = []
        for seed in seeds:
            res = sd.monte_carlo(teacup, {"Characteristic Time": Uniform(lo, hi)},
                                 n_samples=n, seed=seed, kpis=kpi, sampling=method, record=[])
            assert res.info["sampling"] == method and not res.failures
            err.append(res.values[0, 0].mean() - exact)
        rms[method] = math.sqrt(np.mean(np.square(err)))
    # measured: random 1.556 (theory 1.500), lhs 0.0211 (theory 0.0242), sobol 0.0312
    assert 0.75 < rms["random"] / (sd_f / math.sqrt(n)) < 1.33, rms
    assert 0.6 < rms["lhs"] / lhs_theory < 1.5, (rms, lhs_theory)
    # measured ratios: lhs / random 0.0135, sobol / random 0.020
    assert rms["lhs"] / rms["random"] < 0.05, rms
    assert rms["sobol"] / rms["random"] < 0.05, rms


# -- (d) "random" is what it always was -------------------------------------------------------
def test_random_sampling_reproduces_the_draws_by_hand():
    """One ``rng.random(n)`` per distribution, in order, through its ppf; then the posterior
    rows from ``rng.integers`` on the same generator."""
    n, seed = 25, 42
    table = _posterior(7)
    u = _uncertainty(Posterior(table))
    for drawn in (u.sample(n, np.random.default_rng(seed)),
                  u.sample(n, np.random.default_rng(seed), method="random")):
        rng = np.random.default_rng(seed)
        for name, (dist, _) in MARGINALS.items():
            np.testing.assert_array_equal(drawn[name], dist.ppf(rng.random(n)), err_msg=name)
        rows = rng.integers(0, len(table), size=n)
        np.testing.assert_array_equal(drawn["a"], table["a"].to_numpy()[rows])
        np.testing.assert_array_equal(drawn["b"], table["b"].to_numpy()[rows])
    # and the uniform's values are scipy's ppf of the same numbers
    rng = np.random.default_rng(seed)
    np.testing.assert_allclose(drawn["u"], stats.uniform(loc=2, scale=5).ppf(rng.random(n)),
                               rtol=1e-15)


def test_experiments_default_to_random_sampling(teacup):
    u = {"Characteristic Time": Uniform(5, 15)}
    res = sd.monte_carlo(teacup, u, n_samples=20, seed=9)
    assert res.info["sampling"] == "random"
    by_hand = 5 + 10 * np.random.default_rng(9).random(20)
    np.testing.assert_array_equal(res.samples["Characteristic Time"].to_numpy(), by_hand)
    lhs = sd.run_experiment(teacup, uncertainty=u, n_samples=20, seed=9, sampling="lhs")
    assert lhs.info["sampling"] == "lhs"
    assert sorted(np.floor((lhs.samples["Characteristic Time"] - 5) / 10 * 20).astype(int)) \
        == list(range(20))


def test_the_sampling_is_saved_with_the_provenance(teacup, tmp_path):
    res = sd.monte_carlo(teacup, {"Characteristic Time": Uniform(5, 15)}, n_samples=16, seed=1,
                         sampling="sobol")
    assert res.provenance()["sampling"] == "sobol"
    res.save(tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "experiment.json").read_text(encoding="utf-8"))
    assert meta["sampling"] == "sobol" and meta["n_samples"] == 16


# -- experiment files and the command line ------------------------------------------------------
def _write(tmp_path, text, name="exp.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_an_experiment_file_chooses_its_sampling(tmp_path):
    spec = load_experiment(_write(tmp_path, 'sampling = "lhs"\n' + GOOD))
    assert spec.sampling == "lhs"
    res = spec.run()
    assert res.info["sampling"] == "lhs"
    n = spec.n_samples  # 16
    target = res.samples["Target"].to_numpy()  # uniform(50, 150)
    assert sorted(_strata(target, stats.uniform(loc=50, scale=100).cdf, n)) == list(range(n))
    assert spec.run(sampling="random").info["sampling"] == "random"
    assert load_experiment(_write(tmp_path, GOOD, "plain.toml")).sampling == "random"


def test_cli_sampling_overrides_the_file(tmp_path, capsys):
    exp = _write(tmp_path, 'sampling = "random"\n' + GOOD)
    out = tmp_path / "res"
    assert main(["experiment", str(exp), "--sampling", "sobol", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "16 scrambled Sobol samples (seed 4)" in text
    assert json.loads((out / "experiment.json").read_text())["sampling"] == "sobol"
    assert main(["experiment", str(exp), "--sampling", "lhs", "--samples", "10"]) == 0
    assert "10 Latin-hypercube samples (seed 4)" in capsys.readouterr().out
    assert main(["experiment", str(exp), "--samples", "10"]) == 0
    assert "10 Monte Carlo samples (seed 4)" in capsys.readouterr().out


# -- (e) bad input --------------------------------------------------------------------------
def test_unknown_sampling_names_the_argument_the_value_and_the_choices(teacup):
    u = _uncertainty()
    with pytest.raises(ConfigError, match=r"^`method` must be one of random, lhs, sobol, got "
                                          r"'bogus'\.$"):
        u.sample(10, np.random.default_rng(0), method="bogus")
    with pytest.raises(ConfigError, match=r"`sampling` must be one of random, lhs, sobol, got "
                                          r"'LHS'\. Did you mean 'lhs'\?"):
        sd.monte_carlo(teacup, {"Characteristic Time": Uniform(5, 15)}, n_samples=10, seed=0,
                       sampling="LHS")
    with pytest.raises(ConfigError, match="`sampling` must be one of random, lhs, sobol, got "
                                          "None"):
        sd.run_experiment(teacup, sampling=None)


def test_sobol_needs_a_power_of_two(teacup):
    u = {"Characteristic Time": Uniform(5, 15)}
    msg = "`n_samples` must be a power of 2 for sampling='sobol' (got 1000; use 1024 or 512)."
    with pytest.raises(ConfigError) as exc:
        sd.monte_carlo(teacup, u, n_samples=1000, seed=0, sampling="sobol")
    assert str(exc.value) == msg
    with pytest.raises(ConfigError, match=r"\(got 600; use 512 or 1024\)"):
        sd.run_experiment(teacup, uncertainty=u, n_samples=600, seed=0, sampling="sobol")
    with pytest.raises(ConfigError, match=r"^`n` must be a power of 2 for method='sobol' "
                                          r"\(got 3; use 4 or 2\)\.$"):
        Uncertainty(u).sample(3, np.random.default_rng(0), method="sobol")
    # powers of 2 are fine, and a run without uncertainty (one run) is too
    assert sd.monte_carlo(teacup, u, n_samples=4, seed=0, sampling="sobol").n_samples == 4
    assert sd.run_experiment(teacup, sampling="sobol").n_samples == 1


@pytest.mark.parametrize("line,message", [
    ('sampling = "latin"', "`sampling` must be one of random, lhs, sobol, got 'latin'."),
    ('sampling = "LHS"',
     "`sampling` must be one of random, lhs, sobol, got 'LHS'. Did you mean 'lhs'?"),
    ("sampling = 3", "`sampling` must be one of random, lhs, sobol, got 3."),
    ('sampling = "sobol"\nsamples = 20',
     "`samples` must be a power of 2 for sampling='sobol' (got 20; use 16 or 32)."),
    ('sampling = "sobol"',
     "`samples` must be given, a power of 2, for sampling='sobol' (the default 500 is not "
     "one; use 512 or 256)."),
])
def test_bad_sampling_in_a_file_is_one_error_naming_the_file(tmp_path, line, message):
    text = GOOD.replace("samples = 16\n", "") if "samples" in line or "sobol" in line else GOOD
    p = _write(tmp_path, line + "\n" + text)
    with pytest.raises(ConfigError) as exc:
        load_experiment(p)
    assert str(exc.value) == f"{p}: {message}"


def test_cli_bad_sampling_exits_2_with_one_line(tmp_path, capsys):
    exp = str(_write(tmp_path, GOOD))
    with pytest.raises(SystemExit) as exc:
        main(["experiment", exp, "--sampling", "bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "argument --sampling: invalid choice: 'bogus'" in err and "\n" not in err
    for argv, message in [
        (["experiment", exp, "--sampling", "sobol", "--samples", "20"],
         "error: --samples must be a power of 2 for sampling='sobol' (got 20; use 16 or 32)."),
        (["experiment", str(_write(tmp_path, GOOD.replace("samples = 16", "samples = 12"),
                                   "twelve.toml")), "--sampling", "sobol"],
         "error: the experiment's samples must be a power of 2 for sampling='sobol' (got 12; "
         "use 16 or 8); pass --samples."),
        (["experiment", str(_write(tmp_path, GOOD.replace("samples = 16\n", ""),
                                   "default.toml")), "--sampling", "sobol"],
         "error: the default number of samples must be a power of 2 for sampling='sobol' (got "
         "500; use 512 or 256); pass --samples."),
        (["experiment", str(_write(tmp_path, 'sampling = "sobl"\n' + GOOD, "typo.toml"))],
         "sampling` must be one of random, lhs, sobol, got 'sobl'. Did you mean 'sobol'?"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err, (argv, err)
        assert "\n" not in err and "Traceback" not in err


def test_docstring_examples_run():
    import sts_dynamics.experiments.distributions as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
