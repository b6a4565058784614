"""Scale-out: chunks on a thread pool, a process pool and a local Dask cluster give the same
numbers as a run in this process with the same chunks."""

import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sts_dynamics as sd
from sts_dynamics.experiments import KPI, Posterior, Uniform
from sts_dynamics.experiments.runner import as_executor, dumps

DATA = Path(__file__).resolve().parent / "data" / "experiments"


@pytest.fixture(scope="module")
def setup():
    model = sd.load(DATA / "linear.mdl")
    scenarios = [sd.Policy.ramp("ramp", {"Rate": 2}, 2, 12),
                 sd.Policy.step("target", {"Target": 2}, at=5, mode="scale")]
    kw = dict(uncertainty={"Rate": Uniform(1, 2), "Decay Time": Uniform(5, 15)},
              n_samples=60, seed=9, kpis=["Stock", KPI("level", "Level")], chunk_size=25)
    return model, scenarios, kw


@pytest.fixture(scope="module")
def reference(setup):
    model, scenarios, kw = setup
    return sd.run_experiment(model, scenarios, **kw)


def _same(a, b):
    np.testing.assert_array_equal(a.values, b.values)
    for name in a.trajectories:
        np.testing.assert_array_equal(a.trajectories[name], b.trajectories[name])
    pd.testing.assert_frame_equal(a.samples, b.samples)
    assert a.info["chunks"] == b.info["chunks"] == 8


def test_thread_pool(setup, reference):
    model, scenarios, kw = setup
    with ThreadPoolExecutor(2) as ex:
        _same(reference, sd.run_experiment(model, scenarios, executor=ex, **kw))


def test_process_pool_pickles_the_model(setup, reference):
    model, scenarios, kw = setup
    clone = pickle.loads(dumps(model))
    assert clone.constants == model.constants
    with ProcessPoolExecutor(2) as ex:
        _same(reference, sd.run_experiment(model, scenarios, executor=ex, **kw))


def test_local_dask_cluster(setup, reference):
    distributed = pytest.importorskip("distributed")
    model, scenarios, kw = setup
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            _same(reference, sd.run_experiment(model, scenarios, executor=client, **kw))
            # the Client's own executor interface works the same
            _same(reference, sd.run_experiment(model, scenarios,
                                               executor=client.get_executor(), **kw))


def test_failures_are_isolated_on_workers():
    model = sd.load(DATA / "additive.mdl")
    post = Posterior(pd.DataFrame({"c3": [1.0, 0.5, 2.0]}))
    kw = dict(uncertainty=post, n_samples=30, seed=1, kpis=[KPI("Y", "Y", "final")],
              chunk_size=8)
    local = sd.run_experiment(model, **kw)
    with ThreadPoolExecutor(2) as ex:
        remote = sd.run_experiment(model, executor=ex, **kw)
    assert local.failures == remote.failures and len(local.failures) > 0
    np.testing.assert_array_equal(local.values, remote.values)


def test_bad_executor():
    with pytest.raises(TypeError, match="`executor` must be a concurrent.futures.Executor"):
        as_executor(object())
