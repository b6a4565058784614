"""Briefing sections "Where variances are controlled" and "Technical-only vs joint
optimization", and the share of loop dominance across the technical/social boundary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sts_dynamics as sd
from sts_dynamics.dashboard.page import _boundary

HERE = Path(__file__).parent
DATA = HERE / "data" / "sociotech"


@pytest.fixture(scope="module")
def vm():
    return sd.variance_matrix(sd.load(DATA / "backlog_control.mdl"))


@pytest.fixture(scope="module")
def opt():
    return sd.optimize_policy(sd.load(DATA / "two_levers.mdl"), seed=1, maxiter=30, popsize=8)


def _headings(page: str) -> list[str]:
    return re.findall(r"<h2>([^<]*)</h2>", page)


def test_variance_matrix_briefing(vm):
    page = sd.dashboard.briefing(vm)
    assert _headings(page)[:2] == ["Key messages", "Where variances are controlled"]
    assert page.count("<div class='sts-figure'") >= 2        # the matrix and loop dominance
    assert "1 of 2 key variances are not controlled near their origin" in page
    assert "B1 effort correction (social)" in page            # the table
    assert "<title>Sociotechnical briefing: backlog_control</title>" in page


def test_optimum_briefing_and_extra_sections(vm, opt, tmp_path):
    page = sd.dashboard.briefing(opt)
    assert "Technical-only vs joint optimization" in _headings(page)
    assert "Optimizing technical and social levers together gives an objective of 10.2" in page
    sim = sd.simulate(sd.load(DATA / "backlog_control.mdl"))
    out = sd.dashboard.briefing(sim, tmp_path / "b.html", extra=[vm, opt])
    heads = _headings(out.read_text(encoding="utf-8"))
    assert heads.index("Where variances are controlled") < heads.index(
        "Technical-only vs joint optimization") < heads.index(
        "Which feedback loops drive the behaviour")
    with pytest.raises(TypeError, match="`extra` items must be a VarianceMatrix"):
        sd.dashboard.briefing(sim, extra=[42])
    with pytest.raises(TypeError, match="must be a VarianceMatrix"):
        sd.dashboard.variance_chart(opt)
    with pytest.raises(TypeError, match="must be a PolicyOptimum"):
        sd.dashboard.optimization_chart(vm)


def test_briefing_states_the_boundary_share():
    sim = sd.simulate(sd.load("sts_core"))
    dom = sd.loop_dominance(sim)
    text = _boundary(dom)
    share = 100 * dom.boundary_share()
    assert f"cross the technical/social boundary hold {share:.0f}% of loop dominance" in text
    assert 0 < share < 100
    # a model whose loops stay within one layer says nothing about the boundary
    dom2 = sd.loop_dominance(sd.simulate(sd.load(DATA / "backlog_control.mdl")))
    assert _boundary(dom2) == ""
