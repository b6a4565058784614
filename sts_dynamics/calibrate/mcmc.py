"""Bayesian sampling with emcee's ensemble sampler, vectorized over walkers.

The moves are differential-evolution proposals (80 % ``DEMove``, 20 % ``DESnookerMove``, the
mixture emcee's documentation recommends; DREAM-like, as in Vensim's MCMC): on the problems
of our tests their autocorrelation times are 2 to 5 times shorter than the stretch move's.

The sampler works in internal (transformed) space. The target density is the likelihood
times the parameters' priors (uniform on ``[min, max]`` for a parameter without a prior) times
the Jacobian ``|dx/du|`` of each transform, so the samples are of the posterior of the
*external* values. Estimated nuisance parameters are sampled too, as ``log`` values: ``sigma``
(log-normal, Gaussian) with a flat prior on ``log sigma`` (a ``1/sigma`` prior); the
negative-binomial ``phi`` with a half-normal(0, 1) prior on ``1/sqrt(phi)`` (Stan's
prior-choice recommendation), because the likelihood stays flat as ``phi`` grows toward the
Poisson limit and a flat prior there would be improper.
Each step of the sampler evaluates all walkers as one ensemble simulation.

Convergence: split R-hat over walkers (each walker's chain cut in halves; Gelman et al.,
Bayesian Data Analysis, 3rd ed., 11.4) and effective sample size from emcee's integrated
autocorrelation time. Walkers of an ensemble sampler are not independent, so treat R-hat as
a necessary check, not a proof.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError, CalibrationWarning
from .observation import NegativeBinomial
from .problem import Problem

_LOG_PHI = (np.log(NegativeBinomial.PHI_MIN), np.log(NegativeBinomial.PHI_MAX))

__all__ = ["Posterior", "run_mcmc", "split_rhat"]


@dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior samples after burn-in.

    Attributes
    ----------
    names : tuple of str
        Free parameters, then ``"<series> <nuisance>"`` for sampled nuisance parameters.
    samples : ndarray, shape (n_samples, n_dim)
        External values (flattened over walkers).
    chain : ndarray, shape (n_steps, n_walkers, n_dim)
        Internal values of the kept steps (nuisance parameters as logs).
    log_prob : ndarray, shape (n_steps, n_walkers)
    rhat, ess : ndarray, shape (n_dim,)
    acceptance : float
        Mean acceptance fraction.
    n_walkers, n_steps, burn : int
    """

    names: tuple[str, ...]
    samples: np.ndarray
    chain: np.ndarray
    log_prob: np.ndarray
    rhat: np.ndarray
    ess: np.ndarray
    acceptance: float
    n_walkers: int
    n_steps: int
    burn: int

    def summary(self, level: float = 0.95) -> dict[str, dict[str, float]]:
        """Mean, sd, median, equal-tailed interval, R-hat and ESS per dimension."""
        q = 100 * np.array([0.5 - level / 2, 0.5, 0.5 + level / 2])
        out = {}
        for i, n in enumerate(self.names):
            s = self.samples[:, i]
            lo, med, hi = np.percentile(s, q)
            out[n] = {"mean": float(s.mean()), "sd": float(s.std(ddof=1)), "median": float(med),
                      "lower": float(lo), "upper": float(hi), "rhat": float(self.rhat[i]),
                      "ess": float(self.ess[i])}
        return out


def split_rhat(chain: np.ndarray) -> np.ndarray:
    """Split R-hat of ``chain`` (shape ``(n_steps, n_chains, n_dim)``): each chain cut in
    two halves, then the potential scale reduction of Gelman et al. (BDA3, eq. 11.4).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bool(abs(split_rhat(rng.standard_normal((2000, 8, 1)))[0] - 1) < 0.01)
    True
    """
    x = np.asarray(chain, dtype=float)
    n = x.shape[0] // 2
    if n < 2:
        return np.full(x.shape[2], np.nan)
    halves = np.concatenate([x[:n], x[-n:]], axis=1)  # (n, 2 * chains, dim)
    means = halves.mean(axis=0)
    W = halves.var(axis=0, ddof=1).mean(axis=0)
    B = n * means.var(axis=0, ddof=1)
    var_plus = (n - 1) / n * W + B / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(var_plus / W)


def _ess(chain: np.ndarray) -> np.ndarray:
    import emcee

    n_steps, n_walkers, _ = chain.shape
    log = logging.getLogger("emcee.autocorr")
    level = log.level
    log.setLevel(logging.ERROR)  # the "chain is shorter than 50 tau" note: R-hat/ESS say it
    try:
        tau = emcee.autocorr.integrated_time(chain, quiet=True)
    except Exception:  # pragma: no cover - emcee raises for very short chains
        return np.full(chain.shape[2], np.nan)
    finally:
        log.setLevel(level)
    return n_steps * n_walkers / np.maximum(tau, 1.0)


def run_mcmc(problem: Problem, u: np.ndarray, nu: dict[str, float], cov_internal: np.ndarray,
             *, n_walkers: int | None = None, n_steps: int = 2000, burn: int | None = None,
             thin: int = 1, seed: int | None = None, progress: bool = False) -> Posterior:
    """Sample the posterior; walkers start about the estimate ``u`` (half the Jacobian's
    standard deviations, within bounds)."""
    import emcee

    p = u.size
    est = problem.estimated
    nu_names = [t.name for t in est]
    ndim = p + len(nu_names)
    n_walkers = n_walkers or max(4 * ndim, 32)
    n_walkers += n_walkers % 2
    if n_walkers < 2 * ndim:
        raise CalibrationError(f"MCMC needs at least 2 x {ndim} = {2 * ndim} walkers, got "
                               f"{n_walkers}.")
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 20):
        raise CalibrationError(f"MCMC `steps` must be an integer >= 20, got {n_steps!r}.")
    burn = n_steps // 2 if burn is None else int(burn)
    if not 0 <= burn < n_steps:
        raise CalibrationError(f"MCMC `burn` must be in [0, steps), got {burn}.")
    rng = np.random.default_rng(seed)
    lo, hi = problem.parameters.bounds
    free = [problem.parameters[n] for n in problem.free]

    def log_prob(X):
        X = np.atleast_2d(X)
        U = X[:, :p].T
        inside = np.all((U >= lo[:, None]) & (U <= hi[:, None]), axis=0)
        out = np.full(X.shape[0], -np.inf)
        if not inside.any():
            return out
        Ui = U[:, inside]
        mu, ok = problem.predict(Ui)
        nuv = {name: np.exp(X[inside, p + i]) for i, name in enumerate(nu_names)}
        ll = problem.loglik(mu, ok, nuv)
        lp = problem.log_prior(Ui)
        for i, t in enumerate(est):
            if isinstance(t.noise, NegativeBinomial):  # half-normal(0, 1) on k = phi^-1/2
                lphi = X[inside, p + i]
                k = np.exp(-0.5 * lphi)
                lp = lp - 0.5 * k**2 - 0.5 * lphi  # density of log phi: |dk/dlog phi| = k/2
                lp = np.where((lphi >= _LOG_PHI[0]) & (lphi <= _LOG_PHI[1]), lp, -np.inf)
        lj = sum(np.asarray(par.log_jacobian(Ui[i])) for i, par in enumerate(free))
        out[inside] = ll + lp + lj
        return np.where(np.isfinite(out), out, -np.inf)

    cov = np.asarray(cov_internal, dtype=float)
    if not np.all(np.isfinite(cov)):
        cov = np.diag(np.where(np.isfinite(np.diag(cov)), np.diag(cov), 0.01))
    scale = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    x0 = np.concatenate([u, [np.log(max(nu[n], 1e-300)) for n in nu_names]])
    start = np.empty((n_walkers, ndim))
    for w in range(n_walkers):
        # about the Laplace approximation (half its sd), within bounds; else a tight ball
        for k in range(200):
            f = 0.5 if k < 100 else 0.01
            cand = x0.copy()
            cand[:p] = u + f * scale * rng.standard_normal(p)
            cand[p:] = x0[p:] + 0.05 * f * rng.standard_normal(ndim - p)
            if np.all((cand[:p] >= lo) & (cand[:p] <= hi)):
                break
        else:
            cand = x0.copy()
        start[w] = cand
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, ndim, log_prob, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(rng.integers(2**31 - 1)).get_state()
    sampler.run_mcmc(start, n_steps, progress=progress)
    chain = sampler.get_chain(discard=burn, thin=thin)
    lp = sampler.get_log_prob(discard=burn, thin=thin)
    acc = float(np.mean(sampler.acceptance_fraction))
    if acc < 0.1:
        warnings.warn(f"MCMC acceptance fraction is {acc:.2f}; the chains mix poorly (more "
                      "steps, or a better-identified model).", CalibrationWarning, stacklevel=3)
    flat = chain.reshape(-1, ndim)
    ext = np.empty_like(flat)
    for i, par in enumerate(free):
        ext[:, i] = par.from_internal(flat[:, i])
    ext[:, p:] = np.exp(flat[:, p:])
    names = tuple(problem.free) + tuple(f"{t.name} {t.noise.nuisance_name}" for t in est)
    return Posterior(names=names, samples=ext, chain=chain, log_prob=lp,
                     rhat=split_rhat(chain), ess=_ess(chain), acceptance=acc,
                     n_walkers=n_walkers, n_steps=n_steps, burn=burn)
