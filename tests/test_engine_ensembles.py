"""Vectorized ensembles: n runs integrate together and equal n single runs."""

import numpy as np
import pandas as pd
import pytest

import sts_dynamics as sd

from _paths import ENGINE_DATA, TEST_MODELS

TEACUP = TEST_MODELS / "samples" / "teacup" / "teacup.mdl"


@pytest.mark.parametrize("method", sd.METHODS)
def test_ensemble_matches_analytic_per_run(method):
    taus = np.linspace(5, 20, 50)
    sim = sd.simulate(sd.load(TEACUP), params={"Characteristic Time": taus}, method=method,
                      rtol=1e-8, atol=1e-10)
    temp = sim["Teacup Temperature"]
    assert temp.shape == (len(sim.t), 50)
    exact = 70 + 110 * np.exp(-sim.t[:, None] / taus[None, :])
    tol = {"euler": 0.6, "rk4": 1e-5}.get(method, 1e-4)
    np.testing.assert_allclose(temp, exact, atol=tol)


def test_fixed_step_ensemble_equals_single_runs_exactly():
    model = sd.load(ENGINE_DATA / "bass.mdl")
    rates = np.array([5.0, 10.0, 20.0])
    ens = sd.simulate(model, params={"Contact Rate": rates}, method="euler")
    for i, r in enumerate(rates):
        one = sd.simulate(model, params={"Contact Rate": r}, method="euler")
        np.testing.assert_allclose(ens["Adopters"][:, i], one["Adopters"], rtol=1e-13)


def test_parameter_table_is_one_run_per_row():
    model = sd.load(ENGINE_DATA / "bass.mdl")
    table = pd.DataFrame({"Contact Rate": [5.0, 10.0], "Adoption Fraction": [0.02, 0.03]})
    sim = sd.simulate(model, params=table, method="rk4")
    assert sim.n_runs == 2
    frame = sim.to_frame(["Adopters"])
    assert list(frame.columns) == ["run", "time", "variable", "value"]
    assert len(frame) == 2 * len(sim.t)
    ds = sim.to_xarray(["Adopters"])
    assert ds["Adopters"].dims == ("time", "run")


def test_constant_broadcasts_with_arrays_and_constants_are_reported():
    sim = sd.simulate(sd.load(TEACUP), params={"Characteristic Time": [10.0, 20.0],
                                               "Room Temperature": 60.0})
    assert sim["Room Temperature"].shape == (len(sim.t), 2)
    assert np.all(sim["Room Temperature"] == 60.0)


def test_time_series_parameter_step_policy():
    # Room temperature drops from 70 to 50 at t = 10: closed form piecewise
    ts = sd.TimeSeries([0.0, 10.0], [70.0, 50.0], "step")
    sim = sd.simulate(sd.load(TEACUP), params={"Room Temperature": ts}, method="DOP853",
                      rtol=1e-9, atol=1e-9)
    t = sim.t
    before = 70 + 110 * np.exp(-t / 10)
    t10 = 70 + 110 * np.exp(-1.0)
    after = 50 + (t10 - 50) * np.exp(-(t - 10) / 10)
    np.testing.assert_allclose(sim["Teacup Temperature"], np.where(t <= 10, before, after),
                               rtol=1e-7)


def test_changing_a_constant_does_not_reparse(monkeypatch):
    model = sd.load(TEACUP)
    import sys

    loader = sys.modules["sts_dynamics.io.load"]

    def boom(*a, **k):
        raise AssertionError("re-parsed")
    monkeypatch.setattr(loader, "_parse", boom)
    for tau in (5.0, 10.0):
        sd.simulate(model, params={"Characteristic Time": tau})


def test_simulation_is_frozen():
    sim = sd.simulate(sd.load(TEACUP))
    with pytest.raises(ValueError):
        sim["Teacup Temperature"][0] = 1.0
    with pytest.raises(AttributeError):
        sim.t = None


def test_outputs_limits_the_computed_variables():
    model = sd.load("sts_core")
    full = sd.simulate(model, params={"automation level": [0.5, 0.8]})
    part = sd.simulate(model, params={"automation level": [0.5, 0.8]},
                       outputs=["Time to Resolve"])
    np.testing.assert_array_equal(part["Time to Resolve"], full["Time to Resolve"])
    np.testing.assert_array_equal(part["Operator Skill"], full["Operator Skill"])  # a stock
    assert len(part.values) < len(full.values) / 2
    from sts_dynamics.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"'Detection Delay' was not computed"):
        part["Detection Delay"]


def test_models_and_simulations_pickle():
    import pickle

    model = sd.load("sts_core")
    clone = pickle.loads(pickle.dumps(model))
    assert clone.metadata["loop"] == model.metadata["loop"]
    sim = sd.simulate(model, method="euler", params={"automation level": [0.5, 0.9]})
    again = pickle.loads(pickle.dumps(sim))
    np.testing.assert_array_equal(again["Operator Skill"], sim["Operator Skill"])
    np.testing.assert_array_equal(sd.simulate(clone, method="euler")["Operator Skill"],
                                  sd.simulate(model, method="euler")["Operator Skill"])


def test_time_series_with_one_run_column_is_an_ensemble_of_one():
    model = sd.load(TEACUP)
    col = sd.TimeSeries([0.0, 10.0], [[70.0], [50.0]], "step")
    flat = sd.TimeSeries([0.0, 10.0], [70.0, 50.0], "step")
    a = sd.simulate(model, params={"Room Temperature": col})
    b = sd.simulate(model, params={"Room Temperature": flat})
    assert a["Teacup Temperature"].shape == (len(a.t), 1)
    np.testing.assert_allclose(a["Teacup Temperature"][:, 0], b["Teacup Temperature"])


def test_single_threaded_blas_limits_and_restores():
    from threadpoolctl import threadpool_info

    from sts_dynamics._threads import single_threaded_blas

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    for _ in range(2):  # the second time uses the cached controller
        with single_threaded_blas():
            with single_threaded_blas():  # re-entrant
                pass
            inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            assert inside and set(inside) == {1}
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        assert after == before
