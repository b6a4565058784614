"""``python -m sts_dynamics loops``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sts_dynamics.cli import main

HERE = Path(__file__).parent
BASS = str(HERE / "data" / "bass.mdl")


def test_loops_table(capsys):
    assert main(["loops", BASS, "--method", "euler"]) == 0
    out = capsys.readouterr().out
    assert "2 feedback loops in 1 cycle partition" in out and "discrete LTM" in out
    lines = [ln for ln in out.splitlines() if ln.startswith(("R1", "B1"))]
    assert lines[0].split()[:4] == ["R1", "word", "of", "mouth"]
    assert "64%" in lines[0] and "Adopters -> adopter contacts" in lines[0]
    assert "0 .. 9.625 Year  R1 word of mouth" in out
    assert "9.6875 .. 15 Year  B1 market saturation" in out


def test_loops_writes_tables(tmp_path, capsys):
    out, scores = tmp_path / "loops.csv", tmp_path / "scores.csv"
    assert main(["loops", BASS, "--out", str(out), "--scores", str(scores), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    table = pd.read_csv(out)
    assert list(table["id"]) == ["R1", "B1"] and "share" in table
    long = pd.read_csv(scores)
    assert set(long["loop"]) == {"R1", "B1"}
    assert main(["loops", BASS, "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


def test_loops_without_loops(capsys):
    path = HERE / "test-models" / "tests" / "smooth_and_stock" / "test_smooth_and_stock.mdl"
    assert main(["loops", str(path)]) == 0
    assert "has no feedback loops" in capsys.readouterr().out


def test_loops_truncation_warning(capsys):
    sir = HERE / "test-models" / "samples" / "SIR" / "SIR.mdl"
    assert main(["loops", str(sir), "--max-loops", "1"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "--max-loops" in err


@pytest.mark.parametrize("argv, match", [
    (["--max-loops", "0"], "--max-loops must be a positive integer"),
    (["--method", "magic"], "--method must be one of"),
])
def test_loops_bad_input(capsys, argv, match):
    assert main(["loops", BASS, *argv]) == 2
    assert match in capsys.readouterr().err
