"""Fit diagnostics: how well a fitted series matches the data, as plain floats and dicts.

Every function takes 1-dimensional ``observed`` and ``fitted`` (simulated) arrays of the same
length. Pairs where either value is NaN (missing observations) are left out; at least one
pair (two for statistics built on changes) must remain.

References
----------
J. D. Sterman, "Appropriate summary statistics for evaluating the historical fit of system
dynamics models", Dynamica 10(2), 1984 (Theil statistics).
R. J. Hyndman and A. B. Koehler, "Another look at measures of forecast accuracy",
International Journal of Forecasting 22(4), 2006 (MASE).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..errors import DataError

__all__ = [
    "theil", "mape", "mase", "r_squared", "durbin_watson", "autocorrelation", "ljung_box",
    "aic", "bic", "fit_statistics", "holdout_scores",
]


def _pair(observed, fitted, min_n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(observed, dtype=float)
    s = np.asarray(fitted, dtype=float)
    if a.ndim != 1 or s.shape != a.shape:
        raise DataError(f"`observed` and `fitted` must be 1-dimensional of the same length, got "
                        f"shapes {a.shape} and {s.shape}.")
    keep = ~(np.isnan(a) | np.isnan(s))
    if keep.sum() < min_n:
        raise DataError(f"need at least {min_n} pair(s) of observed and fitted values without "
                        f"NaN, got {int(keep.sum())}.")
    return a[keep], s[keep]


def _residuals(residuals, min_n: int = 2) -> np.ndarray:
    e = np.asarray(residuals, dtype=float)
    if e.ndim != 1:
        raise DataError(f"`residuals` must be 1-dimensional, got shape {e.shape}.")
    e = e[~np.isnan(e)]
    if e.size < min_n:
        raise DataError(f"need at least {min_n} residuals without NaN, got {e.size}.")
    return e


def theil(observed, fitted) -> dict[str, float]:
    """Theil inequality statistics (Sterman 1984): the shares of the mean squared error.

    ``MSE = (mean_S - mean_A)**2 + (s_S - s_A)**2 + 2 (1 - r) s_S s_A`` with population
    standard deviations ``s`` and correlation ``r``; ``U_M`` (bias), ``U_S`` (unequal
    variation) and ``U_C`` (unequal covariation) are the three terms over the MSE and sum
    to 1. When the MSE is 0 the shares are NaN.

    Returns
    -------
    dict
        ``mse``, ``rmse``, ``U_M``, ``U_S``, ``U_C``, ``r`` (NaN when either series is
        constant), ``mean_observed``, ``mean_fitted``, ``sd_observed``, ``sd_fitted``.

    Examples
    --------
    >>> t = theil([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])   # a pure bias
    >>> t["U_M"], t["U_S"], t["U_C"]
    (1.0, 0.0, 0.0)
    """
    a, s = _pair(observed, fitted)
    ma, ms = a.mean(), s.mean()
    sa, ss = a.std(), s.std()
    cov = np.mean((a - ma) * (s - ms))
    mse = float(np.mean((s - a) ** 2))
    r = float(cov / (sa * ss)) if sa > 0 and ss > 0 else math.nan
    if mse > 0:
        um, us = (ms - ma) ** 2 / mse, (ss - sa) ** 2 / mse
        uc = 2 * (sa * ss - cov) / mse
    else:
        um = us = uc = math.nan
    return {"mse": mse, "rmse": math.sqrt(mse), "U_M": float(um), "U_S": float(us),
            "U_C": float(uc), "r": r, "mean_observed": float(ma), "mean_fitted": float(ms),
            "sd_observed": float(sa), "sd_fitted": float(ss)}


def mape(observed, fitted) -> float:
    """Mean absolute percentage error, in percent: ``100 * mean(|A - S| / |A|)``.

    Undefined when an observation is 0 (common for counts): returns NaN then; use
    :func:`mase` instead.

    Examples
    --------
    >>> mape([2.0, 4.0], [1.0, 5.0])
    37.5
    """
    a, s = _pair(observed, fitted)
    if np.any(a == 0):
        return math.nan
    return float(100 * np.mean(np.abs((a - s) / a)))


def mase(observed, fitted, *, scale_from=None) -> float:
    """Mean absolute scaled error: ``mean|A - S|`` over the in-sample naive one-step error.

    The scale is ``mean|A_t - A_{t-1}|`` of ``scale_from`` (default ``observed``), the error
    of forecasting each value by the previous one. Below 1 the fit beats that naive
    forecast. NaN when the scale is 0 (a constant series).

    Examples
    --------
    >>> mase([1.0, 3.0, 2.0, 4.0], [2.0, 2.0, 3.0, 3.0])
    0.6
    """
    a, s = _pair(observed, fitted)
    ref = np.asarray(a if scale_from is None else scale_from, dtype=float)
    ref = ref[~np.isnan(ref)]
    if ref.size < 2:
        raise DataError(f"MASE needs at least 2 values to scale by, got {ref.size}.")
    scale = np.mean(np.abs(np.diff(ref)))
    return float(np.mean(np.abs(a - s)) / scale) if scale > 0 else math.nan


def r_squared(observed, fitted) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (negative when the fit is worse
    than the data's mean; NaN for constant data).

    Examples
    --------
    >>> r_squared([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    a, s = _pair(observed, fitted)
    ss_tot = np.sum((a - a.mean()) ** 2)
    return float(1 - np.sum((a - s) ** 2) / ss_tot) if ss_tot > 0 else math.nan


def durbin_watson(residuals) -> float:
    """Durbin-Watson statistic ``sum (e_t - e_{t-1})**2 / sum e_t**2``.

    About 2 for uncorrelated residuals, toward 0 for positive autocorrelation (typical of
    a system dynamics fit that misses a slow mode), toward 4 for negative.

    Examples
    --------
    >>> durbin_watson([1.0, -1.0, 1.0, -1.0])
    3.0
    """
    e = _residuals(residuals)
    denom = np.sum(e**2)
    return float(np.sum(np.diff(e) ** 2) / denom) if denom > 0 else math.nan


def autocorrelation(residuals, max_lag: int = 10) -> dict[int, float]:
    """Sample autocorrelation ``{lag: r_k}`` of the residuals, lags 1..``max_lag``.

    ``r_k = sum_t (e_t - m)(e_{t+k} - m) / sum_t (e_t - m)**2`` (the standard, biased
    estimator); lags beyond the series are left out.

    Examples
    --------
    >>> autocorrelation([1.0, -1.0, 1.0, -1.0], max_lag=2)
    {1: -0.75, 2: 0.5}
    """
    e = _residuals(residuals)
    if max_lag < 1:
        raise DataError(f"`max_lag` must be at least 1, got {max_lag}.")
    d = e - e.mean()
    denom = np.sum(d**2)
    out = {}
    for k in range(1, min(max_lag, e.size - 1) + 1):
        out[k] = float(np.sum(d[:-k] * d[k:]) / denom) if denom > 0 else math.nan
    return out


def ljung_box(residuals, lags: int = 10, n_params: int = 0) -> dict[str, float]:
    """Ljung-Box test of residual autocorrelation up to ``lags``.

    ``Q = n (n + 2) sum_k r_k**2 / (n - k)``, compared with chi-square on
    ``lags - n_params`` degrees of freedom.

    Returns
    -------
    dict
        ``q``, ``df`` and ``p_value`` (small: the residuals are autocorrelated).
    """
    e = _residuals(residuals, min_n=3)
    acf = autocorrelation(e, lags)
    n = e.size
    q = n * (n + 2) * sum(r**2 / (n - k) for k, r in acf.items())
    df = max(len(acf) - n_params, 1)
    return {"q": float(q), "df": float(df), "p_value": float(special.chdtrc(df, q))}


def aic(loglik: float, n_params: int) -> float:
    """Akaike information criterion ``2 k - 2 loglik``.

    Examples
    --------
    >>> aic(-10.0, 3)
    26.0
    """
    return float(2 * n_params - 2 * loglik)


def bic(loglik: float, n_params: int, n_obs: int) -> float:
    """Bayesian information criterion ``k log(n) - 2 loglik``.

    Examples
    --------
    >>> round(bic(-10.0, 2, 100), 4)
    29.2103
    """
    if n_obs < 1:
        raise DataError(f"`n_obs` must be at least 1, got {n_obs}.")
    return float(n_params * math.log(n_obs) - 2 * loglik)


def fit_statistics(observed, fitted, *, loglik: float | None = None,
                   n_params: int | None = None, max_lag: int = 5) -> dict[str, object]:
    """All of the above for one series, in one dict (for reports).

    Residuals are ``observed - fitted``. ``aic``/``bic`` are included when ``loglik`` and
    ``n_params`` are given.

    Examples
    --------
    >>> stats = fit_statistics([1.0, 2.0, 4.0, 3.0], [1.5, 2.5, 3.0, 3.5])
    >>> sorted(stats)[:4], stats["n"]
    (['U_C', 'U_M', 'U_S', 'autocorrelation'], 4)
    """
    a, s = _pair(observed, fitted, min_n=2)
    e = a - s
    out: dict[str, object] = {"n": int(a.size)}
    out.update(theil(a, s))
    out.update({"mape": mape(a, s), "mase": mase(a, s), "r_squared": r_squared(a, s),
                "durbin_watson": durbin_watson(e),
                "autocorrelation": autocorrelation(e, max_lag)})
    if loglik is not None and n_params is not None:
        out.update({"loglik": float(loglik), "aic": aic(loglik, n_params),
                    "bic": bic(loglik, n_params, a.size)})
    return out


def _scores(a: np.ndarray, f: np.ndarray, naive_scale: float) -> dict[str, float]:
    err = a - f
    mae = float(np.mean(np.abs(err)))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": mae, "bias": float(np.mean(-err)),
            "mase": mae / naive_scale if naive_scale > 0 else math.nan}


def holdout_scores(observed, fitted, split_index: int, *,
                   season: int | None = None) -> dict[str, dict[str, float]]:
    """Score the later window ``[split_index:]`` of a fit made on ``[:split_index]``.

    The fitted series is compared with naive baselines that use only the fit window:
    ``last_value`` (the last observation carried forward) and ``fit_mean`` (the mean of the
    fit window); with ``season`` (e.g. 52 for weekly data) also ``seasonal_naive`` (the
    value one season earlier, repeated) and ``last_season_mean``. Each gets ``rmse``,
    ``mae``, ``bias`` (forecast minus observed) and ``mase`` (scaled by the fit window's
    naive one-step error). ``skill`` holds ``1 - mae_model / mae_baseline`` per baseline
    (above 0: the model beats it).

    Examples
    --------
    >>> obs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    >>> out = holdout_scores(obs, [1.0, 2.0, 3.0, 4.0, 5.0, 6.5], split_index=4)
    >>> out["model"]["mae"], out["last_value"]["mae"], out["skill"]["last_value"]
    (0.25, 1.5, 0.8333333333333334)
    """
    a = np.asarray(observed, dtype=float)
    f = np.asarray(fitted, dtype=float)
    if a.ndim != 1 or f.shape != a.shape:
        raise DataError(f"`observed` and `fitted` must be 1-dimensional of the same length, got "
                        f"shapes {a.shape} and {f.shape}.")
    if not 2 <= split_index <= a.size - 1:
        raise DataError(f"`split_index` must be between 2 and {a.size - 1} (a fit window of "
                        f"at least 2 and a hold-out of at least 1), got {split_index}.")
    train, test, f_test = a[:split_index], a[split_index:], f[split_index:]
    train_obs = train[~np.isnan(train)]
    keep = ~(np.isnan(test) | np.isnan(f_test))
    if train_obs.size < 2 or not keep.any():
        raise DataError("both windows need observations without NaN (at least 2 in the fit "
                        "window, 1 in the hold-out).")
    scale = float(np.mean(np.abs(np.diff(train_obs))))
    h = np.arange(test.size)
    baselines = {"last_value": np.full(test.size, train_obs[-1]),
                 "fit_mean": np.full(test.size, train_obs.mean())}
    if season is not None:
        if not 1 <= season <= split_index:
            raise DataError(f"`season` must be between 1 and `split_index` ({split_index}), "
                            f"got {season}.")
        last = train[split_index - season:]
        baselines["seasonal_naive"] = last[h % season]
        baselines["last_season_mean"] = np.full(test.size, np.nanmean(last))
    out: dict[str, dict[str, float]] = {
        "model": _scores(test[keep], f_test[keep], scale)}
    for name, b in baselines.items():
        ok = keep & ~np.isnan(b)
        out[name] = _scores(test[ok], b[ok], scale) if ok.any() else {
            "rmse": math.nan, "mae": math.nan, "bias": math.nan, "mase": math.nan}
    out["skill"] = {name: (1 - out["model"]["mae"] / out[name]["mae"]
                           if out[name]["mae"] > 0 else math.nan) for name in baselines}
    out["window"] = {"n_fit": float(split_index), "n_holdout": float(keep.sum())}
    return out
