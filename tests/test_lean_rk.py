"""The single-run RK45 and RK23 (``sts_dynamics._lean_rk``) against SciPy's own, step by step."""

import sys

import numpy as np
import pytest
from scipy.integrate import RK23, RK45, solve_ivp

import sts_dynamics as sd
from sts_dynamics import _lean_rk

from _paths import ENGINE_DATA, TEST_MODELS

SIM = sys.modules["sts_dynamics.simulate"]  # the module; sd.simulate is the function


def lotka_volterra(t, y):
    x, z = y
    return [1.5 * x - 1.0 * x * z, -3.0 * z + 1.0 * x * z]


def forced_chain(t, y):  # four states, time-dependent forcing, widely spread time constants
    a, b, c, d = y
    return [np.sin(t) - 0.1 * a, a - 2.0 * b, 5.0 * (b - c), 0.01 * c - 1e-3 * d * d]


CASES = [(lotka_volterra, [10.0, 5.0], 0.0, 15.0), (forced_chain, [0.0, 1.0, -1.0, 2.0], 0.0, 40.0)]


SCIPY = {"RK45": RK45, "RK23": RK23}


def lean(fun, y0, t0, t1, rtol, atol, max_step=np.inf, method="RK45"):
    steps = _lean_rk.Steps(method)
    f0 = fun(t0, y0)
    h = _lean_rk.initial_step(method, fun, t0, y0, f0, t1, max_step, rtol, atol)
    ok, t, y, f, h, nfev = _lean_rk.integrate(method, fun, t0, t1, list(y0), f0, h, rtol, atol,
                                              max_step, steps)
    return ok, steps, nfev + 2


@pytest.mark.parametrize("method,rtol", [("RK45", 1e-3), ("RK45", 1e-6), ("RK45", 1e-9),
                                         ("RK23", 1e-3), ("RK23", 1e-6)])
@pytest.mark.parametrize("fun,y0,t0,t1", CASES)
def test_steps_match_scipy(method, fun, y0, t0, t1, rtol):
    atol = rtol * 1e-3
    solver = SCIPY[method](lambda t, y: np.array(fun(t, y)), t0, np.array(y0), t1, rtol=rtol,
                           atol=atol)
    times, states = [], []
    while solver.status == "running":
        solver.step()
        times.append(solver.t)
        states.append(solver.y.copy())
    ok, steps, nfev = lean(fun, y0, t0, t1, rtol, atol, method=method)
    assert ok
    assert len(steps) == len(times)  # the same accepted steps, rejected ones included in nfev
    assert nfev == solver.nfev
    # the same steps up to rounding: the sums run in another order, and the error estimate
    # (a difference of nearly equal terms) magnifies that into step sizes that differ by about
    # 1e-10; a wrong coefficient would change the step count or show at 1e-3
    np.testing.assert_allclose(steps.t_new, times, rtol=1e-8, atol=0)
    ends = np.array([steps.y_old[i + 1] for i in range(len(steps) - 1)])
    np.testing.assert_allclose(ends, np.array(states[:-1]), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("method", ["RK45", "RK23"])
@pytest.mark.parametrize("fun,y0,t0,t1", CASES)
def test_dense_output_matches_scipy(method, fun, y0, t0, t1):
    rtol, atol = 1e-6, 1e-9
    rng = np.random.default_rng(1)
    t_out = np.sort(np.concatenate([[t0, t1], rng.uniform(t0, t1, 200)]))
    sol = solve_ivp(lambda t, y: np.array(fun(t, y)), (t0, t1), np.array(y0), method=method,
                    rtol=rtol, atol=atol, t_eval=t_out)
    ok, steps, _ = lean(fun, y0, t0, t1, rtol, atol, method=method)
    np.testing.assert_allclose(_lean_rk.dense(steps, t_out), sol.y.T, rtol=1e-7, atol=1e-9)


def test_max_step_is_respected():
    ok, steps, _ = lean(lotka_volterra, [10.0, 5.0], 0.0, 15.0, 1e-6, 1e-9, max_step=0.01)
    assert sd.simulate(sd.load(ENGINE_DATA / "step_decay.mdl"), max_step=0.5).nfev > 6 * 24
    h = np.subtract(steps.t_new, steps.t_old)
    assert ok and h.max() <= 0.01 * (1 + 1e-12) and len(steps) >= 1500


@pytest.mark.parametrize("method", ["RK45", "RK23"])
def test_simulate_single_run_equals_solve_ivp_on_the_same_rates(method):
    """Without breakpoints, ``simulate`` with RK45 or RK23 is SciPy's method to rounding."""
    model = sd.load(TEST_MODELS / "samples" / "SIR" / "SIR.mdl")
    sim = sd.simulate(model, method=method, rtol=1e-7, atol=1e-9)
    cm = sd.compile_model(model)
    prep = cm.prepare()
    assert prep.breakpoints.size == 0
    rates = cm.make_rates(prep, [0.0])
    sol = solve_ivp(lambda t, y: np.array(rates(float(t), y.tolist())), (sim.t[0], sim.t[-1]),
                    np.array(prep.y0), method=method, rtol=1e-7, atol=1e-9, t_eval=sim.t)
    assert sim.nfev == sol.nfev
    for i, key in enumerate(cm.stock_keys):
        np.testing.assert_allclose(sim[key], sol.y[i], rtol=1e-8, atol=1e-9)


def test_ensembles_still_use_solve_ivp_and_agree_with_single_runs():
    model = sd.load(TEST_MODELS / "samples" / "teacup" / "teacup.mdl")
    taus = [5.0, 12.0]
    ens = sd.simulate(model, params={"Characteristic Time": taus}, rtol=1e-9, atol=1e-9)
    for r, tau in enumerate(taus):
        one = sd.simulate(model, params={"Characteristic Time": tau}, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ens["Teacup Temperature"][:, r], one["Teacup Temperature"],
                                   rtol=1e-7)


def step_decay_exact(t, tau=2.5):
    e = 10 * np.exp(-t / tau) + 2 * tau * (1 - np.exp(-(t - 3.3) / tau)) * (t > 3.3)
    m = np.minimum(t, 7.5)
    return e + tau * (1 - np.exp(-(m - 6) / tau)) * np.exp(-(t - m) / tau) * (t > 6)


@pytest.mark.parametrize("method,rtol", [("RK45", 1e-4), ("RK45", 1e-6), ("RK45", 1e-8),
                                         ("RK23", 1e-4), ("RK23", 1e-6)])
def test_step_size_carried_over_breakpoints_keeps_the_error_controlled(method, rtol):
    """STEP and PULSE split the run into segments; carrying the step size across them must not
    cost accuracy against the closed form, nor cost more evaluations than restarting."""
    model = sd.load(ENGINE_DATA / "step_decay.mdl")
    assert sd.compile_model(model).prepare().breakpoints.tolist() == [3.3, 6.0, 7.5]
    atol = rtol * 1e-3
    sim = sd.simulate(model, method=method, rtol=rtol, atol=atol)
    exact = step_decay_exact(sim.t)
    assert np.max(np.abs(sim["Level"] - exact) / (atol + rtol * np.abs(exact))) < 20
    # two identical runs go through solve_ivp, restarted at each breakpoint; their RMS error
    # norm equals one run's, so they take SciPy's steps for this model
    restart = sd.simulate(model, method=method, rtol=rtol, atol=atol, params={"Tau": [2.5, 2.5]})
    np.testing.assert_allclose(restart["Level"][:, 0], exact, rtol=20 * rtol, atol=20 * atol)
    assert sim.nfev < restart.nfev


@pytest.mark.parametrize("method", ["RK45", "RK23"])
def test_failure_reports_where_the_solver_stopped(method):
    with pytest.raises(sd.SimulationError, match=method + r" failed at time 2 .*'Level'") as exc:
        sd.simulate(sd.load(ENGINE_DATA / "blowup.mdl"), method=method)
    assert exc.value.time == pytest.approx(2.0, abs=0.01)


def test_single_run_path_is_taken():
    model = sd.load(TEST_MODELS / "samples" / "teacup" / "teacup.mdl")
    called = []
    original = SIM._lean_single

    def spy(*args, **kw):
        called.append(1)
        return original(*args, **kw)
    SIM._lean_single = spy
    try:
        sd.simulate(model)
        sd.simulate(model, method="RK23")
        sd.simulate(model, method="DOP853")
        sd.simulate(model, params={"Characteristic Time": [5.0, 6.0]})
    finally:
        SIM._lean_single = original
    assert called == [1, 1]
