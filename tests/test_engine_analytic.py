"""The engine against closed-form solutions (errors scaled by atol + rtol * |y|)."""

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.simulate import ADAPTIVE_METHODS

from _paths import ENGINE_DATA, TEST_MODELS

TEACUP = TEST_MODELS / "samples" / "teacup" / "teacup.mdl"
RTOL, ATOL = 1e-6, 1e-9


def scaled_error(y, y_true, rtol=RTOL, atol=ATOL):
    return np.max(np.abs(y - y_true) / (atol + rtol * np.abs(y_true)))


@pytest.mark.parametrize("method", ADAPTIVE_METHODS)
def test_teacup_is_exponential_decay(method):
    sim = sd.simulate(sd.load(TEACUP), method=method, rtol=RTOL, atol=ATOL)
    exact = 70 + 110 * np.exp(-sim.t / 10)
    # solve_ivp controls the local error; a global error within a few tolerances is expected
    assert scaled_error(sim["Teacup Temperature"], exact) < 20
    # the flow is an auxiliary computed at output times: (T - 70) / 10
    np.testing.assert_allclose(sim["Heat Loss to Room"], (exact - 70) / 10, rtol=1e-4)


@pytest.mark.parametrize("method", ["RK45", "DOP853", "Radau", "LSODA"])
def test_harmonic_oscillator(method):
    sim = sd.simulate(sd.load(ENGINE_DATA / "harmonic.mdl"), method=method, rtol=1e-8,
                      atol=1e-10)
    w = 2.0
    np.testing.assert_allclose(sim["Position"], np.cos(w * sim.t), atol=1e-5)
    np.testing.assert_allclose(sim["Velocity"], -w * np.sin(w * sim.t), atol=1e-5)


@pytest.mark.parametrize("method", ADAPTIVE_METHODS)
def test_logistic_growth(method):
    sim = sd.simulate(sd.load(ENGINE_DATA / "logistic.mdl"), method=method)
    r, k, p0 = 0.5, 1000.0, 10.0
    exact = k / (1 + (k / p0 - 1) * np.exp(-r * sim.t))
    assert scaled_error(sim["Population"], exact) < 50


def bass_exact(t, p, q, m, a0):
    # closed form of dA/dt = (p + q A / m)(m - A) with A(0) = a0
    c = (m - a0) / (m + q * a0 / p)
    e = np.exp(-(p + q) * t)
    return m * (1 - c * e) / (1 + (q / p) * c * e)


@pytest.mark.parametrize("method", ADAPTIVE_METHODS)
def test_bass_diffusion(method):
    sim = sd.simulate(sd.load(ENGINE_DATA / "bass.mdl"), method=method)
    exact = bass_exact(sim.t, 0.01, 10 * 0.03, 10000.0, 1.0)
    assert scaled_error(sim["Adopters"], exact) < 50
    np.testing.assert_allclose(sim["Adopters"] + sim["Potential Adopters"], 10000.0, rtol=1e-9)


def test_fixed_step_convergence_orders():
    model = sd.load(TEACUP)
    t_eval = np.arange(0, 31, 1.0)
    exact = 70 + 110 * np.exp(-t_eval / 10)
    errs = {}
    for method in ("euler", "rk4"):
        e = [np.max(np.abs(sd.simulate(model, method=method, dt=h, t_eval=t_eval)
                           ["Teacup Temperature"] - exact)) for h in (0.25, 0.125)]
        errs[method] = np.log2(e[0] / e[1])
    assert errs["euler"] == pytest.approx(1.0, abs=0.05)
    assert errs["rk4"] == pytest.approx(4.0, abs=0.15)


def test_euler_is_vensim_update_order():
    # S(t + dt) = S(t) + dt * f(S(t)), with outputs before the update
    sim = sd.simulate(sd.load(TEACUP), method="euler")
    dt = 0.125
    expected = 70 + 110 * (1 - dt / 10) ** np.arange(len(sim.t))
    np.testing.assert_allclose(sim["Teacup Temperature"], expected, rtol=1e-12)


def test_step_ramp_pulse_are_integrated_exactly_by_adaptive_methods():
    # Accumulated = integral of STEP(2, 3.3) + RAMP(0.5, 5, 8) + PULSE(1, 0.75)
    sim = sd.simulate(sd.load(ENGINE_DATA / "inputs.mdl"), method="RK45",
                      t_eval=np.linspace(0, 12, 97))
    t = sim.t
    step = 2 * np.clip(t - 3.3, 0, None)
    ramp = 0.5 * (np.clip(t, 5, 8) - 5) ** 2 / 2 + 0.5 * 3 * np.clip(t - 8, 0, None)
    pulse = np.clip(t - 1, 0, 0.75)
    np.testing.assert_allclose(sim["Accumulated"], step + ramp + pulse, atol=1e-7)
    # without breakpoints the solver would need far more evaluations than this
    assert sim.nfev < 400


def test_adaptive_agrees_with_pysd_euler_at_small_dt(tmp_path):
    pysd = pytest.importorskip("pysd")
    import shutil
    import warnings

    path = tmp_path / "bass.mdl"  # PySD writes its translation next to the file
    shutil.copy(ENGINE_DATA / "bass.mdl", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pysd.read_vensim(str(path)).run(time_step=0.001, saveper=0.5,
                                              return_columns=["Adopters"])
    sim = sd.simulate(sd.load(path), method="DOP853", rtol=1e-10, atol=1e-10)
    # Euler's global error at dt = 0.001 is O(dt): agreement to about 1e-3 relative
    np.testing.assert_allclose(sim["Adopters"], ref["Adopters"].to_numpy(), rtol=2e-3)
