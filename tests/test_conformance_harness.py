"""Checks of the conformance harness itself (tests/conformance.py and the vendored files).

These run without the engine: they make sure the canonical outputs are read correctly and
that ``compare`` accepts a faithful copy of a canonical output and rejects a wrong one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conformance import (
    MODELS_DIR,
    compare,
    missing_columns,
    names_in_message,
    normalize_name,
    read_canonical,
    read_manifest,
)

CASES, UNSUPPORTED = read_manifest()


class FrameSim:
    """A stand-in simulation: ``.t`` and ``sim[name]`` over a DataFrame."""

    def __init__(self, frame: pd.DataFrame, names: bool = True):
        self._frame = frame
        self.t = frame.index.to_numpy(dtype=float)
        if names:
            self.names = [str(c) for c in frame.columns]

    def __getitem__(self, name):
        return self._frame[name].to_numpy(dtype=float)


def test_manifest_lists_existing_files_and_enough_models():
    mdl = [c for c in CASES if c.kind == "mdl"]
    assert len(mdl) >= 55
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        assert case.path.is_file(), case.id
        assert case.canonical.is_file(), case.id
        assert case.kind in ("mdl", "xmile")
        assert case.path.suffix.lower().lstrip(".") == case.kind
        assert case.expected in ("pass", "xfail")
        assert case.expected == "pass" or case.reason
    for case in UNSUPPORTED:
        assert case.path.is_file(), case.id
        assert case.names
    assert (MODELS_DIR / "LICENSE").is_file() and (MODELS_DIR / "AUTHORS").is_file()


def test_every_vendored_model_is_in_the_manifest():
    listed = {c.path.resolve() for c in CASES} | {c.path.resolve() for c in UNSUPPORTED}
    vendored = {p.resolve() for p in MODELS_DIR.rglob("*")
                if p.suffix.lower() in (".mdl", ".xmile")}
    assert vendored == listed


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_canonical_output_is_readable(case):
    frame = read_canonical(case.canonical)
    t = frame.index.to_numpy()
    assert len(frame) >= 2 and frame.shape[1] >= 1
    assert np.isfinite(t).all() and (np.diff(t) > 0).all()
    assert all(isinstance(c, str) and c for c in frame.columns)
    # a faithful copy conforms, with or without a list of names
    assert compare(FrameSim(frame), frame) == []
    assert compare(FrameSim(frame, names=False), frame) == []


def test_reader_handles_carriage_returns_and_constants():
    # Vensim .tab with CR line ends; constants written only in the first row
    frame = read_canonical(MODELS_DIR / "samples/simple_harmonic_oscillator/output.tab")
    assert frame.index[0] == 0 and frame.index[-1] == 50 and len(frame) == 501
    assert (frame["mass"] == 10).all() and (frame["FINAL TIME"] == 50).all()
    assert frame["position"].iloc[0] == 50


def test_reader_handles_latin1_and_quoted_names():
    uni = read_canonical(MODELS_DIR / "tests/unicode_characters/output.tab")
    assert "this is a french variable with é à è" in uni.columns
    special = read_canonical(MODELS_DIR / "tests/special_characters/output.tab")
    assert '"Aux with $peC!@| characters"' in special.columns
    assert normalize_name('"Aux with $peC!@| characters"') == "aux with $pec!@| characters"


def test_reader_handles_transposed_layout(tmp_path):
    path = tmp_path / "output.tab"
    path.write_text("Time\t0\t1\t2\nStock\t1\t2\t4\nRate\t1\t2\t\n", encoding="utf-8")
    frame = read_canonical(path)
    assert list(frame.index) == [0, 1, 2]
    assert list(frame["Stock"]) == [1, 2, 4]
    assert np.isnan(frame["Rate"].iloc[2])


def test_compare_reports_the_worst_variable_and_time():
    frame = read_canonical(MODELS_DIR / "samples/teacup/output.csv")
    wrong = frame.copy()
    wrong.loc[10.0, "Teacup Temperature"] += 1.0
    wrong["Heat Loss to Room"] *= 1 + 1e-4
    problems = compare(FrameSim(wrong), frame)
    assert len(problems) == 2
    assert problems[0].startswith("Teacup Temperature: 1 of 241 times")
    assert "t=10:" in problems[0]
    assert problems[1].startswith("Heat Loss to Room")
    # within tolerance
    close = frame * (1 + 5e-6)
    assert compare(FrameSim(close), frame) == []


def test_compare_matches_names_loosely_and_skips_absent_columns():
    frame = read_canonical(MODELS_DIR / "samples/teacup/output.csv")
    renamed = frame.rename(columns=lambda c: c.lower().replace(" ", "_")).drop(
        columns=["room_temperature"])
    assert compare(FrameSim(renamed), frame) == []
    assert compare(FrameSim(renamed, names=False), frame) == []
    assert missing_columns(FrameSim(renamed), frame) == ["Room Temperature"]
    nothing = pd.DataFrame({"other": np.zeros(len(frame))}, index=frame.index)
    assert "no canonical column" in compare(FrameSim(nothing), frame)[0]


def test_compare_matches_rounded_times_and_flags_missing_ones():
    # SIR's canonical times are printed with 6 digits: 12.34375 -> 12.3438
    frame = read_canonical(MODELS_DIR / "samples/SIR/output.csv")
    exact = frame.copy()
    exact.index = np.round(np.arange(len(frame)) * 0.03125, 12)
    assert not np.array_equal(exact.index, frame.index)
    assert compare(FrameSim(exact), frame) == []
    coarse = exact.iloc[::2]
    problems = compare(FrameSim(coarse), frame)
    assert problems[0].startswith("time: 1600 of 3201 canonical times")


def test_compare_treats_nan_as_equal_to_nan_only():
    t = np.arange(3.0)
    canon = pd.DataFrame({"x": [1.0, np.nan, 3.0]}, index=pd.Index(t, name="time"))
    assert compare(FrameSim(canon), canon) == []
    filled = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=canon.index)
    assert compare(FrameSim(filled), canon)[0].startswith("x: 1 of 3 times")
    assert compare(FrameSim(canon), filled)[0].startswith("x: 1 of 3 times")


def test_names_in_message():
    assert names_in_message(["DELAY FIXED"], "variable 'x' uses DELAY_FIXED, unsupported")
    assert names_in_message(["SAMPLE IF TRUE", "subscript"], "Subscripts are not supported")
    assert not names_in_message(["GAME"], "unsupported function DELAY FIXED")
