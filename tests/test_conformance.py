"""Conformance with the SDXorg test-models suite (issue 2, requirement 8).

Each ``[[model]]`` of ``tests/test-models/manifest.toml`` is loaded, simulated with
``method="euler"`` and compared with its canonical Vensim/Stella output at PySD's tolerance
(rtol = atol = 1e-5 unless the manifest records a looser value PySD itself uses). Each
``[[unsupported]]`` model must be refused with ``UnsupportedFeatureError`` naming the
function. The whole module is skipped until ``sts_dynamics.simulate`` exists.
"""

from __future__ import annotations

import pytest

from conformance import compare, names_in_message, read_canonical, read_manifest

sd = pytest.importorskip("sts_dynamics")
if not hasattr(sd, "simulate") or not hasattr(sd, "load"):
    pytest.skip("sts_dynamics.load/simulate not implemented yet", allow_module_level=True)

from sts_dynamics.errors import UnsupportedFeatureError  # noqa: E402

CASES, UNSUPPORTED = read_manifest()


def _param(case, reason):
    marks = []
    if case.expected == "xfail":
        marks.append(pytest.mark.xfail(reason=reason, strict=True))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c, c.reason) for c in CASES])
def test_matches_canonical_output(case):
    canonical = read_canonical(case.canonical)
    m = sd.load(case.path)
    sim = sd.simulate(m, method="euler")
    problems = compare(sim, canonical, rtol=case.rtol, atol=case.atol)
    assert not problems, (
        f"{case.id} differs from {case.canonical.name} "
        f"(rtol={case.rtol:g}, atol={case.atol:g}):\n  " + "\n  ".join(problems[:10])
    )


@pytest.mark.parametrize("case", [_param(c, c.xfail_reason) for c in UNSUPPORTED])
def test_unsupported_feature_is_refused(case):
    with pytest.raises(UnsupportedFeatureError) as info:
        m = sd.load(case.path)
        sd.simulate(m, method="euler")
    message = str(info.value)
    assert names_in_message(case.names, message), (
        f"{case.id}: the message should name one of {list(case.names)}; got: {message}"
    )
