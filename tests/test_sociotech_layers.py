"""Layers: every variable of every bundled model is tagged; untagged user models still work."""

from __future__ import annotations

import pytest

import sts_dynamics as sd
from sts_dynamics.model import LAYERS

from _paths import TEACUP


@pytest.mark.parametrize("name", sorted(sd.bundled_models()))
def test_every_variable_of_the_bundled_models_is_tagged(name):
    model = sd.load(name)
    untagged = [v.name for v in model.variables.values()
                if not v.internal and v.kind != "control" and v.layer == "unassigned"]
    assert untagged == [], f"{name}: variables without a [layer: ...] tag"
    assert set(model.layers.values()) <= set(LAYERS)
    # the four layers of the sociotechnical core are all present
    if name == "sts_core":
        assert {"technical", "social", "work system", "environment"} <= set(
            model.layers.values())
        assert model.layers["Operator Skill"] == "social"


def test_untagged_user_model_is_unassigned_and_runs():
    model = sd.load(TEACUP)
    assert set(model.layers.values()) == {"unassigned"}
    sim = sd.simulate(model)
    assert sim.success
    loops = sd.find_loops(model)
    assert all(lp.layers == ("unassigned",) and not lp.crosses_boundary for lp in loops)
