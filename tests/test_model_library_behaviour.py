"""Reference behaviour of the model library (issue 3, requirement 5), run with our engine.

Every expectation is analytic (skill decay, the governance steady state, discrete Euler
decay) or a behaviour pattern (the automation paradox, the alert-fidelity trap); none is a
number copied from our own output.  PySD's Euler run of each file is the cross-check that the
files mean the same to Vensim's semantics and to our engine.
"""

from __future__ import annotations

import math
import shutil
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

sd = pytest.importorskip("sts_dynamics")
if not hasattr(sd, "simulate"):
    pytest.skip("the engine (sts_dynamics.simulate) is not there yet", allow_module_level=True)

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODELS = ["operator_skill", "situational_awareness", "alert_fidelity", "governance_lag",
          "sts_core"]
METHODS = ["RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA", "euler", "rk4"]
FRACTION_STOCKS = ["Operator Skill", "Trust in Automation", "Situational Awareness",
                   "Alert Precision", "Alert Responsiveness", "Suppressed Rule Share"]
TIGHT = {"method": "RK45", "rtol": 1e-9, "atol": 1e-12}


def meta(model: str) -> dict:
    return tomllib.loads((MODELS_DIR / f"{model}.meta.toml").read_text(encoding="utf-8"))


def all_variances(model: str) -> dict[str, float]:
    """Every variance the model declares, injected at its magnitude."""
    return {v["inject"]: v["magnitude"] for v in meta(model).get("variance", [])}


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    return request.param, sd.load(request.param)


# ------------------------------------------------------------------------- loading by name
def test_bundled_models_and_contexts_load():
    for name in MODELS:
        assert name in sd.bundled_models()
        m = sd.load(name)
        assert "automation level" in m or name == "governance_lag"
    contexts = sd.load_contexts()
    assert "soc" in contexts
    for cid, ctx in contexts.items():
        m = sd.load("sts_core", context=cid)
        for name, value in ctx["overrides"].items():
            assert m[name].value == pytest.approx(value)
        sim = sd.simulate(m)
        for s in FRACTION_STOCKS:
            x = sim[s]
            assert np.all(np.isfinite(x)) and x.min() >= -1e-9 and x.max() <= 1 + 1e-9


def test_unknown_context_lists_the_presets():
    with pytest.raises(Exception, match="soc"):
        sd.load("sts_core", context="no_such_context")


# --------------------------------------------------------------- skill decay (analytic)
NO_PRACTICE = {"automation level": 1.0, "training hours": 0.0, "Incident Rate": 0.0,
               "Trust in Automation": 1.0, "base turnover rate": 0.0}


def test_skill_halves_in_its_half_life_without_practice():
    m = sd.load("operator_skill")
    k = m["skill decay rate"].value
    # the documented default: half-life of about 6.5 months (Tatel & Ackerman 2025)
    assert math.log(2) / k == pytest.approx(6.5 * 365.25 / 12 / 7, rel=0.01)
    t_half = math.log(2) / k
    sim = sd.simulate(m, params=NO_PRACTICE, t_eval=[0.0, t_half, 2 * t_half],
                      t_span=(0.0, 2 * t_half), **TIGHT)
    s = sim["Operator Skill"]
    assert s[1] / s[0] == pytest.approx(0.5, rel=1e-6)
    assert s[2] / s[0] == pytest.approx(0.25, rel=1e-6)


def test_skill_decay_at_euler_is_the_discrete_geometric_decay():
    m = sd.load("operator_skill")
    k, s0, dt = (m["skill decay rate"].value, m["initial operator skill"].value,
                 m.control.time_step)
    sim = sd.simulate(m, params=NO_PRACTICE, method="euler")
    expected = s0 * (1 - k * dt) ** (sim.t / dt)
    np.testing.assert_allclose(sim["Operator Skill"], expected, rtol=1e-9)


# ----------------------------------------------------------------- the automation paradox
def test_automation_paradox():
    """50 % -> 90 % automation: fewer routine incidents while automation works, but longer
    resolution and later detection when it fails (Bainbridge 1983; Onnasch et al. 2014)."""
    m = sd.load("sts_core")
    fail_at = m["automation failure time"].value
    fail_for = m["automation failure duration"].value
    sim = sd.simulate(m, params={"automation level": np.array([0.5, 0.9]),
                                 "automation failure severity": 1.0}, method="RK45")
    t = sim.t
    inc, ttr, dd = sim["Incident Rate"], sim["Time to Resolve"], sim["Detection Delay"]
    assert inc.shape == (len(t), 2)
    before = (t > 0) & (t < fail_at)
    during = (t >= fail_at) & (t < fail_at + fail_for)
    assert before.any() and during.any()
    # reliable automation: less routine incident load from the start, faster detection
    assert np.all(inc[before, 1] < inc[before, 0])
    assert inc[(t > 0) & (t <= 26), 1].mean() < inc[(t > 0) & (t <= 26), 0].mean()
    assert np.all(dd[before, 1] < dd[before, 0])
    # automation fails: slower resolution and later detection than at 50 %
    assert np.all(ttr[during, 1] > ttr[during, 0])
    assert np.all(dd[during, 1] > dd[during, 0])
    # and the failure itself is what makes detection worse than before it at 90 %
    assert dd[during, 1].min() > dd[before, 1].max()


def test_automation_erodes_skill_and_awareness():
    m = sd.load("sts_core")
    sim = sd.simulate(m, params={"automation level": np.array([0.5, 0.9])})
    assert sim["Operator Skill"][-1, 1] < sim["Operator Skill"][-1, 0]
    assert sim["Situational Awareness"][-1, 1] < sim["Situational Awareness"][-1, 0]
    assert sim["Trust in Automation"][-1, 1] > sim["Trust in Automation"][-1, 0]


# ------------------------------------------------------------ the alert-fidelity trap
def _degradation(m):
    start = m["monitoring degradation start"].value
    return start, start + m["monitoring degradation duration"].value


@pytest.mark.parametrize("name", ["alert_fidelity", "sts_core"])
def test_monitoring_degradation_tips_precision_into_decline(name):
    m = sd.load(name)
    start, end = _degradation(m)
    size = next(v["magnitude"] for v in meta(name)["variance"]
                if v["name"] == "monitoring degradation")
    span = (0.0, 300.0)

    base = sd.simulate(m, t_span=span)
    assert np.all(base["False Alarm Excess"] == 0), "by default precision stays above it"

    sim = sd.simulate(m, params={"monitoring degradation size": size}, t_span=span)
    t, f, excess = sim.t, sim["Alert Precision"], sim["False Alarm Excess"]
    first = int(np.argmax(excess > 0))
    assert excess[first] > 0 and start <= t[first] <= end
    f_suppression = f[first]                       # precision where suppression starts
    i_end = int(np.searchsorted(t, end))
    assert f[i_end] < f_suppression                # the degradation pushed it below
    after = t >= end
    assert np.all(np.diff(f[after]) < 0), "precision keeps falling after the degradation"
    assert f[-1] < 0.5 * f[i_end]
    assert sim["Suppressed Rule Share"][-1] > sim["Suppressed Rule Share"][i_end]

    # restoring tuning capacity when the degradation ends breaks the spiral
    effort = m["alert tuning effort"].value
    restored = sd.TimeSeries([0.0, end], [effort, effort + 40.0], "step")
    fix = sd.simulate(m, params={"monitoring degradation size": size,
                                 "alert tuning effort": restored}, t_span=span)
    assert fix["Alert Precision"][-1] > f_suppression > fix["Alert Precision"][i_end]

    # a degradation that stays above the suppression point heals by itself
    mild = sd.simulate(m, params={"monitoring degradation size": 1.0}, t_span=span)
    assert np.all(mild["False Alarm Excess"] == 0)
    assert mild["Alert Precision"][-1] > mild["Alert Precision"][i_end]


# --------------------------------------------------------- governance lag (analytic)
@pytest.mark.parametrize("g, tau", [(0.0080, 208.0), (0.0267, 208.0), (0.0267, 52.0),
                                    (0.0080, 3.0)])
def test_governance_coverage_settles_at_third_order_steady_state(g, tau):
    m = sd.load("governance_lag")
    t_end = 40.0 / (3.0 / tau + g)  # forty time constants of the slowest transient
    sim = sd.simulate(m, params={"capability growth rate": g, "governance review delay": tau},
                      t_span=(0.0, t_end), **TIGHT)
    expected = (1 + g * tau / 3) ** -3
    assert sim["Governance Coverage"][-1] == pytest.approx(expected, rel=1e-3)
    np.testing.assert_allclose(sim["Technical Capability"], np.exp(g * sim.t), rtol=1e-6)


def test_governance_steady_state_vectorized():
    m = sd.load("governance_lag")
    g = np.array([0.0080, 0.0267])
    tau = np.array([208.0, 52.0])
    sim = sd.simulate(m, params={"capability growth rate": g, "governance review delay": tau},
                      t_span=(0.0, 1500.0), **TIGHT)
    cov = sim["Governance Coverage"]
    assert cov.shape == (len(sim.t), 2)
    np.testing.assert_allclose(cov[-1], (1 + g * tau / 3) ** -3, rtol=1e-3)


def test_regulatory_change_drops_coverage_then_catches_up():
    m = sd.load("governance_lag")
    at = m["regulatory change time"].value
    size = 0.25
    base = sd.simulate(m, t_span=(0.0, 2000.0), **TIGHT)
    sim = sd.simulate(m, params={"regulatory change size": size}, t_span=(0.0, 2000.0), **TIGHT)
    i = int(np.searchsorted(sim.t, at))
    assert sim["Governance Coverage"][i] == pytest.approx(
        base["Governance Coverage"][i] / (1 + size), rel=1e-6)
    assert sim["Governance Coverage"][-1] == pytest.approx(base["Governance Coverage"][-1],
                                                           rel=1e-3)


# ----------------------------------------------------------------- solvers and PySD parity
@pytest.mark.parametrize("method", METHODS)
def test_every_model_runs_with_every_method(model, method):
    name, m = model
    ref = sd.simulate(m, method="DOP853", rtol=1e-10, atol=1e-12)
    for params in ({}, all_variances(name)):
        sim = sd.simulate(m, method=method, params=params)
        if not params:
            for s in m.stocks:
                np.testing.assert_allclose(sim[s], ref[s], rtol=1e-3, atol=1e-6,
                                           err_msg=f"{name} {method} {s}")
        for s in m.stocks:
            assert np.all(np.isfinite(sim[s])), f"{name} {method} {s}"
        for s in FRACTION_STOCKS:
            if s in m:
                assert sim[s].min() >= -1e-9 and sim[s].max() <= 1 + 1e-9, f"{name} {s}"


@pytest.mark.parametrize("scenario", ["default", "variances"])
def test_pysd_euler_agrees_with_ours(model, scenario, tmp_path):
    pysd = pytest.importorskip("pysd")
    name, _ = model
    path = shutil.copy(MODELS_DIR / f"{name}.mdl", tmp_path)  # PySD writes a .py beside it
    params = all_variances(name) if scenario == "variances" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = pysd.read_vensim(str(path)).run(params=params)
    sim = sd.simulate(sd.load(path), method="euler", params=params)
    np.testing.assert_allclose(sim.t, df.index.to_numpy(float))
    compared = 0
    for col in df.columns:
        if col in ("FINAL TIME", "INITIAL TIME", "SAVEPER", "TIME STEP", "Time"):
            continue
        ref = df[col].to_numpy(float)
        ours = np.broadcast_to(np.asarray(sim[col], float), ref.shape)
        scale = max(1.0, float(np.max(np.abs(ref))))
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9 * scale,
                                   err_msg=f"{name}: {col}")
        compared += 1
    assert compared > 10
